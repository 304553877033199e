import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fisherCpu } from './fisher.cpu.ts';
import { averageCpu } from './regmean.cpu.ts';
import type { StatisticsContext } from './statistics.ts';

const ctx = (fishers: number[][], stats: Record<string, number> = {}): StatisticsContext => ({
  name: 'fc2.bias',
  shape: [fishers[0].length],
  seed: 0,
  stats,
  statistics: { kind: 'fisher', perParent: fishers.map((f) => Float64Array.from(f)) },
});
const f32 = (xs: number[]) => Float32Array.from(xs);

describe('fisher (CPU reference)', () => {
  it('hand-worked: θ = (3·1 + 1·3) / (3 + 1) = 1.5 where A is three times as sensitive; ε alone gives the average', () => {
    const stats: Record<string, number> = {};
    const out = fisherCpu(
      [f32([1, 1]), f32([3, 3])],
      { epsilon: 0 },
      ctx(
        [
          [3, 0.5],
          [1, 0.5],
        ],
        stats,
      ),
    );
    expect([...out]).toEqual([1.5, 2]);
    expect(stats['fisherMean:0']).toBe(1.75);
    expect(stats['fisherMean:1']).toBe(0.75);
    expect([...fisherCpu([f32([1]), f32([4])], { epsilon: 1e-6 }, ctx([[0], [0]]))]).toEqual([2.5]);
  });

  it('the weights λ scale each Fisher', () => {
    expect([...fisherCpu([f32([0]), f32([6])], { epsilon: 0, weights: [2, 1] }, ctx([[1], [1]]))]).toEqual([2]);
  });

  it('refuses without statistics', () => {
    expect(() => fisherCpu([f32([1])], {}, { name: 'x', shape: [1], seed: 0 })).toThrow(/calibration/);
  });

  it('property: equal Fishers give the plain average; one parent gives itself', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((p) =>
          fc.record({
            xs: fc.array(fc.array(fc.float({ min: -5, max: 5, noNaN: true }), { minLength: 6, maxLength: 6 }), {
              minLength: p,
              maxLength: p,
            }),
            f: fc.array(fc.float({ min: 0, max: 10, noNaN: true }), { minLength: 6, maxLength: 6 }),
          }),
        ),
        ({ xs, f }) => {
          const inputs = xs.map(f32);
          const out = fisherCpu(inputs, {}, ctx(inputs.map(() => f)));
          const avg = averageCpu(inputs);
          out.forEach((v, i) => expect(v).toBeCloseTo(avg[i], 5));
          fisherCpu([inputs[0]], {}, ctx([f])).forEach((v, i) => expect(v).toBeCloseTo(inputs[0][i], 6));
        },
      ),
      { numRuns: 100 },
    );
  });
});
