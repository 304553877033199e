/**
 * The task-arithmetic family (mergekit's GeneralizedTaskArithmeticMerge): one function, configured
 * by sparsification × consensus, with the rescale and clipping chosen by parameters. Task delta,
 * sparse task delta, DARE, TIES, DARE-TIES and the federated update are all instances of it.
 *
 * For one tensor, inputs = [base, x₁ … x_P] and, per parent i (0-based, base not counted):
 *  1. delta      dᵢ = fround(xᵢ − base)
 *  2. clip       if clipNorm > 0: dᵢ ·= fround(min(1, clipNorm / ‖dᵢ‖₂)), the norm taken over the
 *                tensor (clipScope "tensor") or over the whole update (clipScope "update", from the
 *                model pre-pass, passed as the derived parameter clipFactors[i]).
 *  3. sparsify   none: keep all.
 *                magnitude: keep the top round(density·n) of dᵢ by magnitude (select.ts), per tensor,
 *                  or per whole model when trimScope = "model" (the pre-pass passes the tensor's
 *                  local cutoff as derived parameters trimBits[i], trimIndex[i]).
 *                random: keep element j iff randomUnit(tensorKey(seed, name), j, i) >= fround(drop).
 *  4. rescale    none; inverse: survivors ·= fround(1 / keep) with keep = density (magnitude) or
 *                1 − drop (random), skipped when keep = 0; l1: survivors ·= fround(‖dᵢ‖₁ / ‖sparse dᵢ‖₁)
 *                (norms before and after step 3, float64), skipped when the sparse norm is 0.
 *  5. weight     wᵢdᵢ = fround(wᵢ · dᵢ)  (weights default 1)
 *  6. consensus  none: m = Σᵢ wᵢdᵢ, divided by Σᵢ wᵢ when normalize.
 *                ties: elected sign s = sign(Σᵢ wᵢdᵢ) per element (the summed mass); m = Σ of the
 *                  wᵢdᵢ that are non-zero with sign s, divided by the Σ wᵢ of those same parents
 *                  when normalize (the disjoint mean; 0 when none agree).
 *  7. out        fround(base + fround(λ · m))
 * Sums run in float32 in parent order, like the GPU kernel.
 */
import { localCutoff, magnitudeThreshold, magnitudeThresholdMulti, isKept, selectCount, magnitudeBits, type Cutoff } from './select.ts';
import { streamKey, tensorKey, unitAt } from './prng.ts';
import { num, weightsOf } from './params.ts';
import type { ModelView, ParamValues, TaskArithmeticConfig, TensorContext } from './types.ts';

