/**
 * breedStored (the app's breed, store → store) against the app's whole-model breed it replaces:
 * loadModel → breed() → candidateSlm → recordBreed → putModel. The candidate's file hash, species,
 * lineage key, metadata, store model id and receipt (timings aside) are the same; a Cancel, in
 * the breed or in the hashing pass, leaves the store as it was.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { BreedCancelled, breed, type BreedResult } from '../core/operators/breed.ts';
import { cpuBackend } from '../core/operators/backend.ts';
import { candidateSlm } from '../core/operators/candidate.ts';
import { readSlm } from '../core/format/slm.ts';
import { recordBreed, parentCompatibility } from '../core/lab/records.ts';
import { manifestHash } from '../core/manifest/index.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { RecipeParams } from '../core/operators/types.ts';
import { fromFloat32, type Tensor } from '../core/tensor.ts';
import { openIdbTensorStore } from './idb-store.ts';
import { STORE_NAMES, type TensorStore } from './tensor-store.ts';
import { openDB } from 'idb';
import { breedStored, storedParent, streamsFromStore, type StoredParent } from './stored-breed.ts';
import { fineTuned, hfFolderFiles, tinyCheckpoint, type TinyCheckpoint } from '../core/models/llama-testing.ts';
import { importHfFolder } from '../core/format/hf.ts';
import { bytesSource } from '../core/format/source.ts';
import { toSlm, type ImportedModel } from '../core/format/model.ts';
import { checkSlmMetadata } from '../core/format/slm.ts';
import { concatBytes } from '../core/bytes.ts';
import { modelTensors, numelOf, tensorStream, type ModelShape } from '../../bench/model.ts';

const TINY: ModelShape = { name: 'tiny', layers: 2, dModel: 24, vocab: 301, context: 40 };
const SPECIES = 'd'.repeat(64);
/** Store chunks of 4000 bytes and breed chunks of 1000 elements: tensors span several of both. */
const CHUNK_BYTES = 4000;
const CHUNK = 1000;
const FAMILY = { graph: new TextEncoder().encode('a family graph'), vocabulary: ['zero', 'one', 'two'] };

let dbs = 0;
async function gardenStore(): Promise<{ store: TensorStore; name: string; ids: string[]; parents: Tensor[][] }> {
  const name = `stored-breed-${dbs++}`;
  const store = await openIdbTensorStore({ name, chunkBytes: CHUNK_BYTES });
  const ids: string[] = [];
  const parents: Tensor[][] = [];
  for (let p = 0; p < 4; p++) {
    const tensors = modelTensors(TINY).map((s) => fromFloat32(s.name, s.shape, tensorStream(s, p)(new Float32Array(numelOf(s.shape)))));
    ids.push((await store.putModel({ tensors, species: SPECIES })).id);
    parents.push(await store.loadModel(ids[p]));
  }
  return { store, name, ids, parents };
}

const headerOf = (i: number, tensors: readonly Tensor[]) => ({
  hash: String(i).repeat(64),
  species: SPECIES,
  tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
  family: FAMILY,
});

/** The receipt without what differs run to run (timings). */
function timeless(receipt: unknown): unknown {
  return JSON.parse(JSON.stringify(receipt, (k, v: unknown) => (k === 'ms' ? 0 : v)));
}

/** Every record the database holds, store by store (an unlisted tensor or chunk counts too). */
async function records(name: string): Promise<Record<string, string[]>> {
  const db = await openDB(name);
  try {
    const out: Record<string, string[]> = {};
    for (const s of STORE_NAMES) out[s] = ((await db.getAllKeys(s)) as string[]).sort();
    return out;
  } finally {
    db.close();
  }
}

