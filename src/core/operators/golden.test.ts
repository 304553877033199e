/**
 * Golden breeds: one small seeded breed per operator in the registry, its output pinned as the
 * SHA-256 of the stored bytes of every output tensor, concatenated in output order.
 *
 * Where the pinned hash came from (see `source` in the table):
 *  - "restated": computed once from the independent restatement in this file (plain JS written
 *    from the operator's documented formula, with its own copy of the PRNG written in BigInt
 *    arithmetic). The test checks BOTH that the restatement still gives the pinned hash and that
 *    breed() gives it, so a change on either side is caught and located.
 *  - "pinned": the current output of breed(), recorded as it is (no independent restatement here;
 *    their exact behaviour is pinned by task-arithmetic.test.ts, select.test.ts, quantize.test.ts
 *    and the GPU conformance suites). A change to these operators' semantics (issue 20: mergekit's
 *    TIES / DARE / sparse task delta / prune / linear blend) updates the value here, and says so.
 *
 * To update after an intended change: run this file, copy the "got" hash from the failure, and
 * state in the commit which operator changed and why.
 */
import { describe, expect, it } from 'vitest';
import { breed } from './breed.ts';
import { cpuBackend } from './backend.ts';
import { OPERATOR_IDS, STATISTICS_FOR, type OperatorId } from './registry.ts';

/** Every operator but the data-informed ones, whose statistics come from calibration data (statistics.test.ts). */
type DataFreeId = Exclude<OperatorId, 'regmean' | 'fisher'>;
const DATA_FREE_IDS = OPERATOR_IDS.filter((id): id is DataFreeId => !(id in STATISTICS_FOR));
import { randomValues, tiedValues } from './test-data.ts';
import { fromFloat32, toFloat32, type Tensor } from '../tensor.ts';
import { sha256Hex } from '../hash.ts';
import type { ParamValues } from './types.ts';

const SEED = 20260;

/**
 * The parent magnitudes of fc3.weight, with exact (dyadic) values: ties sit AT the selection
 * cutoff and right AFTER it (index order), so an off-by-one in isPruned / isKept changes bytes.
 *   prune 40 % of 8 (4 zeroed): |x| = 0.25 at indices 1..5, the cutoff falls between 4 and 5.
 *   top-k 50 % of 8 (4 kept) of each delta: 0.75, 0.5, then 0.25 at indices 1..5, cut between 2 and 3.
 * The two deltas cancel at indices 0 and 7 (sign election on a zero sum).
 */
const FC3_BASE = [0.5, -0.25, 0.25, 0.25, -0.25, 0.25, 0.75, -0.5];
const FC3_DELTA: Record<number, number[]> = {
  2: [0.5, 0.25, -0.25, 0.25, -0.25, 0.25, 0.125, -0.75],
  3: [-0.5, 0.25, 0.25, -0.25, 0.25, -0.25, 0.125, 0.75],
};

/** A tiny model: continuous values, exact ties (zeros, both signs), and nearly parallel biases. */
function model(seed: number): Tensor[] {
  const fc3 = FC3_BASE.map((b, i) => b + (FC3_DELTA[seed]?.[i] ?? 0));
  return [
    fromFloat32('fc1.weight', [6, 4], randomValues(seed * 7 + 1, 24, 0.1)),
    fromFloat32(
      'fc1.bias',
      [4],
      Float32Array.from(tiedValues(seed * 7 + 2, 4, 3), (v) => v / 16),
    ),
    fromFloat32(
      'fc2.weight',
      [4, 2],
      Float32Array.from(tiedValues(seed * 7 + 3, 8, 2), (v) => v / 8),
    ),
    // cosine 0.99876 between models 1 and 2: SLERP's straight-line fallback (|dot| > 0.9995) is not taken
    fromFloat32('fc2.bias', [2], Float32Array.from([1, 0.05 * seed])),
    fromFloat32('fc3.weight', [2, 4], Float32Array.from(fc3)),
  ];
}
const MODELS = [model(1), model(2), model(3)];

interface Golden {
  params: ParamValues;
  /** How many models go in (the base included, when the operator takes one). */
  parents: number;
  source: 'restated' | 'pinned';
  hash: string;
}

