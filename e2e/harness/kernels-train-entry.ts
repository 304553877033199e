/**
 * Bundled by e2e/kernels-train.spec.ts and injected into a page (or run in Node through Dawn):
 * every WebGPU training kernel (src/gpu/train) against the CPU training engine (src/core/train, the
 * f32 tape) on the same seeded inputs, and a whole training step of the MLP species. Only the
 * error figures cross back to the test, never the tensors.
 *
 * The measures, each with its bound (the spec asserts them):
 *  - 'sum' (matmuls, bias gradients, LoRA): max over elements of |gpu − cpu| / (u·Σ|terms|), with
 *    u = 2⁻²⁴ and Σ|terms| the sum of the magnitudes of the products that element adds up. f32
 *    recursive summation of K terms is off by at most γ_K·Σ|terms| ≈ K·u·Σ|terms| in any order, and
 *    the CPU's double sum rounded to f32 adds u/2, so the bound is K + 2 (the figures come out far
 *    below it; a wrong index or a lost tile gives errors of the order of 1/u).
 *  - 'scale' (everything else): max |gpu − cpu| / max |cpu| over the tensor, the error relative to
 *    the tensor's magnitude, with a bound per check given beside it.
 *  - 'bits': elements whose bits differ; 0 for ReLU, its gradient and the bias add (no rounding
 *    differs: one f32 addition or none).
 *  - 'step' (the MLP step's weights after AdamW): see mlpStep.
 */
import { mulberry32 } from '../../src/core/seeded.ts';
import { Tape, type Value } from '../../src/core/train/tape.ts';
import { addBias, matmul, relu, silu } from '../../src/core/train/ops.ts';
import { rmsNorm } from '../../src/core/train/ops-llm.ts';
import { crossEntropy, IGNORE_INDEX } from '../../src/core/train/loss.ts';
import { AdamW, ADAMW_DEFAULTS } from '../../src/core/train/optim.ts';
import { loraLinear } from '../../src/core/train/mlp.ts';
import { project } from '../../src/core/train/test-helpers.ts';
import { getGpu, openGpu } from '../../src/gpu/device.ts';
import { TrainKernels, adamwValues, type Dispatch } from '../../src/gpu/train/kernels.ts';
import { loraBackward, loraForward } from '../../src/gpu/train/lora.ts';
import { GpuMlpTrainer, MLP_PARAM_NAMES, gpuMlpSteps } from '../../src/gpu/train/mlp.ts';
import { trainLoop, type LoopOptions, type Trainable } from '../../src/core/train/loop.ts';
import { mlpBatchLoss, mlpTrainables } from '../../src/gpu/train/reference.ts';
import { GpuAdapterTrainer, gpuAdapterSteps } from '../../src/gpu/train/adapter.ts';
import { adapterSteps, trainAdapterOnGpu } from '../../src/gpu/train/run.ts';
import { fromFloat32, toFloat32, type Tensor } from '../../src/core/tensor.ts';
import { initAdapter, type Adapter, type LoraConfig } from '../../src/core/train/lora.ts';
import { adapterParams, mlpAdapterLoss, mlpAdapterSteps, mlpSites } from '../../src/core/train/mlp.ts';
import { prepareRun, runTraining, type RunInputs } from '../../src/core/train/run.ts';
import type { TrainSpec } from '../../src/core/train/spec.ts';
import type { Sha256Hex } from '../../src/core/hash.ts';
import { absProduct, bitsCheck, rand, scaleCheck, stepChecks, sumCheck, transpose, withGpu, type Check } from './train-checks.ts';

async function device(): Promise<TrainKernels> {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  return new TrainKernels(gpu.device);
}

async function runRead(k: TrainKernels, ds: Dispatch[], bufs: GPUBuffer[], counts: number[]): Promise<Float32Array[]> {
  k.run(ds);
  return k.read(bufs, counts);
}

