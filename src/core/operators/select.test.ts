import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  KEEP_NONE,
  keepMask,
  magnitudeThreshold,
  magnitudeThresholdMulti,
  localCutoff,
  MagnitudeRanks,
  pruneCount,
  RANK_SLOTS,
  rankSlot,
  pruneMask,
  pruneThreshold,
  randomKeepMask,
  selectCount,
  topKMask,
} from './select.ts';
import { randomUnit, tensorKey } from './prng.ts';
import { tiedValues, randomValues } from './test-data.ts';

/** Independent reference: sort indices by (|x| desc, index asc) with a plain comparator. */
function refTop(values: Float32Array, k: number): Set<number> {
  const idx = Array.from(values, (_, i) => i);
  idx.sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]) || a - b);
  return new Set(idx.slice(0, k));
}
function refBottom(values: Float32Array, m: number): Set<number> {
  const idx = Array.from(values, (_, i) => i);
  idx.sort((a, b) => Math.abs(values[a]) - Math.abs(values[b]) || a - b);
  return new Set(idx.slice(0, m));
}
const ones = (mask: Uint8Array) => new Set([...mask].flatMap((v, i) => (v ? [i] : [])));

describe('selection golden cases', () => {
  // magnitudes: 0.5, 2, 2, 0, 0, 1, 2
  const v = new Float32Array([0.5, -2, 2, 0, -0, 1, 2]);

  it('top-k takes ties lowest index first', () => {
    expect([...keepMask(v, magnitudeThreshold(v, 2))]).toEqual([0, 1, 1, 0, 0, 0, 0]);
    expect([...keepMask(v, magnitudeThreshold(v, 3))]).toEqual([0, 1, 1, 0, 0, 0, 1]);
    expect([...keepMask(v, magnitudeThreshold(v, 4))]).toEqual([0, 1, 1, 0, 0, 1, 1]);
    expect([...keepMask(v, magnitudeThreshold(v, 6))]).toEqual([1, 1, 1, 1, 0, 1, 1]); // +0 (index 3) before -0 (index 4)
  });

  it('the cutoff is (bits of 2.0, one past the last kept index)', () => {
    expect(magnitudeThreshold(v, 2)).toEqual({ bits: 0x40000000, index: 3 });
    expect(magnitudeThreshold(v, 0)).toEqual(KEEP_NONE);
    expect(magnitudeThreshold(v, 7)).toEqual({ bits: 0, index: 5 });
  });

  it('pruning removes the smallest, lower index first at a tie', () => {
    expect([...pruneMask(v, pruneThreshold(v, 1))]).toEqual([0, 0, 0, 1, 0, 0, 0]);
    expect([...pruneMask(v, pruneThreshold(v, 3))]).toEqual([1, 0, 0, 1, 1, 0, 0]);
    // five pruned: 0, 0, 0.5, 1, then the first of the three 2s (index 1); indices 2 and 6 stay
    expect([...pruneMask(v, pruneThreshold(v, 5))]).toEqual([1, 1, 0, 1, 1, 1, 0]);
  });

  it('counts as mergekit does: int(density × n), truncated in float64', () => {
    expect(selectCount(0.5, 7)).toBe(3); // 3.5 → 3 (round half up would keep 4)
    expect(selectCount(0.3, 5)).toBe(1); // 1.5 → 1
    expect(selectCount(0.1, 4)).toBe(0);
    expect(selectCount(0.29, 100)).toBe(28); // 0.29 × 100 = 28.999999999999996 in float64, as Python's int() sees it
    expect(selectCount(1, 9)).toBe(9);
    expect(() => selectCount(1.5, 9)).toThrow(/^selection fraction 1.5 is outside \[0, 1\]$/);
  });

  it('prunes n − int((1 − fraction) × n), so that int(density × n) are kept', () => {
    expect(pruneCount(0.5, 7)).toBe(4); // keeps int(0.5 × 7) = 3
    expect(pruneCount(0.3, 5)).toBe(2); // keeps int(0.7 × 5) = 3
    expect(pruneCount(0, 9)).toBe(0);
    expect(pruneCount(1, 9)).toBe(9);
    expect(() => pruneCount(-0.1, 9)).toThrow(/^prune fraction -0.1 is outside \[0, 1\]$/);
  });

  it('NaN orders above +Inf, which orders above every finite value', () => {
    const w = new Float32Array([1, Infinity, NaN, -Infinity, 3e38]);
    expect([...keepMask(w, magnitudeThreshold(w, 1))]).toEqual([0, 0, 1, 0, 0]);
    expect([...keepMask(w, magnitudeThreshold(w, 3))]).toEqual([0, 1, 1, 1, 0]);
  });
});

