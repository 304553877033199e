/**
 * Training throughput, each figure beside its yardstick from the same run:
 *  - the digits MLP (784 → 64 → 10, batch 64 (16 in --smoke), full fine-tune with AdamW) in examples per second,
 *    on the CPU engine (src/core/train) and, with --dawn, on the WebGPU training kernels
 *    (src/gpu/train) through Dawn in a child process;
 *  - a LoRA (r 8 on q_proj and v_proj) of the starter Llama (public/starter/lm/base) in tokens per
 *    second, CPU engine only (there is no GPU Llama step yet).
 * The matmul GFLOP/s inside training (the step's matmul FLOPs over the whole step's time) is given
 * as a fraction of the same backend's plain matmul GFLOP/s, timed on the same products (shapes and
 * data) alone: the share of a step that is matmul at full speed.
 *
 * `npm run bench` runs it as a section (benchTrain); alone: `npx tsx bench/train.ts [--smoke] [--dawn]`.
 */
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mulberry32 } from '../src/core/seeded.ts';
import type { MlpShape } from '../src/core/models/mlp.ts';
import { mmNN, mmNT, mmTN } from '../src/core/train/ops.ts';
import { trainLoop, type LoopOptions } from '../src/core/train/loop.ts';
import { mlpBatchLoss, mlpTrainables } from '../src/gpu/train/reference.ts';
import { llamaSites, trainLlamaAdapter } from '../src/core/train/llama.ts';
import { initAdapter } from '../src/core/train/lora.ts';
import type { CausalLmConfig } from '../src/core/models/llama-config.ts';

export const DIGITS: MlpShape = Object.freeze({ inputs: 784, hidden: 64, classes: 10 });
const STARTER_LM = 'public/starter/lm/base';

export interface TrainRow {
  path: string;
  model: string;
  unit: 'examples/s' | 'tokens/s';
  throughput: number;
  /** Matmul GFLOP/s inside training: the step's matmul FLOPs over the step's time. */
  trainGflops: number;
  /** The same backend's plain matmul GFLOP/s on the same products. */
  plainGflops: number;
  steps: number;
}

const rnd = (n: number, seed: number, lo: number, hi: number, zeros = 0) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() < zeros ? 0 : lo + (hi - lo) * r()));
};

/** Digits-like rows (about 80 % exact zeros, as MNIST's background) and labels, seeded. */
export function digitsData(rows: number, seed: number): { x: Float32Array; y: Int32Array } {
  const r = mulberry32(seed + 1);
  return { x: rnd(rows * DIGITS.inputs, seed, 0, 1, 0.8), y: Int32Array.from({ length: rows }, () => Math.floor(r() * DIGITS.classes)) };
}

export function mlpInit(s: MlpShape, seed: number) {
  const a = Math.sqrt(6 / s.inputs);
  const b = Math.sqrt(6 / s.hidden);
  return {
    w1: rnd(s.inputs * s.hidden, seed, -a, a),
    b1: new Float32Array(s.hidden),
    w2: rnd(s.hidden * s.classes, seed + 1, -b, b),
    b2: new Float32Array(s.classes),
  };
}

/** Matmul FLOPs of one MLP step: x·W1, h·W2, dW2 = hᵀ·dz, dh = dz·W2ᵀ, dW1 = xᵀ·dh (x needs no gradient). */
export function mlpStepFlops(s: MlpShape, batch: number): number {
  return 4 * batch * s.inputs * s.hidden + 6 * batch * s.hidden * s.classes;
}

