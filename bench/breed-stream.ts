/**
 * The streaming breed, IndexedDB → IndexedDB, in bounded memory: nothing the size of a whole
 * tensor (let alone a model) is ever held.
 *
 * Storage: every tensor is a list of content-addressed chunks (key = SHA-256 of the chunk's
 * bytes, so a chunk shared by several models or candidates is stored once); a tensor's key is the
 * SHA-256 of its record (byte length, chunk size, chunk keys). A model is a map name → tensor key.
 *
 * Breeding one tensor, chunk by chunk, reading chunk c of every input together:
 * - element-wise operators (blend, soup, crossover, task delta, DARE, …): one pass; each chunk
 *   runs the operator with ctx.offset set, so seeded masks do not depend on the chunking;
 * - magnitude-trimmed task arithmetic (TIES, sparse task delta): two histogram passes compute each
 *   parent's exact top-k cutoff (StreamingTopK, src/core/operators/select.ts), then a
 *   third pass walks the chunks in order, gives each chunk its cutoff (CutoffCursor) and runs the
 *   operator on it with that cutoff as the trimBits/trimIndex parameters.
 * The next chunk is read while the current one is computed, and one chunk write overlaps the
 * next chunk's work. A one-chunk tensor (or one whose inputs fit in keepBudgetBytes) is read once
 * and kept for its passes. Peak memory ≈ (2 × inputs + output + 2 queued writes + scratch) ×
 * chunk size + the backend's buffers and temporaries for one chunk, whatever the model size; the
 * output equals the in-memory breed() byte for byte (src/cpu/stream-breed.test.ts).
 */
import { openDB, deleteDB, type IDBPDatabase } from 'idb';
import { getOperator, isOperatorId } from '../src/core/operators/registry.ts';
import { layerPositions, paramsAt, resolveParams } from '../src/core/operators/params.ts';
import { localCutoff, selectCount, StreamingTopK, type CutoffCursor } from '../src/core/operators/select.ts';
import type { KernelBackend } from '../src/core/operators/backend.ts';
import type { OperatorDef, ParamValues } from '../src/core/operators/types.ts';
import { modelTensors, numelOf, tensorStream, type ModelShape, type TensorSpec } from './model.ts';

export interface StreamBreedOptions {
  model: ModelShape;
  /** Preferred operator and the fallback when it is not in the registry. */
  operator: string;
  fallback: string;
  parents: number;
  params?: ParamValues;
  seed?: number;
  backendFor(op: string): Promise<KernelBackend>;
  /** Peak bytes of GPU buffers (tracked by the caller's device wrapper). */
  peakGpuBytes?(): number;
  /** Peak bytes the backend itself held (e.g. the CPU pool's arena), added to the driver's figure. */
  backendPeakBytes?(): number;
  /** Elements per stored chunk, and so per unit of work. */
  chunkElements: number;
  /**
   * A tensor whose inputs together fit in this many bytes is read once and kept for its selection
   * passes; larger ones are re-read on each pass. Default 0: only one-chunk tensors are kept (on
   * the 124M model a 64 MiB budget cut the bytes read from 4.7 to 3.0 GiB but not the wall time,
   * which the CPU work bounds, and raised the peak).
   */
  keepBudgetBytes?: number;
  /** IndexedDB database name (deleted before and after). */
  dbName?: string;
  log?(s: string): void;
  /** Called when the breed proper starts and ends (after the parents are written), e.g. to sample memory. */
  onPhase?(phase: 'breed-start' | 'breed-end'): void;
}

