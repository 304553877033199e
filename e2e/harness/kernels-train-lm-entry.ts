/**
 * Bundled by e2e/kernels-train-lm.spec.ts and injected into a page: the Llama block's WebGPU
 * training kernels (RoPE, causal grouped-query attention, embedding gather and scatter-add, the
 * residual add and SwiGLU's product) against the CPU training engine (src/core/train/ops-llm.ts,
 * ops.ts on the f32 tape), and whole LoRA steps of a tiny seeded Llama (GpuLlamaLoraTrainer)
 * against the CPU step (core llamaLoss on the tape, the core's AdamW). Only error figures cross
 * back. The measures are those of train-checks.ts; each bound is stated where its check is made.
 */
import { mulberry32 } from '../../src/core/seeded.ts';
import { Tape } from '../../src/core/train/tape.ts';
import { add, mul } from '../../src/core/train/ops.ts';
import { causalAttention, embedding, rope } from '../../src/core/train/ops-llm.ts';
import { project } from '../../src/core/train/test-helpers.ts';
import { AdamW, ADAMW_DEFAULTS } from '../../src/core/train/optim.ts';
import { parseCausalLmConfig, ropeInvFreq, type CausalLmConfig } from '../../src/core/models/llama-config.ts';
import { tinyCheckpoint, type TinyCheckpointOptions } from '../../src/core/models/llama-testing.ts';
import { toFloat32, type Tensor } from '../../src/core/tensor.ts';
import { initAdapter, type Adapter, type LoraConfig } from '../../src/core/train/lora.ts';
import { adapterParams } from '../../src/core/train/mlp.ts';
import { frozenModel, llamaAdapterSteps, llamaLoss, llamaSites, windowIds } from '../../src/core/train/llama.ts';
import { getGpu, openGpu } from '../../src/gpu/device.ts';
import { llamaAdapterEngine } from '../../src/gpu/train/run.ts';
import { TrainKernels, ropeTables, type AttentionDims, type Dispatch } from '../../src/gpu/train/kernels.ts';
import { GpuLlamaLoraTrainer, gpuLlamaAdapterSteps } from '../../src/gpu/train/llama.ts';
import { bitsCheck, rand, scaleCheck, stepChecks, sumCheck, withGpu, type Check } from './train-checks.ts';
import type { LoopOptions } from '../../src/core/train/loop.ts';

async function device(): Promise<TrainKernels> {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  return new TrainKernels(gpu.device);
}

async function runRead(k: TrainKernels, ds: Dispatch[], bufs: GPUBuffer[], counts: number[]): Promise<Float32Array[]> {
  k.run(ds);
  return k.read(bufs, counts);
}

/** A config's RoPE on its own (the tiny checkpoint's, with rope_theta and rope_scaling as given). */
function ropeConfig(o: TinyCheckpointOptions, theta: number): CausalLmConfig {
  const cfg = { ...tinyCheckpoint({ ...o, seed: 1 }).config, rope_theta: theta };
  return parseCausalLmConfig(cfg);
}

/**
 * RoPE forward and backward on rows of several heads, positions 0…T−1 in each of B sequences, for
 * a plain rope_theta and for Llama 3's rope_scaling. Each output is x₁·c ∓ x₂·s, two products and
 * a sum: the 'sum' measure with 2 terms (bound 4; the f32 rounding of the cos/sin tables adds u/2
 * of the same scale, inside the bound).
 */