/** Best wall time in ms of fn over `reps` calls after one warm-up. */
function best(fn: () => void, reps: number): number {
  fn();
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

function cpuMlp(steps: number, B: number): TrainRow {
  const s = DIGITS;
  const { x, y } = digitsData(1024, 3);
  const init = mlpInit(s, 7);
  const params = mlpTrainables(s, init);
  const opts: LoopOptions = { steps, batch: B, schedule: { kind: 'cosine', lr: 1e-3, warmupSteps: 2 }, seed: 1 };
  const t0 = performance.now();
  trainLoop(params, y.length, (tape, v, rows) => mlpBatchLoss(tape, v, x, y, rows, s.inputs), opts);
  const ms = performance.now() - t0;
  // The same five products alone, on a batch of the same data.
  const xb = x.subarray(0, B * s.inputs);
  const h = rnd(B * s.hidden, 11, 0, 1, 0.5);
  const dz = rnd(B * s.classes, 12, -0.1, 0.1);
  const dh = rnd(B * s.hidden, 13, -0.1, 0.1, 0.5);
  const o1 = new Float32Array(B * s.hidden);
  const o2 = new Float32Array(s.inputs * s.hidden);
  const o3 = new Float32Array(B * s.classes);
  const o4 = new Float32Array(s.hidden * s.classes);
  const plainMs = best(
    () => {
      mmNN(xb, init.w1, B, s.inputs, s.hidden, o1);
      mmNN(h, init.w2, B, s.hidden, s.classes, o3);
      mmTN(h, dz, B, s.hidden, s.classes, o4);
      mmNT(dz, init.w2, B, s.classes, s.hidden, o1);
      mmTN(xb, dh, B, s.inputs, s.hidden, o2);
    },
    Math.max(5, steps),
  );
  return mlpRow('cpu (Node, src/core/train)', B, steps, ms, plainMs);
}

/** A digits-MLP row: `steps` steps of batch B in `ms`, the step's matmuls alone in `plainMs`. */
function mlpRow(path: string, B: number, steps: number, ms: number, plainMs: number): TrainRow {
  const s = DIGITS;
  const flops = mlpStepFlops(s, B);
  return {
    path,
    model: `digits MLP ${s.inputs}→${s.hidden}→${s.classes}, batch ${B}`,
    unit: 'examples/s',
    throughput: (steps * B) / (ms / 1000),
    trainGflops: (steps * flops) / (ms / 1000) / 1e9,
    plainGflops: flops / (plainMs / 1000) / 1e9,
    steps,
  };
}

/** The linear layers of a Llama step: [in, out] per layer and the tied head, for `tokens` rows. */
function llamaLinears(c: CausalLmConfig): [number, number][] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const I = c.intermediateSize;
  const layer: [number, number][] = [
    [H, q],
    [H, kv],
    [H, kv],
    [q, H],
    [H, I],
    [H, I],
    [I, H],
  ];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), [H, c.vocabSize]];
}

async function cpuLlamaLora(steps: number, smoke: boolean, log: (s: string) => void): Promise<TrainRow | null> {
  if (!existsSync(STARTER_LM)) {
    log(`${STARTER_LM} is not built (npm run starter): the Llama LoRA is not timed`);
    return null;
  }
  const { openCausalLm } = await import('../src/node/hf-folder.ts');
  const { loadTensors } = await import('../src/core/format/model.ts');
  const { lm, close } = await openCausalLm(STARTER_LM);
  try {
    const c = lm.config;
    const tensors = await loadTensors(lm.model);
    const seqLen = smoke ? 32 : 64;
    const batch = smoke ? 2 : 4;
    const r = mulberry32(5);
    const tokens = Int32Array.from({ length: seqLen * 32 }, () => Math.floor(r() * c.vocabSize));
    const cfg = {
      r: 8,
      alpha: 16,
      dropout: 0,
      targetModules: ['q_proj', 'v_proj'],
      modulesToSave: [],
      useRslora: false,
      fanInFanOut: false,
      baseModel: 'starter',
      taskType: 'CAUSAL_LM',
    };
    const adapter = initAdapter(cfg, llamaSites(c), new Map(), 1);
    const opts: LoopOptions = { steps, batch, schedule: { kind: 'constant', lr: 1e-3, warmupSteps: 0 }, seed: 1 };
    if (!smoke) trainLlamaAdapter(c, tensors, adapter, tokens, seqLen, { ...opts, steps: 1 });
    const t0 = performance.now();
    trainLlamaAdapter(c, tensors, adapter, tokens, seqLen, opts);
    const ms = performance.now() - t0;
    // Forward and input gradient of every frozen linear layer ([out, in] weights: x·Wᵀ and dY·W).
    const T = batch * seqLen;
    const lins = llamaLinears(c);
    const bufs = lins.map(([i, o], k) => ({
      i,
      o,
      x: rnd(T * i, 20 + k, -1, 1),
      w: rnd(o * i, 40 + k, -0.1, 0.1),
      y: new Float32Array(T * o),
    }));
    const plainMs = best(
      () => {
        for (const b of bufs) {
          mmNT(b.x, b.w, T, b.i, b.o, b.y);
          mmNN(b.y, b.w, T, b.o, b.i, b.x);
        }
      },
      smoke ? 1 : 3,
    );
    const flops = lins.reduce((s, [i, o]) => s + 4 * T * i * o, 0);
    return {
      path: 'cpu (Node, src/core/train)',
      model: `starter Llama LoRA r 8 q,v (${c.numLayers} layers, hidden ${c.hiddenSize}), ${batch}×${seqLen} tokens`,
      unit: 'tokens/s',
      throughput: (steps * T) / (ms / 1000),
      trainGflops: (steps * flops) / (ms / 1000) / 1e9,
      plainGflops: flops / (plainMs / 1000) / 1e9,
      steps,
    };
  } finally {
    await close();
  }
}

