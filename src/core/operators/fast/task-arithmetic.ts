/**
 * The range kernel of the whole task-arithmetic family (task delta, sparse task delta, DARE, TIES,
 * DARE-TIES, federated, breadcrumbs with and without TIES): one configurable kernel, as the reference is one configurable function
 * (task-arithmetic.cpu.ts, the oracle). Bit-identical to it: per element, the same float32
 * operations in the same order, and every per-tensor quantity the reference sums over the whole
 * tensor is summed here in the same (element) order.
 *
 * Per-tensor work before the element-wise pass, as a reduce plan in stages (each stage only when
 * the parameters need it):
 *  1. clip   (clipNorm > 0, clipScope "tensor"): ‖dᵢ‖₂ per parent, float64 in element order:
 *            one worker per parent (an ordered sum cannot be split by range and stay exact).
 *  2. trim   (magnitude, density < 1, no cutoffs given): each parent's exact top-k cutoff; for
 *            breadcrumbs' outlier trim two bottom-k cutoffs per parent (lo: the nBot smallest,
 *            hi: all but the nTop largest). Split by range with select.ts's radix select: a 16-bit
 *            histogram pass (one per parent), a 15-bit pass on the candidate bucket that also
 *            lists the candidates, so the index among equal magnitudes needs no third pass (the
 *            ordered walk remains for a range with more than CANDIDATES_MAX candidates).
 *  3. rank   (DELLA, rows of at least DELLA_RANK_ROWS_FROM elements; a 1-D tensor is one row):
 *            each parent's keep probabilities, once, by parent, into shared memory that the L1
 *            pass and every range of the apply read (shorter rows are ranked by each range that
 *            touches them); with an L1 rescale it also sums the parent's norms, in element order.
 *  4. l1     (rescale "l1"): ‖dᵢ‖₁ before and after the sparsification, per parent, in order.
 * Then each range computes, in blocks of BLOCK elements, each parent's weighted sparse delta into
 * a float32 scratch (the reference's own storage, so every rounding is the same) and combines them.
 */
import type { ParamValues, TaskArithmeticConfig, TensorContext } from '../types.ts';
import type { RangeKernel } from './kernels.ts';
import { reduceLocally, type ReducePlan, type ReduceStep } from './reduce.ts';
import { passLoops, vectorEnd, type ApplySpec, type PassLoops, type WindowPart } from './loops.ts';
import { num, weightsOf } from '../params.ts';
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
  KEEP_NONE,
  LOW_SIZE,
  MagnitudeRanks,
  RANK_SLOTS,
  RANK_SORT_ALL,
  rankSlot,
} from '../select.ts';
import { streamKey, tensorKey, unitAt } from '../prng.ts';
import { dellaBounds, dellaKeepAt, keepCount, keptKey, normalizeDivisor, outlierCounts } from '../task-arithmetic.cpu.ts';

const f = Math.fround;
/** Elements per block: P parents' scratch blocks stay in L1/L2. */
const BLOCK = 4096;
/** mergekit's eps in rescaled_masked_tensor (task-arithmetic.cpu.ts). */
const L1_EPS = 1e-7;
/** Positions of the first equal elements a range reports, so the index is usually found without another scan. */
const EQUAL_POSITIONS = 64;

/** Everything a pass needs about one tensor's parameters, derived once per call. */
interface Plan {
  P: number;
  /** fround(wᵢ) */
  w: Float32Array;
  lambda: number;
  normalize: boolean;
  /** Multiplier of the clip step per parent (1: none). */
  clip: Float32Array;
  /** Magnitude trimming applies (density < 1). */
  trim: boolean;
  /** Breadcrumbs' outlier trim applies (density < 1): parent p keeps what cutoff 2p (lo) does not prune and 2p + 1 (hi) does. */
  outliers: boolean;
  random: boolean;
  /** DELLA's drop applies (density < 1): parent p's keep probabilities of row r (cached: rows are independent of each other). */
  della: ((p: number, row: number) => Float32Array) | null;
  /** Elements per row (DELLA ranks within rows: the first dimension; a 1-D tensor is one row). */
  cols: number;
  drop: number;
  /** Random masks' stream keys per parent. */
  sk: number[];
  /** Element index of the arrays' first element in the tensor (masks) and in the cutoffs' coordinates. */
  offset: number;
  trimOffset: number;
  bits: number[];
  index: number[];
  /** Multiplier of the rescale step per parent (1: none). */
  rescale: Float32Array;
}

function clipNormOf(params: ParamValues): number {
  return typeof params.clipNorm === 'number' ? params.clipNorm : 0;
}

/** Whether clipping needs the tensor's own norms (stage 1), after the reference's own checks. */
function needsClipNorms(params: ParamValues): boolean {
  if (!(clipNormOf(params) > 0) || Array.isArray(params.clipFactors)) return false;
  if (params.clipScope === 'update') throw new Error('update-wide clipping needs the model pre-pass (clipFactors); run it through breed');
  return true;
}

function trims(cfg: TaskArithmeticConfig, params: ParamValues): boolean {
  return cfg.sparsify === 'magnitude' && num(params, 'density') < 1;
}

function dropsDella(cfg: TaskArithmeticConfig, params: ParamValues): boolean {
  return cfg.sparsify === 'della' && num(params, 'density') < 1;
}

/** Rows from this many elements are ranked once per parent in the reduce plan's rank stage (shorter ones by each range that touches them). */
export const DELLA_RANK_ROWS_FROM = 1 << 16;

/** The rank stage's keep probabilities (parent p's at [p·n, (p + 1)·n)), shared with every range, when the plan made them. */
function rankedProbabilities(params: ParamValues): Float32Array | null {
  const x: unknown = params.fastDellaProb;
  return x instanceof Float32Array ? x : null;
}

/** Whether a DELLA drop on this tensor takes the rank stage (long rows, not ranked yet). */
function needsRankStage(cfg: TaskArithmeticConfig, n: number, params: ParamValues, ctx: TensorContext): boolean {
  if (!dropsDella(cfg, params) || rankedProbabilities(params)) return false;
  const rows = ctx.shape.length >= 2 ? ctx.shape[0] : 1;
  const cols = rows > 0 ? n / rows : 0;
  return Number.isInteger(cols) && cols >= DELLA_RANK_ROWS_FROM;
}

/** Rows up to this many elements keep dellaRowInto's scratch between calls (longer ones take the caller's or allocate it). */
const RANK_SCRATCH_MAX = 1 << 20;
let rankScratch: Uint32Array[] = [];

/** dellaRowInto's scratch for rows of up to `cols` elements: keys and indices, two of each. */
export const rankScratchOf = (cols: number): Uint32Array[] => Array.from({ length: 4 }, () => new Uint32Array(cols));
/** dellaRowInto's digits (shift, mask) and their histograms: 11 + 10 + 10 of the 31 magnitude bits. */
const RADIX: readonly (readonly [number, number])[] = [
  [0, 0x7ff],
  [11, 0x3ff],
  [21, 0x3ff],
];
const radixHist = RADIX.map(([, mask]) => new Uint32Array(mask + 1));

/**
 * DELLA's keep probabilities of one row (its clipped delta d) into prob, bit for bit
 * dellaKeepProbabilities': the same ranks (magnitude ascending, equal magnitudes in index order)
 * by a stable LSD radix sort on the 31 magnitude bits (a digit all elements share is skipped),
 * not a comparison sort, then dellaKeepAt of each rank.
 */
