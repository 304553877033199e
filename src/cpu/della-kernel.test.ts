/**
 * DELLA's range kernel (src/core/operators/fast/task-arithmetic.ts) against its CPU reference
 * (task-arithmetic.cpu.ts) where rows are long: the reduce plan's rank stage ranks each long row
 * once per parent (a 1-D tensor is one row) into shared memory that the L1 pass and every range
 * of the apply read. Bytes compared with the reference for 1-D long rows and 2-D tensors (long
 * rows and short ones), over several splits of the ranges, in one thread and on the pool.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFastKernel, reduceLocally } from '../core/operators/fast/kernels.ts';
import { DELLA_RANK_ROWS_FROM, dellaRowInto } from '../core/operators/fast/task-arithmetic.ts';
import { dellaBounds, dellaKeepProbabilities } from '../core/operators/task-arithmetic.cpu.ts';
import { getOperator } from '../core/operators/registry.ts';
import type { ParamValues, TensorContext } from '../core/operators/types.ts';
import { createNodeCpuPool } from './node.ts';
import { toShared } from './pool.ts';
import { xorshift32 } from './test-inputs.ts';
import { reduceSplit } from './reduce-split.ts';

const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** A base and parents whose deltas repeat a few magnitudes (exact ties) or spread over binades, with ±0 and the odd infinity. */
function inputsOf(n: number, parents: number, seed: number): Float32Array[] {
  let s = seed >>> 0 || 1;
  const next = () => (s = xorshift32(s));
  const base = Float32Array.from({ length: n }, () => ((next() >>> 8) % 64) / 16 - 2);
  return [
    base,
    ...Array.from({ length: parents }, (_, p) =>
      base.map((b) => {
        const r = next();
        if (r % 97 === 0) return b;
        if (r % 4099 === 0) return r & 1 ? Infinity : -Infinity;
        // Odd parents on a coarse grid (many equal magnitudes), even ones spread over binades.
        return p & 1 ? b + (((r >>> 8) % 33) - 16) / 8 : b + (r / 4294967296 - 0.5) * 2 ** ((r & 15) - 8);
      }),
    ),
  ];
}

/** The kernel over the ranges of `bounds` (its reduce plan split the same way): the output and the summed counts. */
function runSplit(id: string, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext, bounds: number[], workers: number) {
  const k = getFastKernel(id);
  const { derived, stages } = reduceSplit(k.reduce!, inputs, params, ctx, bounds, workers);
  const out = new Float32Array(inputs[0].length).fill(NaN);
  const counts: Record<string, number> = {};
  for (let i = 0; i + 1 < bounds.length; i++)
    for (const [key, v] of Object.entries(k.run(inputs, out, { ...params, ...derived }, ctx, bounds[i], bounds[i + 1]) ?? {}))
      counts[key] = (counts[key] ?? 0) + v;
  return { out, counts, stages };
}

function reference(id: string, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext) {
  const stats: Record<string, number> = {};
  return { out: getOperator(id).cpu(inputs, params, { ...ctx, stats }), stats };
}

const PARAMS: ParamValues[] = [
  { density: 0.5, epsilon: 0.15, rescale: 'l1', normalize: true, weights: [1, 0.5, -0.75] },
  { density: 0.3, epsilon: 0.2, rescale: 'inverse', normalize: false, weights: [0.7, 1.25, 1] },
  { density: 0.8, epsilon: 0.1, rescale: 'none', normalize: true, lambda: 0.5, clipNorm: 40 },
];

