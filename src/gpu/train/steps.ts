/**
 * What every GPU training step shares (GpuMlpTrainer, GpuAdapterTrainer, GpuLlamaLoraTrainer): the
 * trainables' device buffers and their host copy after each step (weights and AdamW's moments, so
 * a failing device can hand the run to the CPU), the batch's labels
 * checked and counted, the batch's mean loss from the per-row losses (refusing a non-finite one
 * before AdamW spreads it), and the loop around a step with the CPU loop's seeded batches and
 * learning-rate schedule (src/core/train/loop.ts `batches`, optim.ts `learningRate`), so the GPU
 * and the CPU see the same rows at the same rate.
 */
import { tensorKey } from '../../core/operators/prng.ts';
import { toFloat32, type Tensor } from '../../core/tensor.ts';
import { IGNORE_INDEX } from '../../core/train/loss.ts';
import { dropout } from '../../core/train/ops.ts';
import { Tape } from '../../core/train/tape.ts';
import { batches, type LoopOptions, type StepReport, type Trainable } from '../../core/train/loop.ts';
import { learningRate, type AdamWConfig, type AdamWState, type Schedule } from '../../core/train/optim.ts';
import { adamwValues, type Dispatch, type TrainKernels } from './kernels.ts';

/** The labels as Int32 with the number of rows counted (IGNORE_INDEX rows left out); refuses a label outside 0..classes−1. */
export function batchLabels(labels: ArrayLike<number>, batch: number, classes: number): { y: Int32Array; counted: number } {
  if (labels.length !== batch) throw new Error(`${labels.length} labels for a batch of ${batch}`);
  const y = Int32Array.from(labels);
  let counted = 0;
  for (let r = 0; r < batch; r++) {
    if (y[r] === IGNORE_INDEX) continue;
    if (!(y[r] >= 0 && y[r] < classes)) throw new Error(`label ${y[r]} at row ${r} is outside 0..${classes - 1}`);
    counted++;
  }
  return { y, counted };
}

/** The mean of the counted rows' losses; throws on a non-finite one (step t, rate lr in the message). */
export function batchLoss(rows: Float32Array, y: Int32Array, counted: number, t: number, lr: number): number {
  let total = 0;
  for (let r = 0; r < y.length; r++) if (y[r] !== IGNORE_INDEX) total += rows[r];
  const loss = total / Math.max(1, counted);
  if (!Number.isFinite(loss)) throw new Error(`the loss is ${loss} at step ${t} (learning rate ${lr}); lower lr or raise warmup_steps`);
  return loss;
}

export interface GpuStepper {
  readonly batch: number;
  readonly adamw: Omit<AdamWConfig, 'lr'>;
}

/**
 * The loop's steps on x [n, inputs] with class labels, one per `next()`: the seeded batches and
 * schedule of loop.ts trainSteps, each batch handed to `step` with its learning rate and index.
 */
export async function* gpuLoopSteps(
  trainer: GpuStepper,
  inputs: number,
  x: Float32Array,
  labels: ArrayLike<number>,
  opts: LoopOptions,
  step: (xb: Float32Array, yb: Int32Array, lr: number, step: number) => Promise<{ loss: number }>,
): AsyncGenerator<StepReport, void, undefined> {
  const I = inputs;
  const n = labels.length;
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new Error(`steps must be a positive integer, got ${opts.steps}`);
  if (x.length !== n * I) throw new Error(`${x.length} input values for ${n} rows × ${I}`);
  if (Math.min(opts.batch, n) !== trainer.batch)
    throw new Error(`the trainer takes batches of ${trainer.batch}, the options ${Math.min(opts.batch, n)}`);
  if (opts.adamw && JSON.stringify(opts.adamw) !== JSON.stringify(trainer.adamw))
    throw new Error('the options name another AdamW configuration than the trainer was built with');
  const schedule: Schedule = { ...opts.schedule, totalSteps: opts.steps };
  const stream = batches(n, opts.batch, opts.seed);
  const xb = new Float32Array(trainer.batch * I);
  const yb = new Int32Array(trainer.batch);
  for (let t = 0; t < opts.steps; t++) {
    const rows = stream.next().value as Uint32Array;
    rows.forEach((r, i) => {
      xb.set(x.subarray(r * I, (r + 1) * I), i * I);
      yb[i] = labels[r];
    });
    const lr = learningRate(schedule, t);
    const { loss } = await step(xb, yb, lr, t);
    yield { step: t, lr, loss };
  }
}

