/**
 * SCE: Select, Calculate, Erase (mergekit "sce", FuseChat 2.0). With base b and deltas τᵢ = xᵢ − b:
 *
 *   Select (selectTopk < 1): σ²ₑ = the population variance of the τᵢ[e] over the models; keep the
 *     k = int(#{σ² ≠ 0}·selectTopk) elements of largest σ² in every τᵢ (none when k = 0 or
 *     selectTopk ≤ 0), zero the rest. selectTopk ≥ 1 keeps everything (mergekit's default).
 *   Calculate: wᵢ = mean(τᵢ²) over the tensor (the selected τᵢ), divided by Σ wᵢ (1/N each when
 *     |Σ wᵢ| < 1e-6).
 *   Erase: the TIES sign election, sign = (Σᵢ τᵢ ≥ 0 ? + : −); only the τᵢ with that sign count
 *     (zeros never do). out = b + Σᵢ τᵢwᵢmᵢ / max(Σᵢ wᵢmᵢ, 1e-6), mᵢ ∈ {0, 1} that mask.
 *
 * σ² and the wᵢ are float64 reductions (element order) rounded to float32 (torch's CPU variance
 * accumulates in double); the ranking by σ² is the garden's exact top-k, ties at the cutoff by lower
 * index (mergekit leaves that order to torch.topk). The rest is float32 in parent order, as torch:
 * the sign sum, Σ fround(τᵢ·wᵢmᵢ), Σ wᵢmᵢ, one division, then fround(b + ·).
 */
import { magnitudeThreshold, isKept, magnitudeBits, selectCount, KEEP_NONE, type Cutoff } from './select.ts';
import { num } from './params.ts';
import type { ParamValues } from './types.ts';

/** The per-element population variance of the deltas over the models: float64, rounded to float32. */
export function sceVariance(tv: readonly Float32Array[]): Float32Array {
  const p = tv.length;
  const n = tv[0].length;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let m = 0;
    for (let i = 0; i < p; i++) m += tv[i][e];
    m /= p;
    let s = 0;
    for (let i = 0; i < p; i++) s += (tv[i][e] - m) ** 2;
    out[e] = s / p;
  }
  return out;
}

/** The selection: null keeps every element; otherwise element e is kept iff isKept(mag(σ²ₑ), e, cutoff). */
export function sceSelection(tv: readonly Float32Array[], selectTopk: number): { variance: Float32Array; cutoff: Cutoff } | null {
  if (selectTopk >= 1) return null;
  const variance = sceVariance(tv);
  if (selectTopk <= 0) return { variance, cutoff: KEEP_NONE };
  let nonzero = 0;
  for (const v of variance) if (v !== 0) nonzero++;
  const k = selectCount(selectTopk, nonzero);
  return { variance, cutoff: k === 0 ? KEEP_NONE : magnitudeThreshold(variance, k) };
}

/** Which elements the selection keeps, as a bitmap (bit e of word e >> 5): the GPU kernel's parameter. */
export function sceKeepBits(sel: { variance: Float32Array; cutoff: Cutoff }): Uint32Array {
  const bits = magnitudeBits(sel.variance);
  const out = new Uint32Array(Math.ceil(sel.variance.length / 32));
  for (let e = 0; e < bits.length; e++) if (isKept(bits[e] & 0x7fffffff, e, sel.cutoff)) out[e >>> 5] |= 1 << (e & 31);
  return out;
}

/** The normalised float32 model weights from Σₑ τᵢ[e]² (float64) over n elements. */
export function sceWeights(squares: readonly number[], n: number): number[] {
  const w = squares.map((s) => (n > 0 ? s / n : 0));
  const sum = w.reduce((a, b) => a + b, 0);
  if (Math.abs(sum) < 1e-6) return w.map(() => Math.fround(1 / w.length));
  return w.map((x) => Math.fround(x / sum));
}

const DEN_FLOOR = Math.fround(1e-6);

/** Erase and combine, element by element, given the (selected) deltas and the weights. */
export function sceCombine(base: Float32Array, tv: readonly Float32Array[], w: readonly number[]): Float32Array {
  const f = Math.fround;
  const n = base.length;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let sum = 0;
    for (const d of tv) sum = f(sum + d[e]);
    const s = sum >= 0 ? 1 : -1;
    let m = 0;
    let den = 0;
    for (let i = 0; i < tv.length; i++) {
      const v = tv[i][e];
      const agree = (s > 0 && v > 0) || (s < 0 && v < 0);
      const ew = agree ? w[i] : 0;
      m = f(m + f(v * ew));
      den = f(den + ew);
    }
    out[e] = base[e] + f(m / Math.max(den, DEN_FLOOR));
  }
  return out;
}

export function sceCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const base = inputs[0];
  if (inputs.length < 2) throw new Error('sce needs a base and at least one model');
  const tv = inputs.slice(1).map((x) => Float32Array.from(x, (v, j) => v - base[j]));
  const sel = sceSelection(tv, num(params, 'selectTopk', 1));
  if (sel) {
    const bits = magnitudeBits(sel.variance);
    for (let e = 0; e < base.length; e++) if (!isKept(bits[e] & 0x7fffffff, e, sel.cutoff)) for (const d of tv) d[e] = 0 * d[e];
  }
  const squares = tv.map((d) => d.reduce((s, v) => s + v * v, 0));
  return sceCombine(base, tv, sceWeights(squares, base.length));
}