export function dellaRowInto(d: Float32Array, low: number, eps: number, prob: Float32Array, scratch?: Uint32Array[]): void {
  const cols = d.length;
  if (cols === 0) return;
  if (!scratch || scratch[0].length < cols) {
    if (cols > RANK_SCRATCH_MAX) scratch = rankScratchOf(cols);
    else {
      if (rankScratch.length === 0 || rankScratch[0].length < cols) rankScratch = rankScratchOf(cols);
      scratch = rankScratch;
    }
  }
  let [ka, ia, kb, ib] = scratch;
  const u = new Uint32Array(d.buffer, d.byteOffset, cols);
  const [h0, h1, h2] = radixHist;
  for (const h of radixHist) h.fill(0);
  for (let c = 0; c < cols; c++) {
    const m = u[c] & 0x7fffffff;
    ka[c] = m;
    ia[c] = c;
    h0[m & 0x7ff]++;
    h1[(m >>> 11) & 0x3ff]++;
    h2[m >>> 21]++;
  }
  for (let t = 0; t < RADIX.length; t++) {
    const [shift, mask] = RADIX[t];
    const h = radixHist[t];
    if (h[(ka[0] >>> shift) & mask] === cols) continue;
    for (let x = 0, sum = 0; x < h.length; x++) {
      const k = h[x];
      h[x] = sum;
      sum += k;
    }
    for (let c = 0; c < cols; c++) {
      const m = ka[c];
      const at = h[(m >>> shift) & mask]++;
      kb[at] = m;
      ib[at] = ia[c];
    }
    [ka, kb] = [kb, ka];
    [ia, ib] = [ib, ia];
  }
  for (let r = 0; r < cols; r++) prob[ia[r]] = dellaKeepAt(r, cols, low, eps);
}

/**
 * DELLA's keep probabilities row by row: the rank stage's (long rows) where the plan made them,
 * else each row's from its own clipped delta by dellaRowInto, the last row of each parent kept.
 */
function dellaRows(
  pl: Pick<Plan, 'clip' | 'cols'>,
  inputs: readonly Float32Array[],
  params: ParamValues,
): (p: number, row: number) => Float32Array {
  const { low, eps } = dellaBounds(num(params, 'density'), num(params, 'epsilon', 0.15));
  const n = inputs[0].length;
  const cols = pl.cols;
  const ranked = rankedProbabilities(params);
  if (ranked) {
    if (ranked.length !== (inputs.length - 1) * n)
      throw new Error('task-arithmetic range kernel: DELLA ranks of another tensor (internal error)');
    return (p, row) => ranked.subarray(p * n + row * cols, p * n + (row + 1) * cols);
  }
  const last = new Map<number, { row: number; prob: Float32Array }>();
  let d: Float32Array | null = null;
  return (p, row) => {
    let hit = last.get(p);
    if (hit && hit.row === row) return hit.prob;
    if (!hit) last.set(p, (hit = { row, prob: new Float32Array(cols) }));
    d ??= new Float32Array(cols);
    clippedDelta(pl, inputs, p, row * cols, d);
    dellaRowInto(d, low, eps, hit.prob);
    hit.row = row;
    return hit.prob;
  };
}

function trimsOutliers(cfg: TaskArithmeticConfig, params: ParamValues): boolean {
  return cfg.sparsify === 'outliers' && num(params, 'density') < 1;
}

/** Cutoffs given by the model pre-pass (magnitude trims only: the outlier trim is always the tensor's own). */
function givenCutoffs(cfg: TaskArithmeticConfig, params: ParamValues): boolean {
  return cfg.sparsify === 'magnitude' && Array.isArray(params.trimBits) && Array.isArray(params.trimIndex);
}

function plan(
  cfg: TaskArithmeticConfig,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
  forApply: boolean,
): Plan {
  const P = inputs.length - 1;
  if (P < 1) throw new Error('task arithmetic needs a base and at least one parent');
  const weights = weightsOf(params, 'weights', P, 1);
  const clip = new Float32Array(P).fill(1);
  const cn = clipNormOf(params);
  if (cn > 0) {
    const factors = Array.isArray(params.clipFactors) ? params.clipFactors : (params.fastClip as number[] | undefined);
    if (factors) for (let p = 0; p < P; p++) clip[p] = factors[p] !== 1 ? f(factors[p]) : 1;
    else if (forApply) throw new Error('task-arithmetic range kernel: clip factors missing (the reduce plan runs first)');
  }
  const trim = trims(cfg, params);
  const outliers = trimsOutliers(cfg, params);
  const given = givenCutoffs(cfg, params);
  const cuts = trim || outliers;
  const bits = cuts ? ((given ? params.trimBits : params.fastTrimBits) as number[] | undefined) : [];
  const index = cuts ? ((given ? params.trimIndex : params.fastTrimIndex) as number[] | undefined) : [];
  const C = outliers ? 2 * P : P;
  if (forApply && cuts && (!bits || !index || bits.length !== C || index.length !== C))
    throw new Error('task-arithmetic range kernel: trim cutoffs missing (the reduce plan runs first)');
  const random = cfg.sparsify === 'random';
  const della = dropsDella(cfg, params);
  const key = random || della ? tensorKey(ctx.seed, ctx.name) : 0;
  const n = inputs[0].length;
  const rows = ctx.shape.length >= 2 ? ctx.shape[0] : 1;
  const cols = rows > 0 ? n / rows : 0;
  if (della && !Number.isInteger(cols)) throw new Error(`della: "${ctx.name}" has ${n} elements, not ${rows} whole rows`);
  const rescale = new Float32Array(P).fill(1);
  const mode = (params.rescale as string | undefined) ?? 'none';
  if (forApply && cfg.sparsify !== 'none' && (cfg.sparsify === 'random' || cuts || della)) {
    const keepFraction = random ? 1 - num(params, 'drop') : num(params, 'density');
    if (mode === 'inverse' && keepFraction > 0) rescale.fill(1 / keepFraction !== 1 ? f(1 / keepFraction) : 1);
    if (mode === 'l1') {
      // fastL1: before₀, after₀, before₁, after₁, … (ParamValues hold flat number lists).
      const l1 = (Array.isArray(params.l1Norms) ? params.l1Norms : params.fastL1) as number[] | undefined;
      if (!l1) throw new Error('task-arithmetic range kernel: L1 norms missing (the reduce plan runs first)');
      for (let p = 0; p < P; p++) {
        const before = l1[2 * p],
          after = l1[2 * p + 1];
        const factor = before >= L1_EPS && after >= L1_EPS ? before / after : 1;
        rescale[p] = factor !== 1 ? f(factor) : 1;
      }
    }
  }
  return {
    P,
    w: Float32Array.from(weights),
    lambda: f(num(params, 'lambda', 1)),
    normalize: params.normalize === true,
    clip,
    trim,
    outliers,
    random,
    della: della ? dellaRows({ clip, cols }, inputs, params) : null,
    cols,
    drop: random ? f(num(params, 'drop')) : 0,
    sk: random || della ? Array.from({ length: P }, (_, p) => streamKey(key, p)) : [],
    offset: ctx.offset ?? 0,
    trimOffset: given ? (ctx.offset ?? 0) : 0,
    bits: bits ?? [],
    index: index ?? [],
    rescale,
  };
}

/** Parent p's clipped delta of [s, s + D.length) into D (steps 1–2). */
function clippedDelta(pl: Pick<Plan, 'clip'>, inputs: readonly Float32Array[], p: number, s: number, D: Float32Array): void {
  const b = inputs[0],
    x = inputs[p + 1];
  const len = D.length;
  for (let j = 0; j < len; j++) D[j] = x[s + j] - b[s + j];
  const c = pl.clip[p];
  if (c !== 1) for (let j = 0; j < len; j++) D[j] = D[j] * c;
}

/** Step 3 on D (parent p's clipped delta of [s, …)): zero what the trim or the random mask drops; returns how many it kept. */
function sparsify(pl: Plan, p: number, s: number, D: Float32Array, U: Uint32Array): number {
  const len = D.length;
  let dropped = 0;
  if (pl.trim) {
    const cb = pl.bits[p],
      ci = pl.index[p] - pl.trimOffset - s;
    for (let j = 0; j < len; j++) {
      const m = U[j] & 0x7fffffff;
      if (!(m > cb || (m === cb && j < ci))) {
        D[j] = 0;
        dropped++;
      }
    }
  } else if (pl.outliers) {
    // Kept iff pruned by hi (not among the nTop largest) and not by lo (not among the nBot smallest), in tensor coordinates.
    const lb = pl.bits[2 * p],
      li = pl.index[2 * p] - s,
      hb = pl.bits[2 * p + 1],
      hi = pl.index[2 * p + 1] - s;
    for (let j = 0; j < len; j++) {
      const m = U[j] & 0x7fffffff;
      if (!(m < hb || (m === hb && j < hi)) || m < lb || (m === lb && j < li)) {
        D[j] = 0;
        dropped++;
      }
    }
  } else if (pl.della) {
    // The reference draws at the element's index in the tensor (dellaDrop), against its row's keep probability.
    // Without a branch: dellaKeepMask masks the delta's bits (a dropped element becomes +0, as the reference's).
    const sk = pl.sk[p],
      cols = pl.cols;
    for (let j = 0; j < len;) {
      const row = Math.floor((s + j) / cols);
      const prob = pl.della(p, row);
      const o = s - row * cols;
      const e = Math.min(len, (row + 1) * cols - s);
      for (; j < e; j++) {
        const keep = dellaKeepMask(sk, s + j, prob[o + j]);
        U[j] &= keep;
        dropped += 1 + keep;
      }
    }
  } else if (pl.random) {
    const sk = pl.sk[p],
      pf = pl.drop,
      o = pl.offset + s;
    for (let j = 0; j < len; j++)
      if (unitAt(sk, o + j) < pf) {
        D[j] = 0;
        dropped++;
      }
  }
  return len - dropped;
}