export interface StreamBreedResult {
  model: string;
  operator: string;
  operatorNote: string;
  backend: string;
  software: boolean;
  parents: number;
  tensors: number;
  parameters: number;
  chunkBytes: number;
  /** How the operator was streamed: 'element-wise (1 pass)' or 'exact streamed top-k (3 passes)'. */
  plan: string;
  /** Logical bytes the operator consumed and produced: every input once + the output once. */
  bytesMoved: number;
  /** Bytes actually read from IndexedDB (the selection passes re-read multi-chunk tensors). */
  bytesRead: number;
  wallMs: number;
  /** Peak bytes of chunks and scratch the driver held at once. */
  peakHeldBytes: number;
  /** Peak bytes the backend held (the CPU pool's arena). */
  peakBackendBytes: number;
  peakHeapBytes: number | null;
  peakGpuBufferBytes: number;
  idbWriteBytesPerS: number;
  idbReadBytesPerS: number;
  dedupeLogicalBytes: number;
  dedupeStoredBytes: number;
  outputHash: string;
  largestTensorBytes: number;
  /** Key of each output tensor in the store (tensorName → key). */
  outputTensors: Record<string, string>;
  signConflicts: number;
}

interface TensorRecord {
  bytes: number;
  chunkElements: number;
  chunks: string[];
}

const hex = (d: ArrayBuffer) => Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
const sha256 = async (bytes: Uint8Array<ArrayBuffer>) => hex(await crypto.subtle.digest('SHA-256', bytes));
const copyBytes = (values: Float32Array): Uint8Array<ArrayBuffer> => {
  const bytes = new Uint8Array(values.byteLength);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return bytes;
};

/** Content-addressed chunked tensors in IndexedDB, with throughput and dedupe counters. */
export class ChunkStore {
  writeBytes = 0;
  writeMs = 0;
  readBytes = 0;
  readMs = 0;
  /** Bytes handed to putChunk, and bytes that were new (actually stored). */
  logical = 0;
  stored = 0;

  private constructor(
    readonly db: IDBPDatabase,
    readonly name: string,
  ) {}

  static async open(name: string): Promise<ChunkStore> {
    await deleteDB(name);
    const db = await openDB(name, 1, {
      upgrade(d) {
        d.createObjectStore('chunks');
        d.createObjectStore('tensors');
        d.createObjectStore('models');
      },
    });
    return new ChunkStore(db, name);
  }

  async close(remove: boolean): Promise<void> {
    this.db.close();
    if (remove) await deleteDB(this.name);
  }

  /** Store one chunk (a copy of exactly its bytes: IndexedDB clones a view's whole buffer) unless present; its key. */
  async putChunk(values: Float32Array): Promise<string> {
    return this.putBytes(copyBytes(values));
  }

  private async putBytes(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
    const key = await sha256(bytes);
    this.logical += bytes.byteLength;
    const t0 = performance.now();
    const tx = this.db.transaction('chunks', 'readwrite');
    const exists = (await tx.store.count(key)) > 0;
    if (!exists) void tx.store.put(bytes.buffer, key);
    await tx.done;
    if (!exists) {
      this.writeMs += performance.now() - t0;
      this.writeBytes += bytes.byteLength;
      this.stored += bytes.byteLength;
    }
    return key;
  }

  /**
   * A tensor written chunk by chunk. add() copies the chunk at once (the caller may reuse its
   * array) and stores it behind the chunks before it; it resolves when the previous chunk is
   * stored, so one write overlaps the caller's next chunk and no more queue up. finish() stores
   * the record and returns the tensor's key.
   */
  writer(chunkElements: number, hold?: (bytes: number) => void): { add(values: Float32Array): Promise<void>; finish(): Promise<string> } {
    const keys: Promise<string>[] = [];
    let bytes = 0;
    return {
      add: (values) => {
        const copy = copyBytes(values);
        hold?.(copy.byteLength);
        const prev = keys.at(-1);
        const next = (prev ?? Promise.resolve('')).then(async () => {
          const key = await this.putBytes(copy);
          hold?.(-copy.byteLength);
          return key;
        });
        // A failed write surfaces through finish(); until then it must not be an unhandled rejection.
        next.catch(() => undefined);
        keys.push(next);
        bytes += values.byteLength;
        return prev ? prev.then(() => undefined) : Promise.resolve();
      },
      finish: async () => {
        const rec: TensorRecord = { bytes, chunkElements, chunks: await Promise.all(keys) };
        const key = await sha256(new TextEncoder().encode(JSON.stringify(rec)));
        await this.db.put('tensors', rec, key);
        return key;
      },
    };
  }

