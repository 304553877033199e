import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FAST_KERNELS, getFastKernel, hasFastKernel } from '../core/operators/fast/kernels.ts';
import { getOperator, OPERATORS, STATISTICS_FOR } from '../core/operators/registry.ts';
import { cpuBackend } from '../core/operators/backend.ts';
import { breed } from '../core/operators/breed.ts';
import { fromFloat32 } from '../core/tensor.ts';
import { createNodeCpuPool } from './node.ts';
import { createFastCpuBackend } from './backend.ts';
import { sharedF32, type CpuPool } from './pool.ts';
import { simd, simdRange } from './simd.ts';
import { Arena } from './arena.ts';
import { seeded, xorshift32 } from './test-inputs.ts';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const ctx = { name: 'layer.weight', shape: [0], seed: 1 };

describe('fast CPU range kernels', () => {
  it('blend over any split of ranges is bit-identical to the reference', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }),
        fc.integer({ min: 0, max: 9000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 7, maxLength: 7 }),
        fc.boolean(),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (parents, n, seed, ws, normalize, cuts) => {
          const weights = ws.slice(0, parents);
          // The divisor is the float32 sum of the float32 weights (mergekit); a zero sum is refused.
          if (normalize && weights.reduce((a, b) => Math.fround(a + Math.fround(b)), 0) === 0) weights[0] += 1;
          const params = { weights, normalize };
          const inputs = Array.from({ length: parents }, (_, p) => seeded(n, seed + p * 7919));
          const ref = getOperator('blend').cpu(inputs, params, ctx);
          const out = new Float32Array(n).fill(NaN);
          const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
          for (let i = 0; i + 1 < bounds.length; i++) FAST_KERNELS.blend.run(inputs, out, params, ctx, bounds[i], bounds[i + 1]);
          expect(bits(out)).toEqual(bits(ref));
          const viaSimd = new Float32Array(n).fill(NaN);
          for (let i = 0; i + 1 < bounds.length; i++)
            expect(simdRange('blend', inputs, viaSimd, params, ctx, bounds[i], bounds[i + 1])).toBe(true);
          expect(bits(viaSimd)).toEqual(bits(ref));
        },
      ),
      { numRuns: 60, seed: 42 },
    );
  });

  it('has WebAssembly SIMD in Node, and leaves kernels without a SIMD form to JavaScript', () => {
    expect(simd()).not.toBeNull();
    expect(simdRange('copy', [new Float32Array(8)], new Float32Array(8), {}, ctx, 0, 8)).toBe(false);
  });

  it('copy copies exactly the range it is given', () => {
    const src = seeded(1000, 9);
    const out = new Float32Array(1000);
    FAST_KERNELS.copy.run([src], out, {}, ctx, 100, 900);
    expect(bits(out.subarray(100, 900))).toEqual(bits(src.subarray(100, 900)));
    expect(out[99]).toBe(0);
    expect(out[900]).toBe(0);
  });

  it('names the valid kernels when asked for a missing one', () => {
    expect(hasFastKernel('nope')).toBe(false);
    expect(() => getFastKernel('nope')).toThrow(/valid: copy, blend, .*task-delta, .*ties/);
  });
});

/** Deltas with many exact ties in magnitude (so the cutoff's index matters), ±0, and some infinities. */
function family(n: number, parents: number, seed: number): Float32Array[] {
  const base = seeded(n, seed);
  const steps = [0, 0.25, -0.25, 0.5, -0.5, 1, -1, 2, -0, 0.125];
  let s = seed >>> 0 || 1;
  return [
    base,
    ...Array.from({ length: parents }, () => {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        s = xorshift32(s);
        x[i] = s % 997 === 0 ? Infinity : base[i] + steps[s % steps.length] * (s & 1024 ? 1 : 1e-3);
      }
      return x;
    }),
  ];
}

