/**
 * The streaming breed (breedStream, src/core/operators/breed.ts) store → store in bounded memory:
 * its streamed top-k cutoffs equal select.ts's in-memory ones, and its candidates (and their
 * statistics) equal the in-memory breed() byte for byte, on the CPU reference and on the CPU
 * pool; it cancels within a tensor. The parents live in the chunked tensor store (memory and
 * fake-indexeddb here; the bench runs the same code on Chromium's IndexedDB).
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isKept, magnitudeThreshold, StreamingTopK } from '../core/operators/select.ts';
import { BreedCancelled, breed, breedStream, chunkPlan, type StreamBreedResult } from '../core/operators/breed.ts';
import { cpuBackend, type KernelBackend } from '../core/operators/backend.ts';
import { fromFloat32, type Tensor } from '../core/tensor.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { ModelSource } from '../core/operators/stream.ts';
import { memoryBackend } from '../store/memory-store.ts';
import { openIdbTensorStore } from '../store/idb-store.ts';
import { createTensorStore, type TensorStore } from '../store/tensor-store.ts';
import { putStreamedModel, storeSink, storedModelSource } from '../store/source.ts';
import { modelTensors, numelOf, tensorStream, type ModelShape } from '../../bench/model.ts';
import { createNodeCpuPool } from './node.ts';
import { createFastCpuBackend } from './backend.ts';
import { xorshift32 } from './test-inputs.ts';

/** Values drawn from a small set (many exact ties), with ±0, subnormals, infinities and NaN. */
function tieHeavy(n: number, seed: number, palette: number): Float32Array {
  const specials = [0, -0, 1e-45, -1e-45, Infinity, -Infinity, NaN, 3.5, -3.5];
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = xorshift32(s);
    const r = s % 1000;
    a[i] = r < 30 ? specials[s % specials.length] : ((s >>> 10) % palette) * (s & 1 ? 0.125 : -0.125) * 2 ** ((s >>> 20) % 5);
  }
  return a;
}

function streamedCutoff(values: Float32Array, k: number, cuts: number[]) {
  const bounds = [0, ...cuts.map((c) => Math.floor(c * values.length)).sort((a, b) => a - b), values.length];
  const chunks = bounds.slice(1).map((e, i) => ({ offset: bounds[i], values: values.subarray(bounds[i], e) }));
  const sel = new StreamingTopK(values.length, k);
  while (sel.pass !== 'done') {
    for (const c of chunks) sel.add(c.values);
    sel.endPass();
  }
  const cur = sel.cursor();
  const perChunk = chunks.map((c) => ({ ...c, cut: cur.next(c.values, c.offset) }));
  return { cutoff: cur.cutoff(), perChunk };
}

describe('streamed top-k (select.ts)', () => {
  it('gives the in-memory cutoff of magnitudeThreshold, and the same kept set chunk by chunk', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        (n, seed, palette, frac, cuts) => {
          const values = tieHeavy(n, seed, palette);
          const k = Math.floor(frac * n);
          const { cutoff, perChunk } = streamedCutoff(values, k, cuts);
          const ref = magnitudeThreshold(values, k);
          expect(cutoff).toEqual(ref);
          const bits = new Uint32Array(values.buffer);
          let kept = 0;
          let differ = 0;
          for (const c of perChunk) {
            for (let j = 0; j < c.values.length; j++) {
              const i = c.offset + j;
              const m = bits[i] & 0x7fffffff;
              const a = isKept(m, i, c.cut);
              if (a !== isKept(m, i, ref)) differ++;
              if (a) kept++;
            }
          }
          expect(differ).toBe(0);
          expect(kept).toBe(k);
        },
      ),
      { numRuns: 120, seed: 8 },
    );
  });

  it('refuses a pass that did not see every element, and a cursor walked out of order', () => {
    const sel = new StreamingTopK(10, 3);
    sel.add(new Float32Array(9));
    expect(() => sel.endPass()).toThrow(/high pass saw 9 elements, expected 10/);
    const s2 = new StreamingTopK(4, 2);
    for (let p = 0; p < 2; p++) {
      s2.add(new Float32Array([1, 2, 3, 4]));
      s2.endPass();
    }
    expect(() => s2.cursor().next(new Float32Array(2), 2)).toThrow(/out of order/);
    expect(() => new StreamingTopK(3, 4)).toThrow(/outside \[0, 3\]/);
  });
});