/**
 * −1 where DELLA keeps element g (unitAt(sk, g) < p), else 0, without a branch: for the integer
 * u·2²⁴ that is u·2²⁴ < ⌈p·2²⁴⌉ (both below 2²⁵), the difference's sign.
 */
const dellaKeepMask = (sk: number, g: number, p: number): number => (unitAt(sk, g) * 16777216 - Math.ceil(p * 16777216)) >> 31;

/** Blocks of [start, end), each with scratch views of its length. */
function blocks(start: number, end: number, fn: (s: number, len: number) => void): void {
  for (let s = start; s < end; s += BLOCK) fn(s, Math.min(BLOCK, end - s));
}

interface Scratch {
  D: Float32Array[];
  U: Uint32Array[];
  A: Float32Array;
}
function scratch(P: number): Scratch {
  const D = Array.from({ length: Math.max(1, P) }, () => new Float32Array(BLOCK));
  return { D, U: D.map((d) => new Uint32Array(d.buffer)), A: new Float32Array(BLOCK) };
}

/** The lent loops when this plan's parents need no clipping (the loops take unclipped deltas only). */
const loopsFor = (pl: Plan): PassLoops | null => (pl.clip.every((c) => c === 1) ? passLoops() : null);

/** The element-wise pass as the lent loops take it (a magnitude trim or a random drop), or null. */
function applySpec(cfg: TaskArithmeticConfig, pl: Plan, divisor: number): ApplySpec | null {
  if (!(pl.trim || pl.outliers || pl.random)) return null;
  return {
    consensus: cfg.consensus === 'ties' ? 'ties' : 'none',
    sparsify: pl.trim ? 'trim' : pl.outliers ? 'outliers' : 'random',
    w: pl.w,
    rescale: pl.rescale,
    lambda: pl.lambda,
    divisor,
    normalize: pl.normalize,
    bits: pl.trim || pl.outliers ? pl.bits : [],
    index: pl.trim || pl.outliers ? pl.index.map((i) => i - pl.trimOffset) : [],
    sk: pl.sk,
    drop: pl.drop,
    offset: pl.offset,
  };
}

/** The element-wise pass over [start, end). */
function applyRange(
  cfg: TaskArithmeticConfig,
  inputs: readonly Float32Array[],
  out: Float32Array,
  params: ParamValues,
  ctx: TensorContext,
  start: number,
  end: number,
): Record<string, number> | void {
  const pl = plan(cfg, inputs, params, ctx, true);
  const { P, w, lambda } = pl;
  const base = inputs[0];
  const sc = scratch(P);
  const sparse = pl.trim || pl.outliers || pl.random || pl.della !== null;
  const divisor = cfg.consensus === 'none' && pl.normalize ? normalizeDivisor(Array.from(w)) : 1;
  let conflicts = 0;
  // The receipt's kept counts per parent (as the reference's sparsifyDelta counts them).
  const kept = new Array<number>(P).fill(sparse ? 0 : end - start);
  // The lent loops take the vector part of the range where they can, JavaScript the rest.
  let from = start;
  const spec = applySpec(cfg, pl, divisor);
  const lent = spec && loopsFor(pl)?.apply(spec, base, inputs.slice(1), out, start, end);
  if (lent) {
    from = vectorEnd(start, end);
    lent.kept.forEach((k, p) => (kept[p] += k));
    conflicts += lent.conflicts;
  }
  blocks(from, end, (s, len) => {
    for (let p = 0; p < P; p++) {
      const D = len === BLOCK ? sc.D[p] : sc.D[p].subarray(0, len);
      clippedDelta(pl, inputs, p, s, D);
      if (sparse) {
        kept[p] += sparsify(pl, p, s, D, len === BLOCK ? sc.U[p] : sc.U[p].subarray(0, len));
        const r = pl.rescale[p];
        if (r !== 1) for (let j = 0; j < len; j++) D[j] = D[j] * r;
      }
      const wp = w[p];
      for (let j = 0; j < len; j++) D[j] = wp * D[j];
    }
    if (cfg.consensus === 'none') {
      const A = sc.A;
      const D0 = sc.D[0];
      for (let j = 0; j < len; j++) A[j] = 0 + D0[j];
      for (let p = 1; p < P; p++) {
        const D = sc.D[p];
        for (let j = 0; j < len; j++) A[j] = A[j] + D[j];
      }
      if (divisor !== 1) for (let j = 0; j < len; j++) A[j] = A[j] / divisor;
      for (let j = 0; j < len; j++) out[s + j] = base[s + j] + f(lambda * A[j]);
      return;
    }
    // TIES: elect + where the summed mass is >= 0 (a NaN sum elects −), then the (disjoint) mean of the agreeing deltas.
    const D = sc.D;
    for (let j = 0; j < len; j++) {
      let sum = 0;
      let pos = false;
      let neg = false;
      for (let p = 0; p < P; p++) {
        const v = D[p][j];
        sum = f(sum + v);
        if (v > 0) pos = true;
        else if (v < 0) neg = true;
      }
      if (pos && neg) conflicts++;
      const up = sum >= 0;
      let m = 0;
      let den = 0;
      for (let p = 0; p < P; p++) {
        const v = D[p][j];
        if (up ? v > 0 : v < 0) {
          m = f(m + v);
          den = f(den + w[p]);
        }
      }
      // Normalised by the agreeing weights where they do not cancel (as tiesCombine).
      const merged = pl.normalize && den !== 0 ? f(m / den) : m;
      out[s + j] = base[s + j] + f(lambda * merged);
    }
  });
  const counts: Record<string, number> = {};
  if (cfg.sparsify !== 'none') kept.forEach((k, p) => (counts[keptKey(p)] = k));
  if (cfg.consensus === 'ties') counts.signConflicts = conflicts;
  return counts;
}

type Stage = 'clip' | 'window' | 'high' | 'low' | 'equal' | 'rank' | 'l1' | 'l1lanes';

/** One exact selection of the trim stages: parent's top-k (magnitude trim) or bottom-k (the outlier trim's two cutoffs). */
interface Selection {
  parent: number;
  k: number;
  top: boolean;
}

interface Carry {
  stage: Stage;
  /** Derived so far (fastClip, fastTrimBits, fastTrimIndex, fastL1). */
  derived: ParamValues;
  /** The selections of the trim stages, in the order of the cutoffs they give (fastTrimBits). */
  sel?: Selection[];
  prefix?: number[];
  remaining?: number[];
  bits?: number[];
  /** The window stage: each selection's sampled window [lo, hi] of magnitude bits. */
  lo?: number[];
  hi?: number[];
  /** The l1lanes stage: each parent's first exponent field of the counts, before and after the drop. */
  fb?: number[];
  fa?: number[];
  /** The rank stage: every parent's keep probabilities, P·n (shared memory, which the workers fill by parent). */
  prob?: Float32Array;
  /** The rank stage also sums the L1 norms (fastL1) by parent. */
  l1?: boolean;
}

/** Binades a float64 chain of non-negative terms can climb through (exponents −1074 … 1023), a bound on its crossings. */
const BINADES = 2100;
/** Exponent thresholds the lane pass counts per sum (the loop's own, simd-select.ts L1_THRESHOLDS). */
const THRESHOLDS = 1;

