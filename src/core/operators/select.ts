/**
 * Exact selection: which elements survive a top-k, a pruning or a random mask. The CPU (this file)
 * and the GPU kernels (src/gpu) implement the SAME rules and must agree bit for bit on the mask.
 *
 * MAGNITUDE ORDER
 *   mag(x) = (float32 bits of x) & 0x7fffffff — the bit pattern with the sign cleared, compared as
 *   an unsigned integer. So -0 == +0, subnormals order correctly, +Inf > every finite value, and
 *   every NaN (whatever its sign or payload) orders ABOVE +Inf, NaNs among themselves by payload
 *   bits. Operators never produce NaN from finite inputs; the rule only makes the order total.
 *
 * TOP-K (sparse task delta, TIES trimming)
 *   k = int(density × n) = floor(density × n) computed in float64 on the host, density in [0, 1]:
 *   mergekit's count (sparsify.magnitude), so the same elements survive. Elements are ordered by mag descending, ties by LOWER element index
 *   first (the index within the whole tensor — or within the whole model for model-wide trimming,
 *   where a tensor's elements follow the tensors before it in model order). The first k survive.
 *   The cutoff is a pair (bits, index) and element i (mag m) survives iff
 *       m > bits  ||  (m == bits && i < index)
 *   (index is one past the last kept element among those with mag == bits). k = 0 gives
 *   bits = 0x80000000 (above every magnitude), index = 0: nothing survives.
 *
 * BOTTOM-M (magnitude pruning)
 *   m = n − int((1 − fraction) × n): the kept count is mergekit's int(density × n) with
 *   density = 1 − fraction. Ordered by mag ascending, ties by LOWER index first;
 *   the first m are pruned (set to +0). Element i is pruned iff
 *       mag < bits  ||  (mag == bits && i < index)
 *   m = 0 gives bits = 0, index = 0: nothing is pruned. Note that the kept set of a pruning is
 *   NOT the top-(n−m) set: at a tie the lower indices are pruned, so the higher ones are kept.
 *
 * Both cutoffs are computed exactly by a radix select over the 31 magnitude bits: a histogram
 * of the high 16 bits, one of the low 15 bits within the chosen high digit, then one walk in
 * index order to place the index among the elements equal to the cutoff's magnitude. This file
 * is the CPU's one radix select: in memory (magnitudeThreshold, pruneThreshold), over a tensor
 * seen only in chunks (StreamingSelect, CutoffCursor, streamedThreshold: a streaming breed never
 * holds a whole tensor), and split by range across a worker pool (the range kernels in fast/ call
 * histHigh, histLow and descend on their ranges). The GPU has its own in WGSL
 * (src/gpu/radix-select.wgsl, driven from src/gpu/radix-select.ts); any exact method gives the
 * same cutoff because the order is total.
 *
 * RANDOM MASKS (DARE, crossover, mutation)
 *   key = tensorKey(seed, tensorName)                        (prng.ts)
 *   u(i, stream) = randomUnit(key, i, stream)                = (randomU32(key, i, stream) >>> 8) / 2^24
 *   DARE keeps delta element i of parent j (0-based, base not counted) iff
 *       u(i, j) >= fround(p)
 *   p is rounded to float32 FIRST (Math.fround) so that the comparison is exact on both sides
 *   (u is a multiple of 2^-24). i is the element index within the whole tensor, so a chunk that
 *   starts at element `offset` uses i = offset + local index and the mask does not depend on
 *   chunking. Other streams are documented where they are used (crossover.cpu.ts, mutate.cpu.ts).
 */
import { streamKey, tensorKey, unitAt } from './prng.ts';

/** The sign-cleared float32 bits of each element, as a view (no copy) or a fresh array. */
export function magnitudeBits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

export interface Cutoff {
  /** Sign-cleared float32 bits of the cutoff magnitude (0x80000000 when nothing is selected by a top-k). */
  bits: number;
  /** One past the last selected index among the elements whose magnitude equals `bits`. */
  index: number;
}

/** Nothing survives a top-k with this cutoff. */
export const KEEP_NONE: Cutoff = Object.freeze({ bits: 0x80000000, index: 0 });
/** Nothing is pruned with this cutoff. */
export const PRUNE_NONE: Cutoff = Object.freeze({ bits: 0, index: 0 });

