import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareF32, ulpDiff } from './compare.ts';
import { grid2d, MAX_WORKGROUPS_PER_DIM } from './context.ts';

const nextUp = (x: number) => {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  if (x === 0) return 1.401298464324817e-45;
  u[0] += x > 0 ? 1 : -1;
  return f[0];
};

describe('ulpDiff', () => {
  it('is 1 between a float32 and the next one up, and symmetric', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), (x) => {
        const a = Math.fround(x);
        const b = nextUp(a);
        if (a < 0 && b === 0) return;
        expect(ulpDiff(a, b)).toBe(1);
        expect(ulpDiff(b, a)).toBe(1);
      }),
      { seed: 7 },
    );
  });

  it('counts across zero and treats the two zeros as equal', () => {
    expect(ulpDiff(0, -0)).toBe(0);
    expect(ulpDiff(1.401298464324817e-45, -1.401298464324817e-45)).toBe(2);
    expect(ulpDiff(NaN, NaN)).toBe(0);
    expect(ulpDiff(NaN, 1)).toBe(Infinity);
  });
});

describe('compareF32', () => {
  it('reports bit-identical counts and the largest ULP difference', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e6), max: Math.fround(1e6) }), {
          minLength: 1,
          maxLength: 200,
        }),
        fc.nat(),
        (xs, at) => {
          const a = Float32Array.from(xs);
          const b = a.slice();
          const i = at % a.length;
          b[i] = nextUp(b[i]);
          const r = compareF32(a, b);
          expect(r.bitIdentical).toBe(a.length - 1);
          expect(r.maxUlp).toBe(ulpDiff(a[i], b[i]));
          expect(r.worstIndex).toBe(i);
          expect(compareF32(a, a.slice())).toEqual({ n: a.length, bitIdentical: a.length, maxUlp: 0, worstIndex: -1 });
        },
      ),
      { seed: 11 },
    );
  });
});

describe('grid2d', () => {
  it('covers every workgroup with at most 65535 per dimension and no spare row', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_WORKGROUPS_PER_DIM * 4000 }), (w) => {
        const [x, y] = grid2d(w);
        expect(x).toBeLessThanOrEqual(MAX_WORKGROUPS_PER_DIM);
        expect(y).toBeLessThanOrEqual(MAX_WORKGROUPS_PER_DIM);
        expect(x * y).toBeGreaterThanOrEqual(w);
        expect(x * (y - 1)).toBeLessThan(w);
      }),
      { seed: 3 },
    );
    expect(grid2d(MAX_WORKGROUPS_PER_DIM)).toEqual([MAX_WORKGROUPS_PER_DIM, 1]);
    expect(grid2d(MAX_WORKGROUPS_PER_DIM + 1)).toEqual([32768, 2]);
  });
});
