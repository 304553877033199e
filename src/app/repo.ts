/**
 * The app's persistence, split by trust zone into separate IndexedDB databases (the main thread
 * holds them all; the boundary that keeps candidates from what judges them is the workers, which
 * are handed data and never a database):
 *   candidates: the content-addressed tensor store (src/store): tensors, models, graphs, lineage
 *   evaluation: frozen suites and the evidence the evaluator wrote (smoke, sidecars)
 *   audit:      the hash-chained ledger (src/lab-store); policy and the selector registry are
 *               replayed from it by src/core/lab (PolicyZone, ReleaseController)
 */
import { openDB, type IDBPDatabase } from 'idb';
import type { ModelEntry } from './state.ts';
import type { Tensor } from '../core/tensor.ts';
import type { ModelTensors } from '../core/format/slm.ts';
import { sha256Hex } from '../core/hash.ts';
import { manifestHash, type Manifest } from '../core/manifest/index.ts';
import { Ledger, storageDraft, type StorageAction } from '../core/lab/ledger.ts';
import { openIdbTensorStore, type StoredTensorInput, type TensorStore } from '../store/index.ts';
import { IdbLedgerStore } from '../lab-store/idb-ledger.ts';
import { openKeyring } from '../lab-store/keyring.ts';
import { createSigner } from '../core/lab/signing.ts';

/** Why and when the user archived a model. */
export interface ArchiveMark {
  at: string;
  reason: string;
}

export interface Repo {
  ledger: Ledger;
  /** The pool: every stored model the user has not archived. */
  listModels(): Promise<ModelEntry[]>;
  /** The archived models: out of the pool (never a parent, never routed), their tensors kept, restorable. */
  listArchived(): Promise<ModelEntry[]>;
  /** Model id → its archive mark (kept in localStorage beside the databases). */
  archived(): Readonly<Record<string, ArchiveMark>>;
  /**
   * Archive a model (a mark) or restore it to the pool (null, with why). The decision is ledgered
   * first (a storage entry); when the ledger cannot take it, nothing changes.
   */
  setArchived(modelId: string, mark: ArchiveMark | null, restoreReason?: string): Promise<void>;
  /** Store a model with its tensors (deduplicated by hash), graph and manifests, in one transaction. */
  /** `stored` is the entry the store holds: an existing model's when these exact tensors were already stored. */
  putModel(
    entry: ModelEntry,
    tensors: readonly (Tensor | StoredTensorInput)[],
    graph: Uint8Array,
    vocabulary: string[],
    manifests: Manifest[],
  ): Promise<{ created: boolean; stored: ModelEntry; newBytes: number; reusedBytes: number }>;
  getTensors(modelId: string): Promise<Tensor[]>;
  /** The candidate zone's tensor store database (the kernel worker breeds in it: workers/kernel.worker.ts breedStored). */
  candidatesDb: string;
  /** A model's id in that store (the hash of its tensor-set manifest). */
  storeModelId(modelId: string): Promise<string>;
  /** A model's tensor specs and a reader that loads one stored tensor at a time (each verified against its hash). */
  modelTensors(modelId: string): Promise<ModelTensors>;
  /** Each model's tensor references (hash and bytes of every tensor it lists), by model id: storage per model is counted from them. */
  tensorRefs(): Promise<Map<string, { hash: string; bytes: number }[]>>;
  /**
   * Remove a model from the candidate zone (tensors no other model uses go with it), and its archive
   * mark. With a reason (the user's delete) the decision is ledgered first; without one (the garden
   * replacing a corrupt starter copy it restores at once) it is not.
   */
  deleteModel(modelId: string, reason?: string): Promise<void>;
  getGraph(hash: string): Promise<Uint8Array>;
  /** Evidence written by the evaluator (smoke, sidecars), kept in the evaluation zone. */
  putEvidence(modelId: string, manifests: Manifest[]): Promise<void>;
  /** The evidence manifests recorded for a model, in the order they were written. */
  evidenceFor(modelId: string): Promise<Manifest[]>;
  /** The documents stored with a model in the candidate zone (source, lineage template, receipt, candidate manifest). */
  manifestsOf(modelId: string): Promise<unknown[]>;
  putSuite(bytes: Uint8Array): Promise<string>;
  /** A suite's bytes by hash; the caller compares with the policy pin. */
  getSuite(hash: string): Promise<Uint8Array>;
  hasSuite(hash: string): Promise<boolean>;
  usage(): Promise<{ usage: number; quota: number; persisted: boolean; storedBytes: number; savedBytes: number }>;
}

/** The IndexedDB databases of one garden, by zone. */
export function gardenDatabases(prefix = 'slm-garden') {
  return {
    candidates: `${prefix}-tensors`,
    evaluation: `${prefix}-evaluation`,
    audit: `${prefix}-audit`,
    keys: `${prefix}-keys`,
    /** Sharing by file (src/app/share.ts): the bundle signing key and the trusted public keys. */
    share: `${prefix}-share`,
    /** The user's own training examples and trained adapters (src/app/train.ts). */
    train: `${prefix}-train`,
  } as const;
}