/** How many of n elements a top-k with this density keeps: int(density × n), as mergekit counts. Throws unless 0 ≤ density ≤ 1. */
export function selectCount(density: number, n: number): number {
  if (!(density >= 0 && density <= 1)) throw new Error(`selection fraction ${density} is outside [0, 1]`);
  return Math.min(n, Math.floor(density * n));
}

/** How many of n elements a pruning of this fraction zeroes: n − int((1 − fraction) × n), so that int(density × n) are kept. */
export function pruneCount(fraction: number, n: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`prune fraction ${fraction} is outside [0, 1]`);
  return n - Math.min(n, Math.floor((1 - fraction) * n));
}

/** The two radix digits of a magnitude's 31 bits: the high 16 (bits 30…15), then the low 15. */
export const HIGH_SHIFT = 15;
export const HIGH_SIZE = 1 << 16;
export const LOW_SIZE = 1 << 15;
export const LOW_MASK = LOW_SIZE - 1;

/** Count v[start, end)'s magnitudes by their high digit into h (HIGH_SIZE bins). */
export function histHigh(v: Uint32Array, h: Uint32Array, start = 0, end = v.length): void {
  for (let i = start; i < end; i++) h[(v[i] & 0x7fffffff) >>> HIGH_SHIFT]++;
}

/** Count the low digits of v[start, end)'s magnitudes whose high digit is `prefix` into h (LOW_SIZE bins). */
export function histLow(v: Uint32Array, prefix: number, h: Uint32Array, start = 0, end = v.length): void {
  for (let i = start; i < end; i++) {
    const m = v[i] & 0x7fffffff;
    if (m >>> HIGH_SHIFT === prefix) h[m & LOW_MASK]++;
  }
}

/** Candidates one range of a refinement pass lists at most (pairs of u32: 2 MiB). */
export const CANDIDATES_MAX = 1 << 18;

/**
 * The refinement pass on the candidate bucket only: histLow over v[start, end), and the first
 * `at.length / 2` candidates (elements whose high digit is `prefix`) recorded as pairs
 * (base + i, magnitude) in index order. Returns `count` plus the range's candidates; when that
 * exceeds `at.length / 2` the list is incomplete and the index needs the ordered walk instead.
 * With every range's list complete, candidateIndex places the index without another pass.
 */
export function histLowCandidates(
  v: Uint32Array,
  prefix: number,
  h: Uint32Array,
  at: Uint32Array,
  count: number,
  base: number,
  start = 0,
  end = v.length,
): number {
  const cap = at.length >>> 1;
  for (let i = start; i < end; i++) {
    const m = v[i] & 0x7fffffff;
    if (m >>> HIGH_SHIFT === prefix) {
      h[m & LOW_MASK]++;
      if (count < cap) {
        at[2 * count] = base + i;
        at[2 * count + 1] = m;
      }
      count++;
    }
  }
  return count;
}

/** One range's refinement pass: its low-digit histogram and its candidate list (null when it has more than CANDIDATES_MAX). */
export interface CandidatePart {
  h: Uint32Array;
  count: number;
  at: Uint32Array | null;
}

/** A range's CandidatePart from histLowCandidates' histogram, list and count (the list trimmed to its candidates, or null). */
export function candidatePart(h: Uint32Array, at: Uint32Array, count: number): CandidatePart {
  return { h, count, at: count <= at.length / 2 ? at.slice(0, 2 * count) : null };
}

/**
 * One past the `remaining`-th candidate (in list order: ranges in index order) whose magnitude is
 * `bits`, from histLowCandidates' complete lists (pairs position, magnitude); -1 when fewer.
 */
export function candidateIndex(lists: readonly Uint32Array[], counts: readonly number[], bits: number, remaining: number): number {
  for (let t = 0; t < lists.length; t++) {
    const at = lists[t];
    for (let c = 0; c < counts[t]; c++) if (at[2 * c + 1] === bits && --remaining === 0) return at[2 * c] + 1;
  }
  return -1;
}

/**
 * The digit holding the `remaining`-th element, walking the histogram from the top (the k
 * largest, `top`) or from the bottom, and how many are left to take at that digit.
 */
