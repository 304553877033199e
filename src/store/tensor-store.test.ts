import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { mulberry } from '../core/format/testing.ts';
import { hashJson, sha256Hex } from '../core/hash.ts';
import { fromFloat32, type Tensor } from '../core/tensor.ts';
import { openIdbTensorStore } from './idb-store.ts';
import { memoryBackend } from './memory-store.ts';
import { StoreError, createTensorStore, type KvBackend, type TensorStore } from './tensor-store.ts';
import { blobSource } from './blob-source.ts';
import { importFile } from '../core/format/model.ts';
import { serializeSafetensors } from '../core/format/safetensors.ts';

const SPECIES = 'a'.repeat(64);

function parent(seed: number, names: string[], size = 256): Tensor[] {
  const r = mulberry(seed);
  return names.map((n) =>
    fromFloat32(
      n,
      [size],
      Float32Array.from({ length: size }, () => r() * 2 - 1),
    ),
  );
}

let dbCount = 0;
const BACKENDS: [string, () => Promise<{ store: TensorStore; dump: () => Promise<string> }>][] = [
  [
    'memory',
    async () => {
      const b = memoryBackend();
      return { store: createTensorStore(b), dump: async () => b.snapshot() };
    },
  ],
  [
    'indexeddb (fake-indexeddb)',
    async () => {
      const store = await openIdbTensorStore({ name: `test-${dbCount++}` });
      const dump = async () => {
        const models = await store.listModels();
        const tensors = await Promise.all(
          models.flatMap((m) => m.manifest.tensors.map(async (t) => [t.hash, (await store.matchTensor(t.hash))?.length])),
        );
        return JSON.stringify({ usage: await store.usage(), models: models.map((m) => m.id).sort(), tensors: tensors.sort() });
      };
      return { store, dump };
    },
  ],
];

describe.each(BACKENDS)('tensor store: %s', (_name, make) => {
  const names = Array.from({ length: 8 }, (_, i) => `layer.${i}.weight`);
  const a = parent(1, names);
  const b = parent(2, names);

  it('a crossover-like candidate adds only the bytes of its changed tensor', async () => {
    const { store } = await make();
    const pa = await store.putModel({ tensors: a, species: SPECIES, meta: { name: 'A' } });
    const pb = await store.putModel({ tensors: b, species: SPECIES, meta: { name: 'B' } });
    const before = await store.usage();
    expect(before.storedBytes).toBe(16 * 1024);
    // half the tensors from each parent, one of them changed
    const child = names.map((_, i) => (i % 2 ? b[i] : a[i]));
    const changed = fromFloat32(
      child[3].name,
      [256],
      Float32Array.from({ length: 256 }, (_, k) => k / 256),
    );
    child[3] = changed;
    const pc = await store.putModel({
      tensors: child,
      species: SPECIES,
      manifests: [{ kind: 'lineage-template', parents: [pa.id, pb.id] }],
    });
    const after = await store.usage();
    expect(pc).toMatchObject({ created: true, newTensors: 1, newBytes: changed.data.length, reusedTensors: 7 });
    expect(after.storedBytes - before.storedBytes).toBe(changed.data.length);
    expect(after.logicalBytes).toBe(24 * 1024);
    expect(after.savedBytes).toBe(7 * 1024);
    expect(after).toMatchObject({ models: 3, tensors: 17 });
    // the child loads back bit-identically, and its manifest is stored by hash
    const loaded = await store.loadModel(pc.id);
    expect(loaded.map((t) => sha256Hex(t.data))).toEqual(child.map((t) => sha256Hex(t.data)));
    expect(await store.matchManifest(pc.manifests[0])).toEqual({ kind: 'lineage-template', parents: [pa.id, pb.id] });
    expect(pc.manifests[0]).toBe(hashJson({ kind: 'lineage-template', parents: [pa.id, pb.id] }));
    // storing the same model again writes nothing
    expect(await store.putModel({ tensors: child, species: SPECIES })).toMatchObject({ id: pc.id, created: false });
    expect((await store.usage()).storedBytes).toBe(after.storedBytes);
    // deleting the child frees only its own tensor; deleting everything frees everything
    expect(await store.deleteModel(pc.id)).toBe(true);
    expect((await store.usage()).storedBytes).toBe(before.storedBytes);
    expect((await store.loadModel(pa.id)).length).toBe(8);
    await store.deleteModel(pa.id);
    await store.deleteModel(pb.id);
    expect(await store.usage()).toMatchObject({ models: 0, tensors: 0, storedBytes: 0, logicalBytes: 0 });
    store.close();
  });

  it('putModel is all or nothing: a failure mid-transaction leaves the store unchanged', async () => {
    const { store, dump } = await make();
    await store.putModel({ tensors: a, species: SPECIES });
    const snap = await dump();
    // New tensors are written first; the model record then fails to clone (a function in meta).
    const bad = { tensors: b, species: SPECIES, meta: { oops: () => 1 } as unknown as Record<string, unknown> };
    // the structured clone's own error, unwrapped: a DataCloneError naming what could not be cloned
    await expect(store.putModel(bad)).rejects.toSatisfy(
      (e) => e instanceof DOMException && e.name === 'DataCloneError' && e.message === '() => 1 could not be cloned.',
    );
    expect(await dump()).toBe(snap);
    // and refused input (wrong byte length) never opens a transaction
    await expect(store.putModel({ tensors: [{ ...a[0], data: new Uint8Array(3) }], species: SPECIES })).rejects.toBeInstanceOf(StoreError);
    expect(await dump()).toBe(snap);
    store.close();
  });

  it('storing the same tensors again keeps the new manifests (lineage of a re-bred candidate)', async () => {
    const { store } = await make();
    const lineageA = { kind: 'lineage-template', operator: 'blend', backend: 'cpu' };
    const lineageB = { kind: 'lineage-template', operator: 'soup', backend: 'webgpu' };
    const receiptB = { kind: 'operator-receipt', backend: 'webgpu' };
    const first = await store.putModel({ tensors: a, species: SPECIES, manifests: [lineageA] });
    const before = await store.usage();
    // the same tensor set with other manifests (one repeated, one repeated within the call)
    const again = await store.putModel({ tensors: a, species: SPECIES, manifests: [lineageA, lineageB, receiptB, lineageB] });
    expect(again).toMatchObject({ id: first.id, created: false, newTensors: 0, newBytes: 0 });
    const want = [hashJson(lineageA), hashJson(lineageB), hashJson(receiptB)];
    expect(again.manifests).toEqual(want);
    expect((await store.matchModel(first.id))?.manifests).toEqual(want);
    expect(await store.matchManifest(hashJson(receiptB))).toEqual(receiptB);
    expect(await store.usage()).toEqual(before); // no tensor, model or byte counted twice
    // nothing new: nothing changes
    const third = await store.putModel({ tensors: a, species: SPECIES, manifests: [receiptB] });
    expect(third.manifests).toEqual(want);
    store.close();
  });

  it('merges concurrent loads of one model', async () => {
    const { store } = await make();
    const { id } = await store.putModel({ tensors: a, species: SPECIES });
    const [x, y] = [store.loadModel(id), store.loadModel(id)];
    expect(x).toBe(y);
    expect(await x).toBe(await y);
    const z = store.loadModel(id);
    expect(z).not.toBe(x); // a finished load is not cached forever
    await z;
    await expect(store.loadModel('f'.repeat(64))).rejects.toThrow(/no model/);
    store.close();
  });
});

