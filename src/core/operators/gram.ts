/**
 * What the spherical merges share (model_stock, multislerp, karcher, nuslerp): the Gram matrix of
 * a few vectors in float64 (element order), and the float32 linear combination Σ fround(βₖ·xₖ) that
 * every one of them reduces to once its scalar coefficients are known. The GPU computes the same
 * Gram sums by a reduction (src/gpu/ops/gram.gpu.ts) and the same combination in one pass.
 */

/** The upper triangle of the Gram matrix, row by row: (0,0), (0,1) … (0,P−1), (1,1) … — P(P+1)/2 pairs. */
export function gramPairs(p: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < p; i++) for (let j = i; j < p; j++) out.push([i, j]);
  return out;
}

/** G[i·P + j] = Σₑ xᵢ[e]·xⱼ[e] in float64, in element order (symmetric, both halves filled). */
export function gramMatrix(xs: readonly Float32Array[]): Float64Array {
  const p = xs.length;
  const g = new Float64Array(p * p);
  const n = xs[0]?.length ?? 0;
  for (const [i, j] of gramPairs(p)) {
    const a = xs[i];
    const b = xs[j];
    let s = 0;
    for (let e = 0; e < n; e++) s += a[e] * b[e];
    g[i * p + j] = s;
    g[j * p + i] = s;
  }
  return g;
}

/** A Gram matrix from the upper-triangle sums in gramPairs order (what the GPU reduction returns). */
export function gramFromPairs(p: number, sums: ArrayLike<number>): Float64Array {
  const g = new Float64Array(p * p);
  gramPairs(p).forEach(([i, j], k) => {
    g[i * p + j] = sums[k];
    g[j * p + i] = sums[k];
  });
  return g;
}

/** vᵀ G w for coefficient vectors over the same P vectors. */
export function quad(g: Float64Array, v: ArrayLike<number>, w: ArrayLike<number> = v): number {
  const p = v.length;
  let s = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) s += v[i] * g[i * p + j] * w[j];
  return s;
}

/** The deltas xᵢ − base in float32 (the vectors the base variants work on). */
export function deltas(base: Float32Array, xs: readonly Float32Array[]): Float32Array[] {
  return xs.map((x) => Float32Array.from(x, (v, j) => v - base[j]));
}

/**
 * out[e] = Σₖ fround(fround(βₖ)·xₖ[e]) in float32, parent order from 0, then fround(base[e] + acc)
 * when a base is given (xₖ are then the deltas).
 */
export function combine(xs: readonly Float32Array[], beta: readonly number[], base?: Float32Array): Float32Array {
  const n = xs[0].length;
  const b = beta.map((x) => Math.fround(x));
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let acc = 0;
    for (let k = 0; k < xs.length; k++) acc = Math.fround(acc + Math.fround(b[k] * xs[k][e]));
    out[e] = base ? base[e] + acc : acc;
  }
  return out;
}