export function descend(hist: Uint32Array, remaining: number, top = true): { digit: number; remaining: number } {
  for (let i = 0; i < hist.length; i++) {
    const d = top ? hist.length - 1 - i : i;
    const c = hist[d];
    if (c >= remaining) return { digit: d, remaining };
    remaining -= c;
  }
  throw new Error('radix select lost its place: the histograms hold fewer than k elements (internal error)');
}

/**
 * The radix select over several arrays laid end to end (global index = array offset + local
 * index). `top` picks the k largest (descending), otherwise the k smallest (ascending); ties are
 * always taken lowest index first.
 */
function radixSelect(arrays: readonly Float32Array[], k: number, top: boolean): Cutoff {
  let total = 0;
  for (const a of arrays) total += a.length;
  if (!Number.isInteger(k) || k < 0 || k > total) throw new Error(`select count ${k} is outside [0, ${total}]`);
  if (k === 0) return top ? { ...KEEP_NONE } : { ...PRUNE_NONE };
  const views = arrays.map(magnitudeBits);
  const high = new Uint32Array(HIGH_SIZE);
  for (const v of views) histHigh(v, high);
  const a = descend(high, k, top);
  const low = new Uint32Array(LOW_SIZE);
  for (const v of views) histLow(v, a.digit, low);
  const b = descend(low, a.remaining, top);
  const bits = ((a.digit << HIGH_SHIFT) | b.digit) >>> 0;
  // `bits` is the magnitude of the k-th element; `remaining` of the elements equal to it are taken, lowest index first.
  let remaining = b.remaining;
  let offset = 0;
  for (const v of views) {
    for (let i = 0; i < v.length; i++) {
      if ((v[i] & 0x7fffffff) === bits && --remaining === 0) return { bits, index: offset + i + 1 };
    }
    offset += v.length;
  }
  throw new Error('radix select lost its place (internal error)');
}

/** The order statistics' bucket digit: a magnitude's high 12 bits (of 31), 1/16 of a binade a bucket. */
const RANK_SHIFT = 19;
const RANK_BINS = 1 << 12;
/** Sets up to this size are sorted whole (no buckets). */
export const RANK_SORT_ALL = 1 << 10;
/** Entries of MagnitudeRanks' bucket counts: counts[rankSlot(bits)]++ per element, counts[0] stays 0. */
export const RANK_SLOTS = RANK_BINS + 1;
/** The slot of an element's float32 bits (sign ignored) in MagnitudeRanks' bucket counts. */
export const rankSlot = (bits: number): number => ((bits & 0x7fffffff) >>> RANK_SHIFT) + 1;

/**
 * Exact order statistics of a set of magnitudes (a small sample, e.g. the window stage's): rank(r)
 * is the r-th smallest (0-based) magnitude, as pruneThreshold(values, r + 1).bits gives it, and
 * countIn(lo, hi) how many lie in [lo, hi]. One counting pass by the high 12 bits (or the caller's
 * counts); a bucket is gathered (one scan) and sorted when a query first needs it, so a few nearby
 * ranks cost a pass and a scan and sort of one or two buckets, not a radix select each.
 */
export class MagnitudeRanks {
  /** The set, sorted whole (small sets), or null. */
  private readonly whole: Uint32Array | null;
  /** cum[d]: how many magnitudes have a high digit below d (RANK_SLOTS entries); null when sorted whole. */
  private readonly cum: Uint32Array | null;
  /** The buckets gathered so far, sorted. */
  private readonly buckets = new Map<number, Uint32Array>();