describe('breedStored: the app breed, IndexedDB → IndexedDB, chunk by chunk', () => {
  for (const [operator, params] of [
    ['task-delta', {}],
    ['ties', { density: 0.3 }],
    ['dare', { drop: 0.5 }],
    ['blend', {}],
  ] as [string, RecipeParams][]) {
    it(`${operator}: the same candidate file, model id and receipt as the whole-model breed`, async () => {
      const { store, ids, parents } = await gardenStore();
      const op = getOperator(operator);
      const take = (op.needsBase ? [0, 1, 2, 3] : [1, 2, 3]).slice(0, op.parents.max + (op.needsBase ? 1 : 0));
      const headers = take.map((i) => headerOf(i, parents[i]));
      // Today's path: whole tensors.
      const whole = await breed({ operator, params, seed: 7, parents: take.map((i) => parents[i]) }, cpuBackend);
      const file = candidateSlm(
        whole,
        take.map((i, k) => ({ ...headers[k], tensors: parents[i] })),
      );
      const compat = parentCompatibility(take.map((i, k) => ({ id: headers[k].hash, species: SPECIES, tensors: parents[i] })));
      const wholeRecords = recordBreed({
        result: whole,
        file,
        parents: headers.map((h) => h.hash),
        requested: params,
        compatibility: compat,
      });
      // The streamed path.
      const req = { operator, params, seed: 7, parents: take.map((i, k): StoredParent => ({ id: ids[i], header: headers[k] })) };
      const progress: number[] = [];
      const s = await breedStored(store, req, cpuBackend, { chunkElements: CHUNK, onProgress: (p) => progress.push(p.bytesDone) });
      expect(s.candidate.hash).toBe(file.hash);
      expect(s.candidate.size).toBe(file.bytes.length);
      expect(s.candidate.species).toBe(file.species);
      expect(s.candidate.lineageKey).toBe(file.lineageKey);
      expect(s.candidate.metadata).toEqual(readSlm(file.bytes).metadata);
      const streamedCompat = parentCompatibility(
        take.map((_, k) => ({ id: headers[k].hash, species: SPECIES, tensors: headers[k].tensors })),
      );
      expect(streamedCompat).toEqual(compat);
      const result: BreedResult = { ...s.result, tensors: [] };
      const records = recordBreed({
        result,
        file: {
          bytes: { length: s.candidate.size } as Uint8Array,
          hash: s.candidate.hash,
          species: s.candidate.species,
          lineageKey: s.candidate.lineageKey,
        },
        parents: headers.map((h) => h.hash),
        requested: params,
        compatibility: streamedCompat,
      });
      expect(timeless(records.receipt)).toEqual(timeless(wholeRecords.receipt));
      // The candidate manifest names the receipt by hash (which binds its timings): the rest is the same.
      expect({ ...records.candidate, receipt: '' }).toEqual({ ...wholeRecords.candidate, receipt: '' });
      expect(manifestHash(records.lineage)).toBe(manifestHash(wholeRecords.lineage));
      // Listed as a model: the same id the app's putModel of the file's tensors gives.
      const wholeId = (await store.putModel({ tensors: readSlm(file.bytes).tensors, species: file.species })).id;
      const put = await store.putModel({ tensors: s.tensors, species: s.candidate.species });
      expect(put.id).toBe(wholeId);
      // Progress: many steps, monotone, ending at the total.
      expect(progress.length).toBeGreaterThan(modelTensors(TINY).length);
      expect(progress.every((b, i) => i === 0 || b >= progress[i - 1])).toBe(true);
      expect(progress[progress.length - 1]).toBe(2 * whole.tensors.reduce((a, t) => a + t.data.length, 0));
      store.close();
    });
  }

  for (const when of ['breed', 'hash'] as const) {
    it(`a Cancel during the ${when === 'breed' ? 'breed' : 'hashing pass'} stops within one chunk and leaves no half candidate`, async () => {
      const { store, name, ids, parents } = await gardenStore();
      const before = await records(name);
      const signal = { aborted: false };
      let steps = 0;
      let after = -1;
      const total = 2 * parents[0].reduce((a, t) => a + t.data.length, 0);
      const req = {
        operator: 'task-delta',
        params: {},
        seed: 7,
        parents: [0, 1, 2, 3].map((i) => ({ id: ids[i], header: headerOf(i, parents[i]) })),
      };
      const out = breedStored(store, req, cpuBackend, {
        chunkElements: CHUNK,
        signal,
        onProgress: (p) => {
          if (signal.aborted) after++;
          else if ((when === 'breed' ? p.bytesDone > total / 8 : p.bytesDone > (3 * total) / 4) && ++steps) {
            signal.aborted = true;
            after = 0;
          }
        },
      });
      await expect(out).rejects.toBeInstanceOf(BreedCancelled);
      // At most the chunk in flight reports after the Cancel.
      expect(after).toBeLessThanOrEqual(1);
      expect(await records(name)).toEqual(before);
      store.close();
    });
  }

  it("the LM lab's breed: stored BF16 Llama parents (storedParent's .slm hashes) give the whole-model breed's candidate", async () => {
    // As the app stores a folder (text.ts storeTextModel) and the text worker bred it whole (toSlm → readSlm → breed → candidateSlm).
    const dec = new TextDecoder();
    const lmOf = async (ck: TinyCheckpoint) => {
      const files = hfFolderFiles(ck);
      return importHfFolder({
        files: [...files.keys()],
        open: async (f) => bytesSource(files.get(f)!, f),
        readText: async (f) => dec.decode(files.get(f)),
      });
    };
    const base = tinyCheckpoint({ dtype: 'BF16', seed: 3, layers: 2 });
    const lms = await Promise.all([base, fineTuned(base, 5, 0.1), fineTuned(base, 6, 0.1)].map(lmOf));
    const store = await openIdbTensorStore({ name: `stored-breed-lm-${dbs++}`, chunkBytes: CHUNK_BYTES });
    const ids: string[] = [];
    const slms = [];
    for (const lm of lms) {
      const model: ImportedModel = lm.model;
      const tensors = await Promise.all(model.tensors.map(async (t) => ({ ...t, data: await model.read(t.name) })));
      expect(tensors.every((t) => t.dtype === 'BF16')).toBe(true);
      ids.push((await store.putModel({ tensors, species: model.species })).id);
      const parts: Uint8Array[] = [];
      for await (const c of toSlm({ ...model, format: 'safetensors' }, { maxShardBytes: Number.MAX_SAFE_INTEGER })) parts.push(c.bytes);
      slms.push(readSlm(concatBytes(parts)));
    }
    const parents = await Promise.all(
      lms.map((lm, i) =>
        storedParent(store, ids[i], { species: lm.model.species, graphHash: lm.model.graphHash, metadata: lm.model.metadata }),
      ),
    );
    expect(parents.map((p) => p.header.hash)).toEqual(slms.map((m) => m.hash));
    for (const [operator, params] of [
      ['task-delta', { lambda: 0.7 }],
      ['ties', { density: 0.4 }],
    ] as [string, RecipeParams][]) {
      const whole = await breed({ operator, params, seed: 11, parents: slms.map((m) => m.tensors) }, cpuBackend);
      const file = candidateSlm(
        whole,
        slms.map((m) => ({ ...checkSlmMetadata(m.metadata), hash: m.hash, tensors: m.tensors, metadata: m.metadata })),
      );
      const s = await breedStored(store, { operator, params, seed: 11, parents }, cpuBackend, { chunkElements: 96 });
      expect(s.candidate.hash).toBe(file.hash);
      expect(s.candidate.species).toBe(file.species);
      expect(s.candidate.lineageKey).toBe(file.lineageKey);
      expect(s.candidate.metadata).toEqual(readSlm(file.bytes).metadata);
    }
    store.close();
  });

  it('says which operators stream from the store', () => {
    expect(streamsFromStore('ties')).toBe(true);
    expect(streamsFromStore('task-delta')).toBe(true);
    expect(streamsFromStore('quantize')).toBe(false);
    expect(streamsFromStore('passthrough')).toBe(false);
    // The data-informed merges need whole tensors and their statistics.
    expect(streamsFromStore('regmean')).toBe(false);
    expect(streamsFromStore('fisher')).toBe(false);
  });
});
