/**
 * Streaming stored tensors (breed's paths for large tensors and breedStream's for every tensor):
 * parents read by byte range (ModelSource: the tensor store, a file, tensors in memory) and
 * decoded to float32 range by range (a TensorSource), and the per-tensor statistics accumulated
 * chunk by chunk in element order (so they equal tensorStats on the whole arrays).
 */
import { numel, toFloat32, type DType, type Tensor } from '../tensor.ts';
import type { TensorSource } from './backend.ts';

const BYTES_PER_ELEMENT: Readonly<Record<string, number>> = Object.freeze({ F32: 4, F16: 2, BF16: 2 });

/** One stored tensor of a ModelSource. */
export interface SourceTensor {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

/**
 * One parent model whose tensors are read by byte range, never whole: the tensor store
 * (src/store/source.ts: storedModelSource), a file, or tensors in memory (tensorsModelSource).
 */
export interface ModelSource {
  /** The model's tensors, in model order. */
  readonly tensors: readonly SourceTensor[];
  /** Bytes [offset, offset + length) of the named tensor's stored bytes. */
  read(name: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: read() into memory the source reuses (a file source's read buffers in the CPU
   * pool's arena): the bytes are the caller's until it calls give(), and must not be touched
   * after. breedStream reads its chunks this way when the source offers it.
   */
  readLent?(name: string, offset: number, length: number): Promise<{ bytes: Uint8Array; give(): void }>;
}

/** Tensors in memory as a ModelSource (reads are views). */
export function tensorsModelSource(tensors: readonly Tensor[]): ModelSource {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })),
    async read(name, offset, length) {
      const t = byName.get(name);
      if (!t) throw new Error(`model source: no tensor "${name}"`);
      if (offset < 0 || length < 0 || offset + length > t.data.length)
        throw new Error(`model source: ${length} bytes at ${offset} are outside "${name}" (${t.data.length} bytes)`);
      return t.data.subarray(offset, offset + length);
    },
  };
}

/** The bytes [begin, end) that hold elements [offset, offset + n) of a tensor stored as `dtype` (I4: two a byte, offset even). */
export function elementBytes(dtype: DType, offset: number, n: number): [number, number] {
  if (dtype === 'I4') return [offset >> 1, (offset + n + 1) >> 1];
  const b = dtype === 'F32' ? 4 : dtype === 'I8' || dtype === 'U8' ? 1 : 2;
  return [offset * b, (offset + n) * b];
}

/**
 * readElements through the source's readLent where it has one: give() ends the loan (the bytes
 * given back at once when the values are a decoded copy, not a view of them).
 */
export async function readElementsLent(
  src: ModelSource,
  t: SourceTensor,
  offset: number,
  n: number,
): Promise<{ values: Float32Array; bytes: number; give(): void }> {
  if (!src.readLent) {
    const r = await readElements(src, t, offset, n);
    return { values: r.values, bytes: r.bytes.length, give: () => undefined };
  }
  const [a, b] = elementBytes(t.dtype, offset, n);
  const lent = await src.readLent(t.name, a, b - a);
  let values: Float32Array;
  try {
    values = toFloat32({ name: t.name, dtype: t.dtype, shape: [n], data: lent.bytes });
  } catch (e) {
    lent.give();
    throw e;
  }
  if (values.buffer !== lent.bytes.buffer) {
    lent.give();
    return { values, bytes: b - a, give: () => undefined };
  }
  return { values, bytes: b - a, give: lent.give };
}

/** Elements [offset, offset + n) of one tensor of a ModelSource, decoded to float32 (and the bytes read). */
export async function readElements(
  src: ModelSource,
  t: SourceTensor,
  offset: number,
  n: number,
): Promise<{ values: Float32Array; bytes: Uint8Array }> {
  const [a, b] = elementBytes(t.dtype, offset, n);
  const bytes = await src.read(t.name, a, b - a);
  return { values: toFloat32({ name: t.name, dtype: t.dtype, shape: [n], data: bytes }), bytes };
}