async function ropeChecks(k: TrainKernels, seed: number): Promise<Check[]> {
  const out: Check[] = [];
  const B = 3;
  const T = 37;
  const variants: [string, CausalLmConfig][] = [
    ['rope_theta 10000', ropeConfig({ headDim: 8, heads: 4, hidden: 32 }, 10000)],
    ['rope_theta 500000, llama3 scaling', ropeConfig({ headDim: 8, heads: 4, hidden: 32, llama3Rope: true }, 500000)],
  ];
  for (const [tag, c] of variants) {
    const D = c.headDim;
    const cols = 3 * D;
    const rows = B * T;
    const positions = Int32Array.from({ length: rows }, (_, i) => i % T);
    const invFreq = ropeInvFreq(c);
    const x = rand(rows * cols, seed, -2, 2);
    const gy = rand(rows * cols, seed + 1);
    const tape = new Tape('f32');
    const X = tape.leaf(x, rows, cols, true);
    const Y = rope(X, positions, D, invFreq);
    tape.backward(project(Y, gy));
    const tables = ropeTables(positions, invFreq);
    const [cos, sin] = [k.storage(tables.cos, 'cos'), k.storage(tables.sin, 'sin')];
    const bx = k.storage(x, 'x');
    const by = k.storage(gy, 'dy');
    const y = k.storage(rows * cols, 'y');
    const dx = k.storage(rows * cols, 'dx');
    const shape = { rows, cols, headDim: D };
    const [gY, gX] = await runRead(
      k,
      [k.rope(bx, cos, sin, y, shape), k.rope(by, cos, sin, dx, shape, true)],
      [y, dx],
      [rows * cols, rows * cols],
    );
    // Σ|terms| of each output: |first half|·|cos| + |second half|·|sin| of its pair.
    const scale = (v: Float32Array) => {
      const s = new Float64Array(v.length);
      const half = D / 2;
      for (let r = 0; r < rows; r++)
        for (let h = 0; h < cols; h += D)
          for (let i = 0; i < half; i++) {
            const o = r * cols + h + i;
            const c0 = Math.abs(tables.cos[(r % rows) * half + i]);
            const s0 = Math.abs(tables.sin[(r % rows) * half + i]);
            s[o] = Math.abs(v[o]) * c0 + Math.abs(v[o + half]) * s0;
            s[o + half] = Math.abs(v[o + half]) * c0 + Math.abs(v[o]) * s0;
          }
      return s;
    };
    out.push(
      sumCheck(`rope ${tag} forward ${rows}×${cols}`, gY, Y.data, scale(x), 2),
      sumCheck(`rope ${tag} backward ${rows}×${cols}`, gX, X.grad!, scale(gy), 2),
    );
  }
  return out;
}

/**
 * Causal grouped-query attention forward (out) and backward (dq, dk, dv) against ops-llm.ts
 * causalAttention, for 4 query heads on 2 KV heads and for Mistral's sliding window (3) on one
 * KV head. The 'scale' measure, bound 1e-5: the CPU keeps scores and probabilities in doubles,
 * the GPU in f32; each output is a short chain of f32 steps (a dot of headDim = 8 terms, an exp
 * of the score less the row's max, sums of at most seqLen·group = 46 products), each adding a
 * few u = 6e-8 of the tensor's scale (measured on SwiftShader: ≤ 1.5e-7). The bound leaves a
 * margin for another adapter's exp (WGSL allows a few ULP); a wrong mask, KV head or term is off
 * by 0.1 or more (breaking each kernel on purpose gave 0.18–3.3).
 */
async function attentionChecks(k: TrainKernels, seed: number): Promise<Check[]> {
  const out: Check[] = [];
  const variants: [string, AttentionDims][] = [
    ['GQA 4/2 heads', { batch: 2, seqLen: 23, heads: 4, kvHeads: 2, headDim: 8, window: 0 }],
    ['sliding window 3, 4/1 heads', { batch: 2, seqLen: 11, heads: 4, kvHeads: 1, headDim: 8, window: 3 }],
  ];
  for (const [tag, s] of variants) {
    const rows = s.batch * s.seqLen;
    const qs = s.heads * s.headDim;
    const ks = s.kvHeads * s.headDim;
    const q = rand(rows * qs, seed, -1, 1);
    const kk = rand(rows * ks, seed + 1, -1, 1);
    const v = rand(rows * ks, seed + 2, -1, 1);
    const gy = rand(rows * qs, seed + 3);
    const tape = new Tape('f32');
    const Q = tape.leaf(q, rows, qs, true);
    const K = tape.leaf(kk, rows, ks, true);
    const V = tape.leaf(v, rows, ks, true);
    const Y = causalAttention(Q, K, V, s);
    tape.backward(project(Y, gy));
    const f = {
      q: k.storage(q, 'q'),
      k: k.storage(kk, 'k'),
      v: k.storage(v, 'v'),
      probs: k.storage(s.batch * s.heads * s.seqLen * s.seqLen, 'P'),
      dout: k.storage(gy, 'dout'),
    };
    const y = k.storage(rows * qs, 'out');
    const g = {
      dscores: k.storage(s.batch * s.heads * s.seqLen * s.seqLen, 'dS'),
      dq: k.storage(rows * qs, 'dq'),
      dk: k.storage(rows * ks, 'dk'),
      dv: k.storage(rows * ks, 'dv'),
    };
    const [gY, gQ, gK, gV] = await runRead(
      k,
      [k.attention(f.q, f.k, f.v, f.probs, y, s), ...k.attentionGrad(f, g, s)],
      [y, g.dq, g.dk, g.dv],
      [rows * qs, rows * qs, rows * ks, rows * ks],
    );
    const t = `attention ${tag} B${s.batch} T${s.seqLen} D${s.headDim}`;
    out.push(
      scaleCheck(`${t} forward`, gY, Y.data, 1e-5),
      scaleCheck(`${t} dq`, gQ, Q.grad!, 1e-5),
      scaleCheck(`${t} dk`, gK, K.grad!, 1e-5),
      scaleCheck(`${t} dv`, gV, V.grad!, 1e-5),
    );
  }
  return out;
}