  async record(key: string): Promise<TensorRecord> {
    const rec = (await this.db.get('tensors', key)) as TensorRecord | undefined;
    if (!rec) throw new Error(`tensor ${key.slice(0, 12)}… is missing from IndexedDB`);
    return rec;
  }

  private reading = 0;
  private readSince = 0;

  /** One chunk. Read time counts the wall time while any read is in flight, so parallel reads are not counted twice. */
  async chunk(key: string): Promise<Float32Array> {
    if (this.reading++ === 0) this.readSince = performance.now();
    let buf: ArrayBuffer | undefined;
    try {
      buf = (await this.db.get('chunks', key)) as ArrayBuffer | undefined;
    } finally {
      if (--this.reading === 0) this.readMs += performance.now() - this.readSince;
    }
    if (!buf) throw new Error(`chunk ${key.slice(0, 12)}… is missing from IndexedDB`);
    this.readBytes += buf.byteLength;
    return new Float32Array(buf);
  }

  /** A whole tensor (tests and small models only). */
  async readTensor(key: string): Promise<Float32Array> {
    const rec = await this.record(key);
    const out = new Float32Array(rec.bytes / 4);
    let at = 0;
    for (const c of rec.chunks) {
      const x = await this.chunk(c);
      out.set(x, at);
      at += x.length;
    }
    return out;
  }
}

/** How an operator with these (per-tensor) parameters can be streamed, or why it cannot. */
export function streamPlan(op: OperatorDef, p: ParamValues): 'elementwise' | 'topk' {
  const ta = op.kernel?.id === 'task-arithmetic' ? op.kernel.cfg : undefined;
  if (ta) {
    if (typeof p.clipNorm === 'number' && p.clipNorm > 0)
      throw new Error(`streaming breed: ${op.id} with clipNorm needs whole-update norms; run it with clipNorm 0`);
    if (p.rescale === 'l1')
      throw new Error(`streaming breed: ${op.id} with rescale "l1" needs whole-tensor norms; valid here: none, inverse`);
    if (ta.sparsify === 'magnitude') {
      if (p.trimScope === 'model')
        throw new Error(`streaming breed: ${op.id} with trimScope "model" needs a model-wide pre-pass; valid here: tensor`);
      return 'topk';
    }
    // The outlier trim (breadcrumbs) needs two cutoffs per parent, DELLA a rank per row: neither is
    // a per-chunk computation, and this driver has no pass for them yet.
    if (ta.sparsify !== 'none' && ta.sparsify !== 'random')
      throw new Error(
        `streaming breed: ${op.id} (sparsify "${ta.sparsify}") needs whole tensors; this driver streams magnitude trims and random drops`,
      );
    return 'elementwise';
  }
  if (op.elementwise && !op.prepare) return 'elementwise';
  throw new Error(
    `streaming breed: ${op.id} needs whole tensors; streamable: element-wise operators and the task-arithmetic family (TIES, sparse task delta, DARE, task delta, federated)`,
  );
}

type Perf = Performance & { memory?: { usedJSHeapSize: number } };

/** Breed in a fresh store (deleted afterwards), or in `store` (left open, for tests to read back). */
export async function streamBreed(o: StreamBreedOptions, store?: ChunkStore): Promise<StreamBreedResult> {
  if (store) return run(o, store);
  const own = await ChunkStore.open(o.dbName ?? 'slm-garden-bench');
  try {
    return await run(o, own);
  } finally {
    await own.close(true);
  }
}

/** Write one model of the synthetic family (0 = base) chunk by chunk; its manifest name → tensor key. */
export async function writeModel(
  store: ChunkStore,
  specs: readonly TensorSpec[],
  parent: number,
  chunkElements: number,
): Promise<Record<string, string>> {
  const m: Record<string, string> = {};
  const buf = new Float32Array(chunkElements);
  for (const s of specs) {
    const n = numelOf(s.shape);
    const next = tensorStream(s, parent);
    const w = store.writer(chunkElements);
    for (let at = 0; at < n; at += chunkElements) await w.add(next(buf.subarray(0, Math.min(chunkElements, n - at))));
    m[s.name] = await w.finish();
  }
  await store.db.put('models', m, parent === 0 ? 'base' : `parent-${parent}`);
  return m;
}

