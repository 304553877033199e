/**
 * The streaming breed (bench/breed-stream.ts) in bounded memory: its streamed top-k cutoffs equal
 * select.ts's in-memory ones, and its candidates equal the in-memory breed() byte for byte.
 * IndexedDB is fake-indexeddb here; the bench runs the same code on Chromium's.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isKept, magnitudeThreshold, StreamingTopK } from '../core/operators/select.ts';
import { breed } from '../core/operators/breed.ts';
import { cpuBackend } from '../core/operators/backend.ts';
import { fromFloat32 } from '../core/tensor.ts';
import { sha256Hex } from '../core/hash.ts';
import { ChunkStore, streamBreed, streamPlan } from '../../bench/breed-stream.ts';
import { modelTensors, numelOf, tensorStream, type ModelShape } from '../../bench/model.ts';
import { getOperator } from '../core/operators/registry.ts';
import { createNodeCpuPool } from './node.ts';
import { createFastCpuBackend } from './backend.ts';

/** Values drawn from a small set (many exact ties), with ±0, subnormals, infinities and NaN. */
function tieHeavy(n: number, seed: number, palette: number): Float32Array {
  const specials = [0, -0, 1e-45, -1e-45, Infinity, -Infinity, NaN, 3.5, -3.5];
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
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

function inMemoryModel(m: ModelShape, parent: number) {
  return modelTensors(m).map((s) => fromFloat32(s.name, s.shape, tensorStream(s, parent)(new Float32Array(numelOf(s.shape)))));
}

describe('streaming breed, IndexedDB → IndexedDB, chunk by chunk', () => {
  // keep 0: every multi-chunk tensor is re-read on each pass (the path large tensors take).
  const cases: [string, Record<string, number | string | boolean>, number?][] = [
    ['ties', {}],
    ['ties', {}, 64 * 2 ** 20],
    ['ties', { density: 0.35, rescale: 'inverse', normalize: false }],
    ['sparse-task-delta', { density: 0.5 }],
    ['dare-ties', { rescale: 'inverse' }], // the default L1 rescale needs whole-tensor norms, which this driver refuses
    ['blend', {}],
    ['crossover', { granularity: 'row' }],
  ];
  for (const [id, params, keep = 0] of cases) {
    it(`${id} ${JSON.stringify(params)}, keep budget ${keep}: the candidate equals the in-memory breed() byte for byte`, async () => {
      const op = getOperator(id);
      const models = [0, 1, 2, 3].map((p) => inMemoryModel(TINY, p));
      const ref = await breed({ operator: id, params, seed: 7, parents: op.needsBase ? models : models.slice(1) }, cpuBackend);
      const store = await ChunkStore.open(`stream-test-${id}`);
      try {
        // 997 elements per chunk: tensors span several chunks and no boundary falls on a row.
        const r = await streamBreed(
          {
            model: TINY,
            operator: id,
            fallback: id,
            parents: 3,
            params,
            seed: 7,
            chunkElements: 997,
            keepBudgetBytes: keep,
            backendFor: async () => cpuBackend,
          },
          store,
        );
        for (const st of ref.stats) {
          const bytes = await store.readTensor(r.outputTensors[st.name]);
          expect(sha256Hex(new Uint8Array(bytes.buffer)), st.name).toBe(st.outputHash);
        }
        const conflicts = ref.stats.reduce((a, s) => a + (s.signConflicts ?? 0), 0);
        expect(r.signConflicts).toBe(conflicts);
        // Bounded: with no keep budget only chunks are held, never a whole tensor (wte: 7224
        // elements): two sets of 4 inputs (one prefetched), the output, two queued writes, the scratch.
        if (keep === 0) expect(r.peakHeldBytes).toBeLessThanOrEqual((2 * 4 + 1 + 2 + 1) * 4 * 997);
        else expect(r.peakHeldBytes).toBeGreaterThan(4 * 4 * 7224);
        expect(r.largestTensorBytes).toBe(4 * 301 * 24);
      } finally {
        await store.close(true);
      }
    });
  }

  it('runs blend and TIES on the CPU pool chunk by chunk with the same bytes', async () => {
    const pool = await createNodeCpuPool(2);
    try {
      const store = await ChunkStore.open('stream-test-pool-ties');
      try {
        // 40 000-element chunks: the pool splits them across workers (above its inline size).
        const r = await streamBreed(
          {
            model: { ...TINY, vocab: 5000 },
            operator: 'ties',
            fallback: 'ties',
            parents: 3,
            chunkElements: 40_000,
            keepBudgetBytes: 0,
            backendFor: async () => createFastCpuBackend(pool),
          },
          store,
        );
        const big = await breed(
          { operator: 'ties', params: {}, seed: 7, parents: [0, 1, 2, 3].map((p) => inMemoryModel({ ...TINY, vocab: 5000 }, p)) },
          cpuBackend,
        );
        for (const st of big.stats)
          expect(sha256Hex(new Uint8Array((await store.readTensor(r.outputTensors[st.name])).buffer)), st.name).toBe(st.outputHash);
        expect(r.signConflicts).toBe(big.stats.reduce((a, s) => a + (s.signConflicts ?? 0), 0));
      } finally {
        await store.close(true);
      }
    } finally {
      pool.terminate();
    }
  });

  it('runs blend on the CPU pool chunk by chunk with the same bytes', async () => {
    const pool = await createNodeCpuPool(2);
    try {
      const models = [1, 2, 3].map((p) => inMemoryModel(TINY, p));
      const ref = await breed({ operator: 'blend', params: {}, seed: 7, parents: models }, cpuBackend);
      const store = await ChunkStore.open('stream-test-pool');
      try {
        const r = await streamBreed(
          {
            model: TINY,
            operator: 'blend',
            fallback: 'blend',
            parents: 3,
            chunkElements: 4096,
            backendFor: async () => createFastCpuBackend(pool),
          },
          store,
        );
        expect(r.backend).toMatch(/CPU fast path/);
        for (const st of ref.stats)
          expect(sha256Hex(new Uint8Array((await store.readTensor(r.outputTensors[st.name])).buffer))).toBe(st.outputHash);
      } finally {
        await store.close(true);
      }
    } finally {
      pool.terminate();
    }
  });

  it('refuses what cannot be streamed, naming why', () => {
    expect(() => streamPlan(getOperator('ties'), { trimScope: 'model' })).toThrow(/model-wide pre-pass/);
    expect(() => streamPlan(getOperator('sparse-task-delta'), { rescale: 'l1' })).toThrow(/l1/);
    expect(() => streamPlan(getOperator('prune'), {})).toThrow(/needs whole tensors/);
    expect(() => streamPlan(getOperator('breadcrumbs'), {})).toThrow(/sparsify "outliers"\) needs whole tensors/);
    expect(() => streamPlan(getOperator('della'), {})).toThrow(/needs whole tensors/);
    expect(streamPlan(getOperator('dare'), { rescale: 'none' })).toBe('elementwise');
    expect(streamPlan(getOperator('ties'), { trimScope: 'tensor' })).toBe('topk');
  });
});
