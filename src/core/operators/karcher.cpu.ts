/**
 * Karcher mean (mergekit "karcher"): the Riemannian mean of the models' directions on the unit
 * sphere, scaled by their mean norm. Equal weights αᵢ = 1/N; with nᵢ = ‖xᵢ‖ and eᵢ = xᵢ/nᵢ for the
 * models with nᵢ > tol (weights renormalised over them; none → zeros):
 *
 *   u = Σ αᵢeᵢ / ‖·‖  (e₀ of the kept models when that norm < tol)
 *   repeat maxIter times:  T = Σ αᵢ θᵢ/sin θᵢ (eᵢ − cos θᵢ u), cos θᵢ = clamp(u·eᵢ), models with θᵢ < tol skipped
 *                           stop when ‖T‖ < tol; else u ← cos‖T‖ u + sin‖T‖ T/‖T‖, renormalised when ‖u‖ > tol
 *   out = (Σ αᵢnᵢ) u        (all models' norms, zeros included)
 *
 * u and T stay in the span of the xᵢ, so the garden runs every iteration on the Gram matrix
 * (float64, element order) as coefficients over the xᵢ, then one float32 pass Σ fround(fround(βₖ)·xₖ)
 * — mergekit's algebra without its per-step float32 roundings. `ctx.stats.iterations` reports the
 * updates applied (0 … maxIter; fewer than maxIter means ‖T‖ fell below tol).
 */
import { combine, gramMatrix, quad } from './gram.ts';
import { num } from './params.ts';
import type { ParamValues, TensorContext } from './types.ts';

export function karcherCoefficients(g: Float64Array, p: number, maxIter: number, tol: number): { beta: number[]; iterations: number } {
  const norms = Array.from({ length: p }, (_, i) => Math.sqrt(Math.max(0, g[i * p + i])));
  const alpha = 1 / p;
  const valid = norms.flatMap((x, i) => (x > tol ? [i] : []));
  if (valid.length === 0) return { beta: new Array<number>(p).fill(0), iterations: 0 };
  const a = alpha * valid.length;
  const na = valid.map(() => alpha / a);
  // Coefficients over the unit vectors eᵢ of the valid models; U is their Gram matrix.
  const v = valid.length;
  const U = new Float64Array(v * v);
  for (let i = 0; i < v; i++) for (let j = 0; j < v; j++) U[i * v + j] = g[valid[i] * p + valid[j]] / (norms[valid[i]] * norms[valid[j]]);
  let u = [...na];
  const n0 = Math.sqrt(Math.max(0, quad(U, u)));
  if (n0 < tol) u = valid.map((_, i) => (i === 0 ? 1 : 0));
  else u = u.map((x) => x / n0);
  let iterations = 0;
  for (let it = 0; it < maxIter; it++) {
    const T = new Array<number>(v).fill(0);
    for (let i = 0; i < v; i++) {
      let dot = 0;
      for (let j = 0; j < v; j++) dot += u[j] * U[j * v + i];
      dot = Math.min(Math.max(dot, -1), 1);
      const theta = Math.acos(dot);
      if (theta < tol) continue;
      const k = (na[i] * theta) / Math.sin(theta);
      T[i] += k;
      for (let j = 0; j < v; j++) T[j] -= k * dot * u[j];
    }
    const nT = Math.sqrt(Math.max(0, quad(U, T)));
    if (nT < tol) break;
    const c = Math.cos(nT);
    const s = Math.sin(nT) / nT;
    u = u.map((x, j) => c * x + s * T[j]);
    iterations++;
    const un = Math.sqrt(Math.max(0, quad(U, u)));
    if (un > tol) u = u.map((x) => x / un);
  }
  const scale = norms.reduce((sum, x) => sum + alpha * x, 0);
  const beta = new Array<number>(p).fill(0);
  valid.forEach((i, j) => (beta[i] = (scale * u[j]) / norms[i]));
  return { beta, iterations };
}

export function karcherCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  if (inputs.length < 2) throw new Error(`karcher needs at least two models, got ${inputs.length}`);
  const { beta, iterations } = karcherCoefficients(gramMatrix(inputs), inputs.length, num(params, 'maxIter', 10), num(params, 'tol', 1e-5));
  if (ctx.stats) ctx.stats.iterations = iterations;
  return combine(inputs, beta);
}
