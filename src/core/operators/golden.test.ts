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
import { OPERATOR_IDS, type OperatorId } from './registry.ts';
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
    fromFloat32('fc1.bias', [4], Float32Array.from(tiedValues(seed * 7 + 2, 4, 3), (v) => v / 16)),
    fromFloat32('fc2.weight', [4, 2], Float32Array.from(tiedValues(seed * 7 + 3, 8, 2), (v) => v / 8)),
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
const GOLDEN: Record<OperatorId, Golden> = {
  blend: { params: { weights: [1, 2] }, parents: 2, source: 'restated',
    hash: 'db41042b551ec81b8aa86f5264e5793638b737e5c44ee8c50ae4d90bf95a4bd6' },
  'task-delta': { params: { weights: [0.5, 2], lambda: 0.8 }, parents: 3, source: 'restated',
    hash: 'abdfb17adfca3e9d32a164a98ea6497b55f92ff869907df203fa3d398adbb1e3' },
  'sparse-task-delta': { params: { density: 0.5 }, parents: 3, source: 'pinned',
    hash: '38956933a3939f8305307deab1d407e0e8175f74ba0c17aa00e0a9c820f7ed84' },
  dare: { params: { drop: 0.3 }, parents: 3, source: 'pinned',
    hash: 'f40976afc9533b37aa1c8ed123ff6b539eba233bce54d9b29cbf63b283b10a13' },
  ties: { params: { density: 0.5 }, parents: 3, source: 'pinned',
    hash: 'af0e547760c4582ee01ec28498e6300e12bc2da16192640f9316ce06df23e24d' },
  'dare-ties': { params: { drop: 0.5 }, parents: 3, source: 'pinned',
    hash: '7c4300a9cb80bbe432b2535f901af1e97a133c5af013ad5e18c416322f7e5194' },
  breadcrumbs: { params: { density: 0.5, gamma: 0.2 }, parents: 3, source: 'pinned',
    hash: 'f81580fa96d2e352cfc3c6def3ea6cbc102e484a28788d97bfc5e6102cf835df' },
  'breadcrumbs-ties': { params: { density: 0.5, gamma: 0.2 }, parents: 3, source: 'pinned',
    hash: '3575c46e7ceed92eab7e3af70f58c930893c2fcefe572cc7a00802a098a72c69' },
  della: { params: { density: 0.5, epsilon: 0.2 }, parents: 3, source: 'pinned',
    hash: '292e21c9c0f5bbb76d6c4375a96c171a8a5ebabc701a5c9e2ab011ca9b440b10' },
  'della-linear': { params: { density: 0.5, epsilon: 0.2 }, parents: 3, source: 'pinned',
    hash: '8075884b3b97ee66c2cea72f589725a7f6b7ac64082724eca68c6d53d06491f3' },
  federated: { params: { weights: [10, 30] }, parents: 3, source: 'restated',
    hash: '6acc5d8c1bc6f58dcbf0a5ee50cd0a9fff25dd89cab59937872d514df49c3b0c' },
  crossover: { params: { weights: [1, 2] }, parents: 2, source: 'restated',
    hash: '8cc71e11616bd0afd0a257e99f01f04132c76eb6bd035b2905fb81f3a1368765' },
  mutate: { params: { strength: 0.5, epsilon: 0.05, rate: 0.75 }, parents: 1, source: 'pinned',
    hash: '8193de2b3d066a6a575d4484ea8c1c4a2e4231ebcbb77e7d7006ba1d3fa12bc7' },
  prune: { params: { fraction: 0.4, matricesOnly: false }, parents: 1, source: 'restated',
    hash: '178e08f38d447b7901d1d283396231acb56f1d3df7ebe34e30857dcbb5793139' },
  slerp: { params: { t: 0.3 }, parents: 2, source: 'pinned',
    hash: '642e27daa220d43ff4cedd0b8319c4c7a756c82600f31db0541b070b2ea34108' },
  soup: { params: { mode: 'seeded' }, parents: 3, source: 'restated',
    hash: '005b0490838b660f2aa03f663e406a3ba752bd5da5139464d84a1e904abcbcaa' },
  quantize: { params: { scheme: 'int4', blockSize: 4 }, parents: 1, source: 'pinned',
    hash: '56976e0e6a5eca22491acf417c1e6b6923bd64f365aa936392df357ba9425f64' },
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
    return linear(xs, xs.map((_, p) => unit(key, p, 0)));
  },
};

// ----------------------------------------------------------------------------------------------

async function breedGolden(id: OperatorId) {
  const g = GOLDEN[id];
  return breed({ operator: id, params: g.params, seed: SEED, parents: MODELS.slice(0, g.parents) }, cpuBackend);
}

describe('golden breeds (one per operator, bytes pinned by SHA-256)', () => {
  it('the table covers exactly the registry', () => {
    expect(Object.keys(GOLDEN).sort()).toEqual([...OPERATOR_IDS].sort());
    const restated = Object.entries(GOLDEN).filter(([, g]) => g.source === 'restated').map(([id]) => id);
    expect(restated.sort()).toEqual(Object.keys(RESTATED).sort());
  });

  for (const id of OPERATOR_IDS) {
    it(`${id}: breed gives the pinned bytes`, async () => {
      const r = await breedGolden(id);
      // compared as objects so that a failure prints the whole hash to copy into the table
      expect({ id, hash: hashOf(r.tensors.map((t) => t.data)) }).toEqual({ id, hash: GOLDEN[id].hash });
    });
  }

  for (const [id, restate] of Object.entries(RESTATED) as [OperatorId, Restate][]) {
    it(`${id}: the independent restatement gives the pinned bytes`, () => {
      const g = GOLDEN[id];
      const parents = MODELS.slice(0, g.parents);
      const out = parents[0].map((t) => f32Bytes(restate(parents.map((p) => toFloat32(p.find((u) => u.name === t.name)!)), t.name)));
      expect({ id, hash: hashOf(out) }).toEqual({ id, hash: g.hash });
    });
  }
});
