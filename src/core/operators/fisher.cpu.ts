/**
 * Fisher-weighted averaging (Matena & Raffel, 2022, "Merging Models with Fisher-Weighted
 * Averaging"): θ* = Σᵢ λᵢ(Fᵢ + ε)θᵢ / Σᵢ λᵢ(Fᵢ + ε), element by element, with Fᵢ the diagonal
 * Fisher of model i, E[(∂ log p(y|x) / ∂θ)²] over its calibration rows (statistics.ts computes it
 * with the training engine's backward pass, one example at a time). ε keeps the division defined
 * where every Fisher is zero (there it is the λ-weighted average), as FusionBench's
 * minimal_fisher_weight. Sums in float64, rounded once.
 */
import type { ParamValues, TensorContext } from './types.ts';
import { statisticsOf } from './statistics.ts';

export function fisherCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  const st = statisticsOf(ctx, 'fisher');
  if (st === null || st.kind !== 'fisher') throw new Error(`fisher on "${ctx.name}": no Fisher statistics for this tensor`);
  const n = inputs[0].length;
  if (st.perParent.length !== inputs.length || st.perParent.some((f) => f.length !== n))
    throw new Error(`fisher on "${ctx.name}": Fishers do not match ${inputs.length} parents × ${n} elements`);
  const eps = Number(params.epsilon ?? 1e-6);
  const lambda = Array.isArray(params.weights) ? params.weights : inputs.map(() => 1);
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let num = 0;
    let den = 0;
    for (let p = 0; p < inputs.length; p++) {
      const w = lambda[p] * (st.perParent[p][e] + eps);
      num += w * inputs[p][e];
      den += w;
    }
    out[e] = num / den;
  }
  if (ctx.stats) {
    st.perParent.forEach((f, p) => {
      let s = 0;
      for (let e = 0; e < n; e++) s += f[e];
      ctx.stats![`fisherMean:${p}`] = n > 0 ? s / n : 0;
    });
  }
  return out;
}
