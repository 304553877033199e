/**
 * The task-arithmetic family (mergekit's GeneralizedTaskArithmeticMerge): one function, configured
 * by sparsification × consensus, with the rescale and clipping chosen by parameters. Task delta,
 * sparse task delta, DARE, TIES, DARE-TIES and the federated update are all instances of it.
 * The seven steps, mergekit's formula beside this one, are in docs/OPERATORS.md ("The
 * task-arithmetic family"); sums run in float32 in parent order, like the GPU kernel.
 */
import {
  localCutoff,
  magnitudeThreshold,
  magnitudeThresholdMulti,
  isKept,
  isPruned,
  pruneThreshold,
  selectCount,
  magnitudeBits,
  type Cutoff,
} from './select.ts';
import { streamKey, tensorKey, unitAt } from './prng.ts';
import { isPerParent, num, numAt, weightsOf } from './params.ts';
import type { ModelView, ParamValues, RecipeParams, TaskArithmeticConfig, TensorContext } from './types.ts';

/** Step 1 and 2: the (clipped) delta of one parent. `clip` is the factor from the pre-pass, if any. */
export function parentDelta(base: Float32Array, x: Float32Array, params: ParamValues, parent: number): Float32Array {
  const n = base.length;
  const d = new Float32Array(n);
  for (let j = 0; j < n; j++) d[j] = x[j] - base[j];
  const clipNorm = typeof params.clipNorm === 'number' ? params.clipNorm : 0;
  if (clipNorm > 0) {
    let factor: number;
    if (Array.isArray(params.clipFactors)) factor = params.clipFactors[parent];
    else if (params.clipScope === 'update')
      throw new Error('update-wide clipping needs the model pre-pass (clipFactors); run it through breed');
    else {
      let sq = 0;
      for (let j = 0; j < n; j++) sq += d[j] * d[j];
      const norm = Math.sqrt(sq);
      factor = norm > clipNorm ? clipNorm / norm : 1;
    }
    if (factor !== 1) {
      const f = Math.fround(factor);
      for (let j = 0; j < n; j++) d[j] = d[j] * f;
    }
  }
  return d;
}

/** mergekit's `eps` in rescaled_masked_tensor. */
const L1_EPS = 1e-7;

/**
 * The top-k count of a magnitude trim, int(density·n); refuses a density below 1 that keeps
 * nothing, as mergekit asserts ("not gonna zero out the whole tensor").
 */
export function keepCount(density: number, n: number, what: string): number {
  const k = selectCount(density, n);
  if (k === 0 && density < 1 && n > 0) {
    throw new Error(
      `density ${density} keeps nothing of "${what}" (${n} elements: int(density·n) = 0); raise density to at least ${(1 / n).toPrecision(3)}`,
    );
  }
  return k;
}

/**
 * mergekit's magnitude_outliers counts: keep int(density·n) after dropping the int(gamma·n)
 * largest (fewer when density + gamma > 1) and the rest of the smallest. In ascending order of
 * magnitude (ties lower index first) the kept elements are positions [nBot, n − nTop): `lo` prunes
 * the nBot smallest, `hi` everything but the nTop largest (both pruneThreshold cutoffs).
 */
export function outlierCounts(density: number, gamma: number, n: number, what: string): { nBot: number; nTop: number } {
  if (!(gamma >= 0 && gamma <= 1)) throw new Error(`gamma ${gamma} is outside [0, 1]`);
  const target = keepCount(density, n, what);
  let nTop = Math.floor(gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  return { nBot, nTop };
}

export function outlierCutoffs(d: Float32Array, density: number, gamma: number, what: string): { lo: Cutoff; hi: Cutoff } {
  const { nBot, nTop } = outlierCounts(density, gamma, d.length, what);
  return { lo: pruneThreshold(d, nBot), hi: pruneThreshold(d, d.length - nTop) };
}

/**
 * DELLA's MAGPRUNE keep probabilities (mergekit della_magprune): within each row (the first
 * dimension; a 1-D tensor is one row), element ranks r = 0 … cols−1 by magnitude ascending (ties
 * lower index first) give p = (density − ε) + (r / (cols − 1))·2ε, in float32 in mergekit's order
 * of operations (a one-column row takes r/(cols − 1) = 0). The CPU's drop and the GPU kernel's
 * (which draws against these, passed as extra input slabs) share this function.
 */
export function dellaKeepProbabilities(
  d: Float32Array,
  density: number,
  epsilon: number,
  ctx: Pick<TensorContext, 'name' | 'shape'>,
): Float32Array {
  const { low, eps } = dellaBounds(density, epsilon);
  const n = d.length;
  const rows = ctx.shape.length >= 2 ? ctx.shape[0] : 1;
  const cols = rows > 0 ? n / rows : 0;
  if (!Number.isInteger(cols)) throw new Error(`della: "${ctx.name}" has ${n} elements, not ${rows} whole rows`);
  const bits = magnitudeBits(d);
  const order = new Uint32Array(cols);
  const p = new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    for (let c = 0; c < cols; c++) order[c] = c;
    order.sort((a, b) => (bits[start + a] & 0x7fffffff) - (bits[start + b] & 0x7fffffff) || a - b);
    for (let rank = 0; rank < cols; rank++) p[start + order[rank]] = dellaKeepAt(rank, cols, low, eps);
  }
  return p;
}