describe('DELLA range kernel on long rows', () => {
  it('ranks a row as the reference does: the radix ranks give dellaKeepProbabilities bits (ties, ±0, NaN, infinities, one digit shared)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(0, 1, 2, 3),
        (cols, seed, kind) => {
          let s = seed;
          const d = new Float32Array(cols);
          const v = u32(d);
          for (let c = 0; c < cols; c++) {
            s = xorshift32(s);
            // 0: any bits (NaN and infinities too); 1: few magnitudes; 2: ±0 and one magnitude; 3: the low digits alone differ.
            v[c] =
              kind === 0
                ? s
                : kind === 1
                  ? ((s & 0x80000000) | (0x3f800000 + ((s >>> 3) % 5))) >>> 0
                  : kind === 2
                    ? (s & 0x80000000) | (s & 4 ? 0x3e800000 : 0)
                    : 0x3f000000 | (s & 0x7ff);
          }
          const { low, eps } = dellaBounds(0.5, 0.15);
          const prob = new Float32Array(cols).fill(NaN);
          dellaRowInto(d, low, eps, prob);
          expect(u32(prob)).toEqual(u32(dellaKeepProbabilities(d, 0.5, 0.15, { name: 'r', shape: [1, cols] })));
        },
      ),
      { numRuns: 120, seed: 5 },
    );
  });

  it('a 1-D tensor of one long row: the rank stage runs once per parent, and every split of the ranges gives the reference bytes and counts', () => {
    const n = DELLA_RANK_ROWS_FROM + 4099;
    const inputs = inputsOf(n, 3, 11);
    const ctx: TensorContext = { name: 'model.norm.weight', shape: [n], seed: 3 };
    for (const id of ['della', 'della-linear']) {
      for (const params of PARAMS) {
        const ref = reference(id, inputs, params, ctx);
        for (const [bounds, workers] of [
          [[0, n], 1],
          [[0, 16 * 2297, n], 2],
          [[0, 1, 4096, 40000, n - 3, n], 3],
          [Array.from({ length: 6 }, (_, i) => Math.floor((i * n) / 5)), 4],
        ] as [number[], number][]) {
          const r = runSplit(id, inputs, params, ctx, bounds, workers);
          // The rank stage sums the L1 norms too: no L1 pass after it.
          expect(r.stages, `${id} ${JSON.stringify(params)}`).toEqual(params.clipNorm ? ['clip', 'rank'] : ['rank']);
          expect(u32(r.out), `${id} ${bounds.length - 1} ranges`).toEqual(u32(ref.out));
          expect(r.counts).toEqual(ref.stats);
        }
      }
    }
  });

  it('2-D tensors: long rows take the rank stage, short rows are ranked by the ranges that touch them, both equal to the reference over any cut', () => {
    for (const [rows, cols] of [
      [3, DELLA_RANK_ROWS_FROM],
      [2, DELLA_RANK_ROWS_FROM + 17],
      [97, 769],
      [64, 3072],
    ]) {
      const n = rows * cols;
      const inputs = inputsOf(n, 3, rows * 31 + cols);
      const ctx: TensorContext = { name: `layers.${rows}.mlp.weight`, shape: [rows, cols], seed: rows };
      for (const id of ['della', 'della-linear']) {
        const params = PARAMS[(rows + cols) % PARAMS.length];
        const ref = reference(id, inputs, params, ctx);
        for (const bounds of [[0, n], [0, cols - 5, n], [0, Math.floor(n / 3), Math.min(n - 1, cols * 2 + 1), n].sort((a, b) => a - b)]) {
          const r = runSplit(id, inputs, params, ctx, bounds, 2);
          expect(r.stages.includes('rank'), `${rows}×${cols}`).toBe(cols >= DELLA_RANK_ROWS_FROM);
          expect(u32(r.out), `${id} ${rows}×${cols}, bounds ${bounds.join(',')}`).toEqual(u32(ref.out));
          expect(r.counts).toEqual(ref.stats);
        }
      }
    }
  });

  it('on one thread (reduceLocally) and through the pool’s workers, whose rank stage fills shared memory by parent', async () => {
    const n = DELLA_RANK_ROWS_FROM * 2 + 333;
    const inputs = inputsOf(n, 3, 77).map(toShared);
    const ctx: TensorContext = { name: 'bench.weight', shape: [n], seed: 7 };
    const pool = await createNodeCpuPool(2);
    try {
      for (const id of ['della', 'della-linear']) {
        const params = PARAMS[0];
        const ref = reference(id, inputs, params, ctx);
        const k = getFastKernel(id);
        const local = new Float32Array(n);
        k.run(inputs, local, { ...params, ...reduceLocally(k.reduce!, inputs, params, ctx) }, ctx, 0, n);
        expect(u32(local), `${id} one thread`).toEqual(u32(ref.out));
        const out = toShared(new Float32Array(n).fill(NaN));
        const stats: Record<string, number> = {};
        await pool.run(id, inputs, out, params, { ...ctx, stats });
        expect(u32(out), `${id} pool`).toEqual(u32(ref.out));
        expect(stats).toEqual(ref.stats);
      }
    } finally {
      pool.terminate();
    }
  });

  it('refuses an epsilon that leaves (0, 1) as the reference does, before any pass', () => {
    const n = DELLA_RANK_ROWS_FROM;
    const inputs = inputsOf(n, 2, 3);
    const ctx: TensorContext = { name: 't', shape: [n], seed: 1 };
    const params = { density: 0.9, epsilon: 0.2, rescale: 'l1' };
    expect(() => getOperator('della').cpu(inputs, params, ctx)).toThrow(/epsilon 0.2 must keep density/);
    const k = getFastKernel('della');
    expect(() => reduceLocally(k.reduce!, inputs, params, ctx)).toThrow(/epsilon 0.2 must keep density/);
  });
});
