/**
 * The chunked tensor store: a tensor's bytes as chunk records, each verified against its own
 * SHA-256, the tensor still addressed by the SHA-256 of its whole bytes; range reads touch only
 * their chunks; records written before chunks (and a version-1 database) are still read.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openDB } from 'idb';
import { mulberry } from '../core/format/testing.ts';
import { sha256Hex } from '../core/hash.ts';
import { fromFloat32, type Tensor } from '../core/tensor.ts';
import { openIdbTensorStore } from './idb-store.ts';
import { memoryBackend } from './memory-store.ts';
import { StoreError, createTensorStore, type KvBackend, type StoreName, type TensorStore } from './tensor-store.ts';

const SPECIES = 'b'.repeat(64);
const CHUNK = 1024;

function tensor(name: string, n: number, seed: number): Tensor {
  const r = mulberry(seed);
  return fromFloat32(
    name,
    [n],
    Float32Array.from({ length: n }, () => r() * 2 - 1),
  );
}

/** A backend that counts the chunk records read and their bytes. */
function counting(inner: KvBackend) {
  const seen = { chunks: 0, bytes: 0 };
  const backend: KvBackend = {
    ...inner,
    transact: (mode, fn) =>
      inner.transact(mode, (tx) =>
        fn({
          ...tx,
          get: async <T>(store: StoreName, key: string) => {
            const v = await tx.get<T>(store, key);
            if (store === 'chunks' && v) {
              seen.chunks++;
              seen.bytes += (v as unknown as { data: Uint8Array }).data.length;
            }
            return v;
          },
        }),
      ),
  };
  return { backend, seen };
}

let dbCount = 0;
const BACKENDS: [string, () => Promise<{ store: TensorStore; backend?: KvBackend }>][] = [
  [
    'memory',
    async () => {
      const backend = memoryBackend();
      return { store: createTensorStore(backend, { chunkBytes: CHUNK }), backend };
    },
  ],
  ['indexeddb (fake-indexeddb)', async () => ({ store: await openIdbTensorStore({ name: `chunked-${dbCount++}`, chunkBytes: CHUNK }) })],
];