  /**
   * `bits`: float32 bit patterns (signs are ignored), read when a bucket is first queried: the
   * caller leaves them unchanged while it queries. `counts`, where the caller has counted the
   * buckets as it made `bits` (RANK_SLOTS entries, counts[rankSlot(b)]++ for each), saves the
   * counting pass; it is taken over (made cumulative in place).
   */
  constructor(
    private readonly bits: Uint32Array,
    counts?: Uint32Array,
  ) {
    const n = bits.length;
    if (n <= RANK_SORT_ALL) {
      const m = new Uint32Array(n);
      for (let i = 0; i < n; i++) m[i] = bits[i] & 0x7fffffff;
      m.sort();
      this.whole = m;
      this.cum = null;
      return;
    }
    let cum = counts;
    if (cum) {
      if (cum.length !== RANK_SLOTS || cum[0] !== 0) throw new Error(`MagnitudeRanks: bucket counts need ${RANK_SLOTS} slots, the first 0`);
    } else {
      cum = new Uint32Array(RANK_SLOTS);
      for (let i = 0; i < n; i++) cum[((bits[i] & 0x7fffffff) >>> RANK_SHIFT) + 1]++;
    }
    for (let d = 0; d < RANK_BINS; d++) cum[d + 1] += cum[d];
    if (cum[RANK_BINS] !== n) throw new Error(`MagnitudeRanks: the bucket counts hold ${cum[RANK_BINS]} elements, not ${n}`);
    this.whole = null;
    this.cum = cum;
  }

  get size(): number {
    return this.bits.length;
  }

  /** Bucket d's magnitudes, sorted. */
  private bucket(d: number): Uint32Array {
    let b = this.buckets.get(d);
    if (!b) {
      const cum = this.cum!;
      b = new Uint32Array(cum[d + 1] - cum[d]);
      const v = this.bits;
      for (let i = 0, c = 0; c < b.length; i++) {
        const x = v[i] & 0x7fffffff;
        if (x >>> RANK_SHIFT === d) b[c++] = x;
      }
      b.sort();
      this.buckets.set(d, b);
    }
    return b;
  }

  /** The r-th smallest magnitude (0-based; 0 ≤ r < size). */
  rank(r: number): number {
    const n = this.bits.length;
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new Error(`rank ${r} is outside [0, ${n})`);
    const cum = this.cum;
    if (!cum) return this.whole![r];
    // The bucket d with cum[d] <= r < cum[d + 1].
    let a = 0,
      z = RANK_BINS - 1;
    while (a < z) {
      const c = (a + z + 1) >>> 1;
      if (cum[c] <= r) a = c;
      else z = c - 1;
    }
    return this.bucket(a)[r - cum[a]];
  }

  /** How many magnitudes are below x (x in [0, 2³¹]). */
  private countBelow(x: number): number {
    if (x >= 0x80000000) return this.bits.length;
    const cum = this.cum;
    const d = x >>> RANK_SHIFT;
    const b = cum ? this.bucket(d) : this.whole!;
    let a = 0,
      z = b.length;
    while (a < z) {
      const c = (a + z) >>> 1;
      if (b[c] < x) a = c + 1;
      else z = c;
    }
    return (cum ? cum[d] : 0) + a;
  }

  /** How many magnitudes lie in [lo, hi] (0 ≤ lo, hi ≤ 0x7fffffff). */
  countIn(lo: number, hi: number): number {
    return hi < lo ? 0 : this.countBelow(hi + 1) - this.countBelow(lo);
  }
}

/** The exact top-k cutoff of `values` by magnitude (see the header for the rule). */
export function magnitudeThreshold(values: Float32Array, k: number): Cutoff {
  return radixSelect([values], k, true);
}

/** The top-k cutoff over several tensors taken as one vector, in the given order (model-wide trimming). */
export function magnitudeThresholdMulti(arrays: readonly Float32Array[], k: number): Cutoff {
  return radixSelect(arrays, k, true);
}

/** The exact cutoff of the m smallest magnitudes (pruning; see the header). */
export function pruneThreshold(values: Float32Array, m: number): Cutoff {
  return radixSelect([values], m, false);
}

/** A global (model-wide) cutoff seen from one tensor that starts at element `offset`. */
export function localCutoff(cutoff: Cutoff, offset: number, n: number): Cutoff {
  return { bits: cutoff.bits, index: Math.max(0, Math.min(n, cutoff.index - offset)) };
}

/** Whether element `i` (global index) with magnitude bits `mag` survives a top-k cutoff. */
export function isKept(mag: number, i: number, c: Cutoff): boolean {
  return mag > c.bits || (mag === c.bits && i < c.index);
}

/** Whether element `i` with magnitude bits `mag` is pruned by a bottom-m cutoff. */
export function isPruned(mag: number, i: number, c: Cutoff): boolean {
  return mag < c.bits || (mag === c.bits && i < c.index);
}