/** THE golden table: one entry per registry operator. */
const GOLDEN: Record<DataFreeId, Golden> = {
  blend: {
    params: { weights: [1, 2] },
    parents: 2,
    source: 'restated',
    hash: 'db41042b551ec81b8aa86f5264e5793638b737e5c44ee8c50ae4d90bf95a4bd6',
  },
  'task-delta': {
    params: { weights: [0.5, 2], lambda: 0.8 },
    parents: 3,
    source: 'restated',
    hash: 'abdfb17adfca3e9d32a164a98ea6497b55f92ff869907df203fa3d398adbb1e3',
  },
  'sparse-task-delta': {
    params: { density: 0.5 },
    parents: 3,
    source: 'pinned',
    hash: '38956933a3939f8305307deab1d407e0e8175f74ba0c17aa00e0a9c820f7ed84',
  },
  dare: { params: { drop: 0.3 }, parents: 3, source: 'pinned', hash: 'f40976afc9533b37aa1c8ed123ff6b539eba233bce54d9b29cbf63b283b10a13' },
  ties: {
    params: { density: 0.5 },
    parents: 3,
    source: 'pinned',
    hash: 'af0e547760c4582ee01ec28498e6300e12bc2da16192640f9316ce06df23e24d',
  },
  'dare-ties': {
    params: { drop: 0.5 },
    parents: 3,
    source: 'pinned',
    hash: '7c4300a9cb80bbe432b2535f901af1e97a133c5af013ad5e18c416322f7e5194',
  },
  breadcrumbs: {
    params: { density: 0.5, gamma: 0.2 },
    parents: 3,
    source: 'pinned',
    hash: 'f81580fa96d2e352cfc3c6def3ea6cbc102e484a28788d97bfc5e6102cf835df',
  },
  'breadcrumbs-ties': {
    params: { density: 0.5, gamma: 0.2 },
    parents: 3,
    source: 'pinned',
    hash: '3575c46e7ceed92eab7e3af70f58c930893c2fcefe572cc7a00802a098a72c69',
  },
  della: {
    params: { density: 0.5, epsilon: 0.2 },
    parents: 3,
    source: 'pinned',
    hash: '292e21c9c0f5bbb76d6c4375a96c171a8a5ebabc701a5c9e2ab011ca9b440b10',
  },
  'della-linear': {
    params: { density: 0.5, epsilon: 0.2 },
    parents: 3,
    source: 'pinned',
    hash: '8075884b3b97ee66c2cea72f589725a7f6b7ac64082724eca68c6d53d06491f3',
  },
  federated: {
    params: { weights: [10, 30] },
    parents: 3,
    source: 'restated',
    hash: '6acc5d8c1bc6f58dcbf0a5ee50cd0a9fff25dd89cab59937872d514df49c3b0c',
  },
  crossover: {
    params: { weights: [1, 2] },
    parents: 2,
    source: 'restated',
    hash: '8cc71e11616bd0afd0a257e99f01f04132c76eb6bd035b2905fb81f3a1368765',
  },
  mutate: {
    params: { strength: 0.5, epsilon: 0.05, rate: 0.75 },
    parents: 1,
    source: 'pinned',
    hash: '8193de2b3d066a6a575d4484ea8c1c4a2e4231ebcbb77e7d7006ba1d3fa12bc7',
  },
  prune: {
    params: { fraction: 0.4, matricesOnly: false },
    parents: 1,
    source: 'restated',
    hash: '178e08f38d447b7901d1d283396231acb56f1d3df7ebe34e30857dcbb5793139',
  },
  slerp: { params: { t: 0.3 }, parents: 2, source: 'pinned', hash: '642e27daa220d43ff4cedd0b8319c4c7a756c82600f31db0541b070b2ea34108' },
  soup: {
    params: { mode: 'seeded' },
    parents: 3,
    source: 'restated',
    hash: '005b0490838b660f2aa03f663e406a3ba752bd5da5139464d84a1e904abcbcaa',
  },
  quantize: {
    params: { scheme: 'int4', blockSize: 4 },
    parents: 1,
    source: 'pinned',
    hash: '56976e0e6a5eca22491acf417c1e6b6923bd64f365aa936392df357ba9425f64',
  },
  // mergekit's other methods (docs/OPERATORS.md). multislerp and karcher are pinned: their Gram-matrix
  // algebra is checked against mergekit's step-by-step vector algorithm in multislerp.test.ts / karcher.test.ts.
  nearswap: {
    params: { t: 0.05 },
    parents: 2,
    source: 'restated',
    hash: '3c3f5c6c3e67726bf381348d8ecaf4429860ce32b9ece101323954187443ceac',
  },
  'model-stock': { params: {}, parents: 3, source: 'restated', hash: '673d4a9ea906abea3293b3dfdc0cc5975702f101dbfde90a5004301a0dedf490' },
  nuslerp: {
    params: { weights: [1, 2] },
    parents: 2,
    source: 'restated',
    hash: 'fa754699f8a71b7c78c20ddbd4138cad2c111f9b997e13574ce5b31c7b77edf6',
  },
  'nuslerp-base': {
    params: { weights: [2, 1] },
    parents: 3,
    source: 'restated',
    hash: 'c8ca10f08dd6e2fea123ee279d5d8145438cbff58c77b1e171dcf767d557433c',
  },
  multislerp: {
    params: { weights: [1, 2, 3] },
    parents: 3,
    source: 'pinned',
    hash: '3cd2b8b2673fbe3b729fa8c6e98e11f42b9fb5294b9d7b1bc37f260bc8f51df4',
  },
  'multislerp-base': { params: {}, parents: 3, source: 'pinned', hash: '8bd57c349346a71bc89f65c4ed0fea04478844232a8e0bc40d6b404d51add7be' },
  karcher: {
    params: { maxIter: 20 },
    parents: 3,
    source: 'pinned',
    hash: 'd3f35e3e6968be96eb1098f173a144d780905222e65932bb07cb26c2037eecbf',
  },
  sce: {
    params: { selectTopk: 0.5 },
    parents: 3,
    source: 'restated',
    hash: '8522abd438a021c24b8271cb77b09f050fbc3d7d393d61af3ee0b71c489917ee',
  },
  'arcee-fusion': { params: {}, parents: 2, source: 'restated', hash: '225de5d1cfa23af2a41e6f68202456c44aeec934ed1c7dec84e8d1e51fe0fb74' },
  ram: {
    params: { epsilon: 0.01 },
    parents: 3,
    source: 'restated',
    hash: 'c590ed4e3872fa72b964916547f88cd98f76cc77556289c94ea4e131205b4693',
  },
  'ramplus-tl': {
    params: { r: 0.5, alpha: 0.8, epsilon: 0.01 },
    parents: 3,
    source: 'restated',
    hash: '6e9d910f1f5e24a62900751a029999686a2372e21fc5fc4a35db2cae7600584a',
  },
  // Without layer slices passthrough is its one parent times scale (the slices: passthrough.test.ts).
  passthrough: {
    params: { scale: 0.5 },
    parents: 1,
    source: 'restated',
    hash: '71f4fb092173e67bbc7206e617535b14f593ebfdc17755d4fbff5eeaeef71630',
  },
};

