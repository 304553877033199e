/**
 * RegMean (Jin et al., 2023, "Dataless Knowledge Fusion by Merging Weights of Language Models"):
 * for a linear layer y = x·W (the garden's [in, out] layout) the merged weight minimises
 * Σᵢ ‖XᵢW − XᵢWᵢ‖², whose closed form is W* = (Σᵢ G̃ᵢ)⁻¹ Σᵢ G̃ᵢWᵢ with Gᵢ = XᵢᵀXᵢ the Gram matrix
 * of the layer's inputs under model i on its calibration rows, and the paper's off-diagonal scaling
 * G̃ = α·G + (1 − α)·diag(G). For y = x·Wᵀ ([out, in], Hugging Face's Linear) the same solve runs
 * on the transposes: W* = (Σᵢ WᵢG̃ᵢ)(Σᵢ G̃ᵢ)⁻¹. A tensor without a Gram (biases, norms,
 * embeddings) is the plain average.
 *
 * Host-side, float64: Cholesky of ΣG̃ (positive definite whenever α < 1 and the diagonal is
 * non-zero). An input that no calibration row ever activated (ΣG̃ₖₖ = 0, so its row and column are
 * zero) carries no information: that weight row is the plain average, and the count is reported
 * ("unseenInputs"). The receipt gets an estimate of ΣG̃'s condition number λmax/λmin (power and
 * inverse-power iteration, CONDITION_STEPS steps each) on the seen inputs.
 */
import type { ParamValues, TensorContext } from './types.ts';
import { statisticsOf } from './statistics.ts';

export const CONDITION_STEPS = 40;
/** A Cholesky pivot at or below this fraction of its diagonal counts as zero. */
export const PIVOT_TOLERANCE = 1e-12;

/** Σ xᵢ / P in float64, rounded once: the average of non-linear tensors. */
export function averageCpu(inputs: readonly Float32Array[]): Float32Array {
  const n = inputs[0].length;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (const x of inputs) s += x[e];
    out[e] = s / inputs.length;
  }
  return out;
}

/** In place: the lower Cholesky factor L of the k×k matrix a (row-major); returns -1, or the index of the first pivot that is not positive. */
export function cholesky(a: Float64Array, k: number): number {
  for (let j = 0; j < k; j++) {
    const diag = a[j * k + j];
    let d = diag;
    for (let p = 0; p < j; p++) d -= a[j * k + p] * a[j * k + p];
    // A pivot lost to rounding (relative to its diagonal) is a singular matrix, not a tiny one.
    if (!(d > PIVOT_TOLERANCE * diag)) return j;
    const l = Math.sqrt(d);
    a[j * k + j] = l;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j];
      for (let p = 0; p < j; p++) s -= a[i * k + p] * a[j * k + p];
      a[i * k + j] = s / l;
    }
    for (let p = j + 1; p < k; p++) a[j * k + p] = 0;
  }
  return -1;
}

/** Solve L·Lᵀ·x = b in place for one right-hand side (b has stride `stride`, offset `off`). */
function cholSolve(l: Float64Array, k: number, b: Float64Array, off = 0, stride = 1): void {
  for (let i = 0; i < k; i++) {
    let s = b[off + i * stride];
    for (let p = 0; p < i; p++) s -= l[i * k + p] * b[off + p * stride];
    b[off + i * stride] = s / l[i * k + i];
  }
  for (let i = k - 1; i >= 0; i--) {
    let s = b[off + i * stride];
    for (let p = i + 1; p < k; p++) s -= l[p * k + i] * b[off + p * stride];
    b[off + i * stride] = s / l[i * k + i];
  }
}

function normalise(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return n;
}

