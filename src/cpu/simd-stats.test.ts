import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Arena } from './arena.ts';
import { chunkStats } from '../core/operators/stream.ts';
import { chunkStatsOn } from './simd-stats.ts';

const special = fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.5, 1e30, -1e30, 2 ** -126);
const value = fc.oneof(special, fc.float({ noDefaultInfinity: false }));

describe('chunkStatsOn (the SIMD loop of a breed’s statistics)', () => {
  const arena = new Arena();

  it('gives chunkStats’s counts and its float64 sum bit for bit, from any running sum and at any length', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(value, value), { maxLength: 200 }),
        fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e300, noNaN: true })),
        (pairs, sq) => {
          const before = arena.alloc(pairs.length);
          const after = arena.alloc(pairs.length);
          try {
            pairs.forEach(([b, a], i) => {
              before[i] = b;
              after[i] = a;
            });
            const got = chunkStatsOn(arena.memory, before, after, sq);
            expect(got).not.toBeNull();
            const want = chunkStats(before, after, sq);
            expect(got!.changed).toBe(want.changed);
            expect(got!.zeros).toBe(want.zeros);
            expect(Object.is(got!.sq, want.sq) || (Number.isNaN(got!.sq) && Number.isNaN(want.sq))).toBe(true);
          } finally {
            arena.free(before);
            arena.free(after);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('adds in element order: a sum whose rounding depends on the order', () => {
    // 1 + 2⁻⁵³ + 2⁻⁵³ … in order stays 1; any other grouping of the small terms moves it.
    const n = 4099;
    const before = arena.alloc(n);
    const after = arena.alloc(n);
    after[0] = 1;
    for (let i = 1; i < n; i++) after[i] = 2 ** -27; // squared: 2⁻⁵⁴, half an ulp of 1
    const got = chunkStatsOn(arena.memory, before, after, 0)!;
    expect(got.sq).toBe(1);
    expect(got).toEqual(chunkStats(before, after, 0));
    // Lane sums would have gathered the small squares first: 1 + 4098·2⁻⁵⁴ rounds above 1.
    expect(1 + (n - 1) * 2 ** -54).toBeGreaterThan(1);
    expect(got.changed).toBe(n);
    expect(got.zeros).toBe(0);
    arena.free(before);
    arena.free(after);
  });

  it('leaves arrays that reach past the memory to chunkStats', () => {
    const past = new Float32Array(new SharedArrayBuffer(arena.memory.buffer.byteLength + 64), arena.memory.buffer.byteLength, 8);
    const b = arena.alloc(8);
    expect(chunkStatsOn(arena.memory, past, b, 0)).toBeNull();
    expect(chunkStatsOn(arena.memory, b, past, 0)).toBeNull();
    arena.free(b);
  });
});
