/**
 * The range kernel of magnitude pruning (prune.cpu.ts, the oracle): the exact bottom-m cutoff of
 * select.ts (mag ascending, ties by lower index first), found across the pool in passes split by
 * range: one window pass around a sampled cutoff (task-arithmetic.ts pruneWindow, windowCutoff) where it serves and hits,
 * else select.ts's radix select (a 16-bit and a 15-bit histogram, then the index among
 * equal magnitudes), then one element-wise pass: out = 0 where pruned, else x.
 */
import type { ParamValues, TensorContext } from '../types.ts';
import type { RangeKernel } from './kernels.ts';
import { reduceLocally, type ReducePlan, type ReduceStep } from './reduce.ts';
import { passLoops, vectorEnd, type WindowPart } from './loops.ts';
import { num } from '../params.ts';
import { binWindowPart, pruneWindow, windowBins, windowCutoff } from './task-arithmetic.ts';
import {
  candidateIndex,
  candidatePart,
  CANDIDATES_MAX,
  type CandidatePart,
  descend,
  HIGH_SHIFT,
  HIGH_SIZE,
  histHigh,
  histLowCandidates,
  LOW_SIZE,
  pruneCount,
  PRUNE_NONE,
} from '../select.ts';

const EQUAL_POSITIONS = 64;

interface Carry {
  stage: 'window' | 'high' | 'low' | 'equal';
  m: number;
  /** The window stage's bounds of magnitude bits (task-arithmetic.ts pruneWindow). */
  lo?: number;
  hi?: number;
  prefix?: number;
  remaining?: number;
  bits?: number;
}

const u32 = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

