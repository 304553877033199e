/**
 * NuSLERP (mergekit "nuslerp"): SLERP between two models at t = w₁ / (w₀ + w₁) (0.5 when
 * |w₀ + w₁| < 1e-6), over the whole tensor (`nuslerpFlatten`, the default), or per vector: along
 * the last dimension, or along the first with `nuslerpRowWise` (mergekit's dim = 0). With a
 * base (`nuslerp-base`), the two deltas from the base are interpolated and added back.
 *
 * Per vector v₀, v₁ (sums in float64, element order):
 *   cos θ = (v₀·v₁) / (max(‖v₀‖, 1e-7)·max(‖v₁‖, 1e-7)), clamped to [−1, 1]; θ = acos(cos θ)
 *   colinear (|sin θ| < 1e-8): out = (1 − t)·v₀ + t·v₁
 *   else:                       out = (sin((1 − t)θ)·v₀ + sin(tθ)·v₁) / sin θ
 * The scalars in float64, rounded once; the vector arithmetic in float32 in mergekit's order:
 * fround(fround(fround(A·v₀) + fround(B·v₁)) / S), A = sin((1 − t)θ), B = sin(tθ), S = sin θ.
 * (Unlike `slerp`, there is no 0.9995 straight-line threshold: only a vanishing sin θ.)
 */
import { weightsOf } from './params.ts';
import type { ParamValues, TensorContext } from './types.ts';

/** mergekit's t from the two weights. */
export function nuslerpT(weights: readonly number[]): number {
  const s = weights[0] + weights[1];
  return Math.abs(s) < 1e-6 ? 0.5 : weights[1] / s;
}

/** How the tensor splits into vectors: `count` vectors; element e belongs to vector vectorOf(e). */
export interface NuslerpLayout {
  count: number;
  /** 0: whole tensor; 1: contiguous rows of `len` (last dimension); 2: strided, vector = e mod `len` (first dimension). */
  mode: 0 | 1 | 2;
  len: number;
}

export function nuslerpLayout(shape: readonly number[], total: number, params: ParamValues): NuslerpLayout {
  const flatten = params.nuslerpFlatten !== false;
  if (flatten || shape.length < 2 || total === 0) return { count: 1, mode: 0, len: Math.max(1, total) };
  if (params.nuslerpRowWise === true) {
    const rest = total / shape[0];
    return { count: rest, mode: 2, len: rest };
  }
  const last = shape[shape.length - 1];
  return { count: total / last, mode: 1, len: last };
}

export function vectorOf(l: NuslerpLayout, e: number): number {
  return l.mode === 0 ? 0 : l.mode === 1 ? Math.floor(e / l.len) : e % l.len;
}

/** The float32 scalars of one vector from its sums d = v₀·v₁, a = ‖v₀‖², b = ‖v₁‖² (the CPU and the GPU both call this). */
export function nuslerpScalars(d: number, a: number, b: number, t: number): { a: number; b: number; s: number; linear: boolean } {
  const cos = d / (Math.max(Math.sqrt(a), 1e-7) * Math.max(Math.sqrt(b), 1e-7));
  const theta = Math.acos(Math.min(Math.max(cos, -1), 1));
  const sin = Math.sin(theta);
  if (Math.abs(sin) < 1e-8) return { a: Math.fround(1 - t), b: Math.fround(t), s: 1, linear: true };
  return { a: Math.fround(Math.sin((1 - t) * theta)), b: Math.fround(Math.sin(t * theta)), s: Math.fround(sin), linear: false };
}

/** Per-vector sums [d, a, b] of two inputs, float64 in element order. */
export function nuslerpSums(v0: Float32Array, v1: Float32Array, l: NuslerpLayout): Float64Array {
  const sums = new Float64Array(3 * l.count);
  for (let e = 0; e < v0.length; e++) {
    const k = 3 * vectorOf(l, e);
    sums[k] += v0[e] * v1[e];
    sums[k + 1] += v0[e] * v0[e];
    sums[k + 2] += v1[e] * v1[e];
  }
  return sums;
}

/** The scalars of every vector as f32 words [A, B, S, linear] (the GPU kernel's parameter table). */
export function nuslerpTable(sums: ArrayLike<number>, count: number, t: number): Float32Array {
  const table = new Float32Array(4 * count);
  for (let v = 0; v < count; v++) {
    const s = nuslerpScalars(sums[3 * v], sums[3 * v + 1], sums[3 * v + 2], t);
    table.set([s.a, s.b, s.s, s.linear ? 1 : 0], 4 * v);
  }
  return table;
}

export function nuslerpApply(v0: Float32Array, v1: Float32Array, table: Float32Array, l: NuslerpLayout, base?: Float32Array): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(v0.length);
  for (let e = 0; e < v0.length; e++) {
    const k = 4 * vectorOf(l, e);
    const mixed = f(f(table[k] * v0[e]) + f(table[k + 1] * v1[e]));
    const r = table[k + 3] === 1 ? mixed : f(mixed / table[k + 2]);
    out[e] = base ? base[e] + r : r;
  }
  return out;
}

/** inputs = [v₀, v₁], or [base, x₀, x₁] when `withBase`. */
export function nuslerpCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext, withBase: boolean): Float32Array {
  const need = withBase ? 3 : 2;
  if (inputs.length !== need) throw new Error(`nuslerp${withBase ? ' with a base' : ''} takes ${need} inputs, got ${inputs.length}`);
  const base = withBase ? inputs[0] : undefined;
  const [x0, x1] = inputs.slice(withBase ? 1 : 0);
  const v0 = base ? Float32Array.from(x0, (v, j) => v - base[j]) : x0;
  const v1 = base ? Float32Array.from(x1, (v, j) => v - base[j]) : x1;
  const t = nuslerpT(weightsOf(params, 'weights', 2, 1));
  const l = nuslerpLayout(ctx.shape, v0.length, params);
  return nuslerpApply(v0, v1, nuslerpTable(nuslerpSums(v0, v1, l), l.count, t), l, base);
}