function hashOf(arrays: readonly Uint8Array[]): string {
  const total = arrays.reduce((s, a) => s + a.length, 0);
  const all = new Uint8Array(total);
  let o = 0;
  for (const a of arrays) {
    all.set(a, o);
    o += a.length;
  }
  return sha256Hex(all);
}
const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// ---- the independent restatement ------------------------------------------------------------

const M32 = 0xffffffffn;
/** lowbias32, in BigInt. */
function mix(v: bigint): bigint {
  v ^= v >> 16n;
  v = (v * 0x7feb352dn) & M32;
  v ^= v >> 15n;
  v = (v * 0x846ca68bn) & M32;
  return v ^ (v >> 16n);
}
/** FNV-1a of the name's UTF-8 bytes, folded with the mixed seed, then mixed. */
function keyOf(seed: number, name: string): bigint {
  let h = 0x811c9dc5n;
  for (const b of new TextEncoder().encode(name)) h = ((h ^ BigInt(b)) * 0x01000193n) & M32;
  return mix(h ^ mix(BigInt(seed)));
}
/** A 24-bit uniform in [0, 1) for element i of stream s. */
function unit(key: bigint, i: number, s: number): number {
  const sk = mix(key ^ ((BigInt(s) * 0x9e3779b9n) & M32));
  return Number(mix(sk ^ BigInt(i)) >> 8n) / 2 ** 24;
}
const f = Math.fround;

