/**
 * The CPU side of the GPU MLP step (mlp.ts), on the training engine's tape: the whole MLP's
 * parameters as the loop's trainables, and the loss of a batch of rows. The conformance harness
 * (e2e/harness/kernels-train-entry.ts) and the training bench (bench/train.ts) run this beside
 * GpuMlpTrainer.
 */
import type { MlpParams, MlpShape } from '../../core/models/mlp.ts';
import { addBias, matmul, relu } from '../../core/train/ops.ts';
import { crossEntropy } from '../../core/train/loss.ts';
import type { Trainable } from '../../core/train/loop.ts';
import type { Tape, Value } from '../../core/train/tape.ts';

/** fc1/fc2 weights and biases as trainables over copies of `init` (biases not decayed). */
export function mlpTrainables(shape: MlpShape, init: Omit<MlpParams, 'shape'>): Trainable[] {
  const { inputs: I, hidden: H, classes: C } = shape;
  return [
    { name: 'fc1.weight', data: Float32Array.from(init.w1), rows: I, cols: H, decay: true },
    { name: 'fc1.bias', data: Float32Array.from(init.b1), rows: 1, cols: H, decay: false },
    { name: 'fc2.weight', data: Float32Array.from(init.w2), rows: H, cols: C, decay: true },
    { name: 'fc2.bias', data: Float32Array.from(init.b2), rows: 1, cols: C, decay: false },
  ];
}

/** Mean cross-entropy of relu(x·W1 + b1)·W2 + b2 on rows `batch` of x [n, inputs] (loop.ts lossOf). */
export function mlpBatchLoss(
  tape: Tape,
  v: ReadonlyMap<string, Value>,
  x: Float32Array,
  labels: ArrayLike<number>,
  batch: ArrayLike<number>,
  inputs: number,
): Value {
  const xb = new Float32Array(batch.length * inputs);
  const yb = new Int32Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    xb.set(x.subarray(batch[i] * inputs, (batch[i] + 1) * inputs), i * inputs);
    yb[i] = labels[batch[i]];
  }
  const h = relu(addBias(matmul(tape.leaf(xb, batch.length, inputs, false, 'x'), v.get('fc1.weight')!), v.get('fc1.bias')!));
  return crossEntropy(addBias(matmul(h, v.get('fc2.weight')!), v.get('fc2.bias')!), yb);
}
