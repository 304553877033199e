/**
 * A content-addressed tensor store. Tensors are keyed by the SHA-256 of their bytes and shared
 * between models; a model is a manifest listing tensor name → hash, dtype, shape. A candidate that
 * keeps a parent's tensor stores nothing new for it.
 *
 * The store logic is written once against a tiny transactional key-value interface (KvBackend);
 * idb-store.ts implements it over IndexedDB, memory-store.ts in memory (Node, CLI, tests). A
 * putModel is ONE transaction: all of the model, its tensors, graph and manifests, or nothing.
 *
 * CHUNKS. A tensor's bytes are stored as fixed-size chunk records (STORE_CHUNK_BYTES, 4 MiB; the
 * last one shorter), each keyed by and verified against its own SHA-256, and listed in order by
 * the tensor's record. The tensor's content address stays the SHA-256 of its whole bytes, so
 * every existing address (and every model id) keeps its meaning; a record written before chunks
 * (one `data` field holding the whole tensor) is still read, whole. readTensorRange reads only
 * the chunks a range touches and verifies each one, so reading a 500 MB tensor never needs 500 MB,
 * and tensorWriter stores a tensor chunk by chunk, hashing the whole incrementally
 * (sha256Stream) as it goes. Chunks are shared: one chunk stored by two tensors is kept once, with
 * a reference count (the number of tensor records listing it). docs/FORMAT.md says why the
 * address is the plain SHA-256 and not a Merkle root over chunks.
 */
import { canonicalJson, hashJson, sha256Hex, sha256HexAsync, sha256Stream, type Sha256Hex } from '../core/hash.ts';
import { byteLength, isDType, type DType, type Tensor } from '../core/tensor.ts';

export const STORE_NAMES = Object.freeze(['tensors', 'models', 'graphs', 'manifests', 'meta', 'chunks'] as const);

/** Bytes per stored chunk: 4 MiB (1 Mi float32 elements); the last chunk of a tensor is shorter. */
export const STORE_CHUNK_BYTES = 4 << 20;
export type StoreName = (typeof STORE_NAMES)[number];

/** One transaction over the stores. Every method only touches the store, so IndexedDB keeps the transaction alive. */
export interface KvTx {
  get<T>(store: StoreName, key: string): Promise<T | undefined>;
  put(store: StoreName, key: string, value: unknown): Promise<void>;
  delete(store: StoreName, key: string): Promise<void>;
}

export interface KvBackend {
  /** Run fn in one transaction: if fn throws (or the backend fails), nothing it wrote remains. */
  transact<T>(mode: 'readonly' | 'readwrite', fn: (tx: KvTx) => Promise<T>): Promise<T>;
  keys(store: StoreName): Promise<string[]>;
  /** Storage estimate from the platform (browser only). */
  estimate?(): Promise<{ usage?: number; quota?: number } | undefined>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
  close?(): void;
}

export class StoreError extends Error {
  override name = 'StoreError';
}

export interface TensorRef {
  name: string;
  hash: Sha256Hex;
  dtype: DType;
  shape: number[];
  bytes: number;
}

/** The manifest of a stored model; its canonical-JSON hash is the model id. */
export interface ModelManifest {
  kind: 'tensor-set';
  version: 1;
  species: Sha256Hex;
  /** SHA-256 of the species graph, '' when none. */
  graph: Sha256Hex;
  vocabulary: string[];
  /** Sorted by name. */
  tensors: TensorRef[];
}

export interface StoredModel {
  id: Sha256Hex;
  manifest: ModelManifest;
  /** Hashes of the manifests stored with the model (source artifact, lineage, receipt…). */
  manifests: Sha256Hex[];
  /** Free-form JSON the caller attached (name, origin, license…). */
  meta: Record<string, unknown>;
}

/** A tensor already in the store (written by tensorWriter), put in a model by its hash. */
export interface StoredTensorInput {
  name: string;
  dtype: DType;
  shape: number[];
  hash: Sha256Hex;
}