/** A trainable on the device: its tensor, gradient, AdamW moments and update dispatch. */
export interface TrainableBufs {
  p: Trainable;
  w: GPUBuffer;
  g: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  update: Dispatch;
}

/** Device buffers for each trainable (its data uploaded, gradient and moments zero) and its AdamW dispatch. */
export function trainableBufs(k: TrainKernels, params: readonly Trainable[], adamw: Omit<AdamWConfig, 'lr'>): TrainableBufs[] {
  return params.map((p) => {
    const n = p.data.length;
    const w = k.storage(p.data, p.name);
    const g = k.storage(n, `${p.name} grad`);
    const m = k.storage(n, `${p.name} m`);
    const v = k.storage(n, `${p.name} v`);
    return { p, w, g, m, v, update: k.adamw(g, w, m, v, adamwValues(n, adamw, 0, 1, p.decay)) };
  });
}

/**
 * The host copy of a GPU run after `steps` optimizer steps: the trained tensors copied into the
 * trainables' own arrays and AdamW's moments returned, all read in one submission. With it a CPU
 * run can carry on where the GPU stopped (core trainSteps' `resume`) if the device fails later.
 */
export async function syncTrainables(k: TrainKernels, bufs: readonly TrainableBufs[], steps: number): Promise<AdamWState> {
  const n = bufs.map((q) => q.p.data.length);
  const all = await k.read(
    bufs.flatMap((q) => [q.w, q.m, q.v]),
    n.flatMap((x) => [x, x, x]),
  );
  bufs.forEach((q, i) => q.p.data.set(all[3 * i]));
  return { steps, m: bufs.map((_, i) => all[3 * i + 1]), v: bufs.map((_, i) => all[3 * i + 2]) };
}

/** The base's frozen tensors on the device, each uploaded as f32 the first time a dispatch asks for it. */
export function frozenTensors(k: TrainKernels, baseTensors: readonly Tensor[]): (name: string) => GPUBuffer {
  const base = new Map(baseTensors.map((t) => [t.name, t]));
  const frozen = new Map<string, GPUBuffer>();
  return (name) => {
    let f = frozen.get(name);
    if (!f) {
      const t = base.get(name);
      if (!t) throw new Error(`the base has no tensor "${name}"`);
      f = k.storage(Float32Array.from(toFloat32(t)), `${name} (frozen)`);
      frozen.set(name, f);
    }
    return f;
  };
}

/**
 * The end of a step, after its forward and backward ran: the batch's loss from the per-row losses
 * (and the gradients when asked), AdamW on every trainable at step `t` (the step's count after
 * it), then the host copy (syncTrainables).
 */
export async function lossAndUpdate(
  k: TrainKernels,
  params: readonly TrainableBufs[],
  rowLoss: GPUBuffer,
  y: Int32Array,
  counted: number,
  t: number,
  lr: number,
  adamw: Omit<AdamWConfig, 'lr'>,
  withGrads: boolean,
): Promise<{ loss: number; grads?: Record<string, Float32Array>; synced: AdamWState }> {
  const gs = withGrads ? params : [];
  const [rows, ...grads] = await k.read([rowLoss, ...gs.map((q) => q.g)], [y.length, ...gs.map((q) => q.p.data.length)]);
  const loss = batchLoss(rows, y, counted, t - 1, lr);
  for (const q of params) k.setParams(q.update, 'adamw', adamwValues(q.p.data.length, adamw, lr, t, q.p.decay));
  k.run(params.map((q) => q.update));
  const synced = await syncTrainables(k, params, t);
  return withGrads ? { loss, grads: Object.fromEntries(gs.map((q, i) => [q.p.name, grads[i]])), synced } : { loss, synced };
}

/**
 * The CPU engine's LoRA dropout mask for a module's [rows × cols] input at a key: the core's
 * `dropout` of ones (0 or 1/(1 − p) per input) at tensorKey(key, module). `ones` is the caller's
 * reusable buffer of ones, grown as needed.
 */
export function loraDropoutMask(
  ones: { buf: Float32Array | null },
  rows: number,
  cols: number,
  p: number,
  key: number,
  module: string,
): Float32Array {
  const n = rows * cols;
  if (!ones.buf || ones.buf.length < n) ones.buf = new Float32Array(n).fill(1);
  const x = new Tape('f32').constant(ones.buf.subarray(0, n), rows, cols, 'ones');
  return dropout(x, p, tensorKey(key, module)).data as Float32Array;
}
