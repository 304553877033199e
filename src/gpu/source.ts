/**
 * Where a GPU run's inputs come from: a TensorSource hands out element ranges of each parent on
 * demand, so a tensor never has to be in memory as a whole. The kernel pipeline
 * (tensor-job.ts) reads one chunk ahead of the chunk it computes, and reads ranges again for
 * operators that need several passes (reductions, radix select), so a source must give the same
 * values every time it is asked for the same range.
 *
 * Sources: whole Float32Arrays (arraySource; what KernelBackend.run wraps), a chunk-reader
 * function (readerSource), re-openable async iterables of float32 pieces (iterableSource), and
 * stored tensors decoded from their dtype chunk by chunk: from any byte-range reader
 * (byteRangeSource: a `.slm` file, a Blob) or from the content-addressed tensor store
 * (storeSource).
 */
import { bf16ToF32, f16ToF32, DTYPES, type DType } from '../core/tensor.ts';
import type { ByteSource } from '../core/format/source.ts';
import type { ChunkSink, TensorSource } from '../core/operators/backend.ts';

/** Elements [offset, offset + length) of parent `parent` (base first when the operator has one). */
export type ChunkReader = (parent: number, offset: number, length: number) => Promise<Float32Array> | Float32Array;

// TensorSource and ChunkSink are declared beside KernelBackend (breed streams through them too).
export type { ChunkSink, TensorSource };

export function isTensorSource(x: unknown): x is TensorSource {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && typeof (x as TensorSource).read === 'function';
}

function checkRead(what: string, parents: number, total: number, parent: number, offset: number, length: number): void {
  if (!Number.isInteger(parent) || parent < 0 || parent >= parents) throw new Error(`${what}: parent ${parent} is outside [0, ${parents})`);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > total) {
    throw new Error(`${what}: range of ${length} elements at ${offset} is outside the ${total}-element tensor`);
  }
}

/** Whole inputs already in memory (reads are views, not copies). */
export function arraySource(inputs: readonly Float32Array[]): TensorSource {
  const total = inputs[0]?.length ?? 0;
  for (const [p, x] of inputs.entries()) {
    if (x.length !== total) throw new Error(`parent ${p} has ${x.length} elements, parent 0 has ${total}`);
  }
  return {
    parents: inputs.length,
    length: total,
    arrays: inputs,
    async read(parent, offset, length) {
      checkRead('array source', inputs.length, total, parent, offset, length);
      return inputs[parent].subarray(offset, offset + length);
    },
  };
}

/** Inputs from a chunk-reader function; every answer is checked for its length. */
export function readerSource(parents: number, length: number, read: ChunkReader, name = 'reader source'): TensorSource {
  if (!Number.isInteger(parents) || parents < 1) throw new Error(`${name}: ${parents} parents; at least 1 is needed`);
  if (!Number.isSafeInteger(length) || length < 0) throw new Error(`${name}: tensor length ${length} is not a non-negative integer`);
  return {
    parents,
    length,
    async read(parent, offset, n) {
      checkRead(name, parents, length, parent, offset, n);
      const x = await read(parent, offset, n);
      if (!(x instanceof Float32Array) || x.length !== n) {
        throw new Error(
          `${name}: parent ${parent} at ${offset} gave ${x instanceof Float32Array ? `${x.length} elements` : 'no Float32Array'}, expected ${n}`,
        );
      }
      return x;
    },
  };
}

/** The first `n` inputs of a source (operators of one parent ignore the others). */
export function firstParents(src: TensorSource, n: number): TensorSource {
  if (n > src.parents) throw new Error(`need ${n} inputs, the source has ${src.parents}`);
  if (n === src.parents) return src;
  return {
    parents: n,
    length: src.length,
    arrays: src.arrays?.slice(0, n),
    read: async (parent, offset, length) => {
      checkRead('source', n, src.length, parent, offset, length);
      return src.read(parent, offset, length);
    },
  };
}

/**
 * Inputs from async iterables of float32 pieces of any size (e.g. a network or file stream).
 * `open(parent)` starts a fresh iteration; it is called again when a pass asks for a range before
 * the current position (multi-pass operators read a tensor several times).
 */
export function iterableSource(parents: number, length: number, open: (parent: number) => AsyncIterable<Float32Array>): TensorSource {
  interface Cursor {
    it: AsyncIterator<Float32Array> | null;
    /** Global index of piece[0]. */
    start: number;
    piece: Float32Array;
    /** Reads of one parent run one after another. */
    tail: Promise<unknown>;
  }
  const cursors: Cursor[] = Array.from({ length: parents }, () => ({
    it: null,
    start: 0,
    piece: new Float32Array(0),
    tail: Promise.resolve(),
  }));
  const readOne = async (c: Cursor, parent: number, offset: number, n: number): Promise<Float32Array> => {
    if (!c.it || offset < c.start) {
      await c.it?.return?.();
      c.it = open(parent)[Symbol.asyncIterator]();
      c.start = 0;
      c.piece = new Float32Array(0);
    }
    const out = new Float32Array(n);
    let filled = 0;
    while (filled < n) {
      const end = c.start + c.piece.length;
      const at = offset + filled;
      if (at < end) {
        const take = Math.min(n - filled, end - at);
        out.set(c.piece.subarray(at - c.start, at - c.start + take), filled);
        filled += take;
        continue;
      }
      const r = await c.it.next();
      if (r.done) throw new Error(`iterable source: parent ${parent} ended after ${end} of ${length} elements`);
      if (!(r.value instanceof Float32Array))
        throw new Error(`iterable source: parent ${parent} yielded something other than a Float32Array`);
      c.start = end;
      c.piece = r.value;
    }
    return out;
  };
  return {
    parents,
    length,
    async read(parent, offset, n) {
      checkRead('iterable source', parents, length, parent, offset, n);
      const c = cursors[parent];
      const p = c.tail.then(() => readOne(c, parent, offset, n));
      c.tail = p.catch(() => undefined);
      return p;
    },
  };
}