/** matmul forward and both gradients, [in, out] weights (x·W) and [out, in] (x·Wᵀ), awkward sizes. */
async function matmulChecks(k: TrainKernels, m: number, kk: number, n: number, transB: boolean, seed: number): Promise<Check[]> {
  const x = rand(m * kk, seed, -1, 1, 0.3);
  const w = rand(kk * n, seed + 1);
  const gy = rand(m * n, seed + 2);
  const tape = new Tape('f32');
  const X = tape.leaf(x, m, kk, true, 'x');
  const W = transB ? tape.leaf(w, n, kk, true, 'w') : tape.leaf(w, kk, n, true, 'w');
  const Y = matmul(X, W, transB);
  tape.backward(project(Y, gy));
  const bx = k.storage(x, 'x');
  const bw = k.storage(w, 'w');
  const by = k.storage(gy, 'dy');
  const y = k.storage(m * n, 'y');
  const dx = k.storage(m * kk, 'dx');
  const dw = k.storage(kk * n, 'dw');
  const ds = [
    k.matmul(bx, bw, y, { m, k: kk, n, transB }),
    // dX = dY·Wᵀ ([in, out]) or dY·W ([out, in]); dW = Xᵀ·dY, or dYᵀ·X for [out, in].
    k.matmul(by, bw, dx, { m, k: n, n: kk, transB: !transB }),
    transB ? k.matmul(by, bx, dw, { m: n, k: m, n: kk, transA: true }) : k.matmul(bx, by, dw, { m: kk, k: m, n, transA: true }),
  ];
  const [gY, gX, gW] = await runRead(k, ds, [y, dx, dw], [m * n, m * kk, kk * n]);
  const wIO = transB ? transpose(w, n, kk) : w; // [k, n]
  const tag = `matmul ${m}×${kk}·${transB ? `(${n}×${kk})ᵀ` : `${kk}×${n}`}`;
  return [
    sumCheck(`${tag} forward`, gY, Y.data, absProduct(x, wIO, m, kk, n), kk),
    sumCheck(`${tag} dX`, gX, X.grad!, absProduct(gy, transpose(wIO, kk, n), m, n, kk), n),
    sumCheck(
      `${tag} dW`,
      gW,
      W.grad!,
      transB ? absProduct(transpose(gy, m, n), x, n, m, kk) : absProduct(transpose(x, m, kk), gy, kk, m, n),
      m,
    ),
  ];
}

async function biasChecks(k: TrainKernels, rows: number, cols: number, seed: number): Promise<Check[]> {
  const x = rand(rows * cols, seed);
  const b = rand(cols, seed + 1);
  const gy = rand(rows * cols, seed + 2);
  const tape = new Tape('f32');
  const X = tape.leaf(x, rows, cols, false);
  const B = tape.leaf(b, 1, cols, true);
  const Y = addBias(X, B);
  tape.backward(project(Y, gy));
  const bx = k.storage(x, 'x');
  const bb = k.storage(b, 'b');
  const by = k.storage(gy, 'dy');
  const db = k.storage(cols, 'db');
  const [gY, gB] = await runRead(k, [k.biasAdd(bx, bb, rows, cols), k.biasGrad(by, db, rows, cols)], [bx, db], [rows * cols, cols]);
  const colAbs = new Float64Array(cols);
  for (let i = 0; i < rows * cols; i++) colAbs[i % cols] += Math.abs(gy[i]);
  return [
    bitsCheck(`bias add ${rows}×${cols}`, gY, Y.data as Float32Array),
    sumCheck(`bias grad ${rows}×${cols}`, gB, B.grad!, colAbs, rows),
  ];
}

/** ReLU must be bit-identical; SiLU within 1e-6 of the tensor's scale (exp to a few ULP, a division and products). */
async function activationChecks(k: TrainKernels, n: number, seed: number): Promise<Check[]> {
  const x = rand(n, seed, -6, 6, 0.05);
  const gy = rand(n, seed + 1);
  const out: Check[] = [];
  for (const kind of ['relu', 'silu'] as const) {
    const tape = new Tape('f32');
    const X = tape.leaf(x, 1, n, true);
    const Y = kind === 'relu' ? relu(X) : silu(X);
    tape.backward(project(Y, gy));
    const bx = k.storage(x, 'x');
    const by = k.storage(gy, 'dy');
    const y = k.storage(n, 'y');
    const dx = k.storage(n, 'dx');
    const [gY, gX] = await runRead(k, [k.activation(kind, bx, y, n), k.activationGrad(kind, bx, by, dx, n)], [y, dx], [n, n]);
    if (kind === 'relu')
      out.push(bitsCheck(`relu forward n=${n}`, gY, Y.data as Float32Array), bitsCheck(`relu grad n=${n}`, gX, X.grad as Float32Array));
    else out.push(scaleCheck(`silu forward n=${n}`, gY, Y.data, 1e-6), scaleCheck(`silu grad n=${n}`, gX, X.grad!, 1e-6));
  }
  return out;
}

