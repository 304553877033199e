import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import { getOperator } from '../core/operators/registry.ts';
import { withPassLoops, type PassLoops } from '../core/operators/fast/loops.ts';
import { pruneWindow, samplePositions } from '../core/operators/fast/task-arithmetic.ts';
import { pruneCount } from '../core/operators/select.ts';
import { Arena } from './arena.ts';
import { passLoopsOn, SELECT_SCRATCH_BYTES } from './simd-select.ts';
import { reduceSplit } from './reduce-split.ts';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const prune = getFastKernel('prune');
const arena = new Arena();
const simd = passLoopsOn(arena.memory, arena.alloc(SELECT_SCRATCH_BYTES / 4).byteOffset)!;

/** A tensor on the arena: uniform magnitudes with the odd ±0, ±Inf and NaN (a payload too), signs mixed. */
function tensor(n: number, seed: number): Float32Array {
  const x = arena.alloc(n);
  let s = seed | 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) | 0) >>> 0) / 2 ** 32;
  for (let i = 0; i < n; i++) {
    const u = next();
    x[i] = (next() < 0.5 ? -1 : 1) * (u < 0.002 ? 0 : u < 0.003 ? Infinity : u * 3);
  }
  const u = bits(x);
  for (let i = seed % 97; i < n; i += 997) u[i] = i & 1 ? 0x7fc00001 : 0xffc00000;
  return x;
}

/** The kernel's output over `bounds` (a pool's ranges), with or without the SIMD loops, and its reduce stages. */
function run(x: Float32Array, fraction: number, bounds: number[], loops: PassLoops | null): { stages: string[] } {
  const p = { fraction };
  const c = { name: 'p', shape: [x.length], seed: 1 };
  const out = arena.alloc(x.length).fill(NaN);
  let stages: string[] = [];
  withPassLoops(loops, () => {
    const r = reduceSplit(prune.reduce!, [x], p, c, bounds, 2);
    stages = r.stages;
    for (let t = 0; t + 1 < bounds.length; t++) prune.run([x], out, { ...p, ...r.derived }, c, bounds[t], bounds[t + 1]);
  });
  expect(bits(out)).toEqual(bits(getOperator('prune').cpu([x], p, c)));
  arena.free(out);
  return { stages };
}

const splits = (n: number, cuts: number[]) => [0, ...cuts.map((u) => Math.floor(u * n)).sort((a, b) => a - b), n];

describe('prune: the sampled window pass (one pass over mag(x) for the bottom-m cutoff)', () => {
  it('gives the reference bytes over random tensors, fractions and range splits, with and without the SIMD loops', () => {
    let windows = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 30000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        fc.boolean(),
        (n, seed, permille, cuts, lent) => {
          const x = tensor(n, seed);
          const { stages } = run(x, permille / 1000, splits(n, cuts), lent ? simd : null);
          if (stages[0] === 'window' && stages.length === 1) windows++;
          arena.free(x);
        },
      ),
      { numRuns: 120, seed: 11 },
    );
    expect(windows).toBeGreaterThan(60);
  });

  it('places the cutoff among many equal magnitudes at it (ties by lower index first), on and across range edges', () => {
    for (const [n, fraction, seed] of [
      [5000, 0.5, 1],
      [20000, 0.3, 2],
      [65537, 0.9, 3],
      [4099, 0.01, 4],
    ]) {
      const x = tensor(n, seed);
      const m = pruneCount(fraction, n);
      const sorted = Array.from(x, Math.abs)
        .filter((v) => !Number.isNaN(v))
        .sort((a, b) => a - b);
      const at = sorted[m - 1];
      // About 0.5 % of the elements (a run about the middle, so the equal ones straddle a split) share the cutoff's magnitude, signs mixed.
      const mid = n >> 1;
      for (let j = 0; j < n / 200; j++) x[(mid - 40 + j * 37) % n] = j & 1 ? -at : at;
      for (const cuts of [[], [0.5], [0.25, 0.5, 0.75], [0.499, 0.5, 0.501]])
        for (const loops of [simd, null]) expect(run(x, fraction, splits(n, cuts), loops).stages).toEqual(['window']);
      arena.free(x);
    }
  });

  it('a window that misses the cutoff (a misleading sample) falls back to the radix passes, with the same bytes', () => {
    for (const n of [4096, 50000, (1 << 20) + 3]) {
      const x = tensor(n, n);
      // The sampled elements are large, the rest small: the sample's window lies far above the true cutoff.
      for (let i = 0; i < n; i++) x[i] = (i % 7) * 1e-3;
      for (const i of samplePositions(n)) x[i] = 100 + (Math.imul(i, 0x9e3779b1) >>> 0) / 2 ** 26;
      const fraction = 0.5;
      expect(pruneWindow(x, pruneCount(fraction, n))).not.toBeNull();
      for (const loops of n > 1 << 20 ? [simd] : [simd, null]) {
        const { stages } = run(x, fraction, splits(n, [0.3, 0.6]), loops);
        expect(stages.slice(0, 2)).toEqual(['window', 'high']);
      }
      arena.free(x);
    }
  });

  it('a large tensor (sampled in runs) takes the window pass with the SIMD loops over the pool’s two ranges', () => {
    const n = (1 << 20) + 5;
    const x = tensor(n, 7);
    for (const fraction of [0.1, 0.97]) expect(run(x, fraction, splits(n, [0.5]), simd).stages).toEqual(['window']);
    arena.free(x);
  });
});
