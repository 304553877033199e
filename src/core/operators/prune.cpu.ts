/**
 * Magnitude pruning: zero exactly n − int((1 − fraction)·n) elements of smallest magnitude (so
 * int(density·n) are kept, as mergekit counts); at a tie the
 * lower index is pruned first (select.ts states the order exactly). Pruned elements become +0.
 */
import { pruneThreshold, pruneCount, isPruned, magnitudeBits } from './select.ts';
import { num } from './params.ts';
import type { ParamValues } from './types.ts';

export function pruneCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const x = inputs[0];
  const n = x.length;
  const cutoff = pruneThreshold(x, pruneCount(num(params, 'fraction'), n));
  const bits = magnitudeBits(x);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = isPruned(bits[i] & 0x7fffffff, i, cutoff) ? 0 : x[i];
  return out;
}