/** Softmax cross-entropy, a few rows ignored: loss and dz within 1e-5 of their scale (exp/log in f32 over a row). */
async function crossEntropyChecks(k: TrainKernels, rows: number, cols: number, seed: number): Promise<Check[]> {
  const z = rand(rows * cols, seed, -8, 8);
  const r = mulberry32(seed + 1);
  const labels = Int32Array.from({ length: rows }, (_, i) => (i % 7 === 3 ? IGNORE_INDEX : Math.floor(r() * cols)));
  const counted = labels.filter((y) => y !== IGNORE_INDEX).length;
  const tape = new Tape('f32');
  const Z = tape.leaf(z, rows, cols, true);
  const L = crossEntropy(Z, labels);
  tape.backward(L);
  const bz = k.storage(z, 'z');
  const bl = k.storage(labels, 'labels');
  const rl = k.storage(rows, 'row loss');
  const dz = k.storage(rows * cols, 'dz');
  const [gRows, gZ] = await runRead(k, [k.crossEntropy(bz, bl, rl, dz, rows, cols, counted)], [rl, dz], [rows, rows * cols]);
  let total = 0;
  labels.forEach((y, i) => (total += y === IGNORE_INDEX ? 0 : gRows[i]));
  return [
    scaleCheck(`cross-entropy ${rows}×${cols} loss`, Float32Array.of(total / counted), L.data, 1e-5),
    scaleCheck(`cross-entropy ${rows}×${cols} dz`, gZ, Z.grad!, 1e-5),
  ];
}

/** RMSNorm: y, dx and dw within 1e-5 of their scale (a row sum of squares, a sqrt, a row dot product). */
async function rmsNormChecks(k: TrainKernels, rows: number, cols: number, seed: number): Promise<Check[]> {
  const x = rand(rows * cols, seed, -2, 2);
  const w = rand(cols, seed + 1, 0.5, 1.5);
  const gy = rand(rows * cols, seed + 2);
  const eps = 1e-5;
  const tape = new Tape('f32');
  const X = tape.leaf(x, rows, cols, true);
  const W = tape.leaf(w, 1, cols, true);
  const Y = rmsNorm(X, W, eps);
  tape.backward(project(Y, gy));
  const bx = k.storage(x, 'x');
  const bw = k.storage(w, 'w');
  const by = k.storage(gy, 'dy');
  const y = k.storage(rows * cols, 'y');
  const inv = k.storage(rows, 'inv');
  const dx = k.storage(rows * cols, 'dx');
  const dw = k.storage(cols, 'dw');
  const ds = [k.rmsNorm(bx, bw, y, inv, rows, cols, eps), ...k.rmsNormGrad(bx, bw, inv, by, dx, dw, rows, cols)];
  const [gY, gX, gW] = await runRead(k, ds, [y, dx, dw], [rows * cols, rows * cols, cols]);
  return [
    scaleCheck(`rmsnorm ${rows}×${cols} forward`, gY, Y.data, 1e-5),
    scaleCheck(`rmsnorm ${rows}×${cols} dx`, gX, X.grad!, 1e-5),
    scaleCheck(`rmsnorm ${rows}×${cols} dw`, gW, W.grad!, 1e-5),
  ];
}