/** mergekit "linear": Σ fround(wₚ·xₚ) in float32, parent order, then one division by the float32 Σ wₚ. */
function linear(xs: readonly Float32Array[], w: readonly number[]): Float32Array {
  const wf = w.map(f);
  const sum = wf.reduce((a, b) => f(a + b), 0);
  const out = new Float32Array(xs[0].length);
  for (let i = 0; i < out.length; i++) {
    let acc = 0;
    for (let p = 0; p < xs.length; p++) acc = f(acc + f(wf[p] * xs[p][i]));
    out[i] = acc / sum;
  }
  return out;
}

/** base + λ·Σ wᵢ(xᵢ − base), divided by Σ wᵢ when normalising; float32 at every step. */
function taskDelta(xs: readonly Float32Array[], w: readonly number[], lambda: number, normalize: boolean): Float32Array {
  const [base, ...ps] = xs;
  const out = new Float32Array(base.length);
  const sum = f(w.reduce((a, b) => a + b, 0));
  for (let j = 0; j < base.length; j++) {
    let acc = 0;
    ps.forEach((x, i) => (acc = f(acc + f(f(w[i]) * f(x[j] - base[j])))));
    if (normalize) acc = f(acc / sum);
    out[j] = f(base[j] + f(f(lambda) * acc));
  }
  return out;
}

/** The shape of a golden tensor by name. */
const shapeOf = (name: string) => MODELS[0].find((t) => t.name === name)!.shape;
const dot64 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const minus = (x: Float32Array, b: Float32Array) => Float32Array.from(x, (v, i) => v - b[i]);

/** RAM: per element, the changed parents (|d| > ε); one: its d·λ; several: Σ d/c; then base + sum. */
function ramRestated(xs: readonly Float32Array[], eps: number, lambda: (i: number) => number): Float32Array {
  const [b, ...ps] = xs;
  const ds = ps.map((x) => minus(x, b));
  return Float32Array.from(b, (bv, e) => {
    const changed = ds.flatMap((d, i) => (Math.abs(d[e]) > f(eps) ? [i] : []));
    let acc = 0;
    for (const i of changed) acc = f(acc + (changed.length === 1 ? f(ds[i][e] * lambda(i)) : f(ds[i][e] / changed.length)));
    return f(bv + acc);
  });
}

/** NuSLERP over the whole tensor at t, mergekit's order: (A·v0 + B·v1) / S. */
function nuslerpRestated(v0: Float32Array, v1: Float32Array, t: number): Float32Array {
  const cos = dot64(v0, v1) / (Math.max(Math.sqrt(dot64(v0, v0)), 1e-7) * Math.max(Math.sqrt(dot64(v1, v1)), 1e-7));
  const th = Math.acos(Math.min(1, Math.max(-1, cos)));
  if (Math.abs(Math.sin(th)) < 1e-8) return Float32Array.from(v0, (v, e) => f(f(f(1 - t) * v) + f(f(t) * v1[e])));
  const [A, B, S] = [f(Math.sin((1 - t) * th)), f(Math.sin(t * th)), f(Math.sin(th))];
  return Float32Array.from(v0, (v, e) => f(f(f(A * v) + f(B * v1[e])) / S));
}