export async function openRepo(prefix = 'slm-garden'): Promise<Repo> {
  const names = gardenDatabases(prefix);
  const candidates = await openIdbTensorStore({ name: names.candidates });
  const evaluation = await openEvaluationDb(names.evaluation);
  // Every entry signed by its zone's key (a garden begun before signing keeps an unsigned ledger).
  const signer = await createSigner(await openKeyring(names.keys));
  const ledger = await Ledger.open(await IdbLedgerStore.open(names.audit), { signer });
  const persisted = await candidates.persist().catch(() => false);
  return makeRepo(candidates, names.candidates, evaluation, ledger, persisted, archiveMarks(`${prefix}-archived`));
}

/** A garden's evaluation zone (frozen suites, and the evidence the evaluator wrote), used by the classifier garden and the LM lab. */
export function openEvaluationDb(name: string): Promise<IDBPDatabase> {
  return openDB(name, 1, {
    upgrade(db) {
      db.createObjectStore('suites');
      db.createObjectStore('evidence');
    },
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });
}

/** Record evidence manifests for a model in an evaluation zone (keyed by manifest hash: the same evidence twice is one record). */
export async function putEvidence(evaluation: IDBPDatabase, modelId: string, manifests: readonly Manifest[]): Promise<void> {
  const tx = evaluation.transaction('evidence', 'readwrite');
  for (const m of manifests) await tx.store.put({ model: modelId, manifest: m, at: Date.now() }, manifestHash(m));
  await tx.done;
}

/** The evidence manifests recorded for a model, in the order they were written. */
export async function evidenceFor(evaluation: IDBPDatabase, modelId: string): Promise<Manifest[]> {
  const all = (await evaluation.getAll('evidence')) as { model: string; manifest: Manifest; at?: number }[];
  return all
    .filter((r) => r.model === modelId)
    .sort((a, b) => (a.at ?? 0) - (b.at ?? 0))
    .map((r) => r.manifest);
}

/** The archive marks, read once and written through to localStorage under `key` (deleteGarden removes it). */
function archiveMarks(key: string) {
  let marks: Record<string, ArchiveMark> = {};
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '{}') as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) marks = v as Record<string, ArchiveMark>;
  } catch {
    // An unreadable mark list archives nothing.
  }
  return {
    get: () => marks,
    set(id: string, mark: ArchiveMark | null) {
      const next = { ...marks };
      if (mark) next[id] = mark;
      else delete next[id];
      localStorage.setItem(key, JSON.stringify(next));
      marks = next;
    },
  };
}