/** 1 where an element survives the top-k cutoff. `offset` is the index of values[0] in the tensor. */
export function keepMask(values: Float32Array, cutoff: Cutoff, offset = 0): Uint8Array {
  const v = magnitudeBits(values);
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = isKept(v[i] & 0x7fffffff, offset + i, cutoff) ? 1 : 0;
  return out;
}

/** 1 where an element is pruned by the bottom-m cutoff. `offset` is the index of values[0] in the tensor. */
export function pruneMask(values: Float32Array, cutoff: Cutoff, offset = 0): Uint8Array {
  const v = magnitudeBits(values);
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = isPruned(v[i] & 0x7fffffff, offset + i, cutoff) ? 1 : 0;
  return out;
}

/** Mask of the top int(density·n) elements by magnitude. */
export function topKMask(values: Float32Array, density: number): Uint8Array {
  return keepMask(values, magnitudeThreshold(values, selectCount(density, values.length)));
}

/**
 * The DARE mask: 1 where element (offset + i) survives, i.e. randomUnit(key, offset + i, stream) >= fround(p),
 * with key = tensorKey(seed, name). Chunks computed with their offsets concatenate to the whole mask.
 */
export function randomKeepMask(seed: number, name: string, n: number, p: number, stream = 0, offset = 0): Uint8Array {
  if (!(p >= 0 && p <= 1)) throw new Error(`drop probability ${p} is outside [0, 1]`);
  const sk = streamKey(tensorKey(seed, name), stream);
  const pf = Math.fround(p);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = unitAt(sk, offset + i) >= pf ? 1 : 0;
  return out;
}

/*
 * STREAMING: the same top-k cutoff from a tensor that is only ever seen in chunks, in index
 * order, so a streaming breed never holds a whole tensor. Two histogram passes over the chunks
 * fix `bits` and how many of the elements equal to it are taken (`takeEqual`); the index then
 * falls out of one more ordered walk, which a breed does anyway when it applies the cutoff:
 * CutoffCursor hands each chunk its cutoff in tensor coordinates (so the per-chunk kernels can
 * use the usual trimBits/trimIndex parameters) and ends at the whole tensor's index.
 * Memory: 256 KiB + 128 KiB of histograms per selection, whatever the tensor size.
 */

export const STREAM_PASSES = Object.freeze(['high', 'low', 'done'] as const);
export type StreamPass = (typeof STREAM_PASSES)[number];

/**
 * Streaming top-k by magnitude over n elements. Feed every chunk (any sizes, in any order within
 * a pass) to add(), call endPass(), repeat for the second pass; then `bits` and `takeEqual` are
 * known and cursor() walks the chunks in index order to place the index.
 */
export class StreamingTopK {
  private passName: StreamPass = 'high';
  private high: Uint32Array | null = new Uint32Array(HIGH_SIZE);
  private low: Uint32Array | null = null;
  private seen = 0;
  private prefix = 0;
  private remaining: number;
  private result: { bits: number; takeEqual: number } | null = null;

  constructor(
    readonly n: number,
    readonly k: number,
  ) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`streaming top-k: element count ${n} is not a non-negative integer`);
    if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`streaming top-k: select count ${k} is outside [0, ${n}]`);
    this.remaining = k;
    if (k === 0) {
      this.passName = 'done';
      this.high = null;
      this.result = { bits: KEEP_NONE.bits, takeEqual: 0 };
    }
  }

  /** The pass the next add() calls belong to ('done' once the cutoff's magnitude is known). */
  get pass(): StreamPass {
    return this.passName;
  }

  /** Count one chunk of magnitudes (its values; signs are ignored) in the current pass. */
  add(values: Float32Array): void {
    const v = magnitudeBits(values);
    this.seen += v.length;
    if (this.passName === 'high') histHigh(v, this.high!);
    else if (this.passName === 'low') histLow(v, this.prefix, this.low!);
    else {
      throw new Error('streaming top-k: add() after both passes are done; use cursor()');
    }
  }

  /** Close the current pass: every one of the n elements must have been added exactly once. */
  endPass(): void {
    if (this.passName === 'done') throw new Error('streaming top-k: endPass() after both passes are done');
    if (this.seen !== this.n) throw new Error(`streaming top-k: the ${this.passName} pass saw ${this.seen} elements, expected ${this.n}`);
    this.seen = 0;
    if (this.passName === 'high') {
      const d = descend(this.high!, this.remaining);
      this.prefix = d.digit;
      this.remaining = d.remaining;
      this.high = null;
      this.low = new Uint32Array(LOW_SIZE);
      this.passName = 'low';
    } else {
      const d = descend(this.low!, this.remaining);
      this.low = null;
      this.result = { bits: ((this.prefix << HIGH_SHIFT) | d.digit) >>> 0, takeEqual: d.remaining };
      this.passName = 'done';
    }
  }

  /** The cutoff's magnitude bits and how many elements of exactly that magnitude survive (lowest index first). */
  get cutoffBits(): { bits: number; takeEqual: number } {
    if (!this.result)
      throw new Error(`streaming top-k: the cutoff is not known until both passes are done (now in the ${this.passName} pass)`);
    return this.result;
  }

  /** A walk over the chunks in index order that gives each chunk its cutoff (see CutoffCursor). */
  cursor(): CutoffCursor {
    const r = this.cutoffBits;
    return new CutoffCursor(this.n, r.bits, r.takeEqual);
  }
}

