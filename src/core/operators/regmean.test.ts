import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { averageCpu, regmeanCpu } from './regmean.cpu.ts';
import type { StatisticsContext, TensorStatistics } from './statistics.ts';

const gram = (perParent: number[][], layout: 'in-out' | 'out-in' = 'in-out'): TensorStatistics => ({
  kind: 'gram',
  layout,
  perParent: perParent.map((g) => Float64Array.from(g)),
});
const ctx = (shape: number[], statistics: TensorStatistics | null, stats: Record<string, number> = {}): StatisticsContext => ({
  name: 'fc1.weight',
  shape,
  seed: 0,
  stats,
  statistics,
});
const f32 = (xs: number[]) => Float32Array.from(xs);

/** A random SPD d×d matrix XᵀX + d·I from a list of numbers. */
function spd(vals: number[], d: number): number[] {
  const g = new Array(d * d).fill(0);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) g[i * d + j] += vals[k * d + i] * vals[k * d + j];
  for (let i = 0; i < d; i++) g[i * d + i] += d;
  return g;
}

describe('regmean (CPU reference)', () => {
  it('hand-worked: each input takes the weight of the parent whose inputs reached it', () => {
    // W [2 in, 1 out]; parent A saw only input 0, parent B only input 1: S = diag(2, 2), R = [2, 14].
    const out = regmeanCpu(
      [f32([1, 5]), f32([3, 7])],
      { alpha: 0.9 },
      ctx(
        [2, 1],
        gram([
          [2, 0, 0, 0],
          [0, 0, 0, 2],
        ]),
      ),
    );
    expect([...out]).toEqual([1, 7]);
  });

  it('hand-worked with alpha: S = [[2, .5], [.5, 2]], R = [1, 1.5] gives W = [1/3, 2/3]', () => {
    const stats: Record<string, number> = {};
    const out = regmeanCpu(
      [f32([1, 0]), f32([0, 1])],
      { alpha: 0.5 },
      ctx(
        [2, 1],
        gram([
          [1, 1, 1, 1],
          [1, 0, 0, 1],
        ]),
        stats,
      ),
    );
    expect(out[0]).toBeCloseTo(1 / 3, 6);
    expect(out[1]).toBeCloseTo(2 / 3, 6);
    // eigenvalues of [[2, .5], [.5, 2]] are 2.5 and 1.5
    expect(stats.conditionNumber).toBeCloseTo(2.5 / 1.5, 4);
    expect(stats.unseenInputs).toBe(0);
  });

  it('an input no calibration row reached keeps the average, and is counted', () => {
    const stats: Record<string, number> = {};
    // inputs 0 and 2 seen (G = diag(1, 0, 1)), input 1 never: W [3, 1].
    const g = [1, 0, 0, 0, 0, 0, 0, 0, 1];
    const out = regmeanCpu([f32([1, 2, 3]), f32([3, 6, 5])], { alpha: 1 }, ctx([3, 1], gram([g, g]), stats));
    expect([...out]).toEqual([2, 4, 4]);
    expect(stats.unseenInputs).toBe(1);
  });

  it('refuses a singular Σ G (alpha 1, collinear inputs) with the way out', () => {
    expect(() =>
      regmeanCpu(
        [f32([1, 2]), f32([3, 4])],
        { alpha: 1 },
        ctx(
          [2, 1],
          gram([
            [1, 1, 1, 1],
            [1, 1, 1, 1],
          ]),
        ),
      ),
    ).toThrow(/alpha < 1/);
  });

  it('without statistics it refuses; a tensor with none (a bias) is the plain average', () => {
    const { statistics: _s, ...none } = ctx([2], null);
    expect(() => regmeanCpu([f32([1, 2])], {}, none)).toThrow(/calibration/);
    expect([...regmeanCpu([f32([1, 2]), f32([3, 8])], {}, ctx([2], null))]).toEqual([2, 5]);
  });

  const sizes = fc.record({ d: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 3 }), p: fc.integer({ min: 1, max: 3 }) });
  const caseOf = (s: { d: number; m: number; p: number }) =>
    fc.record({
      ws: fc.array(fc.array(fc.float({ min: -2, max: 2, noNaN: true }), { minLength: s.d * s.m, maxLength: s.d * s.m }), {
        minLength: s.p,
        maxLength: s.p,
      }),
      gs: fc.array(fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: s.d * s.d, maxLength: s.d * s.d }), {
        minLength: s.p,
        maxLength: s.p,
      }),
      alpha: fc.float({ min: 0, max: 1, noNaN: true }),
    });

  it('property: identical Grams give the plain average; one parent gives itself', () => {
    fc.assert(
      fc.property(
        sizes.chain((s) => caseOf(s).map((c) => ({ s, c }))),
        ({ s, c }) => {
          const ws = c.ws.map(f32);
          const g = spd(c.gs[0], s.d);
          const out = regmeanCpu(ws, { alpha: c.alpha }, ctx([s.d, s.m], gram(ws.map(() => g))));
          const avg = averageCpu(ws);
          out.forEach((v, i) => expect(v).toBeCloseTo(avg[i], 4));
          const one = regmeanCpu([ws[0]], { alpha: c.alpha }, ctx([s.d, s.m], gram([spd(c.gs[0], s.d)])));
          one.forEach((v, i) => expect(v).toBeCloseTo(ws[0][i], 4));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: W* solves the normal equations Σ G̃ᵢ(W* − Wᵢ) = 0; the [out, in] layout is the transpose', () => {
    fc.assert(
      fc.property(
        sizes.chain((s) => caseOf(s).map((c) => ({ s, c }))),
        ({ s, c }) => {
          const { d, m } = s;
          const ws = c.ws.map(f32);
          const gs = c.gs.map((v) => spd(v, d));
          const out = regmeanCpu(ws, { alpha: c.alpha }, ctx([d, m], gram(gs)));
          const tilde = (g: number[], i: number, j: number) => (i === j ? g[i * d + j] : c.alpha * g[i * d + j]);
          for (let i = 0; i < d; i++)
            for (let o = 0; o < m; o++) {
              let r = 0;
              let scale = 0;
              gs.forEach((g, p) => {
                for (let j = 0; j < d; j++) {
                  r += tilde(g, i, j) * (out[j * m + o] - ws[p][j * m + o]);
                  scale += Math.abs(tilde(g, i, j));
                }
              });
              expect(Math.abs(r)).toBeLessThan(1e-5 * (1 + scale) * 4);
            }
          const tr = (w: Float32Array) => Float32Array.from({ length: d * m }, (_, k) => w[(k % d) * m + Math.floor(k / d)]);
          const outT = regmeanCpu(ws.map(tr), { alpha: c.alpha }, ctx([m, d], gram(gs, 'out-in')));
          expect([...outT]).toEqual([...tr(out)]);
        },
      ),
      { numRuns: 60 },
    );
  });
});
