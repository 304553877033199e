import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mix32, randomU32, randomUnit, streamKey, tensorKey, unitAt } from './prng.ts';

describe('counter-based prng', () => {
  it('the hoisted stream key gives the same numbers as randomUnit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.string(),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 64 }),
        (seed, name, i, stream) => {
          const key = tensorKey(seed, name);
          expect(unitAt(streamKey(key, stream), i)).toBe(randomUnit(key, i, stream));
          expect(mix32((streamKey(key, stream) ^ i) >>> 0)).toBe(randomU32(key, i, stream));
        },
      ),
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
  // Golden values, computed once outside this code base (Python, arbitrary-precision integers masked
  // to 32 bits) from the published lowbias32 / FNV-1a definitions; FNV-1a("a") and ("foobar") are
  // the published FNV test vectors. A changed constant or shift in prng.ts moves every one of them.
  it('known values stay fixed: lowbias32', () => {
    const golden: [number, number][] = [
      [0, 0x00000000],
      [1, 0x688990c0],
      [2, 0xd1132181],
      [0xdeadbeef, 0xe628c683],
      [0xffffffff, 0x6768824a],
      [0x80000000, 0xcc4b4124],
    ];
    for (const [x, y] of golden) expect([x, mix32(x)]).toEqual([x, y]);
  });
  it('known values stay fixed: tensor key (FNV-1a folded with the seed)', () => {
    // tensorKey(seed, name) = mix32(fnv1a(name) ^ mix32(seed)); fnv1a('') is the offset basis.
    expect(tensorKey(0, '')).toBe(0x74141c20);
    expect(tensorKey(0, 'a')).toBe(mix32((0xe40c292c ^ mix32(0)) >>> 0));
    expect(tensorKey(0, 'foobar')).toBe(mix32((0xbf9cf968 ^ mix32(0)) >>> 0));
    expect(tensorKey(1, 'x')).toBe(0x9bf230ae);
    expect(tensorKey(42, 'model.layers.0.weight')).toBe(0xdad8b9f6);
    expect(tensorKey(0xffffffff, '\u00f1')).toBe(0x2fc5bf97); // two UTF-8 bytes
  });
  it('known values stay fixed: element draws and units', () => {
    const key = 0xdad8b9f6;
    expect(randomU32(key, 0)).toBe(0xf5601d2c);
    expect(randomU32(key, 1)).toBe(0x43361424);
    expect(randomU32(key, 7, 3)).toBe(0xe4b392c4);
    expect(randomU32(key, 0xffffffff, 64)).toBe(0x498b1e91);
    expect(randomUnit(key, 0)).toBe(0.9584978222846985);
    expect(randomUnit(key, 0xffffffff, 64)).toBe(0.28727900981903076);
    expect(mix32((streamKey(key, 3) ^ 7) >>> 0)).toBe(0xe4b392c4);
    expect(unitAt(streamKey(key, 64), 0xffffffff)).toBe(0.28727900981903076);
  });
  it('matches a BigInt restatement of lowbias32 and the counter on random inputs', () => {
    const M = 0xffffffffn;
    const mixBig = (v: bigint): bigint => {
      v ^= v >> 16n;
      v = (v * 0x7feb352dn) & M;
      v ^= v >> 15n;
      v = (v * 0x846ca68bn) & M;
      return v ^ (v >> 16n);
    };
    const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: 0, max: 64 }), (key, i, stream) => {
        expect(mix32(key)).toBe(Number(mixBig(BigInt(key))));
        const sk = mixBig(BigInt(key) ^ ((BigInt(stream) * 0x9e3779b9n) & M));
        expect(randomU32(key, i, stream)).toBe(Number(mixBig(sk ^ BigInt(i))));
      }),
      { numRuns: 2000 },
    );
  });
});