/** LoRA beside a frozen [in, out] weight: y = x·W + s·(x·Aᵀ)·Bᵀ; dx, dA, dB (src/core/train/mlp.ts loraLinear). */
async function loraChecks(k: TrainKernels, rows: number, inF: number, outF: number, r: number, seed: number): Promise<Check[]> {
  const x = rand(rows * inF, seed, -1, 1, 0.2);
  const w = rand(inF * outF, seed + 1);
  const a = rand(r * inF, seed + 2);
  const b = rand(outF * r, seed + 3);
  const gy = rand(rows * outF, seed + 4);
  const scaling = 16 / r;
  const tape = new Tape('f32');
  const X = tape.leaf(x, rows, inF, true);
  const W = tape.leaf(w, inF, outF, false);
  const A = tape.leaf(a, r, inF, true);
  const B = tape.leaf(b, outF, r, true);
  const Y = loraLinear(X, W, 'in-out', null, { a: A, b: B, scaling, dropout: 0, key: 0 });
  tape.backward(project(Y, gy));
  const bufs = { x: k.storage(x, 'x'), a: k.storage(a, 'A'), b: k.storage(b, 'B'), t: k.storage(rows * r, 't') };
  const bw = k.storage(w, 'w');
  const by = k.storage(gy, 'dy');
  const y = k.storage(rows * outF, 'y');
  const g = {
    dy: by,
    dt: k.storage(rows * r, 'dt'),
    da: k.storage(r * inF, 'dA'),
    db: k.storage(outF * r, 'dB'),
    dx: k.storage(rows * inF, 'dx'),
  };
  const shape = { rows, inFeatures: inF, outFeatures: outF, r, scaling };
  const ds = [
    k.matmul(bufs.x, bw, y, { m: rows, k: inF, n: outF }),
    ...loraForward(k, bufs, y, shape),
    k.matmul(by, bw, g.dx!, { m: rows, k: outF, n: inF, transB: true }),
    ...loraBackward(k, bufs, g, shape),
  ];
  const [gY, gX, gA, gB] = await runRead(k, ds, [y, g.dx!, g.da, g.db], [rows * outF, rows * inF, r * inF, outF * r]);
  // Scales: Σ|terms| through both products (|x|·|W| + s·|x|·|A|ᵀ·|B|ᵀ and the like).
  const t = absProduct(x, transpose(a, r, inF), rows, inF, r);
  const yScale = absProduct(x, w, rows, inF, outF).map((v, i) => v + scaling * absProduct(t, transpose(b, outF, r), rows, r, outF)[i]);
  const dt = absProduct(gy, b, rows, outF, r).map((v) => v * scaling);
  const dxScale = absProduct(gy, transpose(w, inF, outF), rows, outF, inF).map((v, i) => v + absProduct(dt, a, rows, r, inF)[i]);
  const dbScale = absProduct(transpose(gy, rows, outF), t, outF, rows, r).map((v) => v * scaling);
  const daScale = absProduct(transpose(dt, rows, r), x, r, rows, inF);
  const tag = `lora ${rows}×${inF}→${outF} r=${r}`;
  return [
    sumCheck(`${tag} forward`, gY, Y.data, yScale, inF + r + 1),
    sumCheck(`${tag} dx`, gX, X.grad!, dxScale, outF + r + 1),
    sumCheck(`${tag} dA`, gA, A.grad!, daScale, rows + outF + 1),
    sumCheck(`${tag} dB`, gB, B.grad!, dbScale, rows + inF + 1),
  ];
}

/** Three AdamW steps (decayed and not) with the same gradients and learning rates: within 1e-6 of the weights' scale. */
async function adamwChecks(k: TrainKernels, n: number, seed: number): Promise<Check[]> {
  const out: Check[] = [];
  for (const decay of [true, false]) {
    const w0 = rand(n, seed);
    const grads = [0, 1, 2].map((s) => rand(n, seed + 10 + s, -1e-2, 1e-2));
    const lrs = [1e-3, 5e-3, 2e-3];
    const cpu = Float32Array.from(w0);
    const opt = new AdamW([{ name: 'w', data: cpu, decay }], ADAMW_DEFAULTS);
    grads.forEach((g, s) => opt.step([g], lrs[s]));
    const w = k.storage(w0, 'w');
    const g = k.storage(n, 'g');
    const m = k.storage(n, 'm');
    const v = k.storage(n, 'v');
    const d = k.adamw(g, w, m, v, adamwValues(n, ADAMW_DEFAULTS, lrs[0], 1, decay));
    for (let s = 0; s < 3; s++) {
      k.write(g, grads[s]);
      k.setParams(d, 'adamw', adamwValues(n, ADAMW_DEFAULTS, lrs[s], s + 1, decay));
      k.run([d]);
    }
    const [gw] = await k.read([w], [n]);
    // The update itself (w − w0) is what the optimizer computes; compare it relative to its scale too.
    const du = Float32Array.from(gw, (x, i) => x - w0[i]);
    const cu = Float32Array.from(cpu, (x, i) => x - w0[i]);
    out.push(
      scaleCheck(`adamw n=${n} decay=${decay} weights`, gw, cpu, 1e-6),
      scaleCheck(`adamw n=${n} decay=${decay} update`, du, cu, 1e-4),
    );
  }
  return out;
}

/** Every kernel against the CPU engine on seeded inputs. */
async function kernels(seed: number): Promise<Check[]> {
  const k = await device();
  try {
    return [
      ...(await matmulChecks(k, 37, 45, 29, false, seed)),
      ...(await matmulChecks(k, 37, 45, 29, true, seed + 100)),
      ...(await matmulChecks(k, 64, 784, 64, false, seed + 200)),
      ...(await biasChecks(k, 33, 70, seed + 300)),
      ...(await activationChecks(k, 5000, seed + 400)),
      ...(await crossEntropyChecks(k, 45, 10, seed + 500)),
      ...(await crossEntropyChecks(k, 9, 257, seed + 550)),
      ...(await rmsNormChecks(k, 19, 80, seed + 600)),
      ...(await loraChecks(k, 21, 50, 30, 4, seed + 700)),
      ...(await adamwChecks(k, 3001, seed + 800)),
    ];
  } finally {
    k.destroy();
  }
}