describe('selection properties', () => {
  it('top-k keeps exactly k and matches an independent sort, on tie-heavy and continuous data', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        (seed, n, density, tied) => {
          const v = tied ? tiedValues(seed, n) : randomValues(seed, n);
          const k = selectCount(density, n);
          const mask = topKMask(v, density);
          expect(mask.reduce((a, b) => a + b, 0)).toBe(k);
          expect(ones(mask)).toEqual(refTop(v, k));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('pruning prunes exactly m and matches an independent sort', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, n, f) => {
          const v = tiedValues(seed, n, 3);
          const m = selectCount(f, n);
          const mask = pruneMask(v, pruneThreshold(v, m));
          expect(mask.reduce((a, b) => a + b, 0)).toBe(m);
          expect(ones(mask)).toEqual(refBottom(v, m));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a model-wide cutoff equals the cutoff of the concatenated tensors, seen per tensor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, sizes, density) => {
          const parts = sizes.map((n, i) => tiedValues(seed + i, n));
          const all = new Float32Array(sizes.reduce((a, b) => a + b, 0));
          let o = 0;
          for (const p of parts) {
            all.set(p, o);
            o += p.length;
          }
          const k = selectCount(density, all.length);
          const whole = keepMask(all, magnitudeThreshold(all, k));
          const cutoff = magnitudeThresholdMulti(parts, k);
          o = 0;
          const pieced: number[] = [];
          for (const p of parts) {
            pieced.push(...keepMask(p, localCutoff(cutoff, o, p.length)));
            o += p.length;
          }
          expect(pieced).toEqual([...whole]);
          // and a chunk with its offset sees the same mask as the whole tensor
          const half = Math.floor(all.length / 2);
          const c = magnitudeThreshold(all, k);
          expect([...keepMask(all.subarray(0, half), c, 0), ...keepMask(all.subarray(half), c, half)]).toEqual([...whole]);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('random masks', () => {
  it('keep exactly where randomUnit(tensorKey(seed, name), i, stream) >= fround(p)', () => {
    const key = tensorKey(7, 'layers.0.w');
    const mask = randomKeepMask(7, 'layers.0.w', 1000, 0.3, 2);
    for (let i = 0; i < 1000; i++) expect(mask[i]).toBe(randomUnit(key, i, 2) >= Math.fround(0.3) ? 1 : 0);
    const kept = mask.reduce((a, b) => a + b, 0);
    expect(kept).toBeGreaterThan(620);
    expect(kept).toBeLessThan(780);
  });

  it('are chunk independent: two halves with offsets equal the whole', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 2, max: 2000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 1999 }),
        (seed, n, p, cut) => {
          const at = Math.min(cut, n - 1);
          const whole = randomKeepMask(seed, 't', n, p);
          const parts = [...randomKeepMask(seed, 't', at, p, 0, 0), ...randomKeepMask(seed, 't', n - at, p, 0, at)];
          expect(parts).toEqual([...whole]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('same seed gives the same mask, another seed or name another mask; p = 0 keeps all, p = 1 none', () => {
    expect(randomKeepMask(1, 'a', 500, 0.5)).toEqual(randomKeepMask(1, 'a', 500, 0.5));
    expect(randomKeepMask(1, 'a', 500, 0.5)).not.toEqual(randomKeepMask(2, 'a', 500, 0.5));
    expect(randomKeepMask(1, 'a', 500, 0.5)).not.toEqual(randomKeepMask(1, 'b', 500, 0.5));
    expect(randomKeepMask(1, 'a', 500, 0).every((x) => x === 1)).toBe(true);
    expect(randomKeepMask(1, 'a', 500, 1).every((x) => x === 0)).toBe(true);
  });
});

describe('MagnitudeRanks (the window stage sample order statistics)', () => {
  /** Sample bits: a few distinct magnitudes (ties across and within buckets), both signs, the extremes (±0, subnormal, ±Inf, NaNs). */
  const sampleBits = (n: number, distinct: number, seed: number): Uint32Array => {
    let x = seed >>> 0 || 1;
    const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
    const special = [0, 0x80000000, 1, 0x7f800000, 0xff800000, 0x7fc00000, 0xffffffff, 0x7f7fffff];
    const pool = Array.from({ length: distinct }, (_, i) => (i < special.length && next() % 3 === 0 ? special[i] : next()));
    // Some magnitudes one bucket apart and sharing a bucket, so queries straddle bucket edges.
    pool.push(0x3f000000, 0x3f07ffff, 0x3f080000, 0x3f080001);
    return Uint32Array.from({ length: n }, () => pool[next() % pool.length] ^ (next() & 0x80000000));
  };

  it('rank(r) is pruneThreshold(values, r + 1).bits and countIn(lo, hi) the count in [lo, hi], in sorted-whole and bucketed sets', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 7, 1024, 1025, 3000, 20_000),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        (n, distinct, seed) => {
          const bits = sampleBits(n, distinct, seed);
          const values = new Float32Array(bits.buffer);
          const mags = Array.from(bits, (b) => b & 0x7fffffff);
          const ranks = new MagnitudeRanks(bits);
          expect(ranks.size).toBe(n);
          const rs = new Set([0, n - 1, n >> 1, (seed % n) >>> 0, ((seed >>> 7) % n) >>> 0]);
          for (const r of rs) expect(ranks.rank(r), `n ${n} rank ${r}`).toBe(pruneThreshold(values, r + 1).bits);
          const probes = [0, 0x7fffffff, ...[...rs].map((r) => ranks.rank(r)), mags[seed % n] + 1, 0x3f080000];
          for (const lo of probes)
            for (const hi of probes) {
              const want = mags.filter((m) => m >= lo && m <= hi).length;
              expect(ranks.countIn(lo, hi), `n ${n} [${lo}, ${hi}]`).toBe(want);
            }
          // The input is read, not changed.
          expect(bits).toEqual(sampleBits(n, distinct, seed));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('every rank of a bucketed set is the sorted order, and a rank outside the set throws', () => {
    const bits = sampleBits(4096, 300, 77);
    const sorted = Array.from(bits, (b) => b & 0x7fffffff).sort((a, b) => a - b);
    const ranks = new MagnitudeRanks(bits);
    for (let r = 0; r < sorted.length; r++) expect(ranks.rank(r)).toBe(sorted[r]);
    expect(() => ranks.rank(4096)).toThrow(/outside/);
    expect(() => ranks.rank(-1)).toThrow(/outside/);
  });

  it('bucket counts made by the caller (rankSlot) give the same order statistics; counts of another set are refused', () => {
    for (const [n, distinct, seed] of [
      [1025, 9, 5],
      [20_000, 4000, 6],
      [5000, 2, 7],
    ]) {
      const bits = sampleBits(n, distinct, seed);
      const counts = new Uint32Array(RANK_SLOTS);
      for (const b of bits) counts[rankSlot(b)]++;
      const own = new MagnitudeRanks(bits);
      const given = new MagnitudeRanks(bits, counts);
      for (let r = 0; r < n; r += 7) expect(given.rank(r)).toBe(own.rank(r));
      expect(given.countIn(0x3f000000, 0x3f080000)).toBe(own.countIn(0x3f000000, 0x3f080000));
      const other = new Uint32Array(RANK_SLOTS);
      other[rankSlot(0x3f000000)] = n - 1;
      expect(() => new MagnitudeRanks(bits, other)).toThrow(/not/);
      expect(() => new MagnitudeRanks(bits, new Uint32Array(RANK_SLOTS - 1))).toThrow(/slots/);
    }
  });
});