describe('store errors and sources', () => {
  it('turns a quota failure into a clear message', async () => {
    const inner = memoryBackend();
    const full: KvBackend = {
      ...inner,
      transact: (mode, fn) =>
        inner.transact(mode, (tx) =>
          fn({
            ...tx,
            put: async (store, key, value) => {
              if (store === 'tensors') throw Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
              return tx.put(store, key, value);
            },
          }),
        ),
      estimate: async () => ({ usage: 50 * 2 ** 20, quota: 60 * 2 ** 20 }),
    };
    const store = createTensorStore(full);
    const err = await store.putModel({ tensors: parent(3, ['w']), species: SPECIES }).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(
      /storage quota exceeded while storing model [0-9a-f]{12} \(0\.0 MiB new\) \(this site uses 50\.0 MiB of its 60\.0 MiB quota\)/,
    );
    expect(inner.snapshot()).toBe(memoryBackend().snapshot());
  });

  it('verifies a graph against its hash on read', async () => {
    const backend = memoryBackend();
    const store = createTensorStore(backend);
    const graph = Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 255);
    const { id } = await store.putModel({ tensors: parent(5, ['w']), species: SPECIES, graph });
    const hash = (await store.matchModel(id))!.manifest.graph;
    expect(hash).toBe(sha256Hex(graph));
    expect(await store.matchGraph(hash)).toEqual(graph);
    expect(await store.matchGraph('e'.repeat(64))).toBeUndefined();
    // flip one byte of the stored graph
    await backend.transact('readwrite', async (tx) => {
      const rec = (await tx.get<{ data: Uint8Array }>('graphs', hash))!;
      rec.data[17] ^= 1;
      await tx.put('graphs', hash, rec);
    });
    const err = await store.matchGraph(hash).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toContain(`stored graph ${hash.slice(0, 12)} is corrupt`);
  });

  it('reads a model from a Blob source by slices', async () => {
    const tensors = parent(4, ['x', 'y']);
    const blob = new Blob([serializeSafetensors(tensors) as Uint8Array<ArrayBuffer>]);
    const m = await importFile(blobSource(blob, 'm.safetensors'));
    expect(sha256Hex(await m.read('y'))).toBe(sha256Hex(tensors[1].data));
  });
});
