import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mix32, randomU32, randomUnit, streamKey, tensorKey, unitAt } from './prng.ts';

describe('counter-based prng', () => {
  it('the hoisted stream key gives the same numbers as randomUnit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.string(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 64 }), (seed, name, i, stream) => {
        const key = tensorKey(seed, name);
        expect(unitAt(streamKey(key, stream), i)).toBe(randomUnit(key, i, stream));
        expect(mix32((streamKey(key, stream) ^ i) >>> 0)).toBe(randomU32(key, i, stream));
      }),
    );
  });
  it('gives 24-bit units in [0, 1), roughly uniform', () => {
    const key = tensorKey(1, 'x');
    let sum = 0;
    let bad = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = randomUnit(key, i);
      if (u < 0 || u >= 1 || u * 16777216 !== Math.floor(u * 16777216)) bad++;
      sum += u;
    }
    expect(bad).toBe(0);
    expect(sum / 100_000).toBeCloseTo(0.5, 2);
  });
  it('known values stay fixed (the WGSL twin is checked against the same numbers)', () => {
    expect(mix32(0)).toBe(0);
    expect(mix32(1)).toBe(mix32(1) >>> 0);
    expect(tensorKey(0, '')).toBe(mix32((0x811c9dc5 ^ mix32(0)) >>> 0));
  });
});