const TINY: ModelShape = { name: 'tiny', layers: 2, dModel: 24, vocab: 301, context: 40 };
const SPECIES = 'c'.repeat(64);
/** 1000 elements per chunk: tensors span several chunks and no boundary falls on a row (24 columns). */
const CHUNK = 1000;

/** A parent in memory, its tensors in the store's (name) order, as loadModel gives them to breed(). */
function inMemoryModel(m: ModelShape, parent: number): Tensor[] {
  return modelTensors(m)
    .map((s) => fromFloat32(s.name, s.shape, tensorStream(s, parent)(new Float32Array(numelOf(s.shape)))))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The inputs an operator takes from [base, 1, 2, 3]: the base only when it needs one, at most its maximum of parents. */
const inputsOf = <T>(id: string, all: readonly T[]): T[] => {
  const op = getOperator(id);
  return (op.needsBase ? all : all.slice(1)).slice(0, op.parents.max + (op.needsBase ? 1 : 0));
};

/** The parents of the synthetic family (0 = base) written into the store chunk by chunk; their model ids. */
async function storeParents(store: TensorStore, m: ModelShape, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let p = 0; p < count; p++) {
    const tensors = [];
    for (const s of modelTensors(m)) {
      const w = store.tensorWriter();
      const next = tensorStream(s, p);
      const n = numelOf(s.shape);
      const buf = new Float32Array(CHUNK);
      for (let at = 0; at < n; at += CHUNK) {
        const v = next(buf.subarray(0, Math.min(CHUNK, n - at)));
        await w.write(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      tensors.push({ name: s.name, dtype: 'F32' as const, shape: s.shape, hash: (await w.finish()).hash });
    }
    ids.push((await store.putModel({ tensors, species: SPECIES })).id);
  }
  return ids;
}

/** Breed store → store; the candidate's id and the result. */
async function streamed(
  store: TensorStore,
  ids: readonly string[],
  id: string,
  params: Record<string, number | string | boolean>,
  backend: KernelBackend,
  chunkElements = CHUNK,
): Promise<{ r: StreamBreedResult; model: string }> {
  const parents = await Promise.all(inputsOf(id, ids).map((m) => storedModelSource(store, m)));
  const r = await breedStream({ operator: id, params, seed: 7, parents }, backend, { ...storeSink(store), chunkElements });
  const { id: model } = await putStreamedModel(store, r.outputs, { species: SPECIES });
  return { r, model };
}

const withoutTime = <T extends { ms: number }>(xs: readonly T[]) => xs.map(({ ms: _ms, ...x }) => x);

/** A memory store with TINY's base and three parents, and its chunk count before a breed (the cancel tests). */
async function cancelSetup() {
  const backend = memoryBackend();
  const store = createTensorStore(backend, { chunkBytes: 4 * CHUNK });
  const ids = await storeParents(store, TINY, 4);
  return { backend, store, ids, chunksBefore: (await backend.keys('chunks')).length };
}
describe('breedStream, store → store, chunk by chunk', () => {
  const cases: [string, Record<string, number | string | boolean>][] = [
    ['ties', {}],
    ['ties', { density: 0.35, rescale: 'inverse', normalize: false }],
    ['ties', { trimScope: 'model', density: 0.3 }],
    ['sparse-task-delta', { density: 0.5 }],
    ['federated', { clipNorm: 0.05, clipScope: 'tensor' }],
    ['federated', { clipNorm: 0.2 }], // clipScope "update": one factor per parent over the whole model
    ['dare-ties', {}], // the default L1 rescale: its whole-tensor norms from the streamed L1 pre-pass
    ['dare', { rescale: 'none' }],
    ['dare', {}], // L1 rescale (the default) after a seeded drop
    ['sparse-task-delta', { density: 0.4, rescale: 'l1' }], // L1 rescale after the streamed top-k
    ['ties', { density: 0.3, rescale: 'l1', trimScope: 'model' }],
    ['della', {}], // DELLA's per-row ranks: whole
    ['blend', {}],
    ['crossover', { granularity: 'row' }],
    ['quantize', {}], // its own storage (.q and .scales): whole
  ];
  const memoryStore = () => createTensorStore(memoryBackend(), { chunkBytes: 4 * CHUNK });
  for (const [id, params] of cases) {
    it(`${id} ${JSON.stringify(params)}: the candidate and its statistics equal the in-memory breed() byte for byte`, async () => {
      const models = [0, 1, 2, 3].map((p) => inMemoryModel(TINY, p));
      const ref = await breed({ operator: id, params, seed: 7, parents: inputsOf(id, models) }, cpuBackend);
      const store = memoryStore();
      const ids = await storeParents(store, TINY, 4);
      const { r, model } = await streamed(store, ids, id, params, cpuBackend);
      expect(withoutTime(r.stats)).toEqual(withoutTime(ref.stats));
      const loaded = await store.loadModel(model);
      const byName = new Map(loaded.map((t) => [t.name, t]));
      for (const t of ref.tensors) expect(byName.get(t.name)?.data, t.name).toEqual(t.data);
      expect(loaded.length).toBe(ref.tensors.length);
      // Bounded: only chunks are held for the streamed tensors (wte: 7224 elements), two sets of inputs
      // (one prefetched), the output and its encoding; the whole path holds one tensor's inputs at most.
      const inputs = inputsOf(id, models).length;
      const chunked = (r.plans['element-wise'] ?? 0) + (r.plans['streamed top-k'] ?? 0);
      if (['della', 'quantize'].includes(id)) expect(chunked).toBe(0);
      else {
        expect(chunked).toBeGreaterThan(0);
        expect(r.peakHeldBytes).toBeLessThanOrEqual((2 * inputs + 2) * 4 * CHUNK);
      }
    });
  }

  it('reads the parents from IndexedDB (fake-indexeddb) and runs on the CPU pool with the same bytes', async () => {
    const pool = await createNodeCpuPool(2);
    try {
      const shape = { ...TINY, vocab: 5000 };
      const store = await openIdbTensorStore({ name: 'stream-breed-pool', chunkBytes: 4 * 40_000 });
      const models = [0, 1, 2, 3].map((p) => inMemoryModel(shape, p));
      const ids = [];
      for (const m of models) ids.push((await store.putModel({ tensors: m, species: SPECIES })).id);
      for (const [id, params] of [
        ['ties', {}],
        ['blend', {}],
        ['dare-ties', {}], // L1 rescale: the pre-pass's norms, not each chunk's own
        ['ties', { rescale: 'l1', density: 0.4 }],
      ] as const) {
        const ref = await breed({ operator: id, params, seed: 7, parents: inputsOf(id, models) }, cpuBackend);
        // 40 000-element chunks: the pool splits them across workers (above its inline size).
        const { r, model } = await streamed(store, ids, id, params, createFastCpuBackend(pool), 40_000);
        expect(r.backend.adapter).toMatch(/CPU fast path/);
        expect(withoutTime(r.stats)).toEqual(withoutTime(ref.stats));
        expect((await store.loadModel(model)).map((t) => t.data)).toEqual(ref.tensors.map((t) => t.data));
      }
      store.close();
    } finally {
      pool.terminate();
    }
  });

  it('cancels within a tensor: no chunk is read after the one in flight, and the output is dropped', async () => {
    const { backend, store, ids, chunksBefore } = await cancelSetup();
    const signal = { aborted: false };
    let reads = 0;
    let readsAtAbort = 0;
    const counted = (m: ModelSource): ModelSource => ({
      tensors: m.tensors,
      read: (name, offset, length) => {
        reads++;
        // wte.weight (7224 elements, 8 chunks) is the first tensor: cancel after its third chunk.
        if (name === 'wte.weight' && offset === 2 * 4 * CHUNK && !signal.aborted) {
          signal.aborted = true;
          readsAtAbort = reads;
        }
        return m.read(name, offset, length);
      },
    });
    const parents = (await Promise.all(ids.map((m) => storedModelSource(store, m)))).map(counted);
    const out = breedStream({ operator: 'ties', params: {}, seed: 7, parents }, cpuBackend, {
      ...storeSink(store),
      chunkElements: CHUNK,
      signal,
    });
    await expect(out).rejects.toBeInstanceOf(BreedCancelled);
    // the reads of the aborting chunk's other parents complete; none after
    expect(reads).toBeLessThanOrEqual(readsAtAbort + 3);
    expect((await backend.keys('chunks')).length).toBe(chunksBefore);
  });

  it('lists a tensor whose hash was still coming when a cancel came for discard, and drops it', async () => {
    const { backend, store, ids, chunksBefore } = await cancelSetup();
    const signal = { aborted: false };
    const parents = (await Promise.all(ids.map((m) => storedModelSource(store, m)))).map((m): ModelSource => ({
      tensors: m.tensors,
      read: (name, offset, length) => {
        // The second tensor's first read: the first tensor's finish() is still waiting.
        if (name !== m.tensors[0].name) signal.aborted = true;
        return m.read(name, offset, length);
      },
    }));
    const sink = storeSink(store);
    let finished = 0;
    let discarded: string[] = [];
    const out = breedStream({ operator: 'ties', params: {}, seed: 7, parents }, cpuBackend, {
      output: () => {
        const w = sink.output();
        return {
          write: (b) => w.write(b),
          abort: () => w.abort?.() ?? Promise.resolve(),
          finish: async () => {
            await new Promise((r) => setTimeout(r, 50));
            finished++;
            return w.finish();
          },
        };
      },
      discard: (outputs) => {
        discarded = outputs.map((t) => t.name);
        return sink.discard(outputs);
      },
      chunkElements: CHUNK,
      signal,
    });
    await expect(out).rejects.toBeInstanceOf(BreedCancelled);
    expect(finished).toBe(1);
    expect(discarded).toEqual([parents[0].tensors[0].name]);
    expect((await backend.keys('chunks')).length).toBe(chunksBefore);
  });

  it('says which path each tensor takes, and refuses what it cannot stream', async () => {
    expect(chunkPlan(getOperator('ties'), { trimScope: 'tensor' })).toBe('streamed top-k');
    expect(chunkPlan(getOperator('dare'), { rescale: 'none' })).toBe('element-wise');
    expect(chunkPlan(getOperator('sparse-task-delta'), { rescale: 'l1' })).toBe('streamed top-k');
    expect(chunkPlan(getOperator('dare'), { rescale: 'l1' })).toBe('element-wise');
    expect(chunkPlan(getOperator('della'), { rescale: 'l1' })).toBe('whole');
    expect(chunkPlan(getOperator('ties'), { clipNorm: 1 })).toBe('whole'); // until the pre-pass gives clipFactors
    expect(chunkPlan(getOperator('ties'), { clipNorm: 1, clipFactors: [1, 1] })).toBe('streamed top-k');
    expect(chunkPlan(getOperator('breadcrumbs'), {})).toBe('whole');
    expect(chunkPlan(getOperator('prune'), {})).toBe('whole');
    const store = createTensorStore(memoryBackend(), { chunkBytes: 4 * CHUNK });
    const ids = await storeParents(store, { ...TINY, layers: 1 }, 2);
    const parents = await Promise.all(ids.map((m) => storedModelSource(store, m)));
    const opts = storeSink(store);
    // mutate's pre-pass takes each tensor's standard deviation over the whole model view
    await expect(breedStream({ operator: 'mutate', params: {}, seed: 7, parents: parents.slice(0, 1) }, cpuBackend, opts)).rejects.toThrow(
      /mutate needs a model-level pre-pass over whole tensors; breed it with breed\(\)/,
    );
    await expect(
      breedStream({ operator: 'blend', params: {}, seed: 7, parents }, cpuBackend, { ...opts, chunkElements: 12 }),
    ).rejects.toThrow(/not a positive multiple of 8/);
  });
});
