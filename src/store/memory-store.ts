/**
 * The in-memory KvBackend (Node, CLI, tests): same semantics as IndexedDB — values are
 * structured-cloned on the way in and out, transactions are serialized, and a transaction that
 * throws leaves nothing behind (writes are staged and applied only on success).
 */
import {
  STORE_NAMES,
  createTensorStore,
  type KvBackend,
  type KvTx,
  type StoreName,
  type TensorStore,
  type TensorStoreOptions,
} from './tensor-store.ts';

export function memoryBackend(): KvBackend & { snapshot(): string } {
  const data = new Map<StoreName, Map<string, unknown>>(STORE_NAMES.map((s) => [s, new Map()]));
  let queue: Promise<unknown> = Promise.resolve();
  const DELETED = Symbol('deleted');

  function transact<T>(mode: 'readonly' | 'readwrite', fn: (tx: KvTx) => Promise<T>): Promise<T> {
    const run = async () => {
      const staged = new Map<StoreName, Map<string, unknown>>(STORE_NAMES.map((s) => [s, new Map()]));
      const tx: KvTx = {
        async get<V>(store: StoreName, key: string) {
          const st = staged.get(store)!;
          const v = st.has(key) ? st.get(key) : data.get(store)!.get(key);
          return v === undefined || v === DELETED ? undefined : (structuredClone(v) as V);
        },
        async put(store, key, value) {
          if (mode === 'readonly') throw new Error('ReadOnlyError: put in a readonly transaction');
          staged.get(store)!.set(key, structuredClone(value));
        },
        async delete(store, key) {
          if (mode === 'readonly') throw new Error('ReadOnlyError: delete in a readonly transaction');
          staged.get(store)!.set(key, DELETED);
        },
      };
      const result = await fn(tx);
      for (const [store, m] of staged) {
        const target = data.get(store)!;
        for (const [k, v] of m) {
          if (v === DELETED) target.delete(k);
          else target.set(k, v);
        }
      }
      return result;
    };
    const p = queue.then(run, run);
    queue = p.catch(() => undefined);
    return p;
  }

  return {
    transact,
    keys: async (store) => [...data.get(store)!.keys()].sort(),
    /** A stable dump of everything stored (tests compare it before and after a refused write). */
    snapshot() {
      const out: Record<string, [string, string][]> = {};
      for (const [store, m] of data) {
        out[store] = [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, describe(v)]);
      }
      return JSON.stringify(out);
    },
  };
}

function describe(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? `bytes:${x.length}:${Array.from(x.subarray(0, 16)).join(',')}` : x));
}

export function createMemoryTensorStore(options: TensorStoreOptions = {}): TensorStore {
  return createTensorStore(memoryBackend(), options);
}