async function run(o: StreamBreedOptions, store: ChunkStore): Promise<StreamBreedResult> {
  const C = o.chunkElements;
  const keepBudget = o.keepBudgetBytes ?? 0;
  const specs = modelTensors(o.model);
  const useId = isOperatorId(o.operator) ? o.operator : o.fallback;
  const op = getOperator(useId);
  const note = useId === o.operator ? '' : `${o.operator} is not in the registry yet; ran ${useId}`;
  const seed = o.seed ?? 7;
  const perf = performance as Perf;

  let held = 0;
  let peakHeld = 0;
  const hold = (b: number) => {
    held += b;
    peakHeld = Math.max(peakHeld, held);
  };
  const heap0 = perf.memory?.usedJSHeapSize;
  let peakHeap = 0;
  const sampleHeap = () => {
    if (perf.memory) peakHeap = Math.max(peakHeap, perf.memory.usedJSHeapSize - (heap0 ?? 0));
  };

  // The parents: a base and `parents` fine-tunes, written chunk by chunk.
  const manifests: Record<string, string>[] = [];
  for (let p = 0; p <= o.parents; p++) manifests.push(await writeModel(store, specs, p, C));
  o.log?.(`parents stored: ${(store.logical / 2 ** 20).toFixed(1)} MiB written, ${(store.stored / 2 ** 20).toFixed(1)} MiB stored`);

  const inputsFrom = op.needsBase ? manifests : manifests.slice(1);
  const parentCount = inputsFrom.length - (op.needsBase ? 1 : 0);
  const params = resolveParams(op, o.params ?? {}, parentCount);
  const backend = await o.backendFor(useId);
  const positions = layerPositions(specs.map((s) => s.name));
  const outputs: Record<string, string> = {};
  let moved = 0;
  let largest = 0;
  let signConflicts = 0;
  const plans = new Set<string>();
  const read0 = store.readBytes;
  const scratch = new Float32Array(C);
  hold(scratch.byteLength);

  o.onPhase?.('breed-start');
  const t0 = performance.now();
  for (const [t, s] of specs.entries()) {
    const n = numelOf(s.shape);
    const recs = await Promise.all(inputsFrom.map((m) => store.record(m[s.name])));
    for (const r of recs)
      if (r.chunkElements !== C || r.bytes !== 4 * n)
        throw new Error(
          `tensor "${s.name}": stored with ${r.chunkElements}-element chunks and ${r.bytes} bytes, expected ${C} and ${4 * n}`,
        );
    const chunks = recs[0].chunks.length;
    largest = Math.max(largest, 4 * n);
    const p = paramsAt(op, params, positions[t]);
    const plan = streamPlan(op, p);

    // Chunk c of every input. A tensor whose inputs fit in the keep budget is read once and kept
    // for all its passes; a larger one is re-read on each pass, so memory stays bounded.
    const keepAll = chunks === 1 || recs.reduce((a, r) => a + r.bytes, 0) <= keepBudget;
    const cache: Float32Array[][] = [];
    const read = async (c: number): Promise<Float32Array[]> => {
      if (cache[c]) return cache[c];
      const ins = await Promise.all(recs.map((r) => store.chunk(r.chunks[c])));
      hold(ins.reduce((a, x) => a + x.byteLength, 0));
      if (keepAll) cache[c] = ins;
      return ins;
    };
    const done = (ins: Float32Array[]) => {
      if (!keepAll) hold(-ins.reduce((a, x) => a + x.byteLength, 0));
    };
    /** Every chunk in order, the next one read while this one is worked on. */
    const eachChunk = async (fn: (ins: Float32Array[], c: number) => Promise<void> | void): Promise<void> => {
      let next: Promise<Float32Array[]> | null = read(0);
      for (let c = 0; c < chunks; c++) {
        const ins = await next!;
        next = c + 1 < chunks ? read(c + 1) : null;
        try {
          await fn(ins, c);
        } catch (e) {
          // Leave no prefetched read unhandled behind the real error.
          next?.catch(() => undefined);
          throw e;
        }
        done(ins);
      }
    };
    const delta = (ins: Float32Array[], i: number): Float32Array => {
      const base = ins[0],
        x = ins[i + 1];
      const d = scratch.subarray(0, base.length);
      for (let j = 0; j < d.length; j++) d[j] = x[j] - base[j];
      return d;
    };

    let cursors: CutoffCursor[] = [];
    if (plan === 'topk') {
      const k = selectCount(typeof p.density === 'number' ? p.density : NaN, n);
      const sel = Array.from({ length: parentCount }, () => new StreamingTopK(n, k));
      for (const _pass of ['high', 'low']) {
        if (sel[0].pass === 'done') break;
        await eachChunk((ins) => {
          for (let i = 0; i < parentCount; i++) sel[i].add(delta(ins, i));
        });
        for (const x of sel) x.endPass();
      }
      cursors = sel.map((x) => x.cursor());
      plans.add('exact streamed top-k: 2 histogram passes + 1 apply pass');
    } else plans.add('element-wise: 1 pass');

    const w = store.writer(C, hold);
    await eachChunk(async (ins, c) => {
      const offset = c * C;
      const stats: Record<string, number> = {};
      let y: Float32Array;
      if (plan === 'topk') {
        // Each chunk's cutoff in chunk coordinates with no offset: the CPU reference and the GPU kernel both read it so.
        const trimBits: number[] = [];
        const trimIndex: number[] = [];
        for (let i = 0; i < parentCount; i++) {
          const cut = localCutoff(cursors[i].next(delta(ins, i), offset), offset, ins[0].length);
          trimBits.push(cut.bits);
          trimIndex.push(cut.index);
        }
        y = await backend.run(op, ins, { ...p, trimBits, trimIndex }, { name: s.name, shape: s.shape, seed, stats });
      } else {
        y = await backend.run(op, ins, p, { name: s.name, shape: s.shape, seed, offset, stats });
      }
      if (y.length !== ins[0].length)
        throw new Error(`${op.id} on "${s.name}" chunk ${c} returned ${y.length} values for ${ins[0].length}`);
      hold(y.byteLength);
      sampleHeap();
      const stored = w.add(y);
      hold(-y.byteLength);
      signConflicts += stats.signConflicts ?? 0;
      moved += ins.reduce((a, x) => a + x.byteLength, 0) + y.byteLength;
      await stored;
    });
    for (const cur of cursors) cur.cutoff();
    for (const ins of cache) if (ins) hold(-ins.reduce((a, x) => a + x.byteLength, 0));
    outputs[s.name] = await w.finish();
    sampleHeap();
  }
  await store.db.put('models', outputs, 'candidate');
  const wallMs = performance.now() - t0;
  o.onPhase?.('breed-end');
  hold(-scratch.byteLength);
  const outputHash = await sha256(new TextEncoder().encode(JSON.stringify(specs.map((s) => [s.name, outputs[s.name]]))));
  return {
    model: o.model.name,
    operator: useId,
    operatorNote: note,
    backend: backend.adapter,
    software: backend.software,
    parents: parentCount,
    tensors: specs.length,
    parameters: specs.reduce((a, s) => a + numelOf(s.shape), 0),
    chunkBytes: 4 * C,
    plan: [...plans].join('; '),
    bytesMoved: moved,
    bytesRead: store.readBytes - read0,
    wallMs,
    peakHeldBytes: peakHeld,
    peakBackendBytes: o.backendPeakBytes?.() ?? 0,
    peakHeapBytes: perf.memory ? peakHeap : null,
    peakGpuBufferBytes: o.peakGpuBytes?.() ?? 0,
    idbWriteBytesPerS: store.writeBytes / (store.writeMs / 1000),
    idbReadBytesPerS: store.readBytes / (store.readMs / 1000),
    dedupeLogicalBytes: store.logical,
    dedupeStoredBytes: store.stored,
    outputHash,
    largestTensorBytes: largest,
    outputTensors: outputs,
    signConflicts,
  };
}
