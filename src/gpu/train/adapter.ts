/**
 * What the app trains, on the WebGPU training kernels: an adapter of the MLP species (LoRA on the
 * frozen base's linear layers, modules_to_save as a trained head), the step src/core/train/mlp.ts
 * mlpAdapterSteps runs on the CPU tape. The base stays frozen on the device; the trainables are
 * those of core adapterParams (lora_A, lora_B per LoRA module, the saved weight and bias), with
 * the same decay flags. A step writes the batch, runs forward, cross-entropy and backward, reads
 * the per-row losses (and the trained tensors, into the adapter's own arrays) back and, when the
 * loss is finite, runs AdamW. LoRA dropout takes the CPU engine's mask: the core's `dropout` of a
 * row of ones with the same key (seed + step, then the module, as mlpAdapterLoss), uploaded each
 * step and applied with the `mul` kernel, so both engines drop the same inputs.
 */
import type { Tensor } from '../../core/tensor.ts';
import type { LoopOptions, StepReport } from '../../core/train/loop.ts';
import { loraScaling, type Adapter, type LinearSite } from '../../core/train/lora.ts';
import { adapterParams, mlpSites } from '../../core/train/mlp.ts';
import { ADAMW_DEFAULTS, type AdamWConfig, type AdamWState } from '../../core/train/optim.ts';
import { TrainKernels, type Dispatch } from './kernels.ts';
import { batchLabels, frozenTensors, gpuLoopSteps, lossAndUpdate, loraDropoutMask, trainableBufs, type TrainableBufs } from './steps.ts';
import { loraBackward, loraForward, type LoraBuffers, type LoraShape } from './lora.ts';

/** Why the GPU adapter step cannot train this adapter (the CPU engine can), or null. */
export function gpuAdapterUnsupported(sites: readonly LinearSite[]): string | null {
  const bad = sites.find((s) => s.layout !== 'in-out');
  if (bad) return `${bad.module} is stored [out, in]; the GPU adapter step takes the MLP's [in, out]`;
  return null;
}

export interface GpuAdapterStep {
  loss: number;
  /** This step's gradients by trainable name (adapterParams' names), when asked for. */
  grads?: Record<string, Float32Array>;
}

export class GpuAdapterTrainer {
  private readonly k: TrainKernels;
  private readonly x: GPUBuffer;
  private readonly labels: GPUBuffer;
  private readonly rowLoss: GPUBuffer;
  private readonly params: TrainableBufs[];
  private synced: AdamWState | null = null;
  private readonly forwardBackward: Dispatch[];
  private readonly xent: Dispatch;
  readonly inputs: number;
  readonly classes: number;
  private readonly masks: { module: string; buf: GPUBuffer; cols: number }[] = [];
  private readonly ones: { buf: Float32Array | null } = { buf: null };
  private t = 0;

