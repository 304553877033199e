/**
 * The garden's MLP species on the training tape: logits = relu(x·W1 + b1)·W2 + b2 with weights
 * [in, out] (src/core/models/mlp.ts), each linear layer optionally with a LoRA beside it and
 * either layer replaceable by a trained copy (modules_to_save: a new classifier head).
 */
import { mlpFromTensors } from '../models/mlp.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { dropout, add, addBias, matmul, relu, scale } from './ops.ts';
import { crossEntropy } from './loss.ts';
import { tensorKey } from '../operators/prng.ts';
import { runSteps, trainSteps, type LoopOptions, type StepReport, type Trainable } from './loop.ts';
import type { AdamWState } from './optim.ts';
import { loraScaling, type Adapter, type LinearSite } from './lora.ts';
import type { Tape, Value } from './tape.ts';

/** The MLP's linear layers, as PEFT would name the modules of the equivalent torch model. */
export function mlpSites(tensors: readonly Tensor[]): LinearSite[] {
  const { shape } = mlpFromTensors(tensors);
  return [
    { module: 'fc1', weight: 'fc1.weight', bias: 'fc1.bias', inFeatures: shape.inputs, outFeatures: shape.hidden, layout: 'in-out' },
    { module: 'fc2', weight: 'fc2.weight', bias: 'fc2.bias', inFeatures: shape.hidden, outFeatures: shape.classes, layout: 'in-out' },
  ];
}

/** x·W (+ b) + s·(dropout(x)·Aᵀ)·Bᵀ, the LoRA forward of PEFT's Linear. */
export function loraLinear(
  x: Value,
  w: Value,
  layout: 'in-out' | 'out-in',
  bias: Value | null,
  lora: { a: Value; b: Value; scaling: number; dropout: number; key: number } | null,
): Value {
  let y = matmul(x, w, layout === 'out-in');
  if (bias) y = addBias(y, bias);
  if (!lora) return y;
  const xd = dropout(x, lora.dropout, lora.key);
  return add(y, scale(matmul(matmul(xd, lora.a, true), lora.b, true), lora.scaling));
}

/** The trainable parameters of an adapter (LoRA A and B, saved tensors); they alias the adapter's arrays. */
export function adapterParams(adapter: Adapter): Trainable[] {
  const ps: Trainable[] = [];
  for (const [m, p] of adapter.lora) {
    ps.push({ name: `${m}.lora_A`, data: p.a, rows: p.r, cols: p.site.inFeatures, decay: true });
    ps.push({ name: `${m}.lora_B`, data: p.b, rows: p.site.outFeatures, cols: p.r, decay: true });
  }
  for (const [name, t] of adapter.saved) {
    const data = toFloat32(t);
    if (data.buffer !== t.data.buffer) throw new Error(`saved tensor "${name}" is not an aligned F32 tensor`);
    const [rows, cols] = t.shape.length === 2 ? t.shape : [1, t.shape[0]];
    ps.push({ name, data, rows, cols, decay: t.shape.length === 2 });
  }
  return ps;
}

/**
 * The linear layers of an MLP-shaped species (ReLU between them) on input h, each with its LoRA
 * if the adapter has one and its trained copy if it is a saved module; returns the logits.
 */
export function adapterLayers(
  tape: Tape,
  base: ReadonlyMap<string, Float32Array>,
  sites: readonly LinearSite[],
  adapter: Adapter,
  values: ReadonlyMap<string, Value>,
  input: Value,
  key: number,
): Value {
  let h = input;
  sites.forEach((site, k) => {
    // A trained copy (modules_to_save) if the adapter has one, else the frozen base tensor.
    const get = (name: string, rows: number, cols: number) => values.get(name) ?? tape.constant(base.get(name)!, rows, cols, name);
    const w =
      site.layout === 'in-out' ? get(site.weight, site.inFeatures, site.outFeatures) : get(site.weight, site.outFeatures, site.inFeatures);
    const b = site.bias ? get(site.bias, 1, site.outFeatures) : null;
    const p = adapter.lora.get(site.module);
    const lora = p
      ? {
          a: values.get(`${site.module}.lora_A`)!,
          b: values.get(`${site.module}.lora_B`)!,
          scaling: loraScaling(adapter.config, p.r),
          dropout: adapter.config.dropout,
          key: tensorKey(key, site.module),
        }
      : null;
    h = loraLinear(h, w, site.layout, b, lora);
    if (k < sites.length - 1) h = relu(h);
  });
  return h;
}

/** Cross-entropy of the MLP (with its adapter) on rows `batch` of x [n, in]. */
export function mlpAdapterLoss(
  tape: Tape,
  base: ReadonlyMap<string, Float32Array>,
  sites: readonly LinearSite[],
  adapter: Adapter,
  values: ReadonlyMap<string, Value>,
  x: Float32Array,
  labels: ArrayLike<number>,
  batch: Uint32Array,
  step: number,
  seed: number,
): Value {
  const I = sites[0].inFeatures;
  const xb = new Float32Array(batch.length * I);
  const yb = new Int32Array(batch.length);
  batch.forEach((r, i) => {
    xb.set(x.subarray(r * I, r * I + I), i * I);
    yb[i] = labels[r];
  });
  return crossEntropy(adapterLayers(tape, base, sites, adapter, values, tape.leaf(xb, batch.length, I, false, 'x'), seed + step), yb);
}

/** The steps of training an adapter of the MLP species in place on x [n, in] with class labels, one per `next()` (loop.ts trainSteps; `resume` as there). */
export function mlpAdapterSteps(
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  x: Float32Array,
  labels: ArrayLike<number>,
  opts: LoopOptions,
  resume?: AdamWState,
): Generator<StepReport, void, undefined> {
  const sites = mlpSites(baseTensors);
  const I = sites[0].inFeatures;
  if (x.length !== labels.length * I) throw new Error(`${x.length} input values for ${labels.length} rows × ${I}`);
  const base = new Map(baseTensors.map((t) => [t.name, Float32Array.from(toFloat32(t))]));
  return trainSteps(
    adapterParams(adapter),
    labels.length,
    (tape, values, batch, step) => mlpAdapterLoss(tape, base, sites, adapter, values, x, labels, batch, step, opts.seed),
    opts,
    resume,
  );
}

/** Train an adapter of the MLP species in place on x [n, in] with class labels; returns the loss per step. */
export function trainMlpAdapter(
  baseTensors: readonly Tensor[],
  adapter: Adapter,
  x: Float32Array,
  labels: ArrayLike<number>,
  opts: LoopOptions,
  onStep?: (r: StepReport) => void,
): StepReport[] {
  return runSteps(mlpAdapterSteps(baseTensors, adapter, x, labels, opts), onStep);
}