/** λmax / λmin of the SPD matrix s (k×k) with Cholesky factor l: power and inverse-power iteration from a fixed start. */
export function conditionEstimate(s: Float64Array, l: Float64Array, k: number, steps = CONDITION_STEPS): number {
  if (k === 0) return 1;
  const start = () => Float64Array.from({ length: k }, (_, i) => 1 + ((i * 7919) % 13) / 13);
  let v = start();
  normalise(v);
  let hi = 0;
  for (let t = 0; t < steps; t++) {
    const w = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      let acc = 0;
      for (let j = 0; j < k; j++) acc += s[i * k + j] * v[j];
      w[i] = acc;
    }
    hi = normalise(w);
    v = w;
  }
  const u = start();
  normalise(u);
  let inv = 0;
  for (let t = 0; t < steps; t++) {
    cholSolve(l, k, u);
    inv = normalise(u);
  }
  return inv > 0 ? hi * inv : Infinity;
}

/**
 * RegMean of one tensor. `alpha` scales the off-diagonal of each Gram. Statistics come from
 * ctx (statistics.ts): a Gram per parent for a linear weight, none for the other tensors.
 */
export function regmeanCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  const st = statisticsOf(ctx, 'regmean');
  if (st === null) return averageCpu(inputs);
  if (st.kind !== 'gram') throw new Error(`regmean on "${ctx.name}": needs Gram statistics, got ${st.kind}`);
  if (st.perParent.length !== inputs.length)
    throw new Error(`regmean on "${ctx.name}": ${st.perParent.length} Grams for ${inputs.length} parents`);
  if (ctx.shape.length !== 2) throw new Error(`regmean on "${ctx.name}": a Gram needs a 2-D weight, got [${ctx.shape}]`);
  const alpha = Number(params.alpha ?? 0.9);
  const inOut = st.layout === 'in-out';
  const [rows, cols] = ctx.shape;
  const d = inOut ? rows : cols; // input features
  const m = inOut ? cols : rows; // output features
  // Σ G̃ᵢ (d×d) and Σ G̃ᵢWᵢ (d×m, W taken as [in, out]).
  const s = new Float64Array(d * d);
  const r = new Float64Array(d * m);
  const wAt = (w: Float32Array, i: number, o: number) => (inOut ? w[i * m + o] : w[o * d + i]);
  st.perParent.forEach((g, p) => {
    if (g.length !== d * d) throw new Error(`regmean on "${ctx.name}": Gram of ${g.length} values for ${d} inputs`);
    const w = inputs[p];
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const v = i === j ? g[i * d + j] : alpha * g[i * d + j];
        s[i * d + j] += v;
        if (v === 0) continue;
        for (let o = 0; o < m; o++) r[i * m + o] += v * wAt(w, j, o);
      }
    }
  });
  const seen: number[] = [];
  for (let i = 0; i < d; i++) if (s[i * d + i] > 0) seen.push(i);
  const k = seen.length;
  const sub = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) sub[a * k + b] = s[seen[a] * d + seen[b]];
  const l = Float64Array.from(sub);
  const bad = cholesky(l, k);
  if (bad >= 0)
    throw new Error(
      `regmean on "${ctx.name}": Σ G̃ is not positive definite (pivot ${bad} of ${k}); use alpha < 1 or more calibration rows`,
    );
  // Right-hand sides restricted to the seen inputs, one column per output feature.
  const rhs = new Float64Array(k * m);
  for (let a = 0; a < k; a++) for (let o = 0; o < m; o++) rhs[a * m + o] = r[seen[a] * m + o];
  for (let o = 0; o < m; o++) cholSolve(l, k, rhs, o, m);
  const merged = averageCpu(inputs); // unseen inputs keep the average
  const put = (i: number, o: number, v: number) => {
    if (inOut) merged[i * m + o] = v;
    else merged[o * d + i] = v;
  };
  for (let a = 0; a < k; a++) for (let o = 0; o < m; o++) put(seen[a], o, rhs[a * m + o]);
  if (ctx.stats) {
    ctx.stats.conditionNumber = conditionEstimate(sub, l, k);
    ctx.stats.unseenInputs = d - k;
  }
  return merged;
}
