/**
 * The exact top-k cutoff of select.ts (magnitudeThreshold), computed from a tensor that is only
 * ever seen in chunks, in index order, so a streaming breed never holds a whole tensor.
 *
 * Same rule as select.ts: mag(x) = float32 bits & 0x7fffffff as an unsigned integer; the k
 * largest survive, ties by LOWER index; the cutoff is (bits, index) and element i survives iff
 * mag > bits || (mag == bits && i < index).
 *
 * Two histogram passes over the chunks (a radix select with digits of 16 and 15 bits, most
 * significant first) fix `bits` and how many of the elements equal to it are taken (`takeEqual`).
 * The index then falls out of one more ordered walk, which a breed does anyway when it applies
 * the cutoff: CutoffCursor hands each chunk its cutoff in tensor coordinates (so the per-chunk
 * kernels can use the usual trimBits/trimIndex parameters) and ends at the whole tensor's index.
 *
 * Memory: 256 KiB + 128 KiB of histograms per selection, whatever the tensor size.
 */
import { KEEP_NONE, type Cutoff } from '../select.ts';

/** The two digits of the magnitude's 31 bits: the high 16 (bits 30…15), then the low 15. */
export const HIGH_SHIFT = 15;
export const HIGH_SIZE = 1 << 16;
export const LOW_SIZE = 1 << 15;
export const LOW_MASK = LOW_SIZE - 1;

export const STREAM_PASSES = Object.freeze(['high', 'low', 'done'] as const);
export type StreamPass = (typeof STREAM_PASSES)[number];

const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

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

  constructor(readonly n: number, readonly k: number) {
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
    const v = u32(values);
    this.seen += v.length;
    if (this.passName === 'high') {
      const h = this.high!;
      for (let i = 0; i < v.length; i++) h[(v[i] & 0x7fffffff) >>> HIGH_SHIFT]++;
    } else if (this.passName === 'low') {
      const h = this.low!;
      const want = this.prefix;
      for (let i = 0; i < v.length; i++) {
        const m = v[i] & 0x7fffffff;
        if (m >>> HIGH_SHIFT === want) h[m & LOW_MASK]++;
      }
    } else {
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
    if (!this.result) throw new Error(`streaming top-k: the cutoff is not known until both passes are done (now in the ${this.passName} pass)`);
    return this.result;
  }

  /** A walk over the chunks in index order that gives each chunk its cutoff (see CutoffCursor). */
  cursor(): CutoffCursor {
    const r = this.cutoffBits;
    return new CutoffCursor(this.n, r.bits, r.takeEqual);
  }
}

/** From the top digit down, the digit holding the `remaining`-th largest and how many are left to take at it. */
export function descend(hist: Uint32Array, remaining: number): { digit: number; remaining: number } {
  for (let d = hist.length - 1; d >= 0; d--) {
    const c = hist[d];
    if (c >= remaining) return { digit: d, remaining };
    remaining -= c;
  }
  throw new Error('streaming top-k lost its place: the histograms hold fewer than k elements (internal error)');
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
  constructor(readonly n: number, readonly bits: number, private remaining: number) {
    // No equal element taken (takeEqual 0 only when k = 0): the index stays 0.
    this.index = 0;
  }

  next(values: Float32Array, offset: number): Cutoff {
    if (offset !== this.at) throw new Error(`cutoff cursor: chunk at ${offset} out of order (expected ${this.at})`);
    const v = u32(values);
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
    if (this.remaining !== 0) throw new Error('cutoff cursor: fewer elements equal to the cutoff than the histograms counted (were the chunks the same?)');
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