/**
 * The same-named tensor of every parent (base first) as a TensorSource read range by range from
 * the parents' ModelSources: with storedModelSource, a store-backed source that never holds a
 * tensor. Only float dtypes stream.
 */
export function modelTensorSource(parents: readonly ModelSource[], name: string): TensorSource {
  const infos = parents.map((m, p) => {
    const t = m.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`tensor source: parent ${p} has no tensor "${name}"`);
    if (!(t.dtype in BYTES_PER_ELEMENT))
      throw new Error(`tensor source: "${name}" of parent ${p} is ${t.dtype}; only ${Object.keys(BYTES_PER_ELEMENT).join(', ')} stream`);
    return t;
  });
  const n = numel(infos[0].shape);
  for (const [p, t] of infos.entries())
    if (numel(t.shape) !== n) throw new Error(`tensor source: "${name}" of parent ${p} has ${numel(t.shape)} elements, parent 0 has ${n}`);
  return {
    parents: parents.length,
    length: n,
    async read(parent, offset, length) {
      if (!Number.isInteger(parent) || parent < 0 || parent >= parents.length)
        throw new Error(`tensor source: parent ${parent} is outside [0, ${parents.length})`);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > n)
        throw new Error(`tensor source: range of ${length} elements at ${offset} is outside the ${n}-element tensor`);
      return (await readElements(parents[parent], infos[parent], offset, length)).values;
    },
  };
}

/** The same-named tensors of the parents (base first), in memory, as a source; only float dtypes stream. */
export function tensorsSource(tensors: readonly Tensor[]): TensorSource {
  if (tensors.length === 0) throw new Error('tensor source: no tensors');
  const name = tensors[0].name;
  return modelTensorSource(
    tensors.map((t) => tensorsModelSource([{ ...t, name }])),
    name,
  );
}

/** One chunk's share of StatsAccumulator's sums: changed and zero counts, and the running sum of squares after it. */
export interface ChunkStats {
  changed: number;
  zeros: number;
  /** The float64 sum of squared deltas so far, this chunk's added in element order to the `sq` it started from. */
  sq: number;
}

/**
 * StatsAccumulator's loop over one chunk, from the running sum of squares `sq`: changed means not
 * equal and not both NaN (Object.is, with +0 and −0 the same); the float64 sum of squares in
 * element order. A CPU pool worker runs the same function (KernelBackend.chunkStats).
 */
export function chunkStats(before: Float32Array, after: Float32Array, sq: number): ChunkStats {
  // In locals: fields would be stored back every element.
  let changed = 0;
  let zeros = 0;
  const n = after.length;
  for (let i = 0; i < n; i++) {
    const x = after[i];
    const y = before[i];
    const d = x - y;
    // As numbers, not branches: a sparse output's changes are unpredictable (16 M, half changed: 140 → 85 ms).
    changed += +(x !== y) & (+(x === x) | +(y === y));
    zeros += +(x === 0);
    sq += d * d;
  }
  return { changed, zeros, sq };
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

  /** The running sum of squares: where the next chunk's chunkStats starts. */
  get sum(): number {
    return this.sq;
  }

  add(before: Float32Array, after: Float32Array): void {
    this.take(chunkStats(before, after, this.sq), after.length);
  }

  /** A chunk of `n` elements whose chunkStats started from this.sum (computed elsewhere). */
  take(part: ChunkStats, n: number): void {
    this.changed += part.changed;
    this.zeros += part.zeros;
    this.sq = part.sq;
    this.count += n;
  }

  result(): { changedFraction: number; sparsity: number; deltaNorm: number } {
    const n = Math.max(1, this.count);
    return { changedFraction: this.changed / n, sparsity: this.zeros / n, deltaNorm: Math.sqrt(this.sq) };
  }
}