  /**
   * Buffers and dispatches for batches of `batch` rows. The adapter's arrays are trained in place:
   * every step copies the device's trained tensors back into them (they are small), so the
   * caller's adapter is current after each step, as on the CPU.
   */
  constructor(
    device: GPUDevice,
    baseTensors: readonly Tensor[],
    readonly adapter: Adapter,
    readonly batch: number,
    readonly adamw: Omit<AdamWConfig, 'lr'> = ADAMW_DEFAULTS,
  ) {
    const B = batch;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch must be a positive integer, got ${B}`);
    const sites = mlpSites(baseTensors);
    const why = gpuAdapterUnsupported(sites);
    if (why) throw new Error(why);
    const k = (this.k = new TrainKernels(device));
    this.inputs = sites[0].inFeatures;
    this.classes = sites[sites.length - 1].outFeatures;
    this.params = trainableBufs(k, adapterParams(adapter), this.adamw);
    const byName = new Map(this.params.map((q) => [q.p.name, q]));
    const frozen = frozenTensors(k, baseTensors);
    /** The trained copy of a base tensor if the adapter saves it, else the frozen base tensor (uploaded once). */
    const tensor = (name: string): { w: GPUBuffer; grad?: GPUBuffer } => {
      const q = byName.get(name);
      return q ? { w: q.w, grad: q.g } : { w: frozen(name) };
    };
    this.x = k.storage(B * this.inputs, 'x');
    this.labels = k.storage(B, 'labels');
    this.rowLoss = k.storage(B, 'row loss');
    // Whether anything at or below layer i trains: then the gradient must reach layer i's output.
    const trainsFrom = sites.map((_, i) =>
      sites.slice(0, i + 1).some((s) => adapter.lora.has(s.module) || byName.has(s.weight) || (!!s.bias && byName.has(s.bias))),
    );
    const forward: Dispatch[] = [];
    const layers: { y: GPUBuffer; dy: GPUBuffer; dIn: GPUBuffer | null; size: number; backward: Dispatch[] }[] = [];
    let input = this.x;
    sites.forEach((s, i) => {
      const O = s.outFeatures;
      const y = k.storage(B * O, `${s.module} out`);
      // d loss / d y (pre-activation): the cross-entropy's dz at the last layer, else relu'(y)·d input of the next.
      const dy = k.storage(B * O, `d ${s.module} out`);
      const dIn = i > 0 && trainsFrom[i - 1] ? k.storage(B * s.inFeatures, `d ${s.module} in`) : null;
      const w = tensor(s.weight);
      const b = s.bias ? tensor(s.bias) : null;
      forward.push(k.matmul(input, w.w, y, { m: B, k: s.inFeatures, n: O }));
      if (b) forward.push(k.biasAdd(y, b.w, B, O));
      const back: Dispatch[] = [];
      if (w.grad) back.push(k.matmul(input, dy, w.grad, { m: s.inFeatures, k: B, n: O, transA: true }));
      if (b?.grad) back.push(k.biasGrad(dy, b.grad, B, O));
      // The base path's d input first (it overwrites); LoRA's dx adds to it.
      if (dIn) back.push(k.matmul(dy, w.w, dIn, { m: B, k: O, n: s.inFeatures, transB: true }));
      const pair = adapter.lora.get(s.module);
      if (pair) {
        const a = byName.get(`${s.module}.lora_A`)!;
        const bb = byName.get(`${s.module}.lora_B`)!;
        const p = adapter.config.dropout;
        const n = B * s.inFeatures;
        const mask = p > 0 ? k.storage(n, `${s.module} dropout mask`) : null;
        const xd = mask ? k.storage(n, `dropout(${s.module} in)`) : input;
        if (mask) {
          this.masks.push({ module: s.module, buf: mask, cols: s.inFeatures });
          forward.push(k.mul(input, mask, xd, n));
        }
        const l: LoraBuffers = { x: xd, a: a.w, b: bb.w, t: k.storage(B * pair.r, `${s.module} x·Aᵀ`) };
        const shape: LoraShape = {
          rows: B,
          inFeatures: s.inFeatures,
          outFeatures: O,
          r: pair.r,
          scaling: loraScaling(adapter.config, pair.r),
        };
        forward.push(...loraForward(k, l, y, shape));
        const dt = k.storage(B * pair.r, `d ${s.module} x·Aᵀ`);
        if (!mask) back.push(...loraBackward(k, l, { dy, dt, da: a.g, db: bb.g, ...(dIn ? { dx: dIn } : {}) }, shape));
        else {
          back.push(...loraBackward(k, l, { dy, dt, da: a.g, db: bb.g }, shape));
          if (dIn) {
            // d dropout(x) = dt·A, then through the mask into the layer's d input.
            const dxd = k.storage(n, `d dropout(${s.module} in)`);
            back.push(k.matmul(dt, a.w, dxd, { m: B, k: pair.r, n: s.inFeatures }), k.mul(dxd, mask, dIn, n, true));
          }
        }
      }
      if (i < sites.length - 1) {
        const act = k.storage(B * O, `relu(${s.module})`);
        forward.push(k.activation('relu', y, act, B * O));
        input = act;
      }
      layers.push({ y, dy, dIn, size: B * O, backward: back });
    });
    const last = layers[layers.length - 1];
    this.xent = k.crossEntropy(last.y, this.labels, this.rowLoss, last.dy, B, this.classes, B);
    const backward: Dispatch[] = [this.xent];
    for (let i = layers.length - 1; i >= 0 && trainsFrom[i]; i--) {
      const L = layers[i];
      if (i < layers.length - 1) backward.push(k.activationGrad('relu', L.y, layers[i + 1].dIn!, L.dy, L.size));
      backward.push(...L.backward);
    }
    this.forwardBackward = [...forward, ...backward];
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One step on a batch x [batch, inputs] with integer labels at learning rate lr; the adapter's
   * arrays hold the updated tensors when it resolves. Throws on a non-finite loss before any update.
   */
  async step(
    x: Float32Array,
    labels: ArrayLike<number>,
    lr: number,
    opts: { grads?: boolean; dropoutKey?: number } = {},
  ): Promise<GpuAdapterStep> {
    const B = this.batch;
    const C = this.classes;
    if (x.length !== B * this.inputs) throw new Error(`${x.length} input values for a batch of ${B} × ${this.inputs}`);
    const { y, counted } = batchLabels(labels, B, C);
    this.k.write(this.x, x);
    this.k.write(this.labels, y);
    if (this.masks.length) {
      if (opts.dropoutKey === undefined) throw new Error("LoRA dropout needs the step's dropoutKey (seed + step)");
      for (const m of this.masks) this.k.write(m.buf, this.dropoutMask(opts.dropoutKey, m.module, m.cols));
    }
    this.k.setParams(this.xent, 'crossEntropy', { rows: B, cols: C, scale: 1 / Math.max(1, counted) });
    this.k.run(this.forwardBackward);
    const r = await lossAndUpdate(this.k, this.params, this.rowLoss, y, counted, this.t + 1, lr, this.adamw, !!opts.grads);
    this.t++;
    this.synced = r.synced;
    return r.grads ? { loss: r.loss, grads: r.grads } : { loss: r.loss };
  }

  /** The CPU engine's dropout mask for a module at a key: 0 or 1/(1 − p) per input, the core's `dropout` of ones. */
  private dropoutMask(key: number, module: string, cols: number): Float32Array {
    return loraDropoutMask(this.ones, this.batch, cols, this.adapter.config.dropout, key, module);
  }

  /**
   * The run's host copy after the last completed step: AdamW's moments and step count (the
   * adapter's arrays hold the weights); null before the first. A CPU run resumes from it (core
   * trainSteps' `resume`) when the device fails.
   */
  hostState(): AdamWState | null {
    return this.synced;
  }

  /** Write the adapter's arrays to the device (after the caller restored a snapshot into them). */
  upload(): void {
    for (const q of this.params) this.k.write(q.w, q.p.data);
  }

  destroy(): void {
    this.k.destroy();
  }
}

/**
 * The steps of training the adapter on x [n, inputs] with class labels on the GPU, one per
 * `next()`: the CPU loop's seeded batches (loop.ts `batches`) and learning-rate schedule, so it
 * sees the rows mlpAdapterSteps sees at the same rate; the adapter's arrays are current after
 * each yield.
 */
export function gpuAdapterSteps(
  trainer: GpuAdapterTrainer,
  x: Float32Array,
  labels: ArrayLike<number>,
  opts: LoopOptions,
): AsyncGenerator<StepReport, void, undefined> {
  // mlpAdapterLoss's dropout key: the run's seed plus the step.
  return gpuLoopSteps(trainer, trainer.inputs, x, labels, opts, (xb, yb, lr, t) => trainer.step(xb, yb, lr, { dropoutKey: opts.seed + t }));
}