/**
 * An interval that holds the reference's ordered float64 sum of n non-negative float32 terms
 * (a_1 + a_2 + … from +0, one chain), given the same terms' sum s computed in another order
 * (`chains` sequential chains, then `adds` further additions of partial results), and counts[t]:
 * how many non-zero terms have magnitude bits below (f0 + t) << 23. Null where no threshold serves.
 *
 * Why it holds: take U = 2^(e − 52), e = f0 + t − 98, where every partial value of both
 * computations stays below 2^(e+1) (checked from s and the bound itself). Then each addition errs
 * by at most ulp/2 ≤ U/2, and an addition to a chain is exact unless its term has a bit below U
 * (at most the c terms counted: a float32 whose exponent field is ≥ f0 + t has its lowest bit at
 * ≥ 2^(field − 150) ≥ U, and both addends are then multiples of the chain's ulp) or it carries the
 * chain into a higher binade (at most BINADES times per chain: a chain of non-negative terms never
 * falls). So |ref − exact| and |s − exact| are each at most U/2 times the additions that can err.
 */
export function l1Interval(s: number, counts: readonly number[], f0: number, chains: number, adds: number): [number, number] | null {
  if (!Number.isFinite(s) || s < 0) return null;
  // A sum of non-negative float32 terms in float64 is +0 only when every term is zero (it cannot underflow).
  if (s === 0) return [0, 0];
  for (let t = 0; t < counts.length; t++) {
    const e = f0 + t - 98;
    if (e - 52 < -1074) continue;
    const U = 2 ** (e - 52);
    const delta = (U / 2) * (2 * counts[t] + BINADES * (1 + chains) + adds);
    if ((s + delta) * (1 + 2 ** -50) < 2 ** (e + 1)) return [Math.max(0, s - delta), s + delta];
  }
  return null;
}

/**
 * Norms [before, after] that give exactly the reference's rescale for every ordered sum in the
 * intervals (plan(): no rescale below L1_EPS, else fround(before / after)), or null where the
 * intervals leave it open (correctly rounded division and fround are monotone, so the corners decide).
 */
export function certifiedNorms(before: readonly [number, number], after: readonly [number, number]): [number, number] | null {
  const [bl, bh] = before;
  const [al, ah] = after;
  const okB = bl >= L1_EPS;
  const okA = al >= L1_EPS;
  if (okB !== bh >= L1_EPS || okA !== ah >= L1_EPS) return null;
  if (!okB) return [0, 1];
  if (!okA) return [1, 0];
  return f(bl / ah) === f(bh / al) ? [bl, ah] : null;
}

/** The exponent field of the count for a sum estimated at `estimate`: a binade above it, so a sample's estimate a little low still serves. */
function firstField(estimate: number): number {
  const e = estimate > 0 ? Math.floor(Math.log2(estimate)) : -1100;
  return Math.max(1, Math.min(255 - (THRESHOLDS - 1), e + 1 + 98));
}

/** One range's part of the l1lanes stage, per parent. */
interface L1Part {
  before: number;
  after: number;
  nb: number[];
  na: number[];
}

