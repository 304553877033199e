/**
 * The app's persistence, split by trust zone into separate IndexedDB databases so that no single
 * handle reaches both candidates and what judges them:
 *   candidates: content-addressed tensors, model records, their manifests
 *   evaluation: frozen suites
 *   policy:     suite pins
 *   release:    selector registry versions (every version kept)
 *   audit:      the hash-chained promotion ledger
 */
import { openDB, type IDBPDatabase } from 'idb';
import type { ModelEntry, LedgerLine } from './state.ts';
import type { Tensor } from '../core/tensor.ts';
import { sha256Hex } from '../core/hash.ts';
import { makeManifest, manifestHash, type Manifest, type LedgerEntryType } from '../core/manifest/index.ts';
import { openIdbTensorStore, type TensorStore } from '../store/index.ts';

interface RegistryRecord { slot: string; version: number; champion: string | null; fallback: string[]; note: string }

export interface Repo {
  listModels(): Promise<ModelEntry[]>;
  /** Store a model with its tensors (deduplicated by hash), graph and manifests, in one transaction. */
  putModel(entry: ModelEntry, tensors: readonly Tensor[], graph: Uint8Array, vocabulary: string[], manifests: Manifest[]): Promise<{ newBytes: number; reusedBytes: number }>;
  getTensors(modelId: string): Promise<Tensor[]>;
  /** Evidence written by the evaluator (smoke, sidecars): the evaluation zone, not the candidate's. */
  putEvidence(modelId: string, manifests: Manifest[]): Promise<void>;
  putSuite(id: string, bytes: Uint8Array): Promise<void>;
  getSuite(id: string): Promise<Uint8Array>;
  suitePin(id: string): Promise<string>;
  getRegistry(slot: string): Promise<RegistryRecord | null>;
  setRegistry(slot: string, v: { champion: string | null; fallback: string[] }, note: string, manifests?: Manifest[]): Promise<void>;
  appendLedger(type: LedgerEntryType, payload: Record<string, unknown>, summary: string): Promise<void>;
  ledgerLines(): Promise<LedgerLine[]>;
  usage(): Promise<{ usage: number; quota: number; persisted: boolean; storedBytes: number; savedBytes: number }>;
}

const ZERO = '0'.repeat(64);

export async function openRepo(prefix = 'slm-garden'): Promise<Repo> {
  const candidates = await openIdbTensorStore({ name: `${prefix}-tensors` });
  const evaluation = await openDB(`${prefix}-evaluation`, 1, {
    upgrade(db) {
      db.createObjectStore('suites');
      db.createObjectStore('evidence');
    },
  });
  const policy = await openDB(`${prefix}-policy`, 1, { upgrade: (db) => void db.createObjectStore('pins') });
  const release = await openDB(`${prefix}-release`, 1, {
    upgrade(db) {
      db.createObjectStore('registry', { keyPath: ['slot', 'version'] });
      db.createObjectStore('manifests');
    },
  });
  const audit = await openDB(`${prefix}-audit`, 1, { upgrade: (db) => void db.createObjectStore('ledger', { keyPath: 'index' }) });
  const persisted = await candidates.persist().catch(() => false);
  return makeRepo(candidates, evaluation, policy, release, audit, persisted);
}

function makeRepo(candidates: TensorStore, evaluation: IDBPDatabase, policy: IDBPDatabase, release: IDBPDatabase, audit: IDBPDatabase, persisted: boolean): Repo {
  /** entry.id → the store's content id (hash of the model's tensor-set manifest). */
  async function storeIds(): Promise<Map<string, { id: string; entry: ModelEntry }>> {
    const all = await candidates.listModels();
    return new Map(all.map((m) => [(m.meta.entry as ModelEntry).id, { id: m.id, entry: m.meta.entry as ModelEntry }]));
  }

  async function latestRegistry(slot: string): Promise<RegistryRecord | null> {
    const all = (await release.getAll('registry', IDBKeyRange.bound([slot, 0], [slot, Infinity]))) as RegistryRecord[];
    return all.length ? all[all.length - 1] : null;
  }

  async function appendLedger(type: LedgerEntryType, payload: Record<string, unknown>, summary: string) {
    const tx = audit.transaction('ledger', 'readwrite');
    const cursor = await tx.store.openCursor(null, 'prev');
    const last = cursor?.value as { index: number; hash: string } | undefined;
    const entry = makeManifest('ledger-entry', { index: (last?.index ?? -1) + 1, prev: last?.hash ?? ZERO, type, at: new Date().toISOString(), payload: { ...payload, summary } });
    await tx.store.add({ index: entry.index, hash: manifestHash(entry), entry });
    await tx.done;
  }

  return {
    async listModels() {
      const order = { base: 0, specialist: 1, candidate: 2 } as const;
      return [...(await storeIds()).values()].map((x) => x.entry).sort((a, b) => order[a.role] - order[b.role] || a.name.localeCompare(b.name));
    },
    async putModel(entry, tensors, graph, vocabulary, manifests) {
      const r = await candidates.putModel({ tensors, species: entry.species, graph, vocabulary, manifests, meta: { entry } });
      return { newBytes: r.newBytes, reusedBytes: r.reusedBytes };
    },
    async getTensors(modelId) {
      const ref = (await storeIds()).get(modelId);
      if (!ref) throw new Error(`no model "${modelId}" in the garden`);
      return candidates.loadModel(ref.id);
    },
    async putEvidence(modelId, manifests) {
      const tx = evaluation.transaction('evidence', 'readwrite');
      for (const m of manifests) await tx.store.put({ model: modelId, manifest: m }, manifestHash(m));
      await tx.done;
    },
    async putSuite(id, bytes) {
      const hash = sha256Hex(bytes);
      await evaluation.put('suites', bytes, id);
      // The first time a suite is seen its hash is pinned; changing it later needs a ledgered re-baseline.
      if ((await policy.get('pins', id)) === undefined) await policy.put('pins', hash, id);
    },
    async getSuite(id) {
      const b = (await evaluation.get('suites', id)) as Uint8Array | undefined;
      if (!b) throw new Error(`suite "${id}" is not in the garden`);
      return b;
    },
    async suitePin(id) {
      const pin = (await policy.get('pins', id)) as string | undefined;
      if (!pin) throw new Error(`suite "${id}" has no pin in policy`);
      return pin;
    },
    getRegistry: latestRegistry,
    async setRegistry(slot, v, note, manifests = []) {
      for (const m of manifests) await release.put('manifests', m, manifestHash(m));
      const prev = await latestRegistry(slot);
      const rec: RegistryRecord = { slot, version: (prev?.version ?? 0) + 1, champion: v.champion, fallback: v.fallback, note };
      await release.add('registry', rec);
      await appendLedger('release', { slot, version: rec.version, champion: v.champion, fallback: v.fallback }, note);
    },
    appendLedger,
    async ledgerLines() {
      const all = (await audit.getAll('ledger')) as { index: number; hash: string; entry: { type: string; payload: { summary?: string } } }[];
      return all.map((r) => ({ index: r.index, type: r.entry.type, summary: String(r.entry.payload.summary ?? ''), hash: r.hash }));
    },
    async usage() {
      const u = await candidates.usage();
      return { usage: u.estimate?.usage ?? 0, quota: u.estimate?.quota ?? 0, persisted, storedBytes: u.storedBytes, savedBytes: u.savedBytes };
    },
  };
}