/**
 * The embedding gather (a copy: bit for bit) and its scatter-add (each table element sums the
 * rows of its id: the 'sum' measure with the most rows any id has as its terms), the residual add
 * and SwiGLU's product (one f32 operation each, the CPU's exact double result rounded once: bit
 * for bit).
 */
async function elementwiseChecks(k: TrainKernels, seed: number): Promise<Check[]> {
  const V = 41;
  const H = 24;
  const rows = 57;
  const r = mulberry32(seed);
  // Few distinct ids, so most repeat (the scatter sums several rows).
  const ids = Int32Array.from({ length: rows }, () => Math.floor(r() * 13) * 3);
  const table = rand(V * H, seed + 1);
  const gy = rand(rows * H, seed + 2);
  const tape = new Tape('f32');
  const E = tape.leaf(table, V, H, true);
  const Y = embedding(E, ids);
  tape.backward(project(Y, gy));
  const bi = k.storage(ids, 'ids');
  const bt = k.storage(table, 'table');
  const by = k.storage(gy, 'dy');
  const y = k.storage(rows * H, 'gathered');
  const dt = k.storage(V * H, 'd table');
  const n = 3001;
  const a = rand(n, seed + 3, -4, 4);
  const b = rand(n, seed + 4, -4, 4);
  const A = tape.leaf(a, 1, n, false);
  const Bv = tape.leaf(b, 1, n, false);
  const sum = add(A, Bv);
  const prod = mul(A, Bv);
  const [ba, bb, bs, bp] = [k.storage(a, 'a'), k.storage(b, 'b'), k.storage(n, 'a + b'), k.storage(n, 'a ⊙ b')];
  const [gY, gT, gS, gP] = await runRead(
    k,
    [k.embedding(bi, bt, y, rows, H, V), k.embeddingGrad(bi, by, dt, rows, H, V), k.add(ba, bb, bs, n), k.mul(ba, bb, bp, n)],
    [y, dt, bs, bp],
    [rows * H, V * H, n, n],
  );
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const scale = new Float64Array(V * H);
  ids.forEach((id, i) => {
    for (let j = 0; j < H; j++) scale[id * H + j] += Math.abs(gy[i * H + j]);
  });
  return [
    bitsCheck(`embedding gather ${rows} ids of ${V}×${H}`, gY, Y.data as Float32Array),
    sumCheck(`embedding scatter-add ${rows} ids into ${V}×${H}`, gT, E.grad!, scale, Math.max(...counts.values())),
    bitsCheck(`residual add n=${n}`, gS, sum.data as Float32Array),
    bitsCheck(`swiglu product n=${n}`, gP, prod.data as Float32Array),
  ];
}

async function kernels(seed: number): Promise<Check[]> {
  const k = await device();
  try {
    return [...(await ropeChecks(k, seed)), ...(await attentionChecks(k, seed + 100)), ...(await elementwiseChecks(k, seed + 200))];
  } finally {
    k.destroy();
  }
}

/* ------------------------------------------------ the whole LoRA step */

const EVERY_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'];
const GQA: TinyCheckpointOptions = { heads: 4, kvHeads: 2, layers: 2, hidden: 16, intermediate: 24 };

/**
 * The tiny Llamas the step is checked on, with the modules their LoRA targets: GQA with a separate
 * head; tied + Llama 3 RoPE + attention biases; Mistral's sliding window; and LoRA on the top
 * layer's v_proj and lm_head only, or lm_head only (the backward stops at the lowest LoRA).
 */
export const STEP_MODELS = {
  gqa: { options: GQA, targets: EVERY_LINEAR },
  tied: {
    options: { heads: 4, kvHeads: 1, layers: 2, hidden: 16, intermediate: 24, tied: true, llama3Rope: true, attentionBias: true },
    targets: EVERY_LINEAR,
  },
  mistral: {
    options: { architecture: 'MistralForCausalLM', heads: 4, kvHeads: 2, layers: 1, hidden: 16, intermediate: 24, slidingWindow: 5 },
    targets: EVERY_LINEAR,
  },
  upper: { options: GQA, targets: ['layers.1.self_attn.v_proj', 'lm_head'] },
  head: { options: GQA, targets: ['lm_head'] },
} as const satisfies Record<string, { options: TinyCheckpointOptions; targets: readonly string[] }>;
export type StepModel = keyof typeof STEP_MODELS;