describe.each(BACKENDS)('chunked tensor store: %s', (_name, make) => {
  it('stores a tensor as chunks under the SHA-256 of its whole bytes, and reads any range of it', async () => {
    const { store } = await make();
    const t = tensor('w', 2500, 1); // 10 000 bytes: nine full chunks and one of 784
    const { id } = await store.putModel({ tensors: [t], species: SPECIES });
    const ref = (await store.matchModel(id))!.manifest.tensors[0];
    expect(ref.hash).toBe(sha256Hex(t.data));
    expect(await store.tensorInfo(ref.hash)).toEqual({ hash: ref.hash, bytes: 10_000, chunkBytes: CHUNK, chunks: 10, whole: false });
    expect(await store.matchTensor(ref.hash)).toEqual(t.data);
    for (const [a, n] of [
      [0, 0],
      [0, 10_000],
      [1023, 2],
      [1024, 1024],
      [9999, 1],
      [17, 5000],
    ])
      expect(await store.readTensorRange(ref.hash, a, n), `${n} at ${a}`).toEqual(t.data.subarray(a, a + n));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), async (x, y) => {
        const [a, b] = x < y ? [x, y] : [y, x];
        expect(await store.readTensorRange(ref.hash, a, b - a)).toEqual(t.data.subarray(a, b));
      }),
      { numRuns: 60, seed: 3 },
    );
    await expect(store.readTensorRange(ref.hash, 9000, 1001)).rejects.toThrow(/outside stored tensor/);
    await expect(store.readTensorRange('c'.repeat(64), 0, 1)).rejects.toThrow(/no tensor cccccccccccc/);
    store.close();
  });

  it('writes a tensor chunk by chunk, shares equal chunks, and frees them with the last model', async () => {
    const { store, backend } = await make();
    const t = tensor('w', 3000, 2);
    const w = store.tensorWriter();
    // pieces that straddle chunk boundaries, from an array the caller reuses
    const scratch = new Uint8Array(700);
    for (let at = 0; at < t.data.length; at += 700) {
      const n = Math.min(700, t.data.length - at);
      scratch.set(t.data.subarray(at, at + n));
      await w.write(scratch.subarray(0, n));
      scratch.fill(0xee);
    }
    const written = await w.finish();
    expect(written).toEqual({ hash: sha256Hex(t.data), bytes: 12_000 });
    await expect(w.write(new Uint8Array(1))).rejects.toThrow(/already finished/);
    // written but listed by no model: not counted yet
    expect((await store.usage()).tensors).toBe(0);
    const a = await store.putModel({ tensors: [{ name: 'w', dtype: 'F32', shape: [3000], hash: written.hash }], species: SPECIES });
    expect(a).toMatchObject({ created: true, newTensors: 1, newBytes: 12_000 });
    expect((await store.loadModel(a.id))[0].data).toEqual(t.data);
    // the same model from whole tensors has the same id and stores nothing
    expect(await store.putModel({ tensors: [t], species: SPECIES })).toMatchObject({ id: a.id, created: false });
    // a second tensor that differs in one byte (of chunk 4): only that chunk is stored anew
    const u = new Uint8Array(t.data);
    u[5000] ^= 1;
    const b = await store.putModel({ tensors: [{ ...t, name: 'v', data: u }], species: SPECIES });
    if (backend) expect((await backend.keys('chunks')).length).toBe(12 + 1);
    // a writer of a tensor already stored leaves no extra listing behind; an aborted one neither
    const again = store.tensorWriter();
    await again.write(t.data);
    expect((await again.finish()).hash).toBe(written.hash);
    const gone = store.tensorWriter();
    await gone.write(new Uint8Array(5000).fill(7));
    await gone.abort();
    await store.deleteModel(a.id);
    expect((await store.loadModel(b.id))[0].data).toEqual(u);
    await store.deleteModel(b.id);
    expect(await store.usage()).toMatchObject({ models: 0, tensors: 0, storedBytes: 0 });
    if (backend) expect(await backend.keys('chunks')).toEqual([]);
    if (backend) expect(await backend.keys('tensors')).toEqual([]);
    store.close();
  });

  it('sweeps what dead writers left (a finished tensor no model lists, the chunks of one never finished), and keeps the models', async () => {
    const { store, backend } = await make();
    const kept = tensor('w', 600, 4); // 2400 bytes: 3 chunks
    const { id } = await store.putModel({ tensors: [kept], species: SPECIES });
    const done = store.tensorWriter();
    await done.write(tensor('x', 700, 5).data);
    await done.finish(); // written, never listed
    const dead = store.tensorWriter();
    await dead.write(tensor('y', 1000, 6).data); // 4000 bytes: 3 full chunks stored, then the writer's worker dies
    await dead.write(new Uint8Array(0)); // resolves once every chunk queued is stored
    const swept = await store.sweepUnlisted();
    expect(swept.tensors).toBe(1);
    expect(swept.chunks).toBeGreaterThanOrEqual(3);
    expect((await store.loadModel(id))[0].data).toEqual(kept.data);
    if (backend) expect((await backend.keys('chunks')).length).toBe(3);
    if (backend) expect((await backend.keys('tensors')).length).toBe(1);
    expect(await store.sweepUnlisted()).toEqual({ tensors: 0, chunks: 0 });
    await store.deleteModel(id);
    if (backend) expect(await backend.keys('chunks')).toEqual([]);
    store.close();
  });

  it('refuses a model that names a tensor the store lacks, or names one with the wrong size', async () => {
    const { store } = await make();
    await expect(
      store.putModel({ tensors: [{ name: 'w', dtype: 'F32', shape: [4], hash: 'd'.repeat(64) }], species: SPECIES }),
    ).rejects.toThrow(/is not in the store/);
    const w = store.tensorWriter();
    await w.write(new Uint8Array(16));
    const { hash } = await w.finish();
    await expect(store.putModel({ tensors: [{ name: 'w', dtype: 'F32', shape: [5], hash }], species: SPECIES })).rejects.toThrow(
      /has 16 bytes; the model's entry needs 20/,
    );
    store.close();
  });
});

