/**
 * RAM, Reinforced Agent Merging (mergekit "ram" and "ramplus_tl"). With base b and deltas
 * τᵢ = xᵢ − b (float32), per element e:
 *
 *   nzᵢ = |τᵢ| > ε          c = Σᵢ nzᵢ  (how many models changed the element)
 *   unique: c = 1           overlap: c > 1
 *   out = b + Σᵢ [ τᵢ·nzᵢ·unique·λᵢ + τᵢ·nzᵢ·overlap / max(c, 1) ]
 *
 * ram has λᵢ = 1: an element changed by one model takes that change, one changed by several the
 * mean of their changes. ramplus_tl raises each model's unique changes by how much it shares,
 * per tensor: ρᵢ = #(nzᵢ ∧ overlap) / max(#(nzᵢ ∧ unique), ε), λᵢ = 1 + r·clamp(ρᵢ, 0, α).
 * (ram is ramplus_tl with r = 0, bit for bit: λ = 1 multiplies exactly.)
 *
 * In float32 as torch evaluates it: each term fround(fround(fround(τ·u)·λ) + fround(fround(τ·o) / c))
 * with u, o ∈ {0, 1}, the terms summed in parent order from 0, then fround(b + Σ). ε is compared
 * in float32; ρ and λ are float32 (counts are exact).
 */
import { num } from './params.ts';
import type { ParamValues } from './types.ts';

/** λᵢ of ramplus_tl from the per-parent shared and unique counts (1 each when r = 0). */
export function ramLambdas(shared: readonly number[], unique: readonly number[], r: number, alpha: number, epsilon: number): number[] {
  const f = Math.fround;
  return shared.map((s, i) => {
    const rho = f(s / Math.max(unique[i], f(epsilon)));
    const c = Math.min(Math.max(rho, 0), f(alpha));
    return f(1 + f(f(r) * c));
  });
}

/** The per-parent counts of changed elements that some other model changed too (shared) or no other did (unique). */
export function ramCounts(deltas: readonly Float32Array[], epsilon: number): { shared: number[]; unique: number[] } {
  const eps = Math.fround(epsilon);
  const p = deltas.length;
  const shared = new Array<number>(p).fill(0);
  const unique = new Array<number>(p).fill(0);
  const n = deltas[0]?.length ?? 0;
  for (let e = 0; e < n; e++) {
    let c = 0;
    for (let i = 0; i < p; i++) if (Math.abs(deltas[i][e]) > eps) c++;
    if (c === 0) continue;
    for (let i = 0; i < p; i++) if (Math.abs(deltas[i][e]) > eps) (c === 1 ? unique : shared)[i]++;
  }
  return { shared, unique };
}

/** The merge for one tensor: inputs = [base, ...models]; r = 0 is ram. */
export function ramCpu(inputs: readonly Float32Array[], params: ParamValues): Float32Array {
  const f = Math.fround;
  const base = inputs[0];
  const p = inputs.length - 1;
  if (p < 1) throw new Error('ram needs a base and at least one model');
  const epsilon = num(params, 'epsilon', 1e-5);
  const eps = f(epsilon);
  const r = num(params, 'r', 0);
  const tv = inputs.slice(1).map((x) => Float32Array.from(x, (v, j) => v - base[j]));
  let lambda = new Array<number>(p).fill(1);
  if (r !== 0) {
    const { shared, unique } = ramCounts(tv, epsilon);
    lambda = ramLambdas(shared, unique, r, num(params, 'alpha', 0.2), epsilon);
  }
  const n = base.length;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let c = 0;
    for (let i = 0; i < p; i++) if (Math.abs(tv[i][e]) > eps) c++;
    let acc = 0;
    for (let i = 0; i < p; i++) {
      const z = Math.abs(tv[i][e]) > eps ? tv[i][e] : 0 * tv[i][e];
      const u = f(f(z * (c === 1 ? 1 : 0)) * lambda[i]);
      const o = f(f(z * (c > 1 ? 1 : 0)) / Math.max(c, 1));
      acc = f(acc + f(u + o));
    }
    out[e] = base[e] + acc;
  }
  return out;
}