const LORA: LoraConfig = {
  r: 4,
  alpha: 8,
  dropout: 0.1,
  targetModules: EVERY_LINEAR,
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: false,
  baseModel: 'tiny',
  taskType: 'CAUSAL_LM',
};

function tinyLlama(model: StepModel, seed: number): { config: CausalLmConfig; tensors: Tensor[]; adapter: () => Adapter } {
  const ck = tinyCheckpoint({ ...STEP_MODELS[model].options, seed });
  const config = parseCausalLmConfig(ck.config);
  const sites = llamaSites(config);
  // lm_head is no target of a tied model.
  const targets = STEP_MODELS[model].targets.filter((t) => sites.some((s) => s.module === t || s.module.endsWith(`.${t}`)));
  return { config, tensors: ck.tensors, adapter: () => initAdapter({ ...LORA, targetModules: targets }, sites, new Map(), seed + 1) };
}

/**
 * Three LoRA steps (batch 3 windows of 9 tokens, LoRA r 4 α 8 dropout 0.1 on the model's
 * targets) on the GPU (GpuLlamaLoraTrainer.step) and the CPU (core llamaLoss on the tape with
 * llamaAdapterSteps' dropout key seed + step + 1, the core's AdamW over adapterParams), from the
 * same adapter with B made non-zero (so dA is not 0 at the first step). Per step: the loss
 * within 1e-5 of its value, every LoRA gradient within 1e-4 of its tensor's scale (f32 against
 * f32-stored, double-summed activations through two layers, attention and a vocabulary softmax),
 * and each tensor after AdamW within 1e-3 of a learning-rate step (train-checks.ts stepChecks).
 */