/** Step 1 and 2: the (clipped) delta of one parent. `clip` is the factor from the pre-pass, if any. */
export function parentDelta(base: Float32Array, x: Float32Array, params: ParamValues, parent: number): Float32Array {
  const n = base.length;
  const d = new Float32Array(n);
  for (let j = 0; j < n; j++) d[j] = x[j] - base[j];
  const clipNorm = typeof params.clipNorm === 'number' ? params.clipNorm : 0;
  if (clipNorm > 0) {
    let factor: number;
    if (Array.isArray(params.clipFactors)) factor = params.clipFactors[parent];
    else if (params.clipScope === 'update') throw new Error('update-wide clipping needs the model pre-pass (clipFactors); run it through breed');
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

function l1(d: Float32Array): number {
  let s = 0;
  for (let j = 0; j < d.length; j++) s += Math.abs(d[j]);
  return s;
}

/** Step 3 and 4 in place: sparsify one parent's delta and rescale the survivors. */
export function sparsifyDelta(d: Float32Array, cfg: TaskArithmeticConfig, params: ParamValues, ctx: TensorContext, parent: number): void {
  if (cfg.sparsify === 'none') return;
  const n = d.length;
  const rescale = (params.rescale as string | undefined) ?? 'none';
  const before = rescale === 'l1' ? l1(d) : 0;
  let keepFraction: number;
  if (cfg.sparsify === 'magnitude') {
    const density = num(params, 'density');
    keepFraction = density;
    // A cutoff from the pre-pass is in tensor coordinates, so a chunk at ctx.offset can use it;
    // otherwise the cutoff is computed here and `d` must be the whole tensor.
    let cutoff: Cutoff;
    let offset = 0;
    if (Array.isArray(params.trimBits) && Array.isArray(params.trimIndex)) {
      cutoff = { bits: params.trimBits[parent], index: params.trimIndex[parent] };
      offset = ctx.offset ?? 0;
    } else cutoff = magnitudeThreshold(d, selectCount(density, n));
    const bits = magnitudeBits(d);
    for (let j = 0; j < n; j++) if (!isKept(bits[j] & 0x7fffffff, offset + j, cutoff)) d[j] = 0;
  } else {
    const drop = num(params, 'drop');
    keepFraction = 1 - drop;
    const p = Math.fround(drop);
    const sk = streamKey(tensorKey(ctx.seed, ctx.name), parent);
    const offset = ctx.offset ?? 0;
    for (let j = 0; j < n; j++) if (unitAt(sk, offset + j) < p) d[j] = 0;
  }
  let factor = 1;
  if (rescale === 'inverse' && keepFraction > 0) factor = 1 / keepFraction;
  if (rescale === 'l1') {
    const after = l1(d);
    if (after > 0) factor = before / after;
  }
  if (factor !== 1) {
    const f = Math.fround(factor);
    for (let j = 0; j < n; j++) d[j] = d[j] * f;
  }
}

/** The whole family for one tensor: inputs = [base, ...parents]. */
export function taskArithmeticCpu(cfg: TaskArithmeticConfig, inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  const base = inputs[0];
  const parents = inputs.length - 1;
  if (parents < 1) throw new Error('task arithmetic needs a base and at least one parent');
  const n = base.length;
  const w = weightsOf(params, 'weights', parents, 1);
  const lambda = Math.fround(num(params, 'lambda', 1));
  const normalize = params.normalize === true;
  const acc = new Float32Array(n);
  if (cfg.consensus === 'none') {
    for (let i = 0; i < parents; i++) {
      const d = parentDelta(base, inputs[i + 1], params, i);
      sparsifyDelta(d, cfg, params, ctx, i);
      const wi = Math.fround(w[i]);
      for (let j = 0; j < n; j++) acc[j] = acc[j] + Math.fround(wi * d[j]);
    }
    if (normalize) {
      const sum = w.reduce((a, b) => a + b, 0);
      if (sum === 0) throw new Error('task arithmetic: weights sum to zero and cannot be normalised');
      const s = Math.fround(sum);
      for (let j = 0; j < n; j++) acc[j] = acc[j] / s;
    }
  } else {
    // TIES: all weighted sparse deltas are needed at once for the election.
    const wd: Float32Array[] = [];
    for (let i = 0; i < parents; i++) {
      const d = parentDelta(base, inputs[i + 1], params, i);
      sparsifyDelta(d, cfg, params, ctx, i);
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
 * TIES steps 2 and 3 on already trimmed, weighted deltas: elect a sign per element by summed
 * mass, then the (disjoint) mean of the deltas that agree with it. Also counts the elements
 * whose non-zero deltas disagree in sign.
 */
export function tiesCombine(weighted: readonly Float32Array[], weights: readonly number[], normalize: boolean): { merged: Float32Array; elected: Int8Array; signConflicts: number } {
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
    const s = sum > 0 ? 1 : sum < 0 ? -1 : 0;
    elected[j] = s;
    if (s === 0) continue;
    let m = 0;
    let den = 0;
    for (let i = 0; i < weighted.length; i++) {
      const v = weighted[i][j];
      if ((s > 0 && v > 0) || (s < 0 && v < 0)) {
        m = Math.fround(m + v);
        den = Math.fround(den + wf[i]);
      }
    }
    merged[j] = normalize ? (den !== 0 ? Math.fround(m / den) : 0) : m;
  }
  return { merged, elected, signConflicts };
}

/**
 * The model-level pre-pass: update-wide clip factors (clipScope "update") and model-wide trim
 * cutoffs (trimScope "model"). Returns derived parameters per tensor name.
 */
export function taskArithmeticPrepare(cfg: TaskArithmeticConfig, model: ModelView, params: ParamValues): Record<string, ParamValues> {
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
    if (typeof params.density !== 'number') throw new Error('model-wide trimming needs one density, not a layer gradient');
    const clipped = { ...params, ...(out[model.names[0]] ?? {}) };
    const bits: number[][] = model.names.map(() => []);
    const index: number[][] = model.names.map(() => []);
    for (let i = 0; i < parents; i++) {
      const deltas = model.names.map((name) => {
        const inputs = model.inputs(name);
        return parentDelta(inputs[0], inputs[i + 1], clipped, i);
      });
      const total = deltas.reduce((s, d) => s + d.length, 0);
      const cutoff = magnitudeThresholdMulti(deltas, selectCount(params.density, total));
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
