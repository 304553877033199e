/**
 * The bench's streaming breed, IndexedDB → IndexedDB, in bounded memory: the core's breedStream
 * (src/core/operators/breed.ts) over the core's chunked tensor store (src/store/), the same code
 * the app and the CLI use. This file only writes the synthetic parents into a fresh store chunk
 * by chunk, counts the store's IndexedDB traffic and the driver's memory, and reports.
 *
 * The store keeps each tensor as 4 MiB chunk records, each verified by its own SHA-256 (a chunk
 * shared by several tensors is stored once). Per tensor the core picks its path (see breedStream):
 * element-wise operators run chunk by chunk in one pass; the magnitude trims of the
 * task-arithmetic family (TIES, sparse task delta) take two histogram passes for each parent's
 * exact top-k cutoff and one apply pass; a tensor of one chunk is read once. Peak memory ≈
 * (2 × inputs + output + its encoding) × chunk size + the backend's buffers for one chunk,
 * whatever the model size; the output equals the in-memory breed() byte for byte
 * (src/cpu/stream-breed.test.ts).
 */
import { idbBackend } from '../src/store/idb-store.ts';
import { createTensorStore, type KvBackend, type KvTx, type TensorStore } from '../src/store/tensor-store.ts';
import { putStreamedModel, storeSink, storedModelSource } from '../src/store/source.ts';
import { getOperator, isOperatorId } from '../src/core/operators/registry.ts';
import { breedStream } from '../src/core/operators/breed.ts';
import type { KernelBackend } from '../src/core/operators/backend.ts';
import type { ParamValues } from '../src/core/operators/types.ts';
import { hashJson } from '../src/core/hash.ts';
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
  /** Elements per stored chunk (float32), and so per unit of work. */
  chunkElements: number;
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
  /** How the tensors were streamed: the core's path per tensor, with counts. */
  plan: string;
  /** Logical bytes the operator consumed and produced: every input once + the output once. */
  bytesMoved: number;
  /** Bytes read from the store (the selection passes re-read multi-chunk tensors). */
  bytesRead: number;
  wallMs: number;
  /** Peak bytes of chunks the driver held at once. */
  peakHeldBytes: number;
  /** Peak bytes the backend held (the CPU pool's arena). */
  peakBackendBytes: number;
  peakHeapBytes: number | null;
  peakGpuBufferBytes: number;
  idbWriteBytesPerS: number;
  idbReadBytesPerS: number;
  dedupeLogicalBytes: number;
  dedupeStoredBytes: number;
  /** The candidate's model id in the store (the SHA-256 of its manifest). */
  outputHash: string;
  largestTensorBytes: number;
  /** Content address of each output tensor (tensorName → SHA-256). */
  outputTensors: Record<string, string>;
  signConflicts: number;
}

/** The store's chunk traffic: bytes and wall time of chunk writes and reads, new bytes stored. */
interface Traffic {
  writeBytes: number;
  writeMs: number;
  readBytes: number;
  readMs: number;
  /** Chunk bytes that were new (stored) and bytes handed to tensor writers. */
  stored: number;
  logical: number;
}

/** A KvBackend with its chunk traffic counted (reads: wall time while any is in flight, so parallel reads count once). */
function counted(inner: KvBackend, t: Traffic): KvBackend {
  let reading = 0;
  let since = 0;
  return {
    ...inner,
    transact: async (mode, fn) => {
      let wrote = 0;
      const missing = new Set<string>();
      const t0 = performance.now();
      const r = await inner.transact(mode, (tx) =>
        fn({
          ...tx,
          get: async <V>(store: Parameters<KvTx['get']>[0], key: string) => {
            if (store !== 'chunks') return tx.get<V>(store, key);
            if (reading++ === 0) since = performance.now();
            try {
              const v = await tx.get<V>(store, key);
              if (v === undefined) missing.add(key);
              t.readBytes += (v as { data?: Uint8Array } | undefined)?.data?.length ?? 0;
              return v;
            } finally {
              if (--reading === 0) t.readMs += performance.now() - since;
            }
          },
          put: (store, key, value) => {
            // A new chunk: put after a get that found nothing (a count going down to 1 is no write of bytes).
            const v = value as { data?: Uint8Array };
            if (store === 'chunks' && missing.has(key) && v.data) wrote += v.data.length;
            return tx.put(store, key, value);
          },
        }),
      );
      if (wrote) {
        t.writeMs += performance.now() - t0;
        t.writeBytes += wrote;
        t.stored += wrote;
      }
      return r;
    },
  };
}

type Perf = Performance & { memory?: { usedJSHeapSize: number } };

const SPECIES = hashJson({ bench: 'synthetic GPT-2-shaped family' });

