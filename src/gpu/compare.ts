/**
 * Comparing float32 results: bit-identical counts and the largest difference in units in the last
 * place (ULP). Used by the GPU conformance tests and by verification of a recomputed candidate.
 */

const F = new Float32Array(1);
const I = new Int32Array(F.buffer);

/** The f32 as an integer that orders like the float (−0 and +0 both map to 0). */
export function orderedBits(x: number): number {
  F[0] = x;
  const i = I[0];
  return i < 0 ? -(i & 0x7fffffff) : i;
}

/** ULPs between two f32 values; 0 for two NaNs, Infinity for one NaN. */
export function ulpDiff(a: number, b: number): number {
  const na = Number.isNaN(a);
  const nb = Number.isNaN(b);
  if (na || nb) return na && nb ? 0 : Infinity;
  return Math.abs(orderedBits(a) - orderedBits(b));
}

export interface F32Comparison {
  n: number;
  /** Elements whose bits are identical (−0 and +0 differ here). */
  bitIdentical: number;
  maxUlp: number;
  /** Index of the first element with the largest ULP difference, or -1 when all are identical. */
  worstIndex: number;
}

export function compareF32(a: Float32Array, b: Float32Array): F32Comparison {
  if (a.length !== b.length) throw new Error(`compareF32: lengths differ (${a.length} vs ${b.length})`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let same = 0;
  let maxUlp = 0;
  let worst = -1;
  for (let i = 0; i < a.length; i++) {
    if (ua[i] === ub[i]) {
      same++;
      continue;
    }
    const d = ulpDiff(a[i], b[i]);
    if (d > maxUlp || worst < 0) {
      if (d > maxUlp) maxUlp = d;
      if (worst < 0 || d >= maxUlp) worst = i;
    }
  }
  return { n: a.length, bitIdentical: same, maxUlp, worstIndex: worst };
}
