/**
 * Bounded mutation: seeded uniform noise scaled to the tensor's spread, clipped to ±ε.
 *
 *   σ = the tensor's population standard deviation (float64 over all elements; the derived
 *       parameter `std` when a caller or the pre-pass supplies it)
 *   a = fround(strength · σ · √3)           (uniform noise on [−a, a) has standard deviation strength·σ)
 *   key = tensorKey(seed, tensorName)
 *   element i is mutated iff randomUnit(key, i, 1) < fround(rate)   (rate 1 mutates every element)
 *   noise = clamp(fround(a · (2·randomUnit(key, i, 0) − 1)), −fround(ε), fround(ε))
 *   out = fround(x + noise)
 * So |out − x| ≤ ε (up to one float32 rounding of the sum) for every element.
 */
import { streamKey, tensorKey, unitAt } from './prng.ts';
import { num } from './params.ts';
import type { ParamValues, TensorContext } from './types.ts';

export function tensorStd(x: Float32Array): number {
  const n = x.length;
  if (n === 0) return 0;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i];
  const mean = s / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
  return Math.sqrt(sq / n);
}

export function mutateCpu(inputs: readonly Float32Array[], params: ParamValues, ctx: TensorContext): Float32Array {
  const x = inputs[0];
  const n = x.length;
  const std = typeof params.std === 'number' ? params.std : tensorStd(x);
  const amp = Math.fround(num(params, 'strength') * std * Math.sqrt(3));
  const eps = Math.fround(num(params, 'epsilon'));
  const rate = Math.fround(num(params, 'rate', 1));
  const key = tensorKey(ctx.seed, ctx.name);
  const noiseKey = streamKey(key, 0);
  const rateKey = streamKey(key, 1);
  const offset = ctx.offset ?? 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (rate < 1 && unitAt(rateKey, offset + i) >= rate) {
      out[i] = x[i];
      continue;
    }
    const z = 2 * unitAt(noiseKey, offset + i) - 1;
    let noise = Math.fround(amp * z);
    if (noise > eps) noise = eps;
    else if (noise < -eps) noise = -eps;
    out[i] = x[i] + noise;
  }
  return out;
}