/**
 * Every input of a source as whole arrays (for the CPU reference, which needs whole tensors),
 * read in pieces of `piece` elements.
 */
export async function readWhole(src: TensorSource, piece = 1 << 20): Promise<Float32Array[]> {
  if (src.arrays) return [...src.arrays];
  const out = Array.from({ length: src.parents }, () => new Float32Array(src.length));
  for (let offset = 0; offset < src.length; offset += piece) {
    const n = Math.min(piece, src.length - offset);
    for (let p = 0; p < src.parents; p++) out[p].set(await src.read(p, offset, n), offset);
  }
  return out;
}

/** Decode `n` elements of a stored dtype from `bytes`, whose first byte holds element `first` (I4: two per byte). */
export function decodeRange(dtype: DType, bytes: Uint8Array, first: number, n: number): Float32Array {
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32': {
      if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
      out.set(new Float32Array(bytes.slice(0, 4 * n).buffer));
      return out;
    }
    case 'F16':
    case 'BF16': {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const conv = dtype === 'F16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < n; i++) out[i] = conv(dv.getUint16(2 * i, true));
      return out;
    }
    case 'I8':
      out.set(new Int8Array(bytes.buffer, bytes.byteOffset, n));
      return out;
    case 'U8':
      out.set(bytes.subarray(0, n));
      return out;
    case 'I4': {
      const lead = first & 1;
      for (let i = 0; i < n; i++) {
        const j = i + lead;
        const nib = (bytes[j >> 1] >> ((j & 1) * 4)) & 0xf;
        out[i] = nib >= 8 ? nib - 16 : nib;
      }
      return out;
    }
  }
}

/** The byte range [begin, end) that holds elements [offset, offset + n) of a tensor stored as `dtype`. */
export function byteRange(dtype: DType, offset: number, n: number): [number, number] {
  const bits = DTYPES[dtype].bits;
  return [Math.floor((offset * bits) / 8), Math.ceil(((offset + n) * bits) / 8)];
}

/** One stored tensor: its dtype, and where its bytes start in a byte source. */
export interface StoredInput {
  dtype: DType;
  source: ByteSource;
  /** Byte offset of the tensor's first element in `source` (a `.slm` file's data start + the tensor's begin). */
  begin?: number;
}

/**
 * Inputs stored in byte sources (a `.slm` or safetensors file, a Blob, OPFS): each chunk is a byte
 * range read and decoded to float32 on its own, so only the chunks in flight are in memory.
 */
export function byteRangeSource(inputs: readonly StoredInput[], length: number): TensorSource {
  return readerSource(
    inputs.length,
    length,
    async (parent, offset, n) => {
      const { dtype, source, begin = 0 } = inputs[parent];
      const [a, b] = byteRange(dtype, offset, n);
      return decodeRange(dtype, await source.read(begin + a, b - a), offset, n);
    },
    'byte-range source',
  );
}

/** The part of the tensor store a source needs (src/store/tensor-store.ts's TensorStore has it). */
export interface TensorRecordReader {
  matchTensor(hash: string): Promise<Uint8Array | undefined>;
}

/**
 * Inputs from the content-addressed tensor store, by hash. The store keeps each tensor as one
 * IndexedDB record, so a record is read once (on its first chunk) and kept for the run in its
 * stored dtype; the decode to float32 and the upload go chunk by chunk.
 */
export function storeSource(store: TensorRecordReader, refs: readonly { hash: string; dtype: DType }[], length: number): TensorSource {
  const records = new Map<string, Promise<Uint8Array>>();
  const record = (hash: string) => {
    let r = records.get(hash);
    if (!r) {
      r = store.matchTensor(hash).then((b) => {
        if (!b) throw new Error(`tensor ${hash} is not in the store`);
        return b;
      });
      records.set(hash, r);
    }
    return r;
  };
  return readerSource(
    refs.length,
    length,
    async (parent, offset, n) => {
      const { hash, dtype } = refs[parent];
      const bytes = await record(hash);
      const [a, b] = byteRange(dtype, offset, n);
      if (b > bytes.length) throw new Error(`tensor ${hash} has ${bytes.length} bytes; elements up to ${offset + n} of ${dtype} need ${b}`);
      return decodeRange(dtype, bytes.subarray(a, b), offset, n);
    },
    'store source',
  );
}