/** Digits-like rows: ~80 % exact zeros (MNIST's background), the rest in (0, 1]. */
function digitRows(rows: number, inputs: number, seed: number): Float32Array {
  return rand(rows * inputs, seed, 0, 1, 0.8);
}

/**
 * Two whole training steps of the MLP (784 → 64 → 10, a batch of 32): the loss, every parameter
 * gradient and the weights after AdamW, GPU (GpuMlpTrainer) against the CPU tape + AdamW.
 * Loss within 1e-5 and gradients within 1e-4 of their scale (two layers of f32 sums of up to 784
 * terms). The weights after AdamW ('step'): max |θ_gpu − θ_cpu| / lr ≤ 1e-3, a thousandth of a
 * step, except that an element whose CPU gradient is non-zero but within the gradient tolerance of
 * 0 may take AdamW's ±lr first step the other way (m/√v = sign g): those are counted and excluded.
 */
async function mlpStep(seed: number, shape = { inputs: 784, hidden: 64, classes: 10 }, batch = 32): Promise<Check[]> {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const { inputs: I, hidden: H, classes: C } = shape;
  const init = {
    w1: rand(I * H, seed, -Math.sqrt(6 / I), Math.sqrt(6 / I)),
    b1: rand(H, seed + 1, -0.05, 0.05),
    w2: rand(H * C, seed + 2, -Math.sqrt(6 / H), Math.sqrt(6 / H)),
    b2: rand(C, seed + 3, -0.05, 0.05),
  };
  const trainer = new GpuMlpTrainer(gpu.device, shape, batch, init);
  const cpu = {
    w1: Float32Array.from(init.w1),
    b1: Float32Array.from(init.b1),
    w2: Float32Array.from(init.w2),
    b2: Float32Array.from(init.b2),
  };
  const named = [cpu.w1, cpu.b1, cpu.w2, cpu.b2];
  const opt = new AdamW(
    MLP_PARAM_NAMES.map((name, i) => ({ name, data: named[i], decay: name.endsWith('.weight') })),
    ADAMW_DEFAULTS,
  );
  const out: Check[] = [];
  // Elements whose CPU gradient was within tolerance of 0 at some step so far (their AdamW steps may differ in sign).
  const near = named.map(() => new Set<number>());
  try {
    for (let step = 0; step < 2; step++) {
      const { x, labels, lr } = stepBatch(seed, step, batch, I, C);
      const tape = new Tape('f32');
      const vs: Value[] = [
        tape.param(cpu.w1, I, H, 'fc1.weight'),
        tape.param(cpu.b1, 1, H, 'fc1.bias'),
        tape.param(cpu.w2, H, C, 'fc2.weight'),
        tape.param(cpu.b2, 1, C, 'fc2.bias'),
      ];
      const h = relu(addBias(matmul(tape.leaf(x, batch, I, false), vs[0]), vs[1]));
      const loss = crossEntropy(addBias(matmul(h, vs[2]), vs[3]), labels);
      tape.backward(loss);
      const grads = vs.map((v) => v.grad!);
      opt.step(grads, lr);
      const g = await trainer.step(x, labels, lr, { grads: true });
      const w = await trainer.weights();
      out.push(
        ...stepChecks(
          `mlp step ${step}`,
          MLP_PARAM_NAMES,
          { loss: g.loss, grads: g.grads!, weights: [w.w1, w.b1, w.w2, w.b2] },
          { loss: loss.data, grads, weights: named },
          near,
          lr,
        ),
      );
    }
  } finally {
    trainer.destroy();
    gpu.device.destroy();
  }
  return out;
}

/**
 * Six steps of the training loop on 96 rows (batch 32, the loop's seeded batches, cosine
 * schedule with warm-up) on the CPU (loop.ts trainLoop) and on the GPU (gpuMlpSteps): the loss of
 * every step within 1e-4 of its value, and the weights at the end within 1e-4 of their scale
 * (six AdamW steps of at most lr each, the tensors' f32 rounding compounding).
 */
