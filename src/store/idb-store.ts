/**
 * The IndexedDB KvBackend, through `idb`. A readwrite transaction spans every store, so
 * putModel's tensors, graph, manifests, model record and statistics commit together or not at all;
 * a quota failure aborts the transaction and surfaces as a StoreError with a clear message.
 */
import { openDB, type IDBPDatabase, type IDBPTransaction } from 'idb';
import { STORE_NAMES, createTensorStore, type KvBackend, type KvTx, type StoreName, type TensorStore } from './tensor-store.ts';

export const TENSOR_DB_NAME = 'slm-garden-tensors';
/** 2 added the 'chunks' store (records of version 1 are read as they are). */
export const TENSOR_DB_VERSION = 2;

export interface IdbBackendOptions {
  /** Database name (tests use one per case). */
  name?: string;
  /** Bytes per stored chunk (default STORE_CHUNK_BYTES). */
  chunkBytes?: number;
}

/** Open the store's database with the global indexedDB (in Node tests: `import 'fake-indexeddb/auto'`). */
export async function idbBackend(opts: IdbBackendOptions = {}): Promise<KvBackend> {
  const name = opts.name ?? TENSOR_DB_NAME;
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available here; use the in-memory store');
  const db: IDBPDatabase = await openDB(name, TENSOR_DB_VERSION, {
    upgrade(d) {
      for (const s of STORE_NAMES) if (!d.objectStoreNames.contains(s)) d.createObjectStore(s);
    },
    // Another connection wants to delete or upgrade the database (a reset): let it.
    blocking: (_cur, _next, e) => (e.target as IDBDatabase).close(),
  });

  async function transact<T>(mode: 'readonly' | 'readwrite', fn: (tx: KvTx) => Promise<T>): Promise<T> {
    const t = db.transaction([...STORE_NAMES], mode) as IDBPTransaction<unknown, StoreName[], 'readwrite'>;
    const tx: KvTx = {
      get: async (store, key) => (await t.objectStore(store).get(key)) as never,
      put: async (store, key, value) => void (await t.objectStore(store).put(value, key)),
      delete: (store, key) => t.objectStore(store).delete(key),
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (e) {
      try {
        t.abort();
      } catch {
        // already finished or aborted
      }
      await t.done.catch(() => undefined);
      throw e;
    }
    try {
      await t.done;
    } catch (e) {
      throw t.error ?? e;
    }
    return result;
  }

  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
  return {
    transact,
    keys: async (store) => ((await db.getAllKeys(store)) as string[]).sort(),
    estimate: storage?.estimate
      ? async () => {
          const e = await storage.estimate();
          return { usage: e.usage, quota: e.quota };
        }
      : undefined,
    persist: storage?.persist ? () => storage.persist() : undefined,
    persisted: storage?.persisted ? () => storage.persisted() : undefined,
    close: () => db.close(),
  };
}

export async function openIdbTensorStore(opts: IdbBackendOptions = {}): Promise<TensorStore> {
  return createTensorStore(await idbBackend(opts), { chunkBytes: opts.chunkBytes });
}
