/**
 * A content-addressed tensor store. Tensors are keyed by the SHA-256 of their bytes and shared
 * between models; a model is a manifest listing tensor name → hash, dtype, shape. A candidate that
 * keeps a parent's tensor stores nothing new for it.
 *
 * The store logic is written once against a tiny transactional key-value interface (KvBackend);
 * idb-store.ts implements it over IndexedDB, memory-store.ts in memory (Node, CLI, tests). A
 * putModel is ONE transaction: all of the model, its tensors, graph and manifests, or nothing.
 */
import { canonicalJson, hashJson, sha256Hex, sha256HexAsync, type Sha256Hex } from '../core/hash.ts';
import { byteLength, isDType, type DType, type Tensor } from '../core/tensor.ts';

export const STORE_NAMES = Object.freeze(['tensors', 'models', 'graphs', 'manifests', 'meta'] as const);
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

export interface PutModelInput {
  tensors: readonly Tensor[];
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

interface TensorRecord {
  hash: Sha256Hex;
  data: Uint8Array;
  refs: number;
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
  matchTensor(hash: Sha256Hex): Promise<Uint8Array | undefined>;
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
    if (t.data.length !== size)
      throw new StoreError(`tensor ${JSON.stringify(t.name)} has ${t.data.length} bytes but ${t.dtype}[${t.shape}] needs ${size}`);
    if (hashes.has(t.name)) throw new StoreError(`duplicate tensor name ${JSON.stringify(t.name)}`);
    const hash = digests?.[i] ?? sha256Hex(t.data);
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

/** The store over any KvBackend. */
export function createTensorStore(backend: KvBackend): TensorStore {
  const inflight = new Map<string, Promise<unknown>>();
  const merged = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    const pending = inflight.get(key);
    if (pending) return pending as Promise<T>;
    const p = load().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };

  async function putModel(input: PutModelInput): Promise<PutModelResult> {
    // Everything that can be computed is computed before the transaction opens.
    const digests = await Promise.all(input.tensors.map((t) => sha256HexAsync(t.data)));
    const { manifest, id, hashes } = modelManifest(input, digests);
    const byHash = new Map<Sha256Hex, Uint8Array>();
    for (const t of input.tensors) byHash.set(hashes.get(t.name)!, t.data);
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
          if (rec) {
            await tx.put('tensors', hash, { ...rec, refs: rec.refs + add });
            reusedTensors++;
            reusedBytes += rec.data.length;
          } else {
            const data = new Uint8Array(byHash.get(hash)!); // a copy: never clone a whole shared buffer (nor keep a Buffer view)
            newBytesEstimate += data.length;
            await tx.put('tensors', hash, { hash, data, refs: add } satisfies TensorRecord);
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

  function matchTensor(hash: Sha256Hex): Promise<Uint8Array | undefined> {
    return merged(`tensor:${hash}`, async () => {
      const rec = await backend.transact('readonly', (tx) => tx.get<TensorRecord>('tensors', hash));
      if (!rec) return undefined;
      const actual = await sha256HexAsync(rec.data);
      if (actual !== hash) throw new StoreError(`stored tensor ${hash.slice(0, 12)} is corrupt: its bytes hash to ${actual.slice(0, 12)}`);
      return rec.data;
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
          stats.storedBytes -= rec.data.length;
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
    matchGraph,
    matchManifest,
    listModels,
    deleteModel,
    usage,
    persist: async () => (backend.persist ? backend.persist().catch(() => false) : false),
    close: () => backend.close?.(),
  };
}