export interface PutModelInput {
  /** Tensors with their bytes, or references to tensors already stored (StoredTensorInput). */
  tensors: readonly (Tensor | StoredTensorInput)[];
  species: Sha256Hex;
  graph?: Uint8Array | null;
  vocabulary?: string[];
  /** JSON manifests stored (canonical, by hash) in the same transaction. */
  manifests?: readonly unknown[];
  meta?: Record<string, unknown>;
}

export interface PutModelResult {
  id: Sha256Hex;
  /** False when the very same model was already stored: no tensor or graph is written, only manifests it did not yet list. */
  created: boolean;
  newTensors: number;
  newBytes: number;
  reusedTensors: number;
  reusedBytes: number;
  manifests: Sha256Hex[];
}

export interface StoreUsage {
  models: number;
  tensors: number;
  /** Tensor bytes physically stored (each distinct hash once). */
  storedBytes: number;
  /** Tensor bytes the models reference in total. */
  logicalBytes: number;
  /** logicalBytes − storedBytes: what content addressing saved. */
  savedBytes: number;
  graphBytes: number;
  /** navigator.storage.estimate(), where available. */
  estimate?: { usage?: number; quota?: number };
  /** Whether the origin's storage is persistent, where known. */
  persisted?: boolean;
}

/**
 * A stored tensor: its chunks' hashes in order (chunked), or, in records written before chunks,
 * the whole bytes in `data`. `refs` counts the model references; 0 for a tensor a tensorWriter
 * stored that no model lists yet.
 */
interface TensorRecord {
  hash: Sha256Hex;
  refs: number;
  bytes?: number;
  chunkBytes?: number;
  chunks?: Sha256Hex[];
  data?: Uint8Array;
}
interface ChunkRecord {
  hash: Sha256Hex;
  data: Uint8Array;
  /** Tensor records that list this chunk (each listing counted). */
  refs: number;
}
const recordBytes = (r: TensorRecord): number => r.bytes ?? r.data?.length ?? 0;

/** How a stored tensor is laid out (tensorInfo). */
export interface StoredTensorInfo {
  hash: Sha256Hex;
  bytes: number;
  /** Bytes per chunk (the whole tensor for a record written before chunks). */
  chunkBytes: number;
  chunks: number;
  /** True for a record written before chunks: any range read reads (and verifies) the whole tensor. */
  whole: boolean;
}

/** Writes one tensor chunk by chunk (TensorStore.tensorWriter). */
export interface TensorWriter {
  /**
   * Append bytes (any length; they are copied, so the caller may reuse its array). Resolves once
   * every completed chunk but the latest is stored, so one chunk write overlaps the caller's next work.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Store the tensor's record; its hash (the SHA-256 of all the bytes written) and size. */
  finish(): Promise<{ hash: Sha256Hex; bytes: number }>;
  /** Give up (also after a finish() that failed): release the chunks written so far. */
  abort(): Promise<void>;
}
interface GraphRecord {
  hash: Sha256Hex;
  data: Uint8Array;
  refs: number;
}
interface Stats {
  storedBytes: number;
  tensors: number;
  logicalBytes: number;
  models: number;
  graphBytes: number;
}
const ZERO_STATS: Stats = { storedBytes: 0, tensors: 0, logicalBytes: 0, models: 0, graphBytes: 0 };