/** In the Dawn child: the GPU MLP step and the same matmuls alone through the training kernels. */
async function dawnChild(smoke: boolean, B: number): Promise<void> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
  const { openGpu } = await import('../src/gpu/device.ts');
  const { GpuMlpTrainer } = await import('../src/gpu/train/mlp.ts');
  const { TrainKernels } = await import('../src/gpu/train/kernels.ts');
  const gpu = await openGpu();
  if (!gpu) {
    console.log('BENCH_TRAIN ' + JSON.stringify({ error: 'Dawn found no WebGPU adapter' }));
    return;
  }
  const s = DIGITS;
  // A software adapter (SwiftShader) is slow: fewer steps there; its figure is not a performance figure.
  const steps = smoke ? 3 : gpu.software ? 20 : 200;
  const { x, y } = digitsData(1024, 3);
  const trainer = new GpuMlpTrainer(gpu.device, s, B, mlpInit(s, 7));
  const batchAt = (i: number) => {
    const at = (i * B) % (y.length - B);
    return { xb: x.subarray(at * s.inputs, (at + B) * s.inputs), yb: y.subarray(at, at + B) };
  };
  await trainer.step(batchAt(0).xb, batchAt(0).yb, 1e-3);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const { xb, yb } = batchAt(i + 1);
    // The loss comes back every step, as a loss curve needs.
    await trainer.step(xb, yb, 1e-3);
  }
  const ms = performance.now() - t0;
  trainer.destroy();
  const k = new TrainKernels(gpu.device);
  const bx = k.storage(x.subarray(0, B * s.inputs), 'x');
  const w1 = k.storage(s.inputs * s.hidden, 'w1');
  const w2 = k.storage(s.hidden * s.classes, 'w2');
  const h = k.storage(B * s.hidden, 'h');
  const z = k.storage(B * s.classes, 'z');
  const ds = [
    k.matmul(bx, w1, h, { m: B, k: s.inputs, n: s.hidden }),
    k.matmul(h, w2, z, { m: B, k: s.hidden, n: s.classes }),
    k.matmul(h, z, w2, { m: s.hidden, k: B, n: s.classes, transA: true }),
    k.matmul(z, w2, h, { m: B, k: s.classes, n: s.hidden, transB: true }),
    k.matmul(bx, h, w1, { m: s.inputs, k: B, n: s.hidden, transA: true }),
  ];
  const reps = smoke ? 1 : gpu.software ? 20 : 200;
  k.run(ds);
  await k.done();
  const p0 = performance.now();
  for (let i = 0; i < reps; i++) k.run(ds);
  await k.done();
  const plainMs = (performance.now() - p0) / reps;
  k.destroy();
  const row = mlpRow(`webgpu (Dawn in Node, src/gpu/train): ${gpu.adapterInfo}${gpu.software ? ' (software)' : ''}`, B, steps, ms, plainMs);
  console.log('BENCH_TRAIN ' + JSON.stringify({ row }));
  gpu.device.destroy();
}