/** Write one model of the synthetic family (0 = base) chunk by chunk; its model id. */
export async function writeModel(store: TensorStore, specs: readonly TensorSpec[], parent: number, chunkElements: number, t: Traffic) {
  const tensors = [];
  const buf = new Float32Array(chunkElements);
  for (const s of specs) {
    const n = numelOf(s.shape);
    const next = tensorStream(s, parent);
    const w = store.tensorWriter();
    for (let at = 0; at < n; at += chunkElements) {
      const v = next(buf.subarray(0, Math.min(chunkElements, n - at)));
      t.logical += v.byteLength;
      await w.write(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    tensors.push({ name: s.name, dtype: 'F32' as const, shape: s.shape, hash: (await w.finish()).hash });
  }
  return (await store.putModel({ tensors, species: SPECIES, meta: { parent } })).id;
}

/** Breed the synthetic family in a fresh IndexedDB store (deleted afterwards). */
export async function streamBreed(o: StreamBreedOptions): Promise<StreamBreedResult> {
  const name = o.dbName ?? 'slm-garden-bench';
  await deleteDb(name);
  const traffic: Traffic = { writeBytes: 0, writeMs: 0, readBytes: 0, readMs: 0, stored: 0, logical: 0 };
  const store = createTensorStore(counted(await idbBackend({ name }), traffic), { chunkBytes: 4 * o.chunkElements });
  try {
    return await run(o, store, traffic);
  } finally {
    store.close();
    await deleteDb(name);
  }
}

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = () => resolve();
    r.onerror = () => reject(r.error);
    r.onblocked = () => resolve();
  });
}

async function run(o: StreamBreedOptions, store: TensorStore, traffic: Traffic): Promise<StreamBreedResult> {
  const C = o.chunkElements;
  const specs = modelTensors(o.model);
  const useId = isOperatorId(o.operator) ? o.operator : o.fallback;
  const op = getOperator(useId);
  const note = useId === o.operator ? '' : `${o.operator} is not in the registry yet; ran ${useId}`;
  const perf = performance as Perf;
  const heap0 = perf.memory?.usedJSHeapSize;
  let peakHeap = 0;
  const sampleHeap = () => {
    if (perf.memory) peakHeap = Math.max(peakHeap, perf.memory.usedJSHeapSize - (heap0 ?? 0));
  };

  // The parents: a base and `parents` fine-tunes, written chunk by chunk.
  const ids: string[] = [];
  for (let p = 0; p <= o.parents; p++) ids.push(await writeModel(store, specs, p, C, traffic));
  o.log?.(`parents stored: ${(traffic.logical / 2 ** 20).toFixed(1)} MiB written, ${(traffic.stored / 2 ** 20).toFixed(1)} MiB stored`);
  const inputs = await Promise.all((op.needsBase ? ids : ids.slice(1)).map((id) => storedModelSource(store, id)));
  const backend = await o.backendFor(useId);
  const sink = storeSink(store);
  const read0 = traffic.readBytes;

  o.onPhase?.('breed-start');
  const t0 = performance.now();
  const r = await breedStream({ operator: useId, params: o.params ?? {}, seed: o.seed ?? 7, parents: inputs }, backend, {
    ...sink,
    chunkElements: C,
    output: () => {
      const w = sink.output();
      return {
        ...w,
        write: (bytes) => {
          traffic.logical += bytes.length;
          sampleHeap();
          return w.write(bytes);
        },
      };
    },
  });
  const candidate = await putStreamedModel(store, r.outputs, { species: SPECIES, meta: { candidate: true } });
  const wallMs = performance.now() - t0;
  o.onPhase?.('breed-end');
  sampleHeap();

  const tensorBytes = specs.reduce((a, s) => a + 4 * numelOf(s.shape), 0);
  return {
    model: o.model.name,
    operator: useId,
    operatorNote: note,
    backend: backend.adapter,
    software: backend.software,
    parents: inputs.length - (op.needsBase ? 1 : 0),
    tensors: specs.length,
    parameters: specs.reduce((a, s) => a + numelOf(s.shape), 0),
    chunkBytes: 4 * C,
    plan: Object.entries(r.plans)
      .map(([k, v]) => `${k}: ${v} tensors`)
      .join('; '),
    bytesMoved: inputs.length * tensorBytes + r.outputs.reduce((a, t) => a + t.bytes, 0),
    bytesRead: traffic.readBytes - read0,
    wallMs,
    peakHeldBytes: r.peakHeldBytes,
    peakBackendBytes: o.backendPeakBytes?.() ?? 0,
    peakHeapBytes: perf.memory ? peakHeap : null,
    peakGpuBufferBytes: o.peakGpuBytes?.() ?? 0,
    idbWriteBytesPerS: traffic.writeBytes / (traffic.writeMs / 1000),
    idbReadBytesPerS: traffic.readBytes / (traffic.readMs / 1000),
    dedupeLogicalBytes: traffic.logical,
    dedupeStoredBytes: traffic.stored,
    outputHash: candidate.id,
    largestTensorBytes: Math.max(...specs.map((s) => 4 * numelOf(s.shape))),
    outputTensors: Object.fromEntries(r.outputs.map((t) => [t.name, t.hash])),
    signConflicts: r.stats.reduce((a, s) => a + (s.signConflicts ?? 0), 0),
  };
}