describe('chunked store: reads and checks', () => {
  it('a range read touches only its chunks (never the whole tensor), and a corrupt chunk is named', async () => {
    const inner = memoryBackend();
    const { backend, seen } = counting(inner);
    const store = createTensorStore(backend, { chunkBytes: CHUNK });
    const t = tensor('big', 64 * 1024, 3); // 256 KiB in 256 chunks
    const { id } = await store.putModel({ tensors: [t], species: SPECIES });
    const hash = (await store.matchModel(id))!.manifest.tensors[0].hash;
    seen.chunks = seen.bytes = 0;
    expect(await store.readTensorRange(hash, 100_352, 1500)).toEqual(t.data.subarray(100_352, 101_852));
    expect(seen).toEqual({ chunks: 2, bytes: 2 * CHUNK });
    // flip one byte of chunk 97
    await inner.transact('readwrite', async (tx) => {
      const rec = (await tx.get<{ chunks: string[] }>('tensors', hash))!;
      const c = (await tx.get<{ data: Uint8Array }>('chunks', rec.chunks[97]))!;
      c.data[5] ^= 1;
      await tx.put('chunks', rec.chunks[97], c);
    });
    expect(await store.readTensorRange(hash, 0, 97 * CHUNK)).toEqual(t.data.subarray(0, 97 * CHUNK));
    const err = await store.readTensorRange(hash, 97 * CHUNK + 10, 4).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(new RegExp(`stored tensor ${hash.slice(0, 12)} is corrupt: its chunk [0-9a-f]{12} hashes to`));
    await expect(store.matchTensor(hash)).rejects.toThrow(/is corrupt/);
  });

  it("a quota failure of a chunk write says what to free, as putModel's does", async () => {
    const inner = memoryBackend();
    const backend: KvBackend = {
      ...inner,
      estimate: async () => ({ usage: 5 << 20, quota: 6 << 20 }),
      transact: (mode, fn) =>
        inner.transact(mode, (tx) =>
          fn({
            ...tx,
            put: async (store, key, value) => {
              if (store === 'chunks') throw new DOMException('full', 'QuotaExceededError');
              return tx.put(store, key, value);
            },
          }),
        ),
    };
    const w = createTensorStore(backend, { chunkBytes: CHUNK }).tensorWriter();
    await w.write(new Uint8Array(CHUNK).fill(1));
    const err = await w.finish().catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toBe(
      'storage quota exceeded while storing a tensor (0.0 MiB new) (this site uses 5.0 MiB of its 6.0 MiB quota); delete models you no longer need or free disk space, then try again',
    );
  });

  it("a failed chunk write surfaces through the writer's next call, and leaves no tensor behind", async () => {
    const inner = memoryBackend();
    let fail = false;
    const backend: KvBackend = {
      ...inner,
      transact: (mode, fn) =>
        inner.transact(mode, (tx) =>
          fn({
            ...tx,
            put: async (store, key, value) => {
              if (store === 'chunks' && fail) throw Object.assign(new Error('disk full'), { name: 'UnknownError' });
              return tx.put(store, key, value);
            },
          }),
        ),
    };
    const store = createTensorStore(backend, { chunkBytes: CHUNK });
    const w = store.tensorWriter();
    await w.write(new Uint8Array(CHUNK).fill(1));
    await w.write(new Uint8Array(CHUNK).fill(2)); // resolves once chunk 1 is stored
    fail = true; // chunk 2's write, still in flight, fails
    await expect(w.write(new Uint8Array(CHUNK).fill(3))).rejects.toThrow(/disk full/);
    await expect(w.finish()).rejects.toThrow(/disk full/);
    expect(await inner.keys('tensors')).toEqual([]);
    expect((await inner.keys('chunks')).length).toBe(1);
    await w.abort(); // what breedStream does with a sink that failed: chunk 1 goes
    expect(await inner.keys('chunks')).toEqual([]);
  });

  it('reads a tensor stored whole (before chunks) in a version-1 IndexedDB database, and deletes it', async () => {
    const name = 'legacy-v1';
    const t = tensor('old', 300, 4);
    const hash = sha256Hex(t.data);
    // The database as version 1 of the store wrote it: no 'chunks' store, the tensor as one record.
    const v1 = await openDB(name, 1, {
      upgrade(d) {
        for (const s of ['tensors', 'models', 'graphs', 'manifests', 'meta']) d.createObjectStore(s);
      },
    });
    const manifest = {
      kind: 'tensor-set',
      version: 1,
      species: SPECIES,
      graph: '',
      vocabulary: [],
      tensors: [{ name: 'old', hash, dtype: 'F32', shape: [300], bytes: 1200 }],
    };
    const { hashJson } = await import('../core/hash.ts');
    const id = hashJson(manifest);
    await v1.put('tensors', { hash, data: new Uint8Array(t.data), refs: 1 }, hash);
    await v1.put('models', { id, manifest, manifests: [], meta: {} }, id);
    await v1.put('meta', { storedBytes: 1200, tensors: 1, logicalBytes: 1200, models: 1, graphBytes: 0 }, 'stats');
    v1.close();

    const store = await openIdbTensorStore({ name, chunkBytes: CHUNK });
    expect(await store.tensorInfo(hash)).toEqual({ hash, bytes: 1200, chunkBytes: 1200, chunks: 1, whole: true });
    expect((await store.loadModel(id))[0].data).toEqual(t.data);
    expect(await store.readTensorRange(hash, 1000, 100)).toEqual(t.data.subarray(1000, 1100));
    // a new model sharing the old tensor reuses it; deleting both frees it
    const other = tensor('new', 2000, 5);
    const r = await store.putModel({ tensors: [{ ...t, name: 'old' }, other], species: SPECIES });
    expect(r).toMatchObject({ newTensors: 1, reusedTensors: 1, reusedBytes: 1200 });
    await store.deleteModel(id);
    await store.deleteModel(r.id);
    expect(await store.usage()).toMatchObject({ models: 0, tensors: 0, storedBytes: 0, logicalBytes: 0 });
    expect(await store.tensorInfo(hash)).toBeUndefined();
    store.close();
  });
});
