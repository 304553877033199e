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
import { addBias, matmul, mmNN, relu, silu } from '../../src/core/train/ops.ts';
import { rmsNorm } from '../../src/core/train/ops-llm.ts';
import { crossEntropy, IGNORE_INDEX } from '../../src/core/train/loss.ts';
import { AdamW, ADAMW_DEFAULTS } from '../../src/core/train/optim.ts';
import { loraLinear } from '../../src/core/train/mlp.ts';
import { project } from '../../src/core/train/test-helpers.ts';
import { openGpu } from '../../src/gpu/device.ts';
import { TrainKernels, adamwValues, type Dispatch } from '../../src/gpu/train/kernels.ts';
import { loraBackward, loraForward } from '../../src/gpu/train/lora.ts';
import { GpuMlpTrainer, MLP_PARAM_NAMES, gpuMlpSteps } from '../../src/gpu/train/mlp.ts';
import { trainLoop, type LoopOptions } from '../../src/core/train/loop.ts';
import { mlpBatchLoss, mlpTrainables } from '../../src/gpu/train/reference.ts';

export interface Check {
  name: string;
  measure: 'sum' | 'scale' | 'bits' | 'step';
  value: number;
  bound: number;
  n: number;
}

const U = 2 ** -24;

function rand(n: number, seed: number, lo = -1, hi = 1, zeros = 0): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() < zeros ? 0 : lo + (hi - lo) * r()));
}

const abs = (x: ArrayLike<number>) => Float64Array.from(x, Math.abs);

/** |gpu − cpu| / (u·scale) at worst, scale the per-element Σ|terms|. */
function sumCheck(name: string, gpu: Float32Array, cpu: ArrayLike<number>, scale: ArrayLike<number>, terms: number): Check {
  let worst = 0;
  for (let i = 0; i < gpu.length; i++) {
    const d = Math.abs(gpu[i] - cpu[i]);
    if (d === 0) continue;
    worst = Math.max(worst, Number.isFinite(d) ? d / (U * Math.max(scale[i], 2 ** -126)) : Infinity);
  }
  return { name, measure: 'sum', value: gpu.length === cpu.length ? worst : Infinity, bound: terms + 2, n: gpu.length };
}

function scaleCheck(name: string, gpu: Float32Array, cpu: ArrayLike<number>, bound: number): Check {
  let d = 0;
  let m = 0;
  for (let i = 0; i < cpu.length; i++) {
    d = Math.max(d, Number.isNaN(gpu[i]) ? Infinity : Math.abs(gpu[i] - cpu[i]));
    m = Math.max(m, Math.abs(cpu[i]));
  }
  return { name, measure: 'scale', value: gpu.length === cpu.length ? d / Math.max(m, 2 ** -126) : Infinity, bound, n: cpu.length };
}

function bitsCheck(name: string, gpu: Float32Array, cpu: Float32Array): Check {
  let diff = gpu.length === cpu.length ? 0 : Infinity;
  const a = new Uint32Array(gpu.buffer, gpu.byteOffset, gpu.length);
  const b = new Uint32Array(cpu.buffer, cpu.byteOffset, cpu.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  return { name, measure: 'bits', value: diff, bound: 0, n: cpu.length };
}

/** Σ|a|·|b| per element of a·b (shapes as mmNN: a [m,k], b [k,n]). */
function absProduct(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  mmNN(abs(a), abs(b), m, k, n, out);
  return out;
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

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
      const x = digitRows(batch, I, seed + 10 + step);
      const r = mulberry32(seed + 20 + step);
      const labels = Int32Array.from({ length: batch }, () => Math.floor(r() * C));
      const lr = step === 0 ? 1e-3 : 2e-3;
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
      out.push(scaleCheck(`mlp step ${step} loss`, Float32Array.of(g.loss), loss.data, 1e-5));
      const tols: number[] = [];
      MLP_PARAM_NAMES.forEach((name, i) => {
        const c = scaleCheck(`mlp step ${step} ${name} grad`, g.grads![name], grads[i], 1e-4);
        out.push(c);
        let m = 0;
        for (const v of grads[i]) m = Math.max(m, Math.abs(v));
        tols.push(1e-4 * m);
      });
      [w.w1, w.b1, w.w2, w.b2].forEach((gw, i) => {
        const name = MLP_PARAM_NAMES[i];
        let worst = 0;
        for (let j = 0; j < gw.length; j++) {
          // Exact zeros (pixels 0 in every row) are 0 on both sides; a tiny non-zero gradient may flip.
          if (grads[i][j] !== 0 && Math.abs(grads[i][j]) <= tols[i]) near[i].add(j);
          if (!near[i].has(j)) worst = Math.max(worst, Number.isNaN(gw[j]) ? Infinity : Math.abs(gw[j] - named[i][j]) / lr);
        }
        out.push({
          name: `mlp step ${step} ${name} after AdamW (${near[i].size} near-zero gradients excluded)`,
          measure: 'step',
          value: worst,
          bound: 1e-3,
          n: gw.length,
        });
      });
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

async function info(): Promise<{ adapter: string | null; software: boolean }> {
  const gpu = await openGpu();
  if (!gpu) return { adapter: null, software: false };
  gpu.device.destroy();
  return { adapter: gpu.adapterInfo, software: gpu.software };
}

const api = { info, kernels, mlpStep, mlpLoop };

declare global {
  interface Window {
    __trainKernels: typeof api;
  }
}

(globalThis as unknown as { __trainKernels: typeof api }).__trainKernels = api;