describe('TIES range kernel', () => {
  it('over any split of ranges equals the reference, counts included, whatever the parameters', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 4000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.record({
          density: fc.double({ min: 0, max: 1, noNaN: true }),
          normalize: fc.boolean(),
          rescale: fc.constantFrom('none', 'inverse'),
          lambda: fc.double({ min: -2, max: 2, noNaN: true }),
        }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        (parents, n, seed, extra, cuts) => {
          // A density that keeps nothing of the tensor is refused (as mergekit asserts): use 1 there.
          const density = Math.floor(extra.density * n) > 0 ? extra.density : 1;
          const params = { ...extra, density, weights: Array.from({ length: parents }, (_, p) => ((seed >>> (3 * p)) % 5) * 0.5 - 0.75) };
          const inputs = family(n, parents, seed);
          const refStats: Record<string, number> = {};
          const ref = getOperator('ties').cpu(inputs, params, { ...ctx, stats: refStats });
          const kernel = FAST_KERNELS.ties;
          const p = { ...params, ...kernel.prepare!(inputs, params, ctx) };
          const out = new Float32Array(n).fill(NaN);
          const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
          let conflicts = 0;
          for (let i = 0; i + 1 < bounds.length; i++)
            conflicts += (kernel.run(inputs, out, p, ctx, bounds[i], bounds[i + 1]) as Record<string, number>).signConflicts;
          expect(bits(out)).toEqual(bits(ref));
          expect(conflicts).toBe(refStats.signConflicts);
        },
      ),
      { numRuns: 80, seed: 11 },
    );
  });

  it('uses cutoffs given in tensor coordinates from ctx.offset (model-wide trimming, streamed chunks)', () => {
    const n = 3000;
    const inputs = family(n, 3, 5);
    const params = { density: 0.3, normalize: true, trimBits: [0x3e800000, 0x3f000000, 0], trimIndex: [1500, 2000, 10] };
    const c = { ...ctx, offset: 700 };
    const ref = getOperator('ties').cpu(inputs, params, c);
    const out = new Float32Array(n);
    FAST_KERNELS.ties.run(inputs, out, { ...params, ...FAST_KERNELS.ties.prepare!(inputs, params, c) }, c, 0, n);
    expect(bits(out)).toEqual(bits(ref));
  });
});

describe('CpuPool on worker_threads', () => {
  let pool: CpuPool;
  beforeAll(async () => {
    pool = await createNodeCpuPool(2);
  });
  afterAll(() => pool?.terminate());

  it('splits a tensor across workers with results identical to the reference', async () => {
    for (const [n, parents, seed] of [
      [200_003, 3, 5],
      [65_536, 2, 6],
      [100_000, 5, 7],
    ] as const) {
      const inputs = Array.from({ length: parents }, (_, p) => seeded(n, seed * 31 + p, sharedF32(n)));
      const params = { weights: Array.from({ length: parents }, (_, p) => 0.5 + p), normalize: true };
      const out = sharedF32(n);
      await pool.run('blend', inputs, out, params, ctx);
      expect(bits(out)).toEqual(bits(getOperator('blend').cpu(inputs, params, ctx)));
    }
  });

  it('TIES on the pool (selection reduced across workers) equals the reference, with heavy ties and all-zero deltas', async () => {
    for (const [n, parents, seed, density] of [
      [200_003, 3, 4, 0.2],
      [120_000, 4, 9, 0.9],
      [65_600, 2, 3, 0.02],
    ] as const) {
      const inputs = family(n, parents, seed).map((x) => {
        const s = pool.alloc(n);
        s.set(x);
        return s;
      });
      // The last parent equals the base: all its deltas are 0, so its cutoff is an index among equals.
      inputs[parents].set(inputs[0]);
      const params = { density, normalize: true, weights: Array.from({ length: parents }, (_, p) => 1 + p / 2) };
      const refStats: Record<string, number> = {};
      const ref = getOperator('ties').cpu(inputs, params, { ...ctx, stats: refStats });
      const out = pool.alloc(n);
      const stats: Record<string, number> = {};
      await pool.run('ties', inputs, out, params, { ...ctx, stats });
      expect(bits(out)).toEqual(bits(ref));
      expect(stats.signConflicts).toBe(refStats.signConflicts);
      for (const a of [...inputs, out]) pool.free(a);
    }
  });

  it('refuses arrays that are not shared, and inputs of the wrong length', async () => {
    const n = 100_000;
    await expect(pool.run('copy', [new Float32Array(n)], sharedF32(n), {}, ctx)).rejects.toThrow(/SharedArrayBuffer/);
    await expect(pool.run('copy', [sharedF32(n - 1)], sharedF32(n), {}, ctx)).rejects.toThrow(/input 0 has 99999 elements/);
  });

  it('breeds the same tensors as the reference backend, for every registry operator', async () => {
    // A pool of its own, whose arena's free memory holds NaN (as a breed's earlier buffers would):
    // the pool's outputs are not zero-filled (backend.ts), so an element a kernel left unwritten
    // would show in the hashes.
    const own = await createNodeCpuPool(2);
    const dirty = Array.from({ length: 8 }, () => own.alloc(1 << 18, false).fill(NaN));
    for (const d of dirty) own.free(d);
    const probe = own.alloc(300 * 256, false);
    expect(probe.every(Number.isNaN)).toBe(true);
    own.free(probe);
    const fast = createFastCpuBackend(own);
    const shapes: [string, number[]][] = [
      ['emb', [300, 256]],
      ['ln', [256]],
      ['w', [256, 512]],
    ];
    const parents = [1, 2, 3].map((p) =>
      shapes.map(([name, shape]) =>
        fromFloat32(
          name,
          shape,
          seeded(
            shape.reduce((a, b) => a * b),
            p * 101 + name.length,
          ),
        ),
      ),
    );
    // regmean and fisher need calibration statistics: their own tests (regmean/fisher/statistics) cover them
    try {
      for (const id of Object.keys(OPERATORS).filter((o) => !(o in STATISTICS_FOR))) {
        const op = getOperator(id);
        const count = (op.layout ? 1 : Math.min(3, op.parents.max)) + (op.needsBase ? 1 : 0);
        const req = { operator: id, params: {}, seed: 3, parents: [...parents, parents[0]].slice(0, count) };
        const a = await breed(req, cpuBackend);
        const b = await breed(req, fast);
        expect(b.stats.map((s) => s.outputHash)).toEqual(a.stats.map((s) => s.outputHash));
        expect(b.stats.map((s) => s.signConflicts)).toEqual(a.stats.map((s) => s.signConflicts));
      }
    } finally {
      own.terminate();
    }
  });
});