/** DELLA's float32 bounds: low = fround(density − epsilon) and fround(epsilon), after mergekit's check that density ± epsilon lies inside (0, 1). */
export function dellaBounds(density: number, epsilon: number): { low: number; eps: number } {
  if (!(density + epsilon < 1 && density - epsilon > 0)) {
    throw new Error(`della: epsilon ${epsilon} must keep density ± epsilon inside (0, 1) (density ${density})`);
  }
  return { low: Math.fround(density - epsilon), eps: Math.fround(epsilon) };
}

/** The keep probability of rank r (magnitude ascending) in a row of `cols`: low + (r / (cols − 1))·2ε in mergekit's float32 order of operations. */
export function dellaKeepAt(rank: number, cols: number, low: number, eps: number): number {
  const f = Math.fround;
  const norm = cols > 1 ? f(rank / (cols - 1)) : 0;
  return f(low + f(f(norm * 2) * eps));
}

/**
 * DELLA's drop in place: element j survives iff randomUnit(tensorKey(seed, name), j, parent) <
 * its keep probability (dellaKeepProbabilities). Rescaling is step 4 (L1 by default). Returns how
 * many elements were kept.
 */
export function dellaDrop(d: Float32Array, density: number, epsilon: number, ctx: TensorContext, parent: number): number {
  const p = dellaKeepProbabilities(d, density, epsilon, ctx);
  const sk = streamKey(tensorKey(ctx.seed, ctx.name), parent);
  let kept = 0;
  for (let j = 0; j < d.length; j++) {
    if (!(unitAt(sk, j) < p[j])) d[j] = 0;
    else kept++;
  }
  return kept;
}

function l1(d: Float32Array): number {
  let s = 0;
  for (let j = 0; j < d.length; j++) s += Math.abs(d[j]);
  return s;
}

/** The ctx.stats key of parent i's kept count (breed turns the counts into the receipt's keptFraction). */
export const keptKey = (parent: number): string => `kept:${parent}`;

/**
 * Step 3 and 4 in place: sparsify one parent's delta and rescale the survivors. Density, drop,
 * gamma and epsilon may be one number or one per parent (numAt). Returns how many elements the
 * sparsification kept (all n where it keeps everything), null for sparsify "none".
 */