/**
 * Walks the chunks of a tensor in index order. next(values, offset) returns the cutoff for the
 * chunk that starts at element `offset` (in tensor coordinates, so isKept(mag, offset + j, c) is
 * the rule), having counted that chunk's elements equal to the cutoff magnitude. After the last
 * chunk, cutoff() is the whole tensor's cutoff, equal to magnitudeThreshold's.
 */
export class CutoffCursor {
  private at = 0;
  private index: number;
  constructor(
    readonly n: number,
    readonly bits: number,
    private remaining: number,
  ) {
    // No equal element taken (takeEqual 0 only when k = 0): the index stays 0.
    this.index = 0;
  }

  next(values: Float32Array, offset: number): Cutoff {
    if (offset !== this.at) throw new Error(`cutoff cursor: chunk at ${offset} out of order (expected ${this.at})`);
    const v = magnitudeBits(values);
    this.at += v.length;
    if (this.at > this.n) throw new Error(`cutoff cursor: chunks run past the tensor's ${this.n} elements`);
    if (this.remaining === 0) return { bits: this.bits, index: this.index };
    const want = this.bits;
    for (let j = 0; j < v.length; j++) {
      if ((v[j] & 0x7fffffff) === want && --this.remaining === 0) {
        this.index = offset + j + 1;
        return { bits: want, index: this.index };
      }
    }
    // Every equal element of this chunk is taken.
    return { bits: want, index: offset + v.length };
  }

  /** The whole tensor's cutoff as soon as every taken element equal to it has been seen (later chunks cannot change it), else null. */
  settled(): Cutoff | null {
    return this.remaining === 0 ? { bits: this.bits, index: this.index } : null;
  }

  /** The whole tensor's cutoff; every chunk must have been walked. */
  cutoff(): Cutoff {
    if (this.at !== this.n) throw new Error(`cutoff cursor: walked ${this.at} of ${this.n} elements`);
    if (this.remaining !== 0)
      throw new Error('cutoff cursor: fewer elements equal to the cutoff than the histograms counted (were the chunks the same?)');
    return { bits: this.bits, index: this.index };
  }
}

/**
 * The exact top-k cutoff of a tensor seen through `block(start, end)`, which returns the
 * magnitudes' source values for [start, end) (e.g. a delta computed into a scratch buffer):
 * two histogram passes and one ordered walk, `blockSize` elements at a time. Equal to
 * magnitudeThreshold on the whole tensor, without ever holding it.
 */
export function streamedThreshold(n: number, k: number, block: (start: number, end: number) => Float32Array, blockSize = 1 << 16): Cutoff {
  const sel = new StreamingTopK(n, k);
  if (k === 0) return { ...KEEP_NONE };
  while (sel.pass !== 'done') {
    for (let s = 0; s < n; s += blockSize) sel.add(block(s, Math.min(n, s + blockSize)));
    sel.endPass();
  }
  const cur = sel.cursor();
  for (let s = 0; s < n; s += blockSize) {
    cur.next(block(s, Math.min(n, s + blockSize)), s);
    const done = cur.settled();
    if (done) return done;
  }
  return cur.cutoff();
}