/** Bundle this file for Node (WGSL as text) and run its Dawn half in a child process. */
async function runDawnChild(smoke: boolean, batch: number, log: (s: string) => void): Promise<TrainRow | string> {
  const { bundleForNode } = await import('./bundle.ts');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const outfile = `${root}.cache/bench/train-dawn.mjs`;
  await bundleForNode(`${root}bench/train.ts`, outfile, ['webgpu', 'esbuild']);
  const { dawnChildEnv } = await import('./dawn.ts');
  const { env } = dawnChildEnv();
  const out = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [outfile, '--train-dawn-child', `--batch=${batch}`, ...(smoke ? ['--smoke'] : [])], {
      env,
      cwd: root,
    });
    let text = '';
    const on = (b: Buffer) => {
      text += b.toString();
      for (const l of b.toString().split('\n')) if (l && !l.startsWith('BENCH_TRAIN')) log(`dawn: ${l}`);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (c, sig) => resolve(text + `\n(exit ${c}${sig ? `, signal ${sig}` : ''})`));
  });
  const line = out.split('\n').find((l) => l.startsWith('BENCH_TRAIN '));
  if (!line) return `Dawn: the training child ended before reporting ${out.trim().split('\n').pop()}`;
  const r = JSON.parse(line.slice('BENCH_TRAIN '.length));
  return r.error ? `Dawn: ${r.error}` : (r.row as TrainRow);
}

export function formatRow(r: TrainRow): string {
  const ratio = r.trainGflops / r.plainGflops;
  return (
    `${r.path} · ${r.model}: ${r.throughput.toFixed(0)} ${r.unit} (${r.steps} steps); matmul in training ` +
    `${r.trainGflops.toFixed(2)} GFLOP/s = ${ratio.toFixed(2)} × plain matmul ${r.plainGflops.toFixed(2)} GFLOP/s`
  );
}

/** The training section of `npm run bench`: one line per row, also returned as notes for the report. */
export async function benchTrain(o: {
  smoke: boolean;
  dawn: boolean;
  log: (s: string) => void;
}): Promise<{ rows: TrainRow[]; notes: string[] }> {
  const rows: TrainRow[] = [];
  const notes: string[] = [];
  const t0 = performance.now();
  const secs = () => `[${((performance.now() - t0) / 1000).toFixed(1)} s]`;
  // The smoke run: a batch of 16 and a few steps (seconds, on a software adapter too).
  const batch = o.smoke ? 16 : 64;
  rows.push(cpuMlp(o.smoke ? 10 : 200, batch));
  o.log(`${formatRow(rows[rows.length - 1])} ${secs()}`);
  const lora = await cpuLlamaLora(o.smoke ? 1 : 10, o.smoke, o.log);
  if (lora) {
    rows.push(lora);
    o.log(`${formatRow(lora)} ${secs()}`);
  }
  if (o.dawn) {
    const g = await runDawnChild(o.smoke, batch, o.log);
    o.log(`Dawn child done ${secs()}`);
    if (typeof g === 'string') notes.push(g);
    else {
      rows.push(g);
      o.log(formatRow(g));
      const cpu = rows[0];
      const line = `training on WebGPU (Dawn) vs the CPU engine, digits MLP: ${(g.throughput / cpu.throughput).toFixed(2)} × the examples/s`;
      o.log(line);
      notes.push(line);
    }
  }
  notes.push(...rows.map((r) => `training: ${formatRow(r)}`));
  return { rows, notes };
}

if (process.argv.includes('--train-dawn-child')) {
  const batch = Number(process.argv.find((a) => a.startsWith('--batch='))?.slice('--batch='.length) ?? 64);
  await dawnChild(process.argv.includes('--smoke'), batch);
  process.exit(0);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchTrain({
    smoke: process.argv.includes('--smoke'),
    dawn: process.argv.includes('--dawn'),
    log: (s) => console.log(`  ${s}`),
  });
  console.log(JSON.stringify(r.rows, null, 2));
}
