/**
 * A training step of the garden's MLP species (logits = relu(x·W1 + b1)·W2 + b2, weights [in, out]:
 * src/core/models/mlp.ts) on the WebGPU training kernels: forward, softmax cross-entropy, every
 * parameter gradient and an AdamW update, the same sequence src/core/train/loop.ts runs on the CPU
 * tape. The buffers and dispatches are built once for a batch size; a step writes the batch, runs
 * forward and backward, reads the per-row losses back and, when the loss is finite, runs AdamW
 * (a diverged step is refused before it spreads a NaN into the weights, as on the CPU).
 */
import type { MlpParams, MlpShape } from '../../core/models/mlp.ts';
import type { LoopOptions, StepReport } from '../../core/train/loop.ts';
import { ADAMW_DEFAULTS, type AdamWConfig } from '../../core/train/optim.ts';
import { TrainKernels, adamwValues, type Dispatch } from './kernels.ts';
import { batchLabels, batchLoss, gpuLoopSteps } from './steps.ts';

export const MLP_PARAM_NAMES = Object.freeze(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'] as const);
export type MlpParamName = (typeof MLP_PARAM_NAMES)[number];

export interface GpuStepResult {
  /** Mean cross-entropy of the batch (rows labelled IGNORE_INDEX left out). */
  loss: number;
  /** The gradients of this step, by tensor name, when asked for (conformance checks). */
  grads?: Record<MlpParamName, Float32Array>;
}

interface ParamBufs {
  name: MlpParamName;
  size: number;
  decay: boolean;
  w: GPUBuffer;
  g: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  update: Dispatch;
}

export class GpuMlpTrainer {
  private readonly k: TrainKernels;
  private readonly x: GPUBuffer;
  private readonly labels: GPUBuffer;
  private readonly rowLoss: GPUBuffer;
  private readonly params: ParamBufs[];
  private readonly forwardBackward: Dispatch[];
  private t = 0;

  constructor(
    device: GPUDevice,
    readonly shape: MlpShape,
    readonly batch: number,
    init: Omit<MlpParams, 'shape'>,
    readonly adamw: Omit<AdamWConfig, 'lr'> = ADAMW_DEFAULTS,
  ) {
    const { inputs: I, hidden: H, classes: C } = shape;
    const B = batch;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batch must be a positive integer, got ${B}`);
    const k = (this.k = new TrainKernels(device));
    const data: Record<MlpParamName, Float32Array> = {
      'fc1.weight': init.w1,
      'fc1.bias': init.b1,
      'fc2.weight': init.w2,
      'fc2.bias': init.b2,
    };
    const sizes: Record<MlpParamName, number> = { 'fc1.weight': I * H, 'fc1.bias': H, 'fc2.weight': H * C, 'fc2.bias': C };
    this.params = MLP_PARAM_NAMES.map((name) => {
      if (data[name].length !== sizes[name]) throw new Error(`${name}: ${data[name].length} values for ${sizes[name]}`);
      const p = {
        name,
        size: sizes[name],
        // Biases are not decayed (transformers' Trainer, and src/core/train's parameter lists).
        decay: name.endsWith('.weight'),
        w: k.storage(data[name], name),
        g: k.storage(sizes[name], `${name} grad`),
        m: k.storage(sizes[name], `${name} m`),
        v: k.storage(sizes[name], `${name} v`),
      };
      return { ...p, update: k.adamw(p.g, p.w, p.m, p.v, adamwValues(p.size, this.adamw, 0, 1, p.decay)) };
    });
    const [w1, b1, w2, b2] = this.params;
    this.x = k.storage(B * I, 'x');
    this.labels = k.storage(B, 'labels');
    this.rowLoss = k.storage(B, 'row loss');
    const h = k.storage(B * H, 'h (pre-activation)');
    const a = k.storage(B * H, 'a = relu(h)');
    const z = k.storage(B * C, 'logits');
    const dz = k.storage(B * C, 'd logits');
    const da = k.storage(B * H, 'd a');
    const dh = k.storage(B * H, 'd h');
    this.forwardBackward = [
      k.matmul(this.x, w1.w, h, { m: B, k: I, n: H }),
      k.biasAdd(h, b1.w, B, H),
      k.activation('relu', h, a, B * H),
      k.matmul(a, w2.w, z, { m: B, k: H, n: C }),
      k.biasAdd(z, b2.w, B, C),
      // The labels' count of counted rows is set per batch (setParams in step).
      k.crossEntropy(z, this.labels, this.rowLoss, dz, B, C, B),
      k.matmul(a, dz, w2.g, { m: H, k: B, n: C, transA: true }),
      k.biasGrad(dz, b2.g, B, C),
      k.matmul(dz, w2.w, da, { m: B, k: C, n: H, transB: true }),
      k.activationGrad('relu', h, da, dh, B * H),
      k.matmul(this.x, dh, w1.g, { m: I, k: B, n: H, transA: true }),
      k.biasGrad(dh, b1.g, B, H),
    ];
  }

  /** Optimizer steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * One step on a batch: x [batch, inputs] and integer labels (IGNORE_INDEX rows left out), at
   * learning rate lr. Throws on a non-finite loss without updating the weights.
   */
  async step(x: Float32Array, labels: ArrayLike<number>, lr: number, opts: { grads?: boolean } = {}): Promise<GpuStepResult> {
    const { inputs: I, classes: C } = this.shape;
    const B = this.batch;
    if (x.length !== B * I) throw new Error(`${x.length} input values for a batch of ${B} × ${I}`);
    const { y, counted } = batchLabels(labels, B, C);
    this.k.write(this.x, x);
    this.k.write(this.labels, y);
    this.k.setParams(this.forwardBackward[5], 'crossEntropy', { rows: B, cols: C, scale: 1 / Math.max(1, counted) });
    this.k.run(this.forwardBackward);
    const reads = [this.rowLoss, ...(opts.grads ? this.params.map((p) => p.g) : [])];
    const [rows, ...grads] = await this.k.read(reads, [B, ...(opts.grads ? this.params.map((p) => p.size) : [])]);
    const loss = batchLoss(rows, y, counted, this.t, lr);
    this.t++;
    for (const p of this.params) this.k.setParams(p.update, 'adamw', adamwValues(p.size, this.adamw, lr, this.t, p.decay));
    this.k.run(this.params.map((p) => p.update));
    if (!opts.grads) return { loss };
    return { loss, grads: Object.fromEntries(this.params.map((p, i) => [p.name, grads[i]])) as Record<MlpParamName, Float32Array> };
  }

  /** The current weights, read back from the device. */
  async weights(): Promise<MlpParams> {
    const [w1, b1, w2, b2] = await this.k.read(
      this.params.map((p) => p.w),
      this.params.map((p) => p.size),
    );
    return { shape: { ...this.shape }, w1, b1, w2, b2 };
  }

  destroy(): void {
    this.k.destroy();
  }
}

/**
 * The steps of training the whole MLP on x [n, inputs] with class labels on the GPU, one per
 * `next()`: the batches (the seeded permutation of loop.ts `batches`) and the learning-rate
 * schedule of the CPU loop (loop.ts trainSteps), so the two see the same rows at the same rate.
 * The trainer's weights are read back with `trainer.weights()` once the steps are done.
 */
export function gpuMlpSteps(
  trainer: GpuMlpTrainer,
  x: Float32Array,
  labels: ArrayLike<number>,
  opts: LoopOptions,
): AsyncGenerator<StepReport, void, undefined> {
  return gpuLoopSteps(trainer, trainer.shape.inputs, x, labels, opts, (xb, yb, lr) => trainer.step(xb, yb, lr));
}