const plan: ReducePlan = {
  start(inputs, params): ReduceStep {
    const m = pruneCount(num(params, 'fraction'), inputs[0].length);
    if (m === 0) return { params: { pruneBits: PRUNE_NONE.bits, pruneIndex: PRUNE_NONE.index } };
    // One pass over a sampled window of magnitudes where it serves; the radix passes otherwise (or after a miss).
    const w = pruneWindow(inputs[0], m);
    if (w) return { carry: { stage: 'window', m, lo: w[0], hi: w[1] } satisfies Carry };
    return { carry: { stage: 'high', m } satisfies Carry };
  },
  partial(_pass, carry, inputs, _params, _ctx, start, end) {
    const c = carry as Carry;
    const v = u32(inputs[0]);
    // The lent loops take the vector part of the range where they can, JavaScript the rest.
    const loops = passLoops();
    if (c.stage === 'window') {
      const [lo, hi] = [c.lo!, c.hi!];
      const lent = loops?.window([lo], [hi], null, [inputs[0]], start, end)?.[0];
      let [above, below] = [lent?.above ?? 0, lent?.below ?? 0];
      const list: number[] = [];
      for (let i = lent ? vectorEnd(start, end) : start; i < end; i++) {
        const m = v[i] & 0x7fffffff;
        if (m > hi) above++;
        else if (m < lo) below++;
        else list.push(i, m);
      }
      const at = new Uint32Array((lent?.at.length ?? 0) + list.length);
      if (lent) at.set(lent.at);
      at.set(list, at.length - list.length);
      return binWindowPart({ count: at.length / 2, above, below, at }, lo, hi, windowBins(v.length));
    }
    if (c.stage === 'high') {
      const h = new Uint32Array(HIGH_SIZE);
      const lent = loops?.histHigh([h], null, [inputs[0]], start, end);
      histHigh(v, h, lent ? vectorEnd(start, end) : start, end);
      return h;
    }
    if (c.stage === 'low') {
      const cap = Math.min(CANDIDATES_MAX, end - start);
      const lent = loops?.lowCandidates([c.prefix!], null, [inputs[0]], start, end, cap)?.[0];
      const h = lent?.h ?? new Uint32Array(LOW_SIZE);
      const at = lent?.at ?? new Uint32Array(2 * cap);
      const count = histLowCandidates(v, c.prefix!, h, at, lent?.count ?? 0, 0, lent ? vectorEnd(start, end) : start, end);
      return candidatePart(h, at, count);
    }
    const want = c.bits!;
    let count = 0;
    const at: number[] = [];
    for (let i = start; i < end; i++) {
      if ((v[i] & 0x7fffffff) === want) {
        if (at.length < EQUAL_POSITIONS) at.push(i);
        count++;
      }
    }
    return { count, at };
  },
  merge(_pass, carry, partials, ranges, inputs) {
    const c = carry as Carry;
    if (c.stage === 'window') {
      const cut = windowCutoff(partials as WindowPart[], { k: c.m }, c.lo!, c.hi!, windowBins(inputs[0].length), true);
      // A window that missed the cutoff: the radix passes.
      if (!cut) return { carry: { stage: 'high', m: c.m } satisfies Carry };
      return { params: { pruneBits: cut.bits, pruneIndex: cut.index } };
    }
    if (c.stage === 'high' || c.stage === 'low') {
      const low = partials as CandidatePart[];
      const h = new Uint32Array(c.stage === 'high' ? HIGH_SIZE : LOW_SIZE);
      for (const part of c.stage === 'high' ? (partials as Uint32Array[]) : low.map((x) => x.h))
        for (let d = 0; d < h.length; d++) h[d] += part[d];
      const r = descend(h, c.stage === 'high' ? c.m : c.remaining!, false);
      if (c.stage === 'high') return { carry: { ...c, stage: 'low', prefix: r.digit, remaining: r.remaining } satisfies Carry };
      const bits = ((c.prefix! << HIGH_SHIFT) | r.digit) >>> 0;
      // Every range listed its candidates: the index is placed from the lists, with no third pass.
      if (low.every((x) => x.at !== null)) {
        const index = candidateIndex(
          low.map((x) => x.at!),
          low.map((x) => x.count),
          bits,
          r.remaining,
        );
        if (index < 0) throw new Error('prune selection: fewer equal elements than counted (internal error)');
        return { params: { pruneBits: bits, pruneIndex: index } };
      }
      return { carry: { ...c, stage: 'equal', bits, remaining: r.remaining } satisfies Carry };
    }
    let r = c.remaining!;
    const v = u32(inputs[0]);
    for (const [t, part] of (partials as { count: number; at: number[] }[]).entries()) {
      if (part.count < r) {
        r -= part.count;
        continue;
      }
      if (r <= part.at.length) return { params: { pruneBits: c.bits!, pruneIndex: part.at[r - 1] + 1 } };
      const [s, e] = ranges[t];
      for (let i = s; i < e; i++)
        if ((v[i] & 0x7fffffff) === c.bits! && --r === 0) return { params: { pruneBits: c.bits!, pruneIndex: i + 1 } };
    }
    throw new Error('prune selection: fewer equal elements than counted (internal error)');
  },
};

function pruneRange(
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  _ctx: TensorContext,
  start: number,
  end: number,
): void {
  const x = inputs[0];
  const v = u32(x);
  const bits = params.pruneBits;
  const index = params.pruneIndex;
  if (typeof bits !== 'number' || typeof index !== 'number')
    throw new Error('prune range kernel: cutoff missing (the reduce plan runs first)');
  const from = passLoops()?.prune(x, out, bits, index, start, end) ? vectorEnd(start, end) : start;
  for (let i = from; i < end; i++) {
    const m = v[i] & 0x7fffffff;
    out[i] = m < bits || (m === bits && i < index) ? 0 : x[i];
  }
}

export const PRUNE_KERNEL: RangeKernel = {
  id: 'prune',
  bytesPerElement: (inputs) => 4 * (inputs + 1),
  reduce: plan,
  prepare: (inputs, params, ctx) => reduceLocally(plan, inputs, params, ctx),
  run: pruneRange,
};