export function sparsifyDelta(
  d: Float32Array,
  cfg: TaskArithmeticConfig,
  params: ParamValues,
  ctx: TensorContext,
  parent: number,
): number | null {
  if (cfg.sparsify === 'none') return null;
  const n = d.length;
  const rescale = (params.rescale as string | undefined) ?? 'none';
  // The whole tensor's norms from a streamed pre-pass (breedStream's l1Norms: before₀, after₀, …), when given.
  const norms = rescale === 'l1' && Array.isArray(params.l1Norms) ? params.l1Norms : null;
  const before = rescale === 'l1' ? (norms ? norms[2 * parent] : l1(d)) : 0;
  let keepFraction: number;
  let kept = 0;
  if (cfg.sparsify === 'magnitude') {
    const density = numAt(params, 'density', parent);
    keepFraction = density;
    // mergekit: a density of 1 or more returns the delta untouched (no rescale).
    if (density >= 1) return n;
    // A cutoff from the pre-pass is in tensor coordinates, so a chunk at ctx.offset can use it;
    // otherwise the cutoff is computed here and `d` must be the whole tensor.
    let cutoff: Cutoff;
    let offset = 0;
    if (Array.isArray(params.trimBits) && Array.isArray(params.trimIndex)) {
      cutoff = { bits: params.trimBits[parent], index: params.trimIndex[parent] };
      offset = ctx.offset ?? 0;
    } else cutoff = magnitudeThreshold(d, keepCount(density, n, ctx.name));
    const bits = magnitudeBits(d);
    for (let j = 0; j < n; j++)
      if (!isKept(bits[j] & 0x7fffffff, offset + j, cutoff)) d[j] = 0;
      else kept++;
  } else if (cfg.sparsify === 'outliers') {
    const density = numAt(params, 'density', parent);
    keepFraction = density;
    if (density >= 1) return n;
    const { lo, hi } = outlierCutoffs(d, density, numAt(params, 'gamma', parent, 0.01), ctx.name);
    const bits = magnitudeBits(d);
    for (let j = 0; j < n; j++) {
      const m = bits[j] & 0x7fffffff;
      if (!isPruned(m, j, hi) || isPruned(m, j, lo)) d[j] = 0;
      else kept++;
    }
  } else if (cfg.sparsify === 'della') {
    const density = numAt(params, 'density', parent);
    keepFraction = density;
    if (density >= 1) return n;
    kept = dellaDrop(d, density, numAt(params, 'epsilon', parent, 0.15), ctx, parent);
  } else {
    const drop = numAt(params, 'drop', parent);
    keepFraction = 1 - drop;
    const p = Math.fround(drop);
    const sk = streamKey(tensorKey(ctx.seed, ctx.name), parent);
    const offset = ctx.offset ?? 0;
    for (let j = 0; j < n; j++)
      if (unitAt(sk, offset + j) < p) d[j] = 0;
      else kept++;
  }
  let factor = 1;
  if (rescale === 'inverse' && keepFraction > 0) factor = 1 / keepFraction;
  if (rescale === 'l1') {
    // mergekit's rescaled_masked_tensor: no rescale when either norm is below eps = 1e-7.
    const after = norms ? norms[2 * parent + 1] : l1(d);
    if (before >= L1_EPS && after >= L1_EPS) factor = before / after;
  }
  if (factor !== 1) {
    const f = Math.fround(factor);
    for (let j = 0; j < n; j++) d[j] = d[j] * f;
  }
  return kept;
}

/** The whole family for one tensor: inputs = [base, ...parents]. */
export function taskArithmeticCpu(
  cfg: TaskArithmeticConfig,
  inputs: readonly Float32Array[],
  params: ParamValues,
  ctx: TensorContext,
): Float32Array {
  const base = inputs[0];
  const parents = inputs.length - 1;
  if (parents < 1) throw new Error('task arithmetic needs a base and at least one parent');
  const n = base.length;
  const w = weightsOf(params, 'weights', parents, 1);
  const lambda = Math.fround(num(params, 'lambda', 1));
  const normalize = params.normalize === true;
  const acc = new Float32Array(n);
  const record = (i: number, kept: number | null) => {
    if (ctx.stats && kept !== null) ctx.stats[keptKey(i)] = kept;
  };
  if (cfg.consensus === 'none') {
    for (let i = 0; i < parents; i++) {
      const d = parentDelta(base, inputs[i + 1], params, i);
      record(i, sparsifyDelta(d, cfg, params, ctx, i));
      const wi = Math.fround(w[i]);
      for (let j = 0; j < n; j++) acc[j] = acc[j] + Math.fround(wi * d[j]);
    }
    if (normalize) {
      const s = normalizeDivisor(w);
      for (let j = 0; j < n; j++) acc[j] = acc[j] / s;
    }
  } else {
    // TIES: all weighted sparse deltas are needed at once for the election.
    const wd: Float32Array[] = [];
    for (let i = 0; i < parents; i++) {
      const d = parentDelta(base, inputs[i + 1], params, i);
      record(i, sparsifyDelta(d, cfg, params, ctx, i));
      const wi = Math.fround(w[i]);
      for (let j = 0; j < n; j++) d[j] = wi * d[j];
      wd.push(d);
    }
    const r = tiesCombine(wd, w, normalize);
    acc.set(r.merged);
    if (ctx.stats) ctx.stats.signConflicts = r.signConflicts;
  }
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) out[j] = base[j] + Math.fround(lambda * acc[j]);
  return out;
}

/**
 * The divisor of a normalised sum without consensus: Σ wᵢ in float32, or 1 where |Σ wᵢ| < 1e-8
 * (mergekit's guard, so weights that cancel leave the sum undivided instead of failing).
 */
export function normalizeDivisor(weights: readonly number[]): number {
  let sum = 0;
  for (const x of weights) sum = Math.fround(sum + Math.fround(x));
  return Math.abs(sum) < 1e-8 ? 1 : sum;
}