/** The selections a trim needs (empty when it needs none), or the cutoffs when none needs a pass. */
function selections(cfg: TaskArithmeticConfig, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Selection[] {
  const P = inputs.length - 1;
  const n = inputs[0].length;
  if (trims(cfg, params)) {
    const k = keepCount(num(params, 'density'), n, ctx.name);
    return Array.from({ length: P }, (_, parent) => ({ parent, k, top: true }));
  }
  if (!trimsOutliers(cfg, params)) return [];
  const { nBot, nTop } = outlierCounts(num(params, 'density'), num(params, 'gamma', 0.01), n, ctx.name);
  return Array.from({ length: 2 * P }, (_, i) => ({ parent: i >> 1, k: i & 1 ? n - nTop : nBot, top: false }));
}

const withDerived = (params: ParamValues, c: Carry): ParamValues => ({ ...params, ...c.derived });

/** Tensors below this many elements take the radix passes directly (a sample would be most of the tensor). */
const WINDOW_MIN = 256;
/** The largest sample per parent, and the margin around the sampled rank in standard deviations of a sample quantile. */
const SAMPLE_MAX = 1 << 16;
const WINDOW_Z = 4.5;
/**
 * A window whose sample share exceeds this (many equal magnitudes, e.g. zero deltas, or a small
 * sample's wide margin) takes the radix passes instead, unless it would list only a few elements.
 */
const WINDOW_MAX_SHARE = 0.06;
const WINDOW_SMALL_LIST = 1 << 14;

/** Elements per run of the sample of a large tensor: one cache line, so a run costs one memory access, not 16. */
const SAMPLE_RUN = 16;
/** Tensors from this many elements are sampled in runs (smaller ones element by element). */
const SAMPLE_RUNS_FROM = 1 << 20;

/** Elements per run of the window stage's sample of an n-element tensor. */
export const sampleRun = (n: number): number => (n >= SAMPLE_RUNS_FROM ? SAMPLE_RUN : 1);

/** The last few sizes' sample positions (a model has few distinct tensor sizes). */
const positionCache = new Map<number, Uint32Array | Float64Array>();
const POSITION_CACHE_MAX = 16;

/**
 * The positions of the window stage's sample of an n-element tensor: s elements in s / run evenly
 * spaced runs of sampleRun(n) consecutive elements (a run aligned to its length), in index order.
 * Cached per n and shared: callers read it, never write it.
 */
export function samplePositions(n: number): Readonly<Uint32Array | Float64Array> {
  const hit = positionCache.get(n);
  if (hit) return hit;
  const s = Math.min(SAMPLE_MAX, n >> 3);
  const run = sampleRun(n);
  const runs = Math.floor(s / run);
  const at = n <= 0xffffffff ? new Uint32Array(runs * run) : new Float64Array(runs * run);
  for (let r = 0, o = 0; r < runs; r++) {
    const first = Math.floor(((r + 0.5) * n) / runs);
    const from = Math.min(first - (first % run), n - run);
    for (let j = 0; j < run; j++) at[o++] = from + j;
  }
  if (positionCache.size >= POSITION_CACHE_MAX) positionCache.delete(positionCache.keys().next().value!);
  positionCache.set(n, at);
  return at;
}

/** windowsFor's sample buffers, one per selected parent, SAMPLE_MAX elements each. */
const sampleScratch: Float32Array[] = [];

/**
 * Each selection's window [lo, hi] of magnitude bits, from a sorted sample of its parent's delta
 * magnitudes: wide enough that the cutoff almost always falls inside (WINDOW_Z standard deviations
 * of the sampled rank), narrow enough that the pass lists ~1–3 % of the elements. Null where the
 * radix passes serve better (small tensors, clipped deltas, an empty or full selection, bottom-k
 * selections below SAMPLE_RUNS_FROM elements, a window heavy with equal magnitudes). Exactness never depends on it: a window that misses the cutoff
 * (the merge checks the counts) sends the selection through the radix passes.
 */
function windowsFor(
  inputs: readonly Float32Array[],
  params: ParamValues,
  sel: readonly Selection[],
): { lo: number[]; hi: number[] } | null {
  const n = inputs[0].length;
  if (n < WINDOW_MIN || clipNormOf(params) > 0 || sel.some((x) => x.k === 0 || x.k === n)) return null;
  // Breadcrumbs' two bottom-k selections per parent take one window pass (the loops read each block once for all six) from
  // SAMPLE_RUNS_FROM elements: one thread, 64 M, 3 parents, the selection 640–740 → 340–410 ms CPU. Smaller tensors keep the radix passes.
  if (sel.some((x) => !x.top) && n < SAMPLE_RUNS_FROM) return null;
  const at = samplePositions(n);
  const s = at.length;
  // Each selected parent's sample of delta bits (in sample order) and its order statistics, made
  // in one walk over the positions: the base is read once for all parents, their reads (cache
  // misses in a large tensor) overlap, and the buckets of the order statistics are counted on the way.
  const parents = [...new Set(sel.map((x) => x.parent))];
  const bucketed = s > RANK_SORT_ALL;
  // Scratch kept between calls (the sample lives only while windowsFor runs): no 2¹⁸-byte arrays per tensor and parent for the collector.
  while (sampleScratch.length < parents.length) sampleScratch.push(new Float32Array(0));
  const ds = parents.map((_, q) => {
    if (sampleScratch[q].length < s) sampleScratch[q] = new Float32Array(SAMPLE_MAX);
    return sampleScratch[q].subarray(0, s);
  });
  const vs = ds.map((d) => new Uint32Array(d.buffer, d.byteOffset, s));
  const counts = parents.map(() => new Uint32Array(bucketed ? RANK_SLOTS : 0));
  const base = inputs[0];
  if (parents.length === 3) {
    // TIES' and sparse task delta's usual three parents, unrolled.
    const [x0, x1, x2] = parents.map((p) => inputs[p + 1]);
    const [d0, d1, d2] = ds;
    const [v0, v1, v2] = vs;
    const [c0, c1, c2] = counts;
    for (let j = 0; j < s; j++) {
      const i = at[j];
      const bi = base[i];
      d0[j] = x0[i] - bi;
      d1[j] = x1[i] - bi;
      d2[j] = x2[i] - bi;
      if (bucketed) {
        c0[rankSlot(v0[j])]++;
        c1[rankSlot(v1[j])]++;
        c2[rankSlot(v2[j])]++;
      }
    }
  } else {
    parents.forEach((p, q) => {
      const x = inputs[p + 1],
        d = ds[q],
        v = vs[q],
        c = counts[q];
      for (let j = 0; j < s; j++) {
        const i = at[j];
        d[j] = x[i] - base[i];
        if (bucketed) c[rankSlot(v[j])]++;
      }
    });
  }
  const samples = new Map(parents.map((p, q) => [p, { v: vs[q], ranks: new MagnitudeRanks(vs[q], bucketed ? counts[q] : undefined) }]));
  const sample = (p: number) => samples.get(p)!;
  const lo: number[] = [];
  const hi: number[] = [];
  for (const { parent, k, top } of sel) {
    const { v, ranks } = sample(parent);
    const w = windowAround(v, ranks, (top ? n - k : k - 1) / n, n);
    if (!w) return null;
    lo.push(w[0]);
    hi.push(w[1]);
  }
  return { lo, hi };
}

/**
 * The window [lo, hi] of magnitude bits around the cutoff of rank share q (its rank from the bottom, 0-based, over n) from the
 * sample v of an n-element tensor (samplePositions(n)'s, in sample order) and its order statistics, or null where it would
 * list too many elements (windowsFor).
 */
function windowAround(v: Uint32Array, ranks: MagnitudeRanks, q: number, n: number): [number, number] | null {
  const s = v.length;
  const run = sampleRun(n);
  // The magnitude bits of the sample's element of rank r from the bottom (0-based).
  const rank = (r: number) => ranks.rank(r);
  const ps = q * s;
  // A run's elements may be alike (a row's scale): the count below the sampled cutoff varies by
  // run then, more than independent elements' would; the margin takes the larger of the two spreads.
  let spread = s * q * (1 - q);
  if (run > 1) {
    const t = rank(Math.max(0, Math.min(s - 1, Math.round(ps))));
    const runs = s / run;
    let sum = 0,
      sq = 0;
    for (let r = 0, j = 0; r < runs; r++) {
      let c = 0;
      for (const e = j + run; j < e; j++) c += (v[j] & 0x7fffffff) <= t ? 1 : 0;
      sum += c;
      sq += c * c;
    }
    const mean = sum / runs;
    spread = Math.max(spread, (runs * (sq - runs * mean * mean)) / Math.max(1, runs - 1));
  }
  const margin = Math.ceil(WINDOW_Z * Math.sqrt(spread)) + 2;
  const a = Math.floor(ps - margin),
    b = Math.ceil(ps + margin);
  const l = a < 0 ? 0 : rank(a);
  const h = b >= s ? 0x7fffffff : rank(b);
  const inside = ranks.countIn(l, h);
  if (inside > WINDOW_MAX_SHARE * s && (inside / s) * n > WINDOW_SMALL_LIST) return null;
  return [l, h];
}

/**
 * The window of magnitude pruning's bottom-m cutoff of mag(x) (windowsFor's, one input, no base), or null where the
 * radix passes serve better. The merge (windowCutoff, bottom) checks that the cutoff fell inside.
 */
export function pruneWindow(x: Float32Array, m: number): [number, number] | null {
  const n = x.length;
  if (n < WINDOW_MIN || m <= 0 || m >= n) return null;
  const at = samplePositions(n);
  const s = at.length;
  const bucketed = s > RANK_SORT_ALL;
  if (sampleScratch.length < 1) sampleScratch.push(new Float32Array(0));
  if (sampleScratch[0].length < s) sampleScratch[0] = new Float32Array(SAMPLE_MAX);
  const d = sampleScratch[0].subarray(0, s);
  const v = new Uint32Array(d.buffer, d.byteOffset, s);
  const c = new Uint32Array(bucketed ? RANK_SLOTS : 0);
  // Bits copied as they are (a float copy could quiet a NaN's payload).
  const xv = new Uint32Array(x.buffer, x.byteOffset, n);
  for (let j = 0; j < s; j++) {
    v[j] = xv[at[j]];
    if (bucketed) c[rankSlot(v[j])]++;
  }
  return windowAround(v, new MagnitudeRanks(v, bucketed ? c : undefined), (m - 1) / n, n);
}

/** The shift that maps a window [lo, hi]'s offsets hi − m to at most `bins` (a power of two) histogram bins. */
export function windowShift(lo: number, hi: number, bins = WINDOW_BINS): number {
  const span = (hi - lo) >>> 0;
  return span === 0 ? 0 : Math.max(0, 32 - Math.clz32(span) - Math.log2(bins));
}
/** The most bins of a window part's histogram of its listed magnitudes. */
const WINDOW_BINS = 1 << 16;
/** The fewest (a tensor's listed elements are a few per cent of it: a few a bin). */
const WINDOW_BINS_MIN = 64;

/**
 * Bins of the window histograms of an n-element tensor: about one per 256 elements (a few listed
 * elements a bin), WINDOW_BINS_MIN to WINDOW_BINS, a power of two. Every part of a tensor and its
 * merge use the same count, so the parts' bins add up.
 */
export function windowBins(n: number): number {
  const want = 2 ** Math.ceil(Math.log2(Math.max(1, n / 256)));
  return Math.max(WINDOW_BINS_MIN, Math.min(WINDOW_BINS, want));
}

/** A range's histogram of its listed magnitudes m by (hi − m) >>> windowShift(lo, hi, bins): bin 0 holds the largest. */
export function windowHistogram(part: WindowPart, lo: number, hi: number, bins = WINDOW_BINS): Uint32Array {
  const shift = windowShift(lo, hi, bins);
  const h = new Uint32Array((((hi - lo) >>> 0) >>> shift) + 1);
  const at = part.at;
  for (let c = 0; c < part.count; c++) h[(hi - at[2 * c + 1]) >>> shift]++;
  return h;
}

/** A window part whose list is in groups of bins (binWindowPart): group g's pairs, in index order, follow those of groups 0 … g − 1. */
type BinnedPart = WindowPart & { hist: Uint32Array; binned: true };

/** Histogram bins per group of a binned list: 2^shift, for at most 2⁸ groups (few enough that the counting sort’s writes stay in L1). */
const binGroupShift = (bins: number) => Math.max(0, 32 - Math.clz32(Math.max(1, bins - 1)) - 8);

/**
 * `part` with its histogram (windowHistogram's) and its list sorted by groups of bins, stably
 * (a counting sort), so the merge reads only its cutoff's group. The list is in shared memory
 * where there is one: a worker's reply then shares it with the calling thread, not a copy.
 */
export function binWindowPart(part: WindowPart, lo: number, hi: number, bins = WINDOW_BINS): BinnedPart {
  const hist = part.hist ?? windowHistogram(part, lo, hi, bins);
  const gs = binGroupShift(hist.length);
  const shift = windowShift(lo, hi, bins) + gs;
  // Each group's first place in the list.
  const next = new Uint32Array(((hist.length - 1) >>> gs) + 1);
  for (let b = 0, o = 0; b < hist.length; b++) {
    if (!(b & ((1 << gs) - 1))) next[b >>> gs] = o;
    o += 2 * hist[b];
  }
  const n = 2 * part.count;
  const at = typeof SharedArrayBuffer === 'undefined' ? new Uint32Array(n) : new Uint32Array(new SharedArrayBuffer(4 * n));
  const from = part.at;
  for (let c = 0; c < n; c += 2) {
    const m = from[c + 1];
    const g = (hi - m) >>> shift;
    const o = next[g];
    next[g] = o + 2;
    at[o] = from[c];
    at[o + 1] = m;
  }
  return { count: part.count, above: part.above, below: part.below, at, hist, binned: true };
}

/**
 * A top-k selection's cutoff from every range's window part, or null when the window missed it:
 * the k-th largest element (equal magnitudes lowest index first) lies in the window iff the count
 * above it leaves it there. Then it is the r-th largest of the listed elements (r = k − the count
 * above): the parts' histograms (windowHistogram) give its bin and its rank in the bin, and the
 * bin's elements, in index order and sorted by magnitude descending (stable: equal ones stay in
 * index order), give it.
 */
export function windowCutoff(
  parts: readonly WindowPart[],
  x: Pick<Selection, 'k'>,
  lo: number,
  hi: number,
  bins = WINDOW_BINS,
  bottom = false,
): { bits: number; index: number } | null {
  let outside = 0,
    listed = 0;
  for (const p of parts) {
    outside += bottom ? p.below : p.above;
    listed += p.count;
  }
  let r = x.k - outside;
  if (!(r >= 1 && r <= listed)) return null;
  const shift = windowShift(lo, hi, bins);
  const hists = parts.map((p) => p.hist ?? windowHistogram(p, lo, hi, bins));
  const size = (((hi - lo) >>> 0) >>> shift) + 1;
  if (hists.some((h) => h.length !== size))
    throw new Error(`window cutoff: a part's histogram has other bins than ${size} (internal error)`);
  // Bin 0 holds the largest magnitudes: a bottom selection walks from the last bin.
  const dir = bottom ? -1 : 1;
  let bin = bottom ? size - 1 : 0;
  if (hists.length === 2) {
    // The pool's two ranges: one walk over both.
    const h0 = hists[0],
      h1 = hists[1];
    for (; ; bin += dir) {
      const c = h0[bin] + h1[bin];
      if (c >= r) break;
      r -= c;
    }
  } else {
    for (; ; bin += dir) {
      let c = 0;
      for (let t = 0; t < hists.length; t++) c += hists[t][bin];
      if (c >= r) break;
      r -= c;
    }
  }
  const idx: number[] = [];
  const mag: number[] = [];
  parts.forEach((p, t) => {
    const at = p.at;
    let c = 0,
      e = p.count;
    if ((p as Partial<BinnedPart>).binned) {
      // Only the pairs of the bin's group, after those of the groups before it.
      const h = hists[t];
      const g = binGroupShift(size);
      const first = (bin >>> g) << g;
      for (let b = 0; b < first; b++) c += h[b];
      e = c;
      for (let b = first; b < Math.min(size, first + (1 << g)); b++) e += h[b];
    }
    for (; c < e; c++) {
      const m = at[2 * c + 1];
      if ((hi - m) >>> shift === bin) {
        idx.push(at[2 * c]);
        mag.push(m);
      }
    }
  });
  // Magnitude descending (ascending for a bottom selection), equal ones in index order.
  const order = Array.from(mag, (_, j) => j).sort((a, b) => dir * (mag[b] - mag[a]) || a - b);
  const j = order[r - 1];
  return { bits: mag[j], index: idx[j] + 1 };
}

/** The window pass in JavaScript over [from, end) of one range, continuing `part`. */
function windowRange(
  pl: Plan,
  inputs: readonly Float32Array[],
  sel: readonly Selection[],
  lo: readonly number[],
  hi: readonly number[],
  parts: WindowPart[],
  from: number,
  end: number,
): WindowPart[] {
  const D = new Float32Array(BLOCK);
  const U = new Uint32Array(D.buffer);
  const lists = sel.map(() => [] as number[]);
  blocks(from, end, (s, len) => {
    const d = D.subarray(0, len);
    for (let p = 0; p < pl.P; p++) {
      if (!sel.some((x) => x.parent === p)) continue;
      clippedDelta(pl, inputs, p, s, d);
      for (let i = 0; i < sel.length; i++) {
        if (sel[i].parent !== p) continue;
        const l = lo[i],
          h = hi[i],
          part = parts[i],
          list = lists[i];
        for (let j = 0; j < len; j++) {
          const m = U[j] & 0x7fffffff;
          if (m > h) part.above++;
          else if (m < l) part.below++;
          else list.push(s + j, m);
        }
      }
    }
  });
  return parts.map((part, i) => {
    if (lists[i].length === 0) return part;
    const at = new Uint32Array(part.at.length + lists[i].length);
    at.set(part.at);
    at.set(lists[i], part.at.length);
    return { ...part, count: part.count + lists[i].length / 2, at };
  });
}

/** The next stage after `after` that these parameters need, or the final parameters. */
function nextStage(
  cfg: TaskArithmeticConfig,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
  derived: ParamValues,
  after: Stage | null,
): ReduceStep {
  const order: Stage[] = ['clip', 'high', 'rank', 'l1'];
  const from = after === null ? 0 : after === 'clip' ? 1 : after === 'equal' ? 2 : after === 'rank' ? 3 : 4;
  for (let i = from; i < order.length; i++) {
    const stage = order[i];
    if (stage === 'clip' && needsClipNorms(params)) return { carry: { stage, derived } satisfies Carry, split: 'parents' };
    if (stage === 'high' && !givenCutoffs(cfg, params)) {
      const sel = selections(cfg, inputs, params, ctx);
      if (sel.length === 0) continue;
      if (sel[0].top && sel[0].k === 0) {
        derived = { ...derived, fastTrimBits: sel.map(() => KEEP_NONE.bits), fastTrimIndex: sel.map(() => 0) };
        continue;
      }
      // One pass over a sampled window of magnitudes where it serves; the radix passes otherwise (or after a miss).
      const w = windowsFor(inputs, params, sel);
      if (w) return { carry: { stage: 'window', derived, sel, ...w } satisfies Carry };
      return { carry: { stage, derived, sel } satisfies Carry };
    }
    if (stage === 'rank' && needsRankStage(cfg, inputs[0].length, params, ctx)) {
      // Long rows (a 1-D tensor is one) are ranked once per parent, by parent, into shared memory the L1 pass and the apply read.
      const len = (inputs.length - 1) * inputs[0].length;
      const prob = typeof SharedArrayBuffer === 'undefined' ? new Float32Array(len) : new Float32Array(new SharedArrayBuffer(4 * len));
      const l1 = params.rescale === 'l1' && !Array.isArray(params.l1Norms);
      return { carry: { stage, derived, prob, l1 } satisfies Carry, split: 'parents' };
    }
    if (
      stage === 'l1' &&
      params.rescale === 'l1' &&
      !Array.isArray(params.l1Norms) &&
      (cfg.sparsify === 'random' || trims(cfg, params) || trimsOutliers(cfg, params) || dropsDella(cfg, params))
    ) {
      // The sums by range (DARE's by lanes in SIMD), certified against the ordered sums (the ordered pass by parent where that fails).
      // DELLA's long rows come ranked from the rank stage; a range ranks the short rows it touches.
      {
        const n = inputs[0].length;
        const at = samplePositions(n);
        const keep =
          cfg.sparsify === 'random'
            ? 1 - num(params, 'drop')
            : cfg.sparsify === 'della'
              ? num(params, 'density') + num(params, 'epsilon', 0.15)
              : num(params, 'density');
        const fb: number[] = [];
        const fa: number[] = [];
        for (let p = 0; p < inputs.length - 1; p++) {
          const b = inputs[0],
            x = inputs[p + 1];
          let m = 0;
          for (const j of at) m += Math.abs(f(x[j] - b[j]));
          const estimate = at.length ? (m / at.length) * n : 0;
          fb.push(firstField(estimate));
          fa.push(firstField(estimate * Math.max(0, Math.min(1, keep))));
        }
        return { carry: { stage: 'l1lanes', derived, fb, fa } satisfies Carry };
      }
    }
  }
  return { params: derived };
}

/** The parents a worker takes in a per-parent stage. */
const parentsOf = (P: number, part: { index: number; count: number }) =>
  Array.from({ length: P }, (_, p) => p).filter((p) => p % part.count === part.index);

function reducePlan(cfg: TaskArithmeticConfig): ReducePlan {
  return {
    start: (inputs, params, ctx) => nextStage(cfg, inputs, params, ctx, {}, null),
    partial(_pass, carry, inputs, params, ctx, start, end, part) {
      const c = carry as Carry;
      const pl = plan(cfg, inputs, withDerived(params, c), ctx, false);
      const P = pl.P;
      const D = new Float32Array(BLOCK);
      const U = new Uint32Array(D.buffer);
      const n = inputs[0].length;
      if (c.stage === 'rank') {
        // This worker's parents, row by row, into the shared probabilities; with an L1 rescale also
        // the parent's ‖dᵢ‖₁ before and after the drop in element order, as the reference sums them
        // (a dropped element adds its +0), so the L1 pass is not needed.
        const { low, eps } = dellaBounds(num(params, 'density'), num(params, 'epsilon', 0.15));
        const cols = pl.cols;
        const d = new Float32Array(cols);
        const du = new Uint32Array(d.buffer);
        const scratch = rankScratchOf(cols);
        const norms: Record<number, number[]> = {};
        for (const p of parentsOf(P, part)) {
          let before = 0,
            after = 0;
          const sk = pl.sk[p];
          for (let s = 0; s < n; s += cols) {
            clippedDelta(pl, inputs, p, s, d);
            const prob = c.prob!.subarray(p * n + s, p * n + s + cols);
            dellaRowInto(d, low, eps, prob, scratch);
            if (c.l1) {
              // The drop masks d's bits (+0 where dropped) between the two sums: no branch.
              for (let j = 0; j < cols; j++) {
                before += Math.abs(d[j]);
                du[j] &= dellaKeepMask(sk, s + j, prob[j]);
                after += Math.abs(d[j]);
              }
            }
          }
          norms[p] = [before, after];
        }
        return norms;
      }
      if (c.stage === 'l1lanes') {
        const loops = pl.random ? loopsFor(pl) : null;
        return Array.from({ length: P }, (_, p): L1Part => {
          const lent = loops?.l1Lanes(inputs[0], inputs[p + 1], pl.sk[p], pl.drop, pl.offset, c.fb![p], c.fa![p], start, end);
          const nb = lent ? lent.nb.slice() : Array<number>(THRESHOLDS).fill(0);
          const na = lent ? lent.na.slice() : Array<number>(THRESHOLDS).fill(0);
          const tb = nb.map((_, t) => (((c.fb![p] + t) << 23) - 1) >>> 0);
          const ta = na.map((_, t) => (((c.fa![p] + t) << 23) - 1) >>> 0);
          // The rest of the range as one more chain of each sum.
          let before = 0,
            after = 0;
          blocks(lent ? vectorEnd(start, end) : start, end, (s, len) => {
            const d = len === BLOCK ? D : D.subarray(0, len);
            const u = len === BLOCK ? U : U.subarray(0, len);
            clippedDelta(pl, inputs, p, s, d);
            for (let j = 0; j < len; j++) {
              before += Math.abs(d[j]);
              const m = ((u[j] & 0x7fffffff) - 1) >>> 0;
              for (let t = 0; t < THRESHOLDS; t++) if (m < tb[t]) nb[t]++;
            }
            sparsify(pl, p, s, d, u);
            for (let j = 0; j < len; j++) {
              after += Math.abs(d[j]);
              const m = ((u[j] & 0x7fffffff) - 1) >>> 0;
              for (let t = 0; t < THRESHOLDS; t++) if (m < ta[t]) na[t]++;
            }
          });
          return { before: lent ? lent.before + before : before, after: lent ? lent.after + after : after, nb, na };
        });
      }
      if (c.stage === 'clip' || c.stage === 'l1') {
        const out: Record<number, number[]> = {};
        const mine = parentsOf(P, part);
        // DARE's drop through the lent loops, this worker's parents at once (the vector part; the last few elements continue the same ordered sums).
        const lentL1 =
          c.stage === 'l1' && pl.random
            ? loopsFor(pl)?.l1Random(
                inputs[0],
                mine.map((p) => inputs[p + 1]),
                mine.map((p) => pl.sk[p]),
                pl.drop,
                pl.offset,
                0,
                n,
              )
            : null;
        for (const p of mine) {
          if (c.stage === 'clip') {
            // The reference's ‖fround(x − base)‖² in float64, element order.
            let sq = 0;
            const b = inputs[0],
              x = inputs[p + 1];
            blocks(0, n, (s, len) => {
              for (let j = 0; j < len; j++) D[j] = x[s + j] - b[s + j];
              for (let j = 0; j < len; j++) sq += D[j] * D[j];
            });
            out[p] = [sq];
          } else {
            const lent = lentL1?.[mine.indexOf(p)];
            let [before, after] = lent ?? [0, 0];
            blocks(lent ? vectorEnd(0, n) : 0, n, (s, len) => {
              const d = len === BLOCK ? D : D.subarray(0, len);
              clippedDelta(pl, inputs, p, s, d);
              for (let j = 0; j < len; j++) before += Math.abs(d[j]);
              sparsify(pl, p, s, d, len === BLOCK ? U : U.subarray(0, len));
              for (let j = 0; j < len; j++) after += Math.abs(d[j]);
            });
            out[p] = [before, after];
          }
        }
        return out;
      }
      // Blocks outside, parents inside: each block of the base is read from memory once per pass.
      const sel = c.sel!;
      if (c.stage === 'window') {
        const xs = sel.map((x) => inputs[x.parent + 1]);
        const lent = loopsFor(pl)?.window(c.lo!, c.hi!, inputs[0], xs, start, end);
        const empty = sel.map(() => ({ count: 0, above: 0, below: 0, at: new Uint32Array(0) }));
        // Each part's histogram of its listed magnitudes and its list in bins, here in the workers, so the merge only adds them and reads one bin.
        return windowRange(pl, inputs, sel, c.lo!, c.hi!, lent ?? empty, lent ? vectorEnd(start, end) : start, end).map((part, i) =>
          binWindowPart(part, c.lo![i], c.hi![i], windowBins(inputs[0].length)),
        );
      }
      if (c.stage === 'high') {
        // One high histogram per parent serves each of its selections.
        const hs = Array.from({ length: P }, () => new Uint32Array(HIGH_SIZE));
        const lent = loopsFor(pl)?.histHigh(hs, inputs[0], inputs.slice(1), start, end);
        blocks(lent ? vectorEnd(start, end) : start, end, (s, len) => {
          const d = D.subarray(0, len);
          for (let p = 0; p < P; p++) {
            clippedDelta(pl, inputs, p, s, d);
            histHigh(U, hs[p], 0, len);
          }
        });
        return hs;
      }
      if (c.stage === 'low') {
        // The refinement pass also lists each selection's candidates (its cutoff's high bucket), so the index needs no third pass.
        const cap = Math.min(CANDIDATES_MAX, end - start);
        const lent = loopsFor(pl)?.lowCandidates(
          sel.map((_, i) => c.prefix![i]),
          inputs[0],
          sel.map((x) => inputs[x.parent + 1]),
          start,
          end,
          cap,
        );
        const hs = lent ? lent.map((x) => x.h) : sel.map(() => new Uint32Array(LOW_SIZE));
        const at = lent ? lent.map((x) => x.at) : sel.map(() => new Uint32Array(2 * cap));
        const counts = lent ? lent.map((x) => x.count) : sel.map(() => 0);
        blocks(lent ? vectorEnd(start, end) : start, end, (s, len) => {
          const d = D.subarray(0, len);
          for (let p = 0; p < P; p++) {
            clippedDelta(pl, inputs, p, s, d);
            for (let i = 0; i < sel.length; i++)
              if (sel[i].parent === p) counts[i] = histLowCandidates(U, c.prefix![i], hs[i], at[i], counts[i], s, 0, len);
          }
        });
        return hs.map((h, i) => candidatePart(h, at[i], counts[i]));
      }
      // equal: how many elements equal each selection's cutoff, and where the first few are.
      const eq = sel.map(() => ({ count: 0, at: [] as number[] }));
      blocks(start, end, (s, len) => {
        const d = D.subarray(0, len);
        for (let p = 0; p < P; p++) {
          clippedDelta(pl, inputs, p, s, d);
          for (let i = 0; i < sel.length; i++) {
            if (sel[i].parent !== p) continue;
            const want = c.bits![i];
            const e = eq[i];
            for (let j = 0; j < len; j++) {
              if ((U[j] & 0x7fffffff) === want) {
                if (e.at.length < EQUAL_POSITIONS) e.at.push(s + j);
                e.count++;
              }
            }
          }
        }
      });
      return eq;
    },
    merge(_pass, carry, partials, ranges, inputs, params, ctx) {
      const c = carry as Carry;
      const P = inputs.length - 1;
      // ParamValues hold numbers and lists: the probabilities travel as the one typed array (rankedProbabilities reads it).
      if (c.stage === 'rank') {
        const derived = { ...c.derived, fastDellaProb: c.prob as unknown as number[] };
        if (!c.l1) return nextStage(cfg, inputs, params, ctx, derived, 'rank');
        const all: Record<number, number[]> = Object.assign({}, ...(partials as Record<number, number[]>[]));
        return nextStage(cfg, inputs, params, ctx, { ...derived, fastL1: Array.from({ length: P }, (_, p) => all[p]).flat() }, 'l1');
      }
      if (c.stage === 'l1lanes') {
        const parts = partials as L1Part[][];
        const R = parts.length;
        // Per range: four lane chains and one more (the tail), combined by four additions; the ranges by R − 1.
        const [chains, adds] = [5 * R, 5 * R];
        const fastL1: number[] = [];
        for (let p = 0; p < P; p++) {
          let before = 0,
            after = 0;
          const nb = Array<number>(THRESHOLDS).fill(0);
          const na = Array<number>(THRESHOLDS).fill(0);
          for (const part of parts) {
            const x = part[p];
            before += x.before;
            after += x.after;
            x.nb.forEach((v, t) => (nb[t] += v));
            x.na.forEach((v, t) => (na[t] += v));
          }
          const bi = l1Interval(before, nb, c.fb![p], chains, adds);
          const ai = l1Interval(after, na, c.fa![p], chains, adds);
          const norms = bi && ai ? certifiedNorms(bi, ai) : null;
          // Not certain: every parent's ordered sums, by parent.
          if (!norms) return { carry: { stage: 'l1', derived: c.derived } satisfies Carry, split: 'parents' };
          fastL1.push(...norms);
        }
        return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastL1 }, 'l1');
      }
      if (c.stage === 'clip' || c.stage === 'l1') {
        const all: Record<number, number[]> = Object.assign({}, ...(partials as Record<number, number[]>[]));
        if (c.stage === 'clip') {
          const cn = clipNormOf(params);
          const fastClip = Array.from({ length: P }, (_, p) => {
            const norm = Math.sqrt(all[p][0]);
            return norm > cn ? cn / norm : 1;
          });
          return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastClip }, 'clip');
        }
        return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastL1: Array.from({ length: P }, (_, p) => all[p]).flat() }, 'l1');
      }
      const per = partials as unknown[][];
      const sel = c.sel!;
      if (c.stage === 'window') {
        const cuts = sel.map((x, i) =>
          windowCutoff(
            per.map((part) => part[i] as WindowPart),
            x,
            c.lo![i],
            c.hi![i],
            windowBins(inputs[0].length),
            !x.top,
          ),
        );
        // A window that missed its cutoff: every selection takes the radix passes.
        if (cuts.some((x) => x === null)) return { carry: { stage: 'high', derived: c.derived, sel } satisfies Carry };
        const fastTrimBits = cuts.map((x) => x!.bits);
        const fastTrimIndex = cuts.map((x) => x!.index);
        return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastTrimBits, fastTrimIndex }, 'equal');
      }
      if (c.stage === 'high' || c.stage === 'low') {
        const prefix: number[] = [];
        const remaining: number[] = [];
        const bits: number[] = [];
        const merged = new Map<number, Uint32Array>();
        for (let i = 0; i < sel.length; i++) {
          // High: the parent's histogram (merged once per parent); low: the selection's own.
          const key = c.stage === 'high' ? sel[i].parent : i;
          let h = merged.get(key);
          if (!h) {
            h = new Uint32Array(c.stage === 'high' ? HIGH_SIZE : LOW_SIZE);
            for (const part of per) {
              const x = c.stage === 'high' ? (part[key] as Uint32Array) : (part[key] as CandidatePart).h;
              for (let d = 0; d < h.length; d++) h[d] += x[d];
            }
            merged.set(key, h);
          }
          const r = descend(h, c.stage === 'high' ? sel[i].k : c.remaining![i], sel[i].top);
          if (c.stage === 'high') prefix.push(r.digit);
          else bits.push(((c.prefix![i] << HIGH_SHIFT) | r.digit) >>> 0);
          remaining.push(r.remaining);
        }
        if (c.stage === 'high') return { carry: { ...c, stage: 'low', prefix, remaining } };
        // Every range listed its candidates: each selection's index is placed from the lists, with no third pass.
        if (per.every((part) => part.every((x) => (x as CandidatePart).at !== null))) {
          const trimIndex = bits.map((b, p) => {
            if (remaining[p] === 0) return 0;
            const parts = per.map((part) => part[p] as CandidatePart);
            const index = candidateIndex(
              parts.map((x) => x.at!),
              parts.map((x) => x.count),
              b,
              remaining[p],
            );
            if (index < 0) throw new Error('task-arithmetic selection: fewer equal elements than counted (internal error)');
            return index;
          });
          return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastTrimBits: bits, fastTrimIndex: trimIndex }, 'equal');
        }
        return { carry: { ...c, stage: 'equal', remaining, bits } };
      }
      const pl = plan(cfg, inputs, withDerived(params, c), ctx, false);
      const trimIndex: number[] = [];
      for (let i = 0; i < sel.length; i++) {
        const p = sel[i].parent;
        let r = c.remaining![i];
        let index = r === 0 ? 0 : -1;
        for (let t = 0; t < per.length && index < 0; t++) {
          const { count, at } = per[t][i] as { count: number; at: number[] };
          if (count < r) {
            r -= count;
            continue;
          }
          if (r <= at.length) index = at[r - 1] + 1;
          else {
            // Beyond the positions the range reported: find the r-th equal element by scanning it.
            const [s0, e0] = ranges[t];
            const D = new Float32Array(BLOCK);
            const U = new Uint32Array(D.buffer);
            blocks(s0, e0, (s, len) => {
              if (index >= 0) return;
              clippedDelta(pl, inputs, p, s, D.subarray(0, len));
              for (let j = 0; j < len && index < 0; j++) if ((U[j] & 0x7fffffff) === c.bits![i] && --r === 0) index = s + j + 1;
            });
          }
        }
        if (index < 0) throw new Error('task-arithmetic selection: fewer equal elements than counted (internal error)');
        trimIndex.push(index);
      }
      return nextStage(cfg, inputs, params, ctx, { ...c.derived, fastTrimBits: c.bits!, fastTrimIndex: trimIndex }, 'equal');
    },
  };
}