/** The interface the app, workers and CLI use (match / put / delete, as caches do). */
export interface TensorStore {
  putModel(input: PutModelInput): Promise<PutModelResult>;
  matchModel(id: Sha256Hex): Promise<StoredModel | undefined>;
  /** A model's tensors, each verified against its hash. Concurrent loads of one id are merged. */
  loadModel(id: Sha256Hex): Promise<Tensor[]>;
  /** A stored tensor's whole bytes, verified against its hash. */
  matchTensor(hash: Sha256Hex): Promise<Uint8Array | undefined>;
  /** How a stored tensor is laid out, or undefined when the store lacks it. */
  tensorInfo(hash: Sha256Hex): Promise<StoredTensorInfo | undefined>;
  /**
   * Bytes [offset, offset + length) of a stored tensor, reading only the chunks they touch, each
   * verified against its hash (a range inside one chunk is a view of it, not a copy).
   */
  readTensorRange(hash: Sha256Hex, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Store a tensor chunk by chunk, never holding it whole. The tensor is kept (unreferenced)
   * until a putModel lists it by hash; one that no model lists is not counted in usage().
   */
  tensorWriter(): TensorWriter;
  /** Delete the given tensors where no model lists them (a cancelled breed's outputs), with their chunks. */
  dropUnlisted(hashes: readonly Sha256Hex[]): Promise<number>;
  /**
   * Delete every tensor no model lists and every chunk no tensor lists: what a tensorWriter leaves
   * when its worker is terminated or its page reloads mid-write (nothing then drops it). Only while
   * no tensorWriter of this database is in flight (the app holds its breed lock). A chunk a dead
   * writer shared with a listed tensor keeps the count that writer added (it is freed late, never early).
   */
  sweepUnlisted(): Promise<{ tensors: number; chunks: number }>;
  matchGraph(hash: Sha256Hex): Promise<Uint8Array | undefined>;
  matchManifest(hash: Sha256Hex): Promise<unknown | undefined>;
  listModels(): Promise<StoredModel[]>;
  /** Delete a model; tensors and graphs no other model references go with it. */
  deleteModel(id: Sha256Hex): Promise<boolean>;
  usage(): Promise<StoreUsage>;
  /** Ask the browser to keep this origin's storage (navigator.storage.persist()); false where unavailable. */
  persist(): Promise<boolean>;
  close(): void;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The manifest (and id) a model would get, without storing anything. `digests` (one per tensor,
 * in order) are the tensors' SHA-256 when the caller has them already (putModel hashes with the
 * platform's native, async digest first).
 */
export function modelManifest(
  input: Pick<PutModelInput, 'tensors' | 'species' | 'graph' | 'vocabulary'>,
  digests?: readonly Sha256Hex[],
): { manifest: ModelManifest; id: Sha256Hex; hashes: Map<string, Sha256Hex> } {
  if (!HEX64.test(input.species)) throw new StoreError(`species ${JSON.stringify(input.species)} is not a SHA-256 hex string`);
  const hashes = new Map<string, Sha256Hex>();
  const tensors: TensorRef[] = [];
  for (const [i, t] of input.tensors.entries()) {
    if (!isDType(t.dtype)) throw new StoreError(`tensor ${JSON.stringify(t.name)} has an unknown dtype ${JSON.stringify(t.dtype)}`);
    const size = byteLength(t.dtype, t.shape);
    if ('data' in t && t.data.length !== size)
      throw new StoreError(`tensor ${JSON.stringify(t.name)} has ${t.data.length} bytes but ${t.dtype}[${t.shape}] needs ${size}`);
    if (hashes.has(t.name)) throw new StoreError(`duplicate tensor name ${JSON.stringify(t.name)}`);
    if (!('data' in t) && !HEX64.test(t.hash))
      throw new StoreError(`tensor ${JSON.stringify(t.name)}: ${JSON.stringify(t.hash)} is not a SHA-256 hex string`);
    const hash = 'data' in t ? (digests?.[i] ?? sha256Hex(t.data)) : t.hash;
    hashes.set(t.name, hash);
    tensors.push({ name: t.name, hash, dtype: t.dtype, shape: [...t.shape], bytes: size });
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const manifest: ModelManifest = {
    kind: 'tensor-set',
    version: 1,
    species: input.species,
    graph: input.graph ? sha256Hex(input.graph) : '',
    vocabulary: [...(input.vocabulary ?? [])],
    tensors,
  };
  return { manifest, id: hashJson(manifest), hashes };
}

function isQuotaError(e: unknown): boolean {
  const n = (e as { name?: string } | null)?.name;
  return n === 'QuotaExceededError' || n === 'NS_ERROR_DOM_QUOTA_REACHED';
}

function quotaMessage(what: string, bytes: number, est?: { usage?: number; quota?: number }): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const where = est?.quota ? ` (this site uses ${mib(est.usage ?? 0)} of its ${mib(est.quota)} quota)` : '';
  return `storage quota exceeded while storing ${what} (${mib(bytes)} new)${where}; delete models you no longer need or free disk space, then try again`;
}

export interface TensorStoreOptions {
  /** Bytes per stored chunk (default STORE_CHUNK_BYTES; tests use small ones). */
  chunkBytes?: number;
}

/** The store over any KvBackend. */
export function createTensorStore(backend: KvBackend, options: TensorStoreOptions = {}): TensorStore {
  const chunkBytes = options.chunkBytes ?? STORE_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) throw new StoreError(`chunk size ${chunkBytes} is not a positive integer`);
  const inflight = new Map<string, Promise<unknown>>();
  const merged = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const pending = inflight.get(key);
    if (pending) return pending as Promise<T>;
    const p = load().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };
  /** The chunk-size views of a tensor's bytes (no copies). */
  const chunkViews = (data: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += chunkBytes) out.push(data.subarray(at, Math.min(data.length, at + chunkBytes)));
    return out;
  };
  /** List one chunk once more: stored (a copy of exactly its bytes) when new, else its count raised. */
  const addChunk = async (tx: KvTx, hash: Sha256Hex, bytes: Uint8Array): Promise<void> => {
    const rec = await tx.get<ChunkRecord>('chunks', hash);
    if (rec) await tx.put('chunks', hash, { ...rec, refs: rec.refs + 1 } satisfies ChunkRecord);
    else await tx.put('chunks', hash, { hash, data: bytes.slice(), refs: 1 } satisfies ChunkRecord);
  };
  const releaseChunks = async (tx: KvTx, hashes: readonly Sha256Hex[]): Promise<void> => {
    for (const h of hashes) {
      const rec = await tx.get<ChunkRecord>('chunks', h);
      if (!rec) continue;
      if (rec.refs <= 1) await tx.delete('chunks', h);
      else await tx.put('chunks', h, { ...rec, refs: rec.refs - 1 } satisfies ChunkRecord);
    }
  };

  async function putModel(input: PutModelInput): Promise<PutModelResult> {
    // Everything that can be computed is computed before the transaction opens.
    const digests = await Promise.all(input.tensors.map((t) => ('data' in t ? sha256HexAsync(t.data) : t.hash)));
    const { manifest, id, hashes } = modelManifest(input, digests);
    const byHash = new Map<Sha256Hex, Uint8Array>();
    for (const t of input.tensors) if ('data' in t) byHash.set(hashes.get(t.name)!, t.data);
    const sizeOf = new Map(manifest.tensors.map((t) => [t.hash, t.bytes]));
    // The chunk hashes of the tensors the store lacks (an IndexedDB transaction cannot wait for a
    // digest; one that became new meanwhile is hashed synchronously inside it).
    const present = await backend.transact('readonly', async (tx) => {
      const have = new Set<Sha256Hex>();
      for (const h of byHash.keys()) if (await tx.get<TensorRecord>('tensors', h)) have.add(h);
      return have;
    });
    const chunkHashes = new Map<Sha256Hex, Sha256Hex[]>();
    for (const [h, data] of byHash)
      if (!present.has(h)) chunkHashes.set(h, await Promise.all(chunkViews(data).map((c) => sha256HexAsync(c))));
    const manifestTexts = (input.manifests ?? []).map((m) => canonicalJson(m));
    const manifestHashes = (input.manifests ?? []).map((m) => hashJson(m));
    const meta = input.meta ?? {};
    const graph = input.graph ?? null;
    let newBytesEstimate = 0;
    try {
      return await backend.transact('readwrite', async (tx) => {
        const existing = await tx.get<StoredModel>('models', id);
        if (existing) {
          // The same tensor set again (e.g. re-bred with another operator or backend): keep its new
          // lineage, receipt and candidate manifests, appended to the existing record (deduplicated).
          const fresh = manifestHashes.filter((h, i) => !existing.manifests.includes(h) && manifestHashes.indexOf(h) === i);
          if (fresh.length) {
            for (let i = 0; i < manifestTexts.length; i++) {
              if (fresh.includes(manifestHashes[i]))
                await tx.put('manifests', manifestHashes[i], { hash: manifestHashes[i], json: manifestTexts[i] });
            }
            await tx.put('models', id, { ...existing, manifests: [...existing.manifests, ...fresh] } satisfies StoredModel);
          }
          return {
            id,
            created: false,
            newTensors: 0,
            newBytes: 0,
            reusedTensors: manifest.tensors.length,
            reusedBytes: 0,
            manifests: [...existing.manifests, ...fresh],
          };
        }
        const stats = { ...ZERO_STATS, ...(await tx.get<Stats>('meta', 'stats')) };
        let newTensors = 0;
        let newBytes = 0;
        let reusedTensors = 0;
        let reusedBytes = 0;
        const refsAdded = new Map<Sha256Hex, number>();
        for (const ref of manifest.tensors) refsAdded.set(ref.hash, (refsAdded.get(ref.hash) ?? 0) + 1);
        for (const [hash, add] of refsAdded) {
          const rec = await tx.get<TensorRecord>('tensors', hash);
          if (rec && recordBytes(rec) !== sizeOf.get(hash))
            throw new StoreError(
              `stored tensor ${hash.slice(0, 12)} has ${recordBytes(rec)} bytes; the model's entry needs ${sizeOf.get(hash)}`,
            );
          if (rec && rec.refs > 0) {
            await tx.put('tensors', hash, { ...rec, refs: rec.refs + add });
            reusedTensors++;
            reusedBytes += recordBytes(rec);
          } else if (rec) {
            // Stored by a tensorWriter and listed by a model for the first time: counted now.
            await tx.put('tensors', hash, { ...rec, refs: add });
            newTensors++;
            newBytes += recordBytes(rec);
          } else {
            const data = byHash.get(hash);
            if (!data)
              throw new StoreError(`tensor ${hash.slice(0, 12)} is not in the store (a tensor given by hash must be stored first)`);
            const views = chunkViews(data);
            const chunks = chunkHashes.get(hash) ?? views.map((c) => sha256Hex(c));
            newBytesEstimate += data.length;
            for (let c = 0; c < views.length; c++) await addChunk(tx, chunks[c], views[c]);
            await tx.put('tensors', hash, { hash, refs: add, bytes: data.length, chunkBytes, chunks } satisfies TensorRecord);
            newTensors++;
            newBytes += data.length;
          }
        }
        if (graph) {
          const h = manifest.graph;
          const rec = await tx.get<GraphRecord>('graphs', h);
          if (rec) await tx.put('graphs', h, { ...rec, refs: rec.refs + 1 });
          else {
            await tx.put('graphs', h, { hash: h, data: new Uint8Array(graph), refs: 1 } satisfies GraphRecord);
            stats.graphBytes += graph.length;
          }
        }
        for (let i = 0; i < manifestTexts.length; i++)
          await tx.put('manifests', manifestHashes[i], { hash: manifestHashes[i], json: manifestTexts[i] });
        await tx.put('models', id, { id, manifest, manifests: manifestHashes, meta } satisfies StoredModel);
        stats.storedBytes += newBytes;
        stats.tensors += newTensors;
        stats.logicalBytes += manifest.tensors.reduce((s, t) => s + t.bytes, 0);
        stats.models += 1;
        await tx.put('meta', 'stats', stats);
        return { id, created: true, newTensors, newBytes, reusedTensors, reusedBytes, manifests: manifestHashes };
      });
    } catch (e) {
      if (isQuotaError(e))
        throw new StoreError(quotaMessage(`model ${id.slice(0, 12)}`, newBytesEstimate, await backend.estimate?.().catch(() => undefined)));
      throw e;
    }
  }

  async function matchModel(id: Sha256Hex): Promise<StoredModel | undefined> {
    return backend.transact('readonly', (tx) => tx.get<StoredModel>('models', id));
  }

  // Tensor records never change but for their counts: the chunk lists of recent ones are kept.
  const layouts = new Map<Sha256Hex, TensorRecord>();
  async function tensorRecord(hash: Sha256Hex): Promise<TensorRecord | undefined> {
    const known = layouts.get(hash);
    if (known) return known;
    const rec = await backend.transact('readonly', (tx) => tx.get<TensorRecord>('tensors', hash));
    if (rec?.chunks) {
      if (layouts.size >= 4096) layouts.clear();
      layouts.set(hash, { hash, refs: rec.refs, bytes: rec.bytes, chunkBytes: rec.chunkBytes, chunks: rec.chunks });
    }
    return rec;
  }

  /** One chunk, verified against its hash. */
  async function readChunk(tensor: Sha256Hex, hash: Sha256Hex): Promise<Uint8Array> {
    const rec = await backend.transact('readonly', (tx) => tx.get<ChunkRecord>('chunks', hash));
    if (!rec) {
      layouts.delete(tensor);
      throw new StoreError(`stored tensor ${tensor.slice(0, 12)} lacks its chunk ${hash.slice(0, 12)}`);
    }
    const actual = await sha256HexAsync(rec.data);
    if (actual !== hash)
      throw new StoreError(
        `stored tensor ${tensor.slice(0, 12)} is corrupt: its chunk ${hash.slice(0, 12)} hashes to ${actual.slice(0, 12)}`,
      );
    return rec.data;
  }

  function matchTensor(hash: Sha256Hex): Promise<Uint8Array | undefined> {
    return merged(`tensor:${hash}`, async () => {
      const rec = await tensorRecord(hash);
      if (!rec) return undefined;
      let data: Uint8Array;
      if (rec.chunks) {
        data = new Uint8Array(recordBytes(rec));
        let at = 0;
        for (const c of rec.chunks) {
          const bytes = await readChunk(hash, c);
          data.set(bytes, at);
          at += bytes.length;
        }
      } else data = rec.data ?? new Uint8Array(0);
      const actual = await sha256HexAsync(data);
      if (actual !== hash) throw new StoreError(`stored tensor ${hash.slice(0, 12)} is corrupt: its bytes hash to ${actual.slice(0, 12)}`);
      return data;
    });
  }

  async function tensorInfo(hash: Sha256Hex): Promise<StoredTensorInfo | undefined> {
    const rec = await tensorRecord(hash);
    if (!rec) return undefined;
    const bytes = recordBytes(rec);
    if (!rec.chunks) return { hash, bytes, chunkBytes: bytes, chunks: 1, whole: true };
    return { hash, bytes, chunkBytes: rec.chunkBytes ?? bytes, chunks: rec.chunks.length, whole: false };
  }

  async function readTensorRange(hash: Sha256Hex, offset: number, length: number): Promise<Uint8Array> {
    const rec = await tensorRecord(hash);
    if (!rec) throw new StoreError(`no tensor ${hash.slice(0, 12)} in the store`);
    const size = recordBytes(rec);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size)
      throw new StoreError(`read of ${length} bytes at ${offset} is outside stored tensor ${hash.slice(0, 12)} (${size} bytes)`);
    if (!rec.chunks) {
      // A record written before chunks: it is one value, read and verified whole.
      const whole = await matchTensor(hash);
      return whole!.subarray(offset, offset + length);
    }
    if (length === 0) return new Uint8Array(0);
    const cb = rec.chunkBytes!;
    const first = Math.floor(offset / cb);
    const last = Math.floor((offset + length - 1) / cb);
    if (first === last) {
      const c = await readChunk(hash, rec.chunks[first]);
      return c.subarray(offset - first * cb, offset - first * cb + length);
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const c = await readChunk(hash, rec.chunks[i]);
      const a = Math.max(offset, i * cb) - i * cb;
      const b = Math.min(offset + length, (i + 1) * cb) - i * cb;
      out.set(c.subarray(a, b), i * cb + a - offset);
    }
    return out;
  }

  function tensorWriter(): TensorWriter {
    const whole = sha256Stream();
    const chunks: Sha256Hex[] = [];
    let buf = new Uint8Array(chunkBytes);
    let fill = 0;
    let total = 0;
    let closed = false;
    let finished = false;
    let chain: Promise<void> = Promise.resolve();
    /** A quota failure as putModel's: the one-line message that says what to free. */
    const quotaCheck = async (e: unknown, bytes: number): Promise<never> => {
      if (!isQuotaError(e)) throw e;
      throw new StoreError(quotaMessage('a tensor', bytes, await backend.estimate?.().catch(() => undefined)));
    };
    const store = async (bytes: Uint8Array): Promise<void> => {
      const h = await sha256HexAsync(bytes);
      await backend.transact('readwrite', (tx) => addChunk(tx, h, bytes)).catch((e: unknown) => quotaCheck(e, bytes.length));
      chunks.push(h);
    };
    const queue = (bytes: Uint8Array): void => {
      chain = chain.then(() => store(bytes));
      // A failed store surfaces through the next write or finish(); until then it is no unhandled rejection.
      chain.catch(() => undefined);
    };
    const open = () => {
      if (closed) throw new StoreError('tensor writer: already finished or aborted');
    };
    return {
      async write(bytes) {
        open();
        whole.update(bytes);
        total += bytes.length;
        // Resolves once every chunk but the last one queued is stored: one chunk's write overlaps the caller's next work.
        let at = 0;
        let before: Promise<void> = chain;
        while (at < bytes.length) {
          const n = Math.min(chunkBytes - fill, bytes.length - at);
          buf.set(bytes.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === chunkBytes) {
            before = chain;
            queue(buf);
            buf = new Uint8Array(chunkBytes);
            fill = 0;
          }
        }
        return before;
      },
      async finish() {
        open();
        closed = true;
        if (fill > 0) queue(buf.slice(0, fill));
        await chain;
        const hash = whole.digestHex();
        await backend
          .transact('readwrite', async (tx) => {
            const rec = await tx.get<TensorRecord>('tensors', hash);
            // Already stored: its own record lists its chunks; this writer's listings go.
            if (rec) await releaseChunks(tx, chunks);
            else await tx.put('tensors', hash, { hash, refs: 0, bytes: total, chunkBytes, chunks } satisfies TensorRecord);
          })
          .catch((e: unknown) => quotaCheck(e, 0));
        finished = true;
        return { hash, bytes: total };
      },
      async abort() {
        if (finished) return;
        finished = true;
        closed = true;
        await chain.catch(() => undefined);
        await backend.transact('readwrite', (tx) => releaseChunks(tx, chunks));
      },
    };
  }

  async function dropUnlisted(hashes: readonly Sha256Hex[]): Promise<number> {
    return backend.transact('readwrite', async (tx) => {
      let dropped = 0;
      for (const h of new Set(hashes)) {
        const rec = await tx.get<TensorRecord>('tensors', h);
        if (!rec || rec.refs > 0) continue;
        await tx.delete('tensors', h);
        if (rec.chunks) await releaseChunks(tx, rec.chunks);
        layouts.delete(h);
        dropped++;
      }
      return dropped;
    });
  }

  async function sweepUnlisted(): Promise<{ tensors: number; chunks: number }> {
    const [tensorKeys, chunkKeys] = await Promise.all([backend.keys('tensors'), backend.keys('chunks')]);
    return backend.transact('readwrite', async (tx) => {
      const listed = new Set<string>();
      let tensors = 0;
      for (const h of tensorKeys) {
        const rec = await tx.get<TensorRecord>('tensors', h);
        if (!rec) continue;
        if (rec.refs > 0) {
          for (const c of rec.chunks ?? []) listed.add(c);
          continue;
        }
        await tx.delete('tensors', h);
        if (rec.chunks) await releaseChunks(tx, rec.chunks);
        layouts.delete(h);
        tensors++;
      }
      // Chunks of a writer that never finished: no tensor record lists them.
      let chunks = 0;
      for (const c of chunkKeys) {
        if (listed.has(c) || !(await tx.get<ChunkRecord>('chunks', c))) continue;
        await tx.delete('chunks', c);
        chunks++;
      }
      return { tensors, chunks };
    });
  }

  function loadModel(id: Sha256Hex): Promise<Tensor[]> {
    return merged(`model:${id}`, async () => {
      const model = await matchModel(id);
      if (!model) throw new StoreError(`no model ${id.slice(0, 12)} in the store`);
      const out: Tensor[] = [];
      for (const ref of model.manifest.tensors) {
        const data = await matchTensor(ref.hash);
        if (!data)
          throw new StoreError(
            `model ${id.slice(0, 12)} references tensor ${JSON.stringify(ref.name)} (${ref.hash.slice(0, 12)}) that the store lacks`,
          );
        out.push({ name: ref.name, dtype: ref.dtype, shape: [...ref.shape], data });
      }
      return out;
    });
  }

  async function matchGraph(hash: Sha256Hex): Promise<Uint8Array | undefined> {
    const rec = await backend.transact('readonly', (tx) => tx.get<GraphRecord>('graphs', hash));
    if (!rec) return undefined;
    const actual = await sha256HexAsync(rec.data);
    if (actual !== hash) throw new StoreError(`stored graph ${hash.slice(0, 12)} is corrupt: its bytes hash to ${actual.slice(0, 12)}`);
    return rec.data;
  }

  async function matchManifest(hash: Sha256Hex): Promise<unknown | undefined> {
    const rec = await backend.transact('readonly', (tx) => tx.get<{ json: string }>('manifests', hash));
    return rec ? JSON.parse(rec.json) : undefined;
  }

  async function listModels(): Promise<StoredModel[]> {
    const ids = await backend.keys('models');
    return backend.transact('readonly', async (tx) => {
      const out: StoredModel[] = [];
      for (const id of ids) {
        const m = await tx.get<StoredModel>('models', id);
        if (m) out.push(m);
      }
      return out;
    });
  }

  async function deleteModel(id: Sha256Hex): Promise<boolean> {
    return backend.transact('readwrite', async (tx) => {
      const model = await tx.get<StoredModel>('models', id);
      if (!model) return false;
      const stats = { ...ZERO_STATS, ...(await tx.get<Stats>('meta', 'stats')) };
      const refsGone = new Map<Sha256Hex, number>();
      for (const ref of model.manifest.tensors) refsGone.set(ref.hash, (refsGone.get(ref.hash) ?? 0) + 1);
      for (const [hash, n] of refsGone) {
        const rec = await tx.get<TensorRecord>('tensors', hash);
        if (!rec) continue;
        if (rec.refs <= n) {
          await tx.delete('tensors', hash);
          if (rec.chunks) await releaseChunks(tx, rec.chunks);
          layouts.delete(hash);
          stats.storedBytes -= recordBytes(rec);
          stats.tensors -= 1;
        } else await tx.put('tensors', hash, { ...rec, refs: rec.refs - n });
      }
      if (model.manifest.graph) {
        const g = await tx.get<GraphRecord>('graphs', model.manifest.graph);
        if (g && g.refs <= 1) {
          await tx.delete('graphs', g.hash);
          stats.graphBytes -= g.data.length;
        } else if (g) await tx.put('graphs', g.hash, { ...g, refs: g.refs - 1 });
      }
      await tx.delete('models', id);
      stats.logicalBytes -= model.manifest.tensors.reduce((s, t) => s + t.bytes, 0);
      stats.models -= 1;
      await tx.put('meta', 'stats', stats);
      return true;
    });
  }

  async function usage(): Promise<StoreUsage> {
    const stats = { ...ZERO_STATS, ...(await backend.transact('readonly', (tx) => tx.get<Stats>('meta', 'stats'))) };
    const u: StoreUsage = {
      models: stats.models,
      tensors: stats.tensors,
      storedBytes: stats.storedBytes,
      logicalBytes: stats.logicalBytes,
      savedBytes: stats.logicalBytes - stats.storedBytes,
      graphBytes: stats.graphBytes,
    };
    const est = await backend.estimate?.().catch(() => undefined);
    if (est) u.estimate = est;
    const persisted = await backend.persisted?.().catch(() => undefined);
    if (persisted !== undefined) u.persisted = persisted;
    return u;
  }

  return {
    putModel,
    matchModel,
    loadModel,
    matchTensor,
    tensorInfo,
    readTensorRange,
    tensorWriter,
    dropUnlisted,
    sweepUnlisted,
    matchGraph,
    matchManifest,
    listModels,
    deleteModel,
    usage,
    persist: async () => (backend.persist ? backend.persist().catch(() => false) : false),
    close: () => backend.close?.(),
  };
}