type Restate = (xs: Float32Array[], name: string) => Float32Array;
const RESTATED: Partial<Record<OperatorId, Restate>> = {
  blend: (xs) => linear(xs, [1, 2]),
  'task-delta': (xs) => taskDelta(xs, [0.5, 2], 0.8, false),
  federated: (xs) => taskDelta(xs, [10, 30], 1, true),
  // Each element from the first parent p with u < cumulative weight share (the last share is 1).
  crossover: (xs, name) => {
    const cut = [f(1 / 3), 1];
    const key = keyOf(SEED, name);
    return Float32Array.from(xs[0], (_, i) => {
      const u = unit(key, i, 0);
      return xs[u < cut[0] ? 0 : 1][i];
    });
  },
  // Zero the n − floor(0.6·n) smallest magnitudes, lower index first at a tie.
  prune: (xs) => {
    const x = xs[0];
    const m = x.length - Math.floor((1 - 0.4) * x.length);
    const order = Array.from(x, (_, i) => i).sort((a, b) => Math.abs(x[a]) - Math.abs(x[b]) || a - b);
    const out = Float32Array.from(x);
    for (const i of order.slice(0, m)) out[i] = 0;
    return out;
  },
  // Weights drawn once per model from key("soup"), element p of stream 0, then the linear blend.
  soup: (xs) => {
    const key = keyOf(SEED, 'soup');
    return linear(
      xs,
      xs.map((_, p) => unit(key, p, 0)),
    );
  },
  // w = clamp(fround(1/max(|a − b|, 1e-6))·t, 0, 1) (torch's reciprocal), out = w·b + (1 − w)·a.
  passthrough: ([x]) => Float32Array.from(x, (v) => f(v * 0.5)),
  nearswap: ([a, b]) =>
    Float32Array.from(a, (av, e) => {
      const w = Math.min(1, Math.max(0, f(f(1 / Math.max(Math.abs(f(av - b[e])), f(1e-6))) * f(0.05))));
      return f(f(w * b[e]) + f(f(1 - w) * av));
    }),
  // t = N·c / (1 + (N − 1)·c), c the mean pairwise cosine of the offsets; t·mean + (1 − t)·base.
  'model-stock': ([b, ...ps]) => {
    const o = ps.map((x) => minus(x, b));
    let c = 0;
    let pairs = 0;
    for (let i = 0; i < o.length; i++)
      for (let j = i + 1; j < o.length; j++, pairs++)
        c += Math.min(1, Math.max(-1, dot64(o[i], o[j]) / Math.max(Math.sqrt(dot64(o[i], o[i])) * Math.sqrt(dot64(o[j], o[j])), 1e-6)));
    c /= pairs;
    const t = f((o.length * c) / (1 + (o.length - 1) * c));
    return Float32Array.from(b, (bv, e) => f(f(t * f(ps.reduce((s, x) => f(s + x[e]), 0) / ps.length)) + f(f(1 - t) * bv)));
  },
  nuslerp: ([v0, v1]) => nuslerpRestated(v0, v1, 2 / 3),
  'nuslerp-base': ([b, x0, x1]) => {
    const r = nuslerpRestated(minus(x0, b), minus(x1, b), 1 / 3);
    return Float32Array.from(b, (bv, e) => f(bv + r[e]));
  },
  // Keep the int(0.5·#nonzero) elements of largest variance (ties: lower index), weight by mean τ²,
  // elect the sign of Σ τ (≥ 0: +), average the agreeing τ·w over their w (floor 1e-6).
  sce: ([b, ...ps]) => {
    const tv = ps.map((x) => minus(x, b));
    const v = Float32Array.from(b, (_, e) => {
      const m = tv.reduce((s, d) => s + d[e], 0) / tv.length;
      return tv.reduce((s, d) => s + (d[e] - m) ** 2, 0) / tv.length;
    });
    const k = Math.floor(0.5 * v.filter((x) => x !== 0).length);
    const order = Array.from(v, (_, e) => e).sort((i, j) => v[j] - v[i] || i - j);
    const keep = new Set(order.slice(0, k));
    tv.forEach((d) => d.forEach((_, e) => (keep.has(e) ? 0 : (d[e] = 0 * d[e]))));
    const ms = tv.map((d) => dot64(d, d) / d.length);
    const sum = ms.reduce((x, y) => x + y, 0);
    const w = ms.map((m) => f(Math.abs(sum) < 1e-6 ? 1 / ms.length : m / sum));
    return Float32Array.from(b, (bv, e) => {
      const sign = tv.reduce((s, d) => f(s + d[e]), 0) >= 0 ? 1 : -1;
      let num = 0;
      let den = 0;
      tv.forEach((d, i) => {
        if (Math.sign(d[e]) !== sign) return;
        num = f(num + f(d[e] * w[i]));
        den = f(den + w[i]);
      });
      return f(bv + f(num / Math.max(den, f(1e-6))));
    });
  },
  // importance = |d|·KL(softmax(x_row)+1e-8 ‖ softmax(b_row)+1e-8); keep d where importance ≥ median + 1.5·IQR.
  'arcee-fusion': ([b, x], name) => {
    const shape = shapeOf(name);
    const len = shape.length < 2 ? b.length : shape[shape.length - 1];
    const sm = (v: Float32Array, lo: number) => {
      const row = Array.from(v.subarray(lo, lo + len));
      const mx = Math.max(...row);
      const ex = row.map((y) => Math.exp(y - mx));
      const z = ex.reduce((s, y) => s + y, 0);
      return ex.map((y) => y / z + 1e-8);
    };
    const kl: number[] = [];
    for (let lo = 0; lo < b.length; lo += len) {
      const p = sm(x, lo);
      const q = sm(b, lo);
      kl.push(f(p.reduce((s, pi, j) => s + pi * Math.log(pi / q[j]), 0)));
    }
    const imp = Float32Array.from(b, (bv, e) => f(Math.abs(f(x[e] - bv)) * kl[Math.floor(e / len)]));
    const sorted = Array.from(imp).sort((p, q) => p - q);
    const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))];
    const thr = f(at(0.5) + f(1.5 * f(at(0.75) - at(0.25))));
    return Float32Array.from(b, (bv, e) => (imp[e] >= thr ? f(bv + f(x[e] - bv)) : bv));
  },
  ram: (xs) => ramRestated(xs, 0.01, () => 1),
  // λᵢ = 1 + r·clamp(sharedᵢ / max(uniqueᵢ, ε), 0, α), counted over the tensor.
  'ramplus-tl': (xs) => {
    const [b, ...ps] = xs;
    const ds = ps.map((x) => minus(x, b));
    const ch = (i: number, e: number) => Math.abs(ds[i][e]) > f(0.01);
    const lambda = ds.map((_, i) => {
      let shared = 0;
      let uniq = 0;
      for (let e = 0; e < b.length; e++) {
        if (!ch(i, e)) continue;
        const c = ds.filter((_, j) => ch(j, e)).length;
        if (c === 1) uniq++;
        else shared++;
      }
      const rho = f(shared / Math.max(uniq, f(0.01)));
      return f(1 + f(f(0.5) * Math.min(Math.max(rho, 0), f(0.8))));
    });
    return ramRestated(xs, 0.01, (i) => lambda[i]);
  },
};

