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
 * Both cutoffs are computed exactly by a three-pass radix select over the 31 magnitude bits
 * (digits of 11, 10 and 10 bits, most significant first), followed by one scan in index order
 * to place the index among the elements equal to the cutoff's magnitude. A GPU can do the same
 * with histogram passes; any exact method gives the same cutoff because the order is total.
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

const PASSES: readonly { shift: number; width: number }[] = [
  { shift: 20, width: 11 },
  { shift: 10, width: 10 },
  { shift: 0, width: 10 },
];

/**
 * The shared radix select over several arrays laid end to end (global index = array offset +
 * local index). `top` picks the k largest (descending), otherwise the k smallest (ascending);
 * ties are always taken lowest index first.
 */
function radixSelect(arrays: readonly Float32Array[], k: number, top: boolean): Cutoff {
  let total = 0;
  for (const a of arrays) total += a.length;
  if (!Number.isInteger(k) || k < 0 || k > total) throw new Error(`select count ${k} is outside [0, ${total}]`);
  if (k === 0) return top ? { ...KEEP_NONE } : { ...PRUNE_NONE };
  const views = arrays.map(magnitudeBits);
  let prefix = 0;
  let mask = 0;
  let remaining = k;
  for (const { shift, width } of PASSES) {
    const size = 1 << width;
    const digitMask = size - 1;
    const hist = new Uint32Array(size);
    for (const v of views) {
      for (let i = 0; i < v.length; i++) {
        const m = v[i] & 0x7fffffff;
        if ((m & mask) === prefix) hist[(m >>> shift) & digitMask]++;
      }
    }
    let d = top ? size - 1 : 0;
    const step = top ? -1 : 1;
    for (;;) {
      const c = hist[d];
      if (c >= remaining) break;
      remaining -= c;
      d += step;
    }
    prefix = (prefix | (d << shift)) >>> 0;
    mask = (mask | (digitMask << shift)) >>> 0;
  }
  // `prefix` is the magnitude of the k-th element; `remaining` of the elements equal to it are taken, lowest index first.
  let offset = 0;
  for (const v of views) {
    for (let i = 0; i < v.length; i++) {
      if ((v[i] & 0x7fffffff) === prefix && --remaining === 0) return { bits: prefix, index: offset + i + 1 };
    }
    offset += v.length;
  }
  throw new Error('radix select lost its place (internal error)');
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
