/**
 * Streaming a stored tensor through a backend's runStream (breed's path for large tensors): the
 * parents' stored bytes decoded to float32 range by range, and the per-tensor statistics
 * accumulated chunk by chunk in element order (so they equal tensorStats on the whole arrays).
 */
import { numel, toFloat32, type Tensor } from '../tensor.ts';
import type { TensorSource } from './backend.ts';

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = Object.freeze({ F32: 4, F16: 2, BF16: 2 });

/** The same-named tensors of the parents (base first) as a source; only float dtypes stream. */
export function tensorsSource(tensors: readonly Tensor[]): TensorSource {
  if (tensors.length === 0) throw new Error('tensor source: no tensors');
  const n = numel(tensors[0].shape);
  for (const [p, t] of tensors.entries()) {
    if (!(t.dtype in BYTES_PER_ELEMENT))
      throw new Error(`tensor source: "${t.name}" of parent ${p} is ${t.dtype}; only ${Object.keys(BYTES_PER_ELEMENT).join(', ')} stream`);
    if (numel(t.shape) !== n)
      throw new Error(`tensor source: "${t.name}" of parent ${p} has ${numel(t.shape)} elements, parent 0 has ${n}`);
  }
  return {
    parents: tensors.length,
    length: n,
    async read(parent, offset, length) {
      if (!Number.isInteger(parent) || parent < 0 || parent >= tensors.length)
        throw new Error(`tensor source: parent ${parent} is outside [0, ${tensors.length})`);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > n) {
        throw new Error(`tensor source: range of ${length} elements at ${offset} is outside the ${n}-element tensor`);
      }
      const t = tensors[parent];
      const b = BYTES_PER_ELEMENT[t.dtype];
      return toFloat32({ ...t, shape: [length], data: t.data.subarray(b * offset, b * (offset + length)) });
    },
  };
}

/**
 * Changed fraction, sparsity and delta norm of an output against the first input, over chunks
 * given in element order (tensorStats in breed.ts is the one-chunk case).
 */
export class StatsAccumulator {
  private changed = 0;
  private zeros = 0;
  private sq = 0;
  private count = 0;

  add(before: Float32Array, after: Float32Array): void {
    for (let i = 0; i < after.length; i++) {
      const d = after[i] - before[i];
      if (!Object.is(after[i], before[i]) && !(after[i] === 0 && before[i] === 0)) this.changed++;
      if (after[i] === 0) this.zeros++;
      this.sq += d * d;
    }
    this.count += after.length;
  }

  result(): { changedFraction: number; sparsity: number; deltaNorm: number } {
    const n = Math.max(1, this.count);
    return { changedFraction: this.changed / n, sparsity: this.zeros / n, deltaNorm: Math.sqrt(this.sq) };
  }
}