describe("arena: SIMD in place on the pool's shared memory", () => {
  it('allocates aligned, zeroed, non-overlapping, staggered arrays and reuses freed space', () => {
    const arena = new Arena();
    const a = arena.alloc(2000);
    const b = arena.alloc(17);
    const c = arena.alloc(70_000);
    for (const x of [a, b, c]) expect(x.byteOffset % 64).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 8000);
    expect(c.byteOffset).toBeGreaterThanOrEqual(b.byteOffset + 68);
    // Arrays allocated one after another start at different addresses modulo 4 KiB (no 4K aliasing between them).
    const row = Array.from({ length: 16 }, () => arena.alloc(4096));
    expect(new Set(row.map((x) => x.byteOffset % 4096)).size).toBe(16);
    for (const x of row) arena.free(x);
    a.fill(3);
    arena.free(a);
    // a's freed block (below b) holds the next small array, zeroed.
    const d = arena.alloc(900);
    expect(d.byteOffset + 3600).toBeLessThanOrEqual(b.byteOffset);
    expect(Array.from(d.subarray(0, 3))).toEqual([0, 0, 0]);
    arena.free(b);
    arena.free(d);
    arena.free(c);
    expect(arena.stats().live).toBe(0);
    // Everything coalesced back: the next big allocation's block starts at the bottom again.
    expect(arena.alloc(100_000).byteOffset).toBeLessThan(a.byteOffset + 4096);
    expect(() => arena.free(new Float32Array(4))).toThrow(/did not allocate/);
  });

  it('blend in place (fused 2/3/4-input loops, any range) is bit-identical to the reference', () => {
    const arena = new Arena();
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
        (parents, n, seed, cuts) => {
          const params = { weights: Array.from({ length: parents }, (_, p) => ((seed >>> p) % 7) - 2.5), normalize: false };
          const inputs = Array.from({ length: parents }, (_, p) => seeded(n, seed + p * 31, arena.alloc(n)));
          const out = arena.alloc(n).fill(NaN);
          const bounds = [0, ...cuts.map((c) => Math.floor(c * n)).sort((a, b) => a - b), n];
          for (let i = 0; i + 1 < bounds.length; i++)
            expect(simdRange('blend', inputs, out, params, ctx, bounds[i], bounds[i + 1], arena.memory)).toBe(true);
          expect(bits(out)).toEqual(bits(getOperator('blend').cpu(inputs, params, ctx)));
          for (const a of [...inputs, out]) arena.free(a);
        },
      ),
      { numRuns: 60, seed: 9 },
    );
    expect(arena.stats().live).toBe(0);
  });

  it("a pool runs blend on arena arrays in place with the reference's bits", async () => {
    const pool = await createNodeCpuPool(2);
    try {
      expect(pool.arena).not.toBeNull();
      for (const [n, parents] of [
        [300_001, 3],
        [131_072, 4],
        [99_999, 2],
      ] as const) {
        const inputs = Array.from({ length: parents }, (_, p) => seeded(n, 77 + p, pool.alloc(n)));
        const out = pool.alloc(n);
        const params = { weights: [0.3, -1.25, 2, 0.5].slice(0, parents), normalize: true };
        await pool.run('blend', inputs, out, params, ctx);
        expect(bits(out)).toEqual(bits(getOperator('blend').cpu(inputs, params, ctx)));
        for (const a of [...inputs, out]) pool.free(a);
      }
    } finally {
      pool.terminate();
    }
  });
});
