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

interface TensorRef { name: string; dtype: Tensor['dtype']; shape: number[]; hash: string }
interface ModelRecord { entry: ModelEntry; tensors: TensorRef[]; manifests: string[] }
interface RegistryRecord { slot: string; version: number; champion: string | null; fallback: string[]; note: string }

export interface Repo {
  listModels(): Promise<ModelEntry[]>;
  putModel(entry: ModelEntry, tensors: Tensor[], manifests: Manifest[]): Promise<void>;
  putManifests(modelId: string, manifests: Manifest[]): Promise<void>;
  getTensors(modelId: string): Promise<Tensor[]>;
  putSuite(id: string, bytes: Uint8Array): Promise<void>;
  getSuite(id: string): Promise<Uint8Array>;
  suitePin(id: string): Promise<string>;
  getRegistry(slot: string): Promise<RegistryRecord | null>;
  setRegistry(slot: string, v: { champion: string | null; fallback: string[] }, note: string): Promise<void>;
  appendLedger(type: LedgerEntryType, payload: Record<string, unknown>, summary: string): Promise<void>;
  ledgerLines(): Promise<LedgerLine[]>;
  usage(): Promise<{ usage: number; quota: number; persisted: boolean; storedBytes: number; savedBytes: number }>;
}

const ZERO = '0'.repeat(64);

export async function openRepo(prefix = 'slm-garden'): Promise<Repo> {
  const candidates = await openDB(`${prefix}-candidates`, 1, {
    upgrade(db) {
      db.createObjectStore('tensors');
      db.createObjectStore('models', { keyPath: 'entry.id' });
      db.createObjectStore('manifests');
    },
  });
  const evaluation = await openDB(`${prefix}-evaluation`, 1, { upgrade: (db) => void db.createObjectStore('suites') });
  const policy = await openDB(`${prefix}-policy`, 1, { upgrade: (db) => void db.createObjectStore('pins') });
  const release = await openDB(`${prefix}-release`, 1, { upgrade: (db) => void db.createObjectStore('registry', { keyPath: ['slot', 'version'] }) });
  const audit = await openDB(`${prefix}-audit`, 1, { upgrade: (db) => void db.createObjectStore('ledger', { keyPath: 'index' }) });
  const persisted = (await navigator.storage?.persist?.().catch(() => false)) ?? false;
  return makeRepo(candidates, evaluation, policy, release, audit, persisted);
}

function makeRepo(candidates: IDBPDatabase, evaluation: IDBPDatabase, policy: IDBPDatabase, release: IDBPDatabase, audit: IDBPDatabase, persisted: boolean): Repo {
  /** One transaction: the tensors, the model and its manifests land together or not at all. */
  async function putModel(entry: ModelEntry, tensors: Tensor[], manifests: Manifest[]) {
    const refs = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, hash: sha256Hex(t.data), data: t.data }));
    const tx = candidates.transaction(['tensors', 'models', 'manifests'], 'readwrite');
    const store = tx.objectStore('tensors');
    for (const r of refs) {
      if ((await store.getKey(r.hash)) === undefined) await store.put(r.data.slice(), r.hash);
    }
    for (const m of manifests) await tx.objectStore('manifests').put(m, manifestHash(m));
    const record: ModelRecord = { entry, tensors: refs.map(({ data: _d, ...r }) => r), manifests: manifests.map(manifestHash) };
    await tx.objectStore('models').put(record);
    await tx.done;
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
      const all = (await candidates.getAll('models')) as ModelRecord[];
      const order = { base: 0, specialist: 1, candidate: 2 } as const;
      return all.map((r) => r.entry).sort((a, b) => order[a.role] - order[b.role] || a.name.localeCompare(b.name));
    },
    putModel,
    async putManifests(modelId, manifests) {
      const tx = candidates.transaction(['models', 'manifests'], 'readwrite');
      const rec = (await tx.objectStore('models').get(modelId)) as ModelRecord | undefined;
      if (!rec) throw new Error(`no model "${modelId}" in the garden`);
      for (const m of manifests) await tx.objectStore('manifests').put(m, manifestHash(m));
      rec.manifests = [...rec.manifests, ...manifests.map(manifestHash)];
      await tx.objectStore('models').put(rec);
      await tx.done;
    },
    async getTensors(modelId) {
      const tx = candidates.transaction(['models', 'tensors']);
      const rec = (await tx.objectStore('models').get(modelId)) as ModelRecord | undefined;
      if (!rec) throw new Error(`no model "${modelId}" in the garden`);
      const out: Tensor[] = [];
      for (const r of rec.tensors) {
        const data = (await tx.objectStore('tensors').get(r.hash)) as Uint8Array | undefined;
        if (!data) throw new Error(`tensor ${r.name} (${r.hash.slice(0, 12)}) of ${modelId} is missing from the store`);
        if (sha256Hex(data) !== r.hash) throw new Error(`tensor ${r.name} of ${modelId} no longer matches its hash`);
        out.push({ name: r.name, dtype: r.dtype, shape: r.shape, data });
      }
      return out;
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
    async setRegistry(slot, v, note) {
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
      const est = (await navigator.storage?.estimate?.()) ?? {};
      const models = (await candidates.getAll('models')) as ModelRecord[];
      const unique = new Map<string, number>();
      let referenced = 0;
      for (const m of models) for (const t of m.tensors) {
        const n = t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'F32' ? 4 : t.dtype === 'I4' ? 0.5 : t.dtype === 'I8' || t.dtype === 'U8' ? 1 : 2);
        referenced += n;
        unique.set(t.hash, n);
      }
      const storedBytes = [...unique.values()].reduce((a, b) => a + b, 0);
      return { usage: est.usage ?? 0, quota: est.quota ?? 0, persisted, storedBytes, savedBytes: referenced - storedBytes };
    },
  };
}