async function mlpLoop(seed: number): Promise<Check[]> {
  const gpu = await openGpu();
  if (!gpu) throw new Error('navigator.gpu.requestAdapter() returned no adapter');
  const shape = { inputs: 784, hidden: 64, classes: 10 };
  const { inputs: I, hidden: H, classes: C } = shape;
  const rows = 96;
  const x = digitRows(rows, I, seed);
  const r = mulberry32(seed + 1);
  const labels = Int32Array.from({ length: rows }, () => Math.floor(r() * C));
  const init = {
    w1: rand(I * H, seed + 2, -Math.sqrt(6 / I), Math.sqrt(6 / I)),
    b1: new Float32Array(H),
    w2: rand(H * C, seed + 3, -Math.sqrt(6 / H), Math.sqrt(6 / H)),
    b2: new Float32Array(C),
  };
  const opts: LoopOptions = { steps: 6, batch: 32, schedule: { kind: 'cosine', lr: 1e-2, warmupSteps: 2 }, seed };
  const params = mlpTrainables(shape, init);
  const cpu = trainLoop(params, rows, (tape, v, batch) => mlpBatchLoss(tape, v, x, labels, batch, I), opts);
  const trainer = new GpuMlpTrainer(gpu.device, shape, 32, init);
  try {
    const losses: number[] = [];
    for await (const s of gpuMlpSteps(trainer, x, labels, opts)) losses.push(s.loss);
    const w = await trainer.weights();
    return [
      scaleCheck(
        'loop of 6 steps: loss per step',
        Float32Array.from(losses),
        Float32Array.from(cpu, (s) => s.loss),
        1e-4,
      ),
      ...[w.w1, w.b1, w.w2, w.b2].map((gw, i) => scaleCheck(`loop of 6 steps: ${MLP_PARAM_NAMES[i]} at the end`, gw, params[i].data, 1e-4)),
    ];
  } finally {
    trainer.destroy();
    gpu.device.destroy();
  }
}

/** The batch of step `step` of a two-step check: digit-like rows, seeded labels, lr 1e-3 then 2e-3. */
function stepBatch(seed: number, step: number, batch: number, inputs: number, classes: number) {
  const x = digitRows(batch, inputs, seed + 10 + step);
  const r = mulberry32(seed + 20 + step);
  const labels = Int32Array.from({ length: batch }, () => Math.floor(r() * classes));
  return { x, labels, lr: step === 0 ? 1e-3 : 2e-3 };
}

/* ------------------------------------------------ adapters: what the app trains */

/** The app's two adapter modes (src/app/train-form.ts): LoRA r 4, α 8, dropout 0.05 on fc1 and fc2; a new head (fc2 saved). */
export const ADAPTER_MODES = {
  lora: { r: 4, alpha: 8, dropout: 0.05, targetModules: ['fc1', 'fc2'], modulesToSave: [] as string[] },
  head: { r: 4, alpha: 8, dropout: 0, targetModules: [] as string[], modulesToSave: ['fc2'] },
} as const;
export type AdapterMode = keyof typeof ADAPTER_MODES;

function loraConfig(mode: AdapterMode): LoraConfig {
  const m = ADAPTER_MODES[mode];
  return {
    ...m,
    targetModules: [...m.targetModules],
    modulesToSave: [...m.modulesToSave],
    useRslora: false,
    fanInFanOut: true,
    baseModel: 'base.slm',
    taskType: null,
  };
}

/** A seeded digits-shaped base MLP (784 → 64 → 10) as the tensors of a garden model. */
function baseMlp(seed: number, I = 784, H = 64, C = 10): Tensor[] {
  return [
    fromFloat32('fc1.weight', [I, H], rand(I * H, seed, -Math.sqrt(6 / I), Math.sqrt(6 / I))),
    fromFloat32('fc1.bias', [H], rand(H, seed + 1, -0.1, 0.1)),
    fromFloat32('fc2.weight', [H, C], rand(H * C, seed + 2, -Math.sqrt(6 / H), Math.sqrt(6 / H))),
    fromFloat32('fc2.bias', [C], rand(C, seed + 3, -0.05, 0.05)),
  ];
}

function freshAdapter(base: Tensor[], mode: AdapterMode, seed: number): Adapter {
  return initAdapter(loraConfig(mode), mlpSites(base), new Map(base.map((t) => [t.name, t])), seed);
}