async function llamaStep(dev: GPUDevice, seed: number, model: StepModel): Promise<Check[]> {
  const { config, tensors, adapter } = tinyLlama(model, seed);
  const f32 = new Map(tensors.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
  const shapes = new Map(tensors.map((t) => [t.name, t.shape]));
  const [cpuA, gpuA] = [adapter(), adapter()];
  for (const a of [cpuA, gpuA]) for (const [m, p] of a.lora) p.b.set(rand(p.b.length, seed + 5 + m.length, -0.3, 0.3));
  const params = adapterParams(cpuA);
  const opt = new AdamW(params, ADAMW_DEFAULTS);
  const B = 3;
  const T = 9;
  const r = mulberry32(seed + 9);
  const tokens = Int32Array.from({ length: 4 * B * T }, () => Math.floor(r() * config.vocabSize));
  {
    const trainer = new GpuLlamaLoraTrainer(dev, config, tensors, gpuA, B, T);
    const gpuParams = adapterParams(gpuA);
    const near = params.map(() => new Set<number>());
    const out: Check[] = [];
    try {
      for (let step = 0; step < 3; step++) {
        const ids = windowIds(tokens, T, [step, step + 1, (step + 3) % 4]);
        const lr = [2e-3, 5e-3, 3e-3][step];
        const key = (seed + step + 1) >>> 0;
        const tape = new Tape('f32');
        const values = new Map(params.map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
        const m = { ...frozenModel(tape, config, f32, shapes, values), adapter: cpuA, lora: values, dropoutKey: key };
        const loss = llamaLoss(m, ids, B, T);
        tape.backward(loss);
        const grads = params.map((p) => values.get(p.name)!.grad!);
        opt.step(grads, lr);
        const g = await trainer.step(ids, lr, { grads: true, dropoutKey: key });
        out.push(
          ...stepChecks(
            `llama ${model} step ${step}`,
            params.map((p) => p.name),
            { loss: g.loss, grads: g.grads!, weights: gpuParams.map((p) => p.data) },
            { loss: loss.data, grads, weights: params.map((p) => p.data) },
            near,
            lr,
          ),
        );
      }
    } finally {
      trainer.destroy();
    }
    return out;
  }
}

/**
 * Eight steps of the LoRA loop from a fresh adapter (12 windows of 8 tokens, batch 4, cosine
 * with warm-up, lr 2e-2, dropout 0.1): the core's llamaAdapterSteps against gpuLlamaAdapterSteps;
 * every step's loss within 1e-4 of its value and each adapter tensor at the end within 1e-3 of
 * its scale (eight AdamW steps of up to lr each compound the f32 differences).
 */
/** llamaStep for each model, on one device (the pipelines compiled once). */
async function llamaSteps(seed: number, models: readonly StepModel[]): Promise<Record<string, Check[]>> {
  return withGpu(async (dev) => {
    const out: Record<string, Check[]> = {};
    for (const m of models) out[m] = await llamaStep(dev, seed, m);
    return out;
  });
}

async function llamaLoop(seed: number, model: StepModel): Promise<Check[]> {
  const { config, tensors, adapter } = tinyLlama(model, seed);
  const T = 8;
  const text = Array.from({ length: 12 * T }, (_, i) => [5, 9, 13, 21, 34, 8, 3][i % 7] + (i % 5));
  const opts: LoopOptions = { steps: 8, batch: 4, seed, schedule: { kind: 'cosine', lr: 2e-2, warmupSteps: 2 } };
  const [cpuA, gpuA] = [adapter(), adapter()];
  const cpu = [...llamaAdapterSteps(config, tensors, cpuA, text, T, opts)];
  return withGpu(async (dev) => {
    const trainer = new GpuLlamaLoraTrainer(dev, config, tensors, gpuA, 4, T);
    try {
      const losses: number[] = [];
      for await (const s of gpuLlamaAdapterSteps(trainer, text, opts)) losses.push(s.loss);
      const cpuP = adapterParams(cpuA);
      const gpuP = adapterParams(gpuA);
      return [
        scaleCheck(
          `llama ${model} loop of 8 steps: loss per step (first ${cpu[0].loss.toFixed(3)}, last ${cpu[7].loss.toFixed(3)})`,
          Float32Array.from(losses),
          Float32Array.from(cpu, (s) => s.loss),
          1e-4,
        ),
        ...gpuP.map((p, i) => scaleCheck(`llama ${model} loop of 8 steps: ${p.name} at the end`, p.data, cpuP[i].data, 1e-3)),
      ];
    } finally {
      trainer.destroy();
    }
  });
}

/**
 * A GPU that fails mid-run: llamaAdapterEngine ('webgpu') with the device destroyed after its
 * third step, beside the core's llamaAdapterSteps. The CPU must carry the run on from the host
 * copy (weights and AdamW's moments after step 3): the engine of each step, the engine's words,
 * every step's loss within 1e-4 of its value and each adapter tensor at the end within 1e-3 of
 * its scale (as llamaLoop: the GPU's f32 moments taken over by the CPU's doubles).
 */
async function llamaFallback(seed: number): Promise<{ kinds: string[]; engine: string; checks: Check[] }> {
  const { config, tensors, adapter } = tinyLlama('gqa', seed);
  const T = 8;
  const text = Array.from({ length: 12 * T }, (_, i) => [5, 9, 13, 21, 34, 8, 3][i % 7] + (i % 5));
  const opts: LoopOptions = { steps: 6, batch: 4, seed, schedule: { kind: 'cosine', lr: 2e-2, warmupSteps: 2 } };
  const [cpuA, gpuA] = [adapter(), adapter()];
  const cpu = [...llamaAdapterSteps(config, tensors, cpuA, text, T, opts)];
  const gpu = await getGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const e = await llamaAdapterEngine(config, tensors, gpuA, text, T, opts, 'webgpu');
  const kinds: string[] = [];
  const losses: number[] = [];
  try {
    for await (const s of e.steps) {
      kinds.push(e.kind);
      losses.push(s.loss);
      if (s.step === 2) gpu.device.destroy();
    }
  } finally {
    e.close();
  }
  const cpuP = adapterParams(cpuA);
  return {
    kinds,
    engine: e.engine,
    checks: [
      scaleCheck(
        'llama run, GPU lost after step 3: loss per step',
        Float32Array.from(losses),
        Float32Array.from(cpu, (s) => s.loss),
        1e-4,
      ),
      ...adapterParams(gpuA).map((p, i) =>
        scaleCheck(`llama run, GPU lost after step 3: ${p.name} at the end`, p.data, cpuP[i].data, 1e-3),
      ),
    ],
  };
}

async function info(): Promise<{ adapter: string | null; software: boolean }> {
  const gpu = await openGpu();
  if (!gpu) return { adapter: null, software: false };
  gpu.device.destroy();
  return { adapter: gpu.adapterInfo, software: gpu.software };
}

const api = { info, kernels, llamaSteps, llamaLoop, llamaFallback };

declare global {
  interface Window {
    __trainLmKernels: typeof api;
  }
}

(globalThis as unknown as { __trainLmKernels: typeof api }).__trainLmKernels = api;
