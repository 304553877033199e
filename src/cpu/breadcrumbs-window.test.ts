import { describe, expect, it } from 'vitest';
import { getFastKernel } from '../core/operators/fast/kernels.ts';
import { getOperator } from '../core/operators/registry.ts';
import { withPassLoops, type PassLoops } from '../core/operators/fast/loops.ts';
import { samplePositions } from '../core/operators/fast/task-arithmetic.ts';
import { outlierCounts } from '../core/operators/task-arithmetic.cpu.ts';
import { reduceSplit } from './reduce-split.ts';
import { passLoopsOn, SELECT_SCRATCH_BYTES } from './simd-select.ts';
import { Arena } from './arena.ts';

const arena = new Arena();
const simd = passLoopsOn(arena.memory, arena.alloc(SELECT_SCRATCH_BYTES / 4).byteOffset)!;
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** Breadcrumbs takes windows from 2²⁰ elements (sampled in runs). */
const N = (1 << 20) + 3;

function xorshift(seed: number): () => number {
  let s = seed | 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) | 0) >>> 0) / 2 ** 32;
}

/** A base and P parents on the arena: continuous deltas with the odd ±0, ±Inf and NaN (a payload too) in the parents. */
function tensors(n: number, P: number, seed: number): Float32Array[] {
  const r = xorshift(seed);
  const base = arena.alloc(n);
  for (let i = 0; i < n; i++) base[i] = r() - 0.5;
  const xs = Array.from({ length: P }, (_, p) => {
    const x = arena.alloc(n);
    for (let i = 0; i < n; i++) {
      const u = r();
      x[i] = u < 0.001 ? base[i] : u < 0.0015 ? (u < 0.00125 ? Infinity : -Infinity) : base[i] + (r() - 0.5) * (1 + (i % 5));
    }
    const v = bits(x);
    for (let i = (seed + p) % 89; i < n; i += 1009) v[i] = i & 1 ? 0x7fc00001 : 0xffc00000;
    // ±0 deltas of both signs: x and base both ±0.
    for (let i = (seed + 3 * p) % 83; i < n; i += 2003) {
      base[i] = i & 2 ? -0 : 0;
      x[i] = i & 1 ? -0 : 0;
    }
    return x;
  });
  return [base, ...xs];
}

/** The kernel's bytes over `bounds` against the reference's, and the reduce stages. */
function run(
  op: string,
  inputs: Float32Array[],
  params: Record<string, number | boolean | string>,
  bounds: number[],
  loops: PassLoops | null,
): string[] {
  const c = { name: 'bc', shape: [inputs[0].length], seed: 1 };
  const k = getFastKernel(op);
  const out = arena.alloc(inputs[0].length).fill(NaN);
  let stages: string[] = [];
  withPassLoops(loops, () => {
    const r = reduceSplit(k.reduce!, inputs, params, c, bounds, 2);
    stages = r.stages;
    for (let t = 0; t + 1 < bounds.length; t++) k.run(inputs, out, { ...params, ...r.derived }, c, bounds[t], bounds[t + 1]);
  });
  expect(bits(out)).toEqual(bits(getOperator(op).cpu(inputs, params, c)));
  arena.free(out);
  return stages;
}

const splits = (n: number, cuts: number[]) => [0, ...cuts.map((u) => Math.floor(u * n)), n];
const freeAll = (xs: Float32Array[]) => xs.forEach((x) => arena.free(x));

describe('breadcrumbs: both cutoffs of every parent in one sampled window pass', () => {
  it('gives the reference bytes with ±0, NaN and infinities, over several range splits, with and without the SIMD loops', () => {
    const inputs = tensors(N, 3, 5);
    const cases: [string, number, number, number[], PassLoops | null][] = [
      ['breadcrumbs', 0.9, 0.01, [0.5], simd],
      ['breadcrumbs-ties', 0.6, 0.15, [0.25, 0.5, 0.75], simd],
      ['breadcrumbs', 0.8, 0.05, [0.499, 0.5, 0.501], null],
    ];
    for (const [op, density, gamma, cuts, loops] of cases)
      expect(run(op, inputs, { density, gamma, normalize: op.endsWith('ties'), rescale: 'none' }, splits(N, cuts), loops)).toEqual([
        'window',
      ]);
    freeAll(inputs);
  });

  it('places both cutoffs among many equal magnitudes at them (ties by lower index first), on and across range edges', () => {
    const inputs = tensors(N, 2, 9);
    const [base, ...xs] = inputs;
    const density = 0.7,
      gamma = 0.1;
    const { nBot, nTop } = outlierCounts(density, gamma, N, 'bc');
    xs.forEach((x, p) => {
      const mags = Float32Array.from(x, (v, i) => Math.abs(v - base[i]))
        .filter((v) => !Number.isNaN(v))
        .sort();
      // ~0.3 % of the elements at each cutoff's magnitude, signs mixed, in runs about the splits.
      for (const [at, from] of [
        [mags[nBot - 1], N >> 1],
        [mags[N - nTop - 1], N >> 2],
      ])
        for (let j = 0; j < N / 300; j++) {
          const i = (from - 500 + j * 3 + p) % N;
          base[i] = 0;
          x[i] = j & 1 ? -at : at;
        }
    });
    for (const cuts of [[0.5], [0.25, 0.5], [0.2499, 0.25, 0.5001]])
      for (const loops of [simd, null])
        expect(run('breadcrumbs', inputs, { density, gamma, normalize: false, rescale: 'none' }, splits(N, cuts), loops)).toEqual([
          'window',
        ]);
    freeAll(inputs);
  });

  it('a window that misses (a misleading sample) falls back to the radix passes, with the same bytes', () => {
    const inputs = tensors(N, 3, 13);
    const [base, ...xs] = inputs;
    // The sampled elements' deltas far larger than the rest: each window lies above its true cutoff.
    for (const i of samplePositions(N)) xs.forEach((x, p) => (x[i] = base[i] + 100 + p + (Math.imul(i, 0x9e3779b1) >>> 0) / 2 ** 26));
    for (const op of ['breadcrumbs', 'breadcrumbs-ties'])
      expect(run(op, inputs, { density: 0.9, gamma: 0.01, normalize: false, rescale: 'none' }, splits(N, [0.4]), simd).slice(0, 2)).toEqual(
        ['window', 'high'],
      );
    freeAll(inputs);
  });

  it('a tensor below 2²⁰ elements keeps the radix passes', () => {
    const inputs = tensors(5000, 2, 3);
    expect(run('breadcrumbs', inputs, { density: 0.9, gamma: 0.05, normalize: false, rescale: 'none' }, splits(5000, [0.5]), simd)[0]).toBe(
      'high',
    );
    freeAll(inputs);
  });
});