// ----------------------------------------------------------------------------------------------

async function breedGolden(id: DataFreeId) {
  const g = GOLDEN[id];
  return breed({ operator: id, params: g.params, seed: SEED, parents: MODELS.slice(0, g.parents) }, cpuBackend);
}

describe('golden breeds (one per operator, bytes pinned by SHA-256)', () => {
  it('the table covers exactly the registry', () => {
    expect(Object.keys(GOLDEN).sort()).toEqual([...DATA_FREE_IDS].sort());
    const restated = Object.entries(GOLDEN)
      .filter(([, g]) => g.source === 'restated')
      .map(([id]) => id);
    expect(restated.sort()).toEqual(Object.keys(RESTATED).sort());
  });

  for (const id of DATA_FREE_IDS) {
    it(`${id}: breed gives the pinned bytes`, async () => {
      const r = await breedGolden(id);
      // compared as objects so that a failure prints the whole hash to copy into the table
      expect({ id, hash: hashOf(r.tensors.map((t) => t.data)) }).toEqual({ id, hash: GOLDEN[id].hash });
    });
  }

  for (const [id, restate] of Object.entries(RESTATED) as [DataFreeId, Restate][]) {
    it(`${id}: the independent restatement gives the pinned bytes`, () => {
      const g = GOLDEN[id];
      const parents = MODELS.slice(0, g.parents);
      const out = parents[0].map((t) =>
        f32Bytes(
          restate(
            parents.map((p) => toFloat32(p.find((u) => u.name === t.name)!)),
            t.name,
          ),
        ),
      );
      expect({ id, hash: hashOf(out) }).toEqual({ id, hash: g.hash });
    });
  }
});