/**
 * TIES steps 2 and 3 on already trimmed, weighted deltas: elect a sign per element by summed
 * mass (+1 where the sum is ≥ 0, as mergekit's get_mask), then the (disjoint) mean of the
 * deltas that agree with it. Also counts the elements whose non-zero deltas disagree in sign.
 */
export function tiesCombine(
  weighted: readonly Float32Array[],
  weights: readonly number[],
  normalize: boolean,
): { merged: Float32Array; elected: Int8Array; signConflicts: number } {
  const n = weighted[0]?.length ?? 0;
  const merged = new Float32Array(n);
  const elected = new Int8Array(n);
  let signConflicts = 0;
  const wf = weights.map((x) => Math.fround(x));
  for (let j = 0; j < n; j++) {
    let sum = 0;
    let pos = false;
    let neg = false;
    for (const d of weighted) {
      const v = d[j];
      sum = Math.fround(sum + v);
      if (v > 0) pos = true;
      else if (v < 0) neg = true;
    }
    if (pos && neg) signConflicts++;
    const s = sum >= 0 ? 1 : -1;
    elected[j] = s;
    let m = 0;
    let den = 0;
    for (let i = 0; i < weighted.length; i++) {
      const v = weighted[i][j];
      if ((s > 0 && v > 0) || (s < 0 && v < 0)) {
        m = Math.fround(m + v);
        den = Math.fround(den + wf[i]);
      }
    }
    // mergekit divides by 1 where the agreeing weights sum to 0.
    merged[j] = normalize && den !== 0 ? Math.fround(m / den) : m;
  }
  return { merged, elected, signConflicts };
}

/** The densities of a model-wide trim, one per parent (breed's streamed pre-pass shares it). */
export function modelTrimDensities(params: RecipeParams, parents: number): number[] {
  const given = params.density;
  const densities =
    typeof given === 'number'
      ? new Array<number>(parents).fill(given)
      : isPerParent(given) && given.perParent.every((x) => typeof x === 'number')
        ? (given.perParent as number[])
        : null;
  if (densities === null)
    throw new Error('model-wide trimming needs one density (or one number per parent), not a layer gradient or a filter list');
  return densities;
}

/**
 * The model-level pre-pass: update-wide clip factors (clipScope "update") and model-wide trim
 * cutoffs (trimScope "model"). Returns derived parameters per tensor name.
 */
export function taskArithmeticPrepare(cfg: TaskArithmeticConfig, model: ModelView, params: RecipeParams): Record<string, ParamValues> {
  const out: Record<string, ParamValues> = {};
  for (const name of model.names) out[name] = {};
  const parents = model.names.length ? model.inputs(model.names[0]).length - 1 : 0;
  const clipNorm = typeof params.clipNorm === 'number' ? params.clipNorm : 0;
  if (clipNorm > 0 && params.clipScope === 'update') {
    const sq = new Float64Array(parents);
    for (const name of model.names) {
      const inputs = model.inputs(name);
      for (let i = 0; i < parents; i++) {
        const d = parentDelta(inputs[0], inputs[i + 1], {}, i);
        for (let j = 0; j < d.length; j++) sq[i] += d[j] * d[j];
      }
    }
    const factors = Array.from(sq, (s) => {
      const norm = Math.sqrt(s);
      return norm > clipNorm ? clipNorm / norm : 1;
    });
    for (const name of model.names) out[name].clipFactors = factors;
  }
  if (cfg.sparsify === 'magnitude' && params.trimScope === 'model') {
    const densities = modelTrimDensities(params, parents);
    const clipped = { clipNorm: params.clipNorm, clipScope: params.clipScope, ...(out[model.names[0]] ?? {}) } as ParamValues;
    const bits: number[][] = model.names.map(() => []);
    const index: number[][] = model.names.map(() => []);
    for (let i = 0; i < parents; i++) {
      const deltas = model.names.map((name) => {
        const inputs = model.inputs(name);
        return parentDelta(inputs[0], inputs[i + 1], clipped, i);
      });
      const total = deltas.reduce((s, d) => s + d.length, 0);
      const density = densities[i];
      const cutoff = magnitudeThresholdMulti(deltas, density >= 1 ? total : keepCount(density, total, 'the model'));
      let offset = 0;
      deltas.forEach((d, t) => {
        const c = localCutoff(cutoff, offset, d.length);
        bits[t].push(c.bits);
        index[t].push(c.index);
        offset += d.length;
      });
    }
    model.names.forEach((name, t) => {
      out[name].trimBits = bits[t];
      out[name].trimIndex = index[t];
    });
  }
  return out;
}