/**
 * The sparsifications this kernel implements: every one of the family (DELLA's ranked drop row
 * by row: a range ranks the short rows it touches, the rank stage each long row once per parent).
 */
export const FAST_SPARSIFY: readonly TaskArithmeticConfig['sparsify'][] = Object.freeze([
  'none',
  'magnitude',
  'outliers',
  'della',
  'random',
]);

/** The range kernel of one member of the family (operator id `id`, configuration `cfg`). */
export function taskArithmeticKernel(id: string, cfg: TaskArithmeticConfig): RangeKernel {
  if (!FAST_SPARSIFY.includes(cfg.sparsify))
    throw new Error(`${id}: no range kernel for sparsification "${cfg.sparsify}"; valid: ${FAST_SPARSIFY.join(', ')}`);
  const reduce = reducePlan(cfg);
  return {
    id,
    bytesPerElement: (inputs) => 4 * (inputs + 1),
    // One density or drop per parent (resolved to a list) runs the reference.
    unsupported: (params) =>
      ['density', 'drop', 'gamma', 'epsilon'].some((k) => Array.isArray(params[k]))
        ? 'one density, drop, gamma or epsilon per parent runs the reference'
        : null,
    reduce,
    prepare: (inputs, params, ctx) => reduceLocally(reduce, inputs, params, ctx),
    run: (inputs, out, params, ctx, start, end) => applyRange(cfg, inputs, out, params, ctx, start, end),
  };
}