function makeRepo(
  candidates: TensorStore,
  candidatesDb: string,
  evaluation: IDBPDatabase,
  ledger: Ledger,
  persisted: boolean,
  marks: ReturnType<typeof archiveMarks>,
): Repo {
  /** entry.id → the store's content id (hash of the model's tensor-set manifest); rebuilt after writes. */
  let ids: Promise<Map<string, { id: string; entry: ModelEntry }>> | null = null;
  function storeIds(): Promise<Map<string, { id: string; entry: ModelEntry }>> {
    ids ??= candidates.listModels().then(
      (all) => new Map(all.map((m) => [(m.meta.entry as ModelEntry).id, { id: m.id, entry: m.meta.entry as ModelEntry }])),
      (e: unknown) => {
        ids = null;
        throw e;
      },
    );
    return ids;
  }

  /** A storage decision, ledgered (signed by the release zone) before it is carried out. */
  const ledgerStorage = (action: StorageAction, e: ModelEntry, reason: string) =>
    ledger.appendAll([storageDraft({ action, model: e.id, modelHash: e.hash, name: e.name, reason })]);

  return {
    ledger,
    async listModels() {
      return sortedEntries((await storeIds()).values(), (e) => !marks.get()[e.id]);
    },
    async listArchived() {
      return sortedEntries((await storeIds()).values(), (e) => !!marks.get()[e.id]);
    },
    archived: () => marks.get(),
    async setArchived(id, mark, restoreReason = 'restored to the pool by the user') {
      const ref = (await storeIds()).get(id);
      if (!ref) throw new Error(`no model "${id}" in the garden`);
      if (!mark && !marks.get()[id]) return;
      await ledgerStorage(mark ? 'archive' : 'restore', ref.entry, mark ? mark.reason : restoreReason);
      marks.set(id, mark);
    },
    async putModel(entry, tensors, graph, vocabulary, manifests) {
      const r = await candidates.putModel({ tensors, species: entry.species, graph, vocabulary, manifests, meta: { entry } });
      ids = null;
      const stored = r.created ? entry : ((await candidates.matchModel(r.id))?.meta.entry as ModelEntry);
      return { created: r.created, stored, newBytes: r.newBytes, reusedBytes: r.reusedBytes };
    },
    async manifestsOf(modelId) {
      const ref = (await storeIds()).get(modelId);
      const stored = ref && (await candidates.matchModel(ref.id));
      if (!stored) throw new Error(`no model "${modelId}" in the garden`);
      return Promise.all(stored.manifests.map((h) => candidates.matchManifest(h)));
    },
    candidatesDb,
    async storeModelId(modelId) {
      const ref = (await storeIds()).get(modelId);
      if (!ref) throw new Error(`no model "${modelId}" in the garden`);
      return ref.id;
    },
    async getTensors(modelId) {
      const ref = (await storeIds()).get(modelId);
      if (!ref) throw new Error(`no model "${modelId}" in the garden`);
      return candidates.loadModel(ref.id);
    },
    async modelTensors(modelId) {
      const ref = (await storeIds()).get(modelId);
      const stored = ref && (await candidates.matchModel(ref.id));
      if (!stored) throw new Error(`no model "${modelId}" in the garden`);
      const refs = new Map(stored.manifest.tensors.map((t) => [t.name, t]));
      return {
        tensors: stored.manifest.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
        async read(name) {
          const data = await candidates.matchTensor(refs.get(name)!.hash);
          if (!data) throw new Error(`model "${modelId}" references tensor ${JSON.stringify(name)} that the store lacks`);
          return data;
        },
      };
    },
    async tensorRefs() {
      const all = await candidates.listModels();
      return new Map(all.map((m) => [(m.meta.entry as ModelEntry).id, m.manifest.tensors.map((t) => ({ hash: t.hash, bytes: t.bytes }))]));
    },
    async deleteModel(modelId, reason) {
      const ref = (await storeIds()).get(modelId);
      if (!ref) return;
      if (reason !== undefined) await ledgerStorage('delete', ref.entry, reason);
      await candidates.deleteModel(ref.id);
      ids = null;
      if (marks.get()[modelId]) marks.set(modelId, null);
    },
    async getGraph(hash) {
      const g = await candidates.matchGraph(hash);
      if (!g) throw new Error(`inference graph ${hash.slice(0, 12)} is not in the garden`);
      return g;
    },
    putEvidence: (modelId, manifests) => putEvidence(evaluation, modelId, manifests),
    evidenceFor: (modelId) => evidenceFor(evaluation, modelId),
    async putSuite(bytes) {
      const hash = sha256Hex(bytes);
      await evaluation.put('suites', bytes, hash);
      return hash;
    },
    async hasSuite(hash) {
      return (await evaluation.getKey('suites', hash)) !== undefined;
    },
    async getSuite(hash) {
      const b = (await evaluation.get('suites', hash)) as Uint8Array | undefined;
      if (!b) throw new Error(`suite ${hash.slice(0, 12)} is not in the garden`);
      return b;
    },
    async usage() {
      const u = await candidates.usage();
      return {
        usage: u.estimate?.usage ?? 0,
        quota: u.estimate?.quota ?? 0,
        persisted,
        storedBytes: u.storedBytes,
        savedBytes: u.savedBytes,
      };
    },
  };
}

function sortedEntries(stored: Iterable<{ entry: ModelEntry }>, keep: (e: ModelEntry) => boolean): ModelEntry[] {
  const order = { base: 0, specialist: 1, candidate: 2 } as const;
  return [...stored]
    .map((x) => x.entry)
    .filter(keep)
    .sort((a, b) => order[a.role] - order[b.role] || a.name.localeCompare(b.name));
}

/** The ledger records as stored, without verifying them: what a user can still download when the chain is broken. */
export async function rawLedger(prefix = 'slm-garden'): Promise<unknown[]> {
  const store = await IdbLedgerStore.open(gardenDatabases(prefix).audit);
  try {
    return await store.load();
  } finally {
    store.close();
  }
}

/**
 * Delete every database of the garden (the user asked to start over), one after the other. Open
 * connections close themselves when asked (`blocking`); a delete that stays blocked waits for
 * other tabs to close, and `onBlocked` says so.
 */
export async function deleteGarden(prefix = 'slm-garden', onBlocked?: (name: string) => void): Promise<void> {
  for (const name of Object.values(gardenDatabases(prefix))) {
    await new Promise<void>((resolve, reject) => {
      const r = indexedDB.deleteDatabase(name);
      r.onsuccess = () => resolve();
      r.onerror = () => reject(new Error(`could not delete ${name}: ${r.error?.message ?? 'unknown error'}`));
      r.onblocked = () => onBlocked?.(name);
    });
  }
  localStorage.removeItem(`${prefix}-router-stats`);
  localStorage.removeItem(`${prefix}-archived`);
}