/**
 * Two adapter steps of one mode on the GPU (GpuAdapterTrainer.step) and on the CPU (the core's
 * mlpAdapterLoss on a tape, the core's AdamW over adapterParams), from the same adapter with B
 * made non-zero (mid-training: dA is 0 while B is): the loss, every adapter gradient, and the
 * tensors after AdamW within 1e-3 of a learning-rate step (the 'step' measure of mlpStep, the
 * near-zero gradients that may flip AdamW's first step left out).
 */
async function adapterStep(seed: number, mode: AdapterMode, batch = 32): Promise<Check[]> {
  const base = baseMlp(seed);
  const sites = mlpSites(base);
  const baseMap = new Map(base.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
  const I = sites[0].inFeatures;
  const C = sites[1].outFeatures;
  const [cpuA, gpuA] = [freshAdapter(base, mode, seed), freshAdapter(base, mode, seed)];
  for (const a of [cpuA, gpuA]) for (const [m, p] of a.lora) p.b.set(rand(p.b.length, seed + 5 + m.length, -0.2, 0.2));
  const params = adapterParams(cpuA);
  const opt = new AdamW(params, ADAMW_DEFAULTS);
  return withGpu(async (device) => {
    const trainer = new GpuAdapterTrainer(device, base, gpuA, batch);
    const gpuParams = adapterParams(gpuA);
    const near = params.map(() => new Set<number>());
    const rows = Uint32Array.from({ length: batch }, (_, i) => i);
    const out: Check[] = [];
    try {
      for (let step = 0; step < 2; step++) {
        const { x, labels, lr } = stepBatch(seed, step, batch, I, C);
        const tape = new Tape('f32');
        const values = new Map(params.map((p) => [p.name, tape.param(p.data, p.rows, p.cols, p.name)]));
        const loss = mlpAdapterLoss(tape, baseMap, sites, cpuA, values, x, labels, rows, step, seed);
        tape.backward(loss);
        const grads = params.map((p) => values.get(p.name)!.grad!);
        opt.step(grads, lr);
        const g = await trainer.step(x, labels, lr, { grads: true, dropoutKey: seed + step });
        const names = params.map((p) => p.name);
        const weights = (ps: Trainable[]) => ps.map((p) => p.data);
        out.push(
          ...stepChecks(
            `${mode} adapter step ${step}`,
            names,
            { loss: g.loss, grads: g.grads!, weights: weights(gpuParams) },
            { loss: loss.data, grads, weights: weights(params) },
            near,
            lr,
          ),
        );
      }
    } finally {
      trainer.destroy();
    }
    return out;
  });
}

/**
 * Six steps of the app's adapter loop from a fresh adapter (96 rows, batch 32, cosine with
 * warm-up, lr 1e-2): the core's mlpAdapterSteps on the CPU against gpuAdapterSteps; the loss of
 * every step within 1e-4 of its value and each adapter tensor at the end within 1e-4 of its scale.
 */
async function adapterLoop(seed: number, mode: AdapterMode): Promise<Check[]> {
  const base = baseMlp(seed);
  const n = 96;
  const x = digitRows(n, 784, seed + 7);
  const r = mulberry32(seed + 8);
  const labels = Int32Array.from({ length: n }, () => Math.floor(r() * 10));
  const opts: LoopOptions = { steps: 6, batch: 32, schedule: { kind: 'cosine', lr: 1e-2, warmupSteps: 2 }, seed };
  const [cpuA, gpuA] = [freshAdapter(base, mode, seed), freshAdapter(base, mode, seed)];
  const cpu = [...mlpAdapterSteps(base, cpuA, x, labels, opts)];
  return withGpu(async (device) => {
    const trainer = new GpuAdapterTrainer(device, base, gpuA, 32);
    try {
      const losses: number[] = [];
      for await (const s of gpuAdapterSteps(trainer, x, labels, opts)) losses.push(s.loss);
      const cpuP = adapterParams(cpuA);
      const gpuP = adapterParams(gpuA);
      return [
        scaleCheck(
          `${mode} adapter loop of 6 steps: loss per step`,
          Float32Array.from(losses),
          Float32Array.from(cpu, (s) => s.loss),
          1e-4,
        ),
        ...gpuP.map((p, i) => scaleCheck(`${mode} adapter loop of 6 steps: ${p.name} at the end`, p.data, cpuP[i].data, 1e-4)),
      ];
    } finally {
      trainer.destroy();
    }
  });
}

/**
 * The whole run as the app's worker would make it: trainAdapterOnGpu (WebGPU, CPU fallback)
 * beside the core's runTraining on the same inputs (LoRA mode, 80 rows, batch 16, 5 steps): the
 * engine it chose, the loss of every step and the exported adapter's tensors (PEFT's
 * safetensors bytes, read as f32 after the 8-byte-length header) within 1e-4 of their scale;
 * and the same run with the device destroyed after its second step (the CPU carries it on from
 * the host copy of the weights and AdamW's moments), held to the same bounds.
 */
async function adapterRun(seed: number): Promise<{
  engine: string;
  kind: string;
  manifestEngine: unknown;
  fallbackKind: string;
  autoKind: string;
  lost: { engine: string; kind: string; manifestEngine: unknown };
  checks: Check[];
}> {
  const base = baseMlp(seed);
  const n = 80;
  const x = digitRows(n, 784, seed + 7);
  const r = mulberry32(seed + 8);
  const y = Int32Array.from({ length: n }, () => Math.floor(r() * 10));
  const counts = Array.from({ length: 10 }, (_, c) => y.filter((v) => v === c).length);
  const hash = (c: string) => c.repeat(64) as Sha256Hex;
  const spec: TrainSpec = {
    base: 'base.slm',
    data: { train: 'train.jsonl' },
    suites: [],
    adapter: { ...loraConfig('lora'), useRslora: false },
    train: { steps: 5, batch: 16, lr: 1e-2, schedule: 'cosine', warmupSteps: 1, weightDecay: 0.01, seed },
  };
  const inp: RunInputs = {
    spec,
    base: { name: 'base.slm', hash: hash('a'), species: hash('b'), tensors: base, labels: Array.from({ length: 10 }, (_, i) => `${i}`) },
    train: { x, y, featureSize: 784, counts, name: 'train.jsonl', hash: hash('c') },
    suites: [],
  };
  const cpu = runTraining(inp);
  // 'webgpu': SwiftShader too ('auto' leaves a software adapter to the CPU).
  const gpu = await trainAdapterOnGpu(inp, undefined, undefined, 'webgpu');
  // The fallback path is the core's run itself: the same bytes.
  const fallback = await trainAdapterOnGpu(inp, undefined, undefined, 'cpu');
  // What the worker's default ('auto') picks here, without running it.
  const auto = await adapterSteps(inp, prepareRun(inp));
  auto.close();
  // The device lost after the second step: the CPU carries the run on from the host copy.
  const device = (await getGpu())!.device;
  const lost = await trainAdapterOnGpu(inp, (s) => s.step === 1 && device.destroy(), undefined, 'webgpu');
  const tensorsOf = (w: Uint8Array) => {
    const len = Number(new DataView(w.buffer, w.byteOffset).getBigUint64(0, true));
    const body = w.slice(8 + len);
    return new Float32Array(body.buffer, 0, body.byteLength >> 2);
  };
  return {
    engine: gpu.engine,
    kind: gpu.kind,
    manifestEngine: gpu.manifest.engine,
    fallbackKind: fallback.kind,
    autoKind: auto.kind,
    lost: { engine: lost.engine, kind: lost.kind, manifestEngine: lost.manifest.engine },
    checks: [
      bitsCheck(
        "trainAdapterOnGpu(…, 'cpu'): adapter tensors against runTraining",
        tensorsOf(fallback.files.weights),
        tensorsOf(cpu.files.weights),
      ),
      scaleCheck(
        'trainAdapterOnGpu: loss per step against runTraining',
        Float32Array.from(gpu.steps, (s) => s.loss),
        Float32Array.from(cpu.steps, (s) => s.loss),
        1e-4,
      ),
      scaleCheck(
        'trainAdapterOnGpu: exported adapter tensors against runTraining',
        tensorsOf(gpu.files.weights),
        tensorsOf(cpu.files.weights),
        1e-4,
      ),
      scaleCheck(
        'trainAdapterOnGpu, GPU lost after step 2: loss per step against runTraining',
        Float32Array.from(lost.steps, (s) => s.loss),
        Float32Array.from(cpu.steps, (s) => s.loss),
        1e-4,
      ),
      scaleCheck(
        'trainAdapterOnGpu, GPU lost after step 2: exported adapter tensors against runTraining',
        tensorsOf(lost.files.weights),
        tensorsOf(cpu.files.weights),
        1e-4,
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

const api = { info, kernels, mlpStep, mlpLoop, adapterStep, adapterLoop, adapterRun };

declare global {
  interface Window {
    __trainKernels: typeof api;
  }
}

(globalThis as unknown as { __trainKernels: typeof api }).__trainKernels = api;
