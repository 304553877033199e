/**
 * mergekit's per-model parameters ({ perParent: […] }), its `filter:` lists, and the receipt's
 * kept fractions: resolution (params.ts), the CPU reference, the fast path and breed.
 */
import { describe, expect, it } from 'vitest';
import { paramsAt, resolveParams, settingValue } from './params.ts';
import { getOperator } from './registry.ts';
import { keptKey, parentDelta, sparsifyDelta, tiesCombine } from './task-arithmetic.cpu.ts';
import { breed } from './breed.ts';
import { cpuBackend } from './backend.ts';
import { getFastKernel } from './fast/kernels.ts';
import { randomUnit, tensorKey } from './prng.ts';
import { randomModel, randomValues } from './test-data.ts';
import type { ParamValues, RecipeParams, TensorContext } from './types.ts';

const f32 = (xs: number[]) => Float32Array.from(xs);
const ctx = (stats?: Record<string, number>, name = 't'): TensorContext => ({ name, shape: [5], seed: 3, ...(stats ? { stats } : {}) });

describe('filter lists (mergekit ConditionalParameter)', () => {
  const ties = getOperator('ties');
  const density = [{ filter: 'self_attn', value: 0.3 }, { filter: 'mlp', value: [0.2, 0.6] }, { value: 0.7 }];

  it('takes the first entry whose filter is a substring of the tensor name; no filter or "*" matches all', () => {
    expect(settingValue(density, 0, 'layers.0.self_attn.q_proj.weight')).toBe(0.3);
    expect(settingValue(density, 0.5, 'layers.3.mlp.up.weight')).toBeCloseTo(0.4, 12); // the entry's gradient at t = 0.5
    expect(settingValue(density, 1, 'embed.weight')).toBe(0.7);
    expect(settingValue([{ filter: '*', value: 2 }, { value: 1 }], 0, 'x')).toBe(2);
    // mergekit: an empty tensor name matches no filter.
    expect(settingValue([{ filter: 'a', value: 1 }], 0, '')).toBeUndefined();
  });

  it('resolves per tensor in breed order; a list with no entry for a tensor falls back to the default', () => {
    const p = resolveParams(ties, { density: [{ filter: 'fc1', value: 0.5 }] }, 2);
    expect(paramsAt(ties, p, 0, 'fc1.weight').density).toBe(0.5);
    expect(paramsAt(ties, p, 0, 'fc2.weight').density).toBe(0.2); // ties's default
    const slerp = getOperator('slerp');
    expect(paramsAt(slerp, resolveParams(slerp, { t: [{ filter: 'bias', value: 1 }, { value: [0, 1] }] }, 2), 0.25, 'fc.weight').t).toBe(
      0.25,
    );
  });

  it('is checked like the plain value: ranges, keys, integers', () => {
    expect(() => resolveParams(ties, { density: [{ filter: 'x', value: 1.5 }] }, 2)).toThrow(/entry 0 value is 1.5, above the maximum 1/);
    expect(() => resolveParams(ties, { density: [{ filter: 'x', value: 0.5, weight: 1 } as never] }, 2)).toThrow(/has "weight"/);
    const karcher = getOperator('karcher');
    expect(() => resolveParams(karcher, { maxIter: [{ value: [1, 2] }] }, 2)).toThrow(/takes one number, not a layer gradient/);
    expect(paramsAt(karcher, resolveParams(karcher, { maxIter: [{ filter: 'fc1', value: 3 }, { value: 7 }] }, 2), 0, 'fc2.w').maxIter).toBe(
      7,
    );
  });
});

describe('per-parent settings (mergekit per-model parameters)', () => {
  const ties = getOperator('ties');

  it('a tagged list is one value per parent; a plain list stays a layer gradient', () => {
    const p = resolveParams(ties, { density: { perParent: [0.6, [0.2, 0.6]] } }, 2);
    expect(paramsAt(ties, p, 0.5, 'w').density).toEqual([0.6, 0.4]);
    expect(paramsAt(ties, resolveParams(ties, { density: [0.2, 0.6] }, 2), 0.5, 'w').density).toBe(0.4);
  });

  it('is refused where the parameter is one for all parents, or with the wrong count', () => {
    expect(() => resolveParams(ties, { lambda: { perParent: [1, 2] } }, 2)).toThrow(/"lambda" takes one value for all parents/);
    expect(() => resolveParams(ties, { density: { perParent: [0.5] } }, 2)).toThrow(/1 per-parent values for 2 parents/);
  });

  it('per-model weights may give a gradient or a filter list for one parent', () => {
    const ta = getOperator('task-delta');
    const p = resolveParams(ta, { weights: [1, [0, 2], [{ filter: 'bias', value: 5 }, { value: 3 }]] }, 3);
    expect(paramsAt(ta, p, 0.5, 'fc.bias').weights).toEqual([1, 1, 5]);
    expect(paramsAt(ta, p, 1, 'fc.weight').weights).toEqual([1, 2, 3]);
  });

  it('TIES with one density per parent = each parent trimmed by its own density, then the election (hand-worked)', () => {
    const base = f32([1, 1, 1, 1, 1]);
    const parents = [
      [3, -1, 2, 0.5, -4],
      [-2, 1, 1, -3, 5],
    ].map((d) => f32(d.map((x) => x + 1)));
    const stats: Record<string, number> = {};
    const params = paramsAt(ties, resolveParams(ties, { density: { perParent: [0.6, 0.4] } }, 2), 0, 't');
    const out = ties.cpu([base, ...parents], params, ctx(stats));
    // By hand: parent 0 keeps 3 (3, 2, −4), parent 1 keeps 2 (−3, 5); elected + at 0, 2, 4 (−4 + 5 = 1), − at 3.
    const trimmed = parents.map((x, i) => {
      const d = parentDelta(base, x, {}, i);
      sparsifyDelta(d, { sparsify: 'magnitude', consensus: 'ties' }, { density: [0.6, 0.4][i] }, ctx(), i);
      return d;
    });
    expect(trimmed.map((d) => [...d])).toEqual([
      [3, 0, 2, 0, -4],
      [0, 0, 0, -3, 5],
    ]);
    const merged = tiesCombine(trimmed, [1, 1], true).merged;
    expect([...out]).toEqual([...merged].map((m) => Math.fround(1 + m)));
    expect([...out]).toEqual([4, 1, 3, -2, 6]);
    expect(stats[keptKey(0)]).toBe(3);
    expect(stats[keptKey(1)]).toBe(2);
  });

  it('DARE with one drop per parent draws each parent’s mask with its own p (hand count of kept elements)', () => {
    const dare = getOperator('dare');
    const n = 64;
    const base = new Float32Array(n);
    const xs = [randomValues(5, n), randomValues(6, n)];
    const stats: Record<string, number> = {};
    const drops = [0.25, 0.75];
    const params = paramsAt(dare, resolveParams(dare, { drop: { perParent: drops }, rescale: 'none' }, 2), 0, 'w');
    const out = dare.cpu([base, ...xs], params, { name: 'w', shape: [n], seed: 9, stats });
    const key = tensorKey(9, 'w');
    let expected = 0;
    for (let j = 0; j < n; j++) {
      let m = 0;
      for (let i = 0; i < 2; i++) if (randomUnit(key, j, i) >= Math.fround(drops[i])) m = Math.fround(m + xs[i][j]);
      expect(out[j]).toBe(Math.fround(0 + m));
    }
    for (let i = 0; i < 2; i++) {
      let kept = 0;
      for (let j = 0; j < n; j++) if (randomUnit(key, j, i) >= Math.fround(drops[i])) kept++;
      expect(stats[keptKey(i)]).toBe(kept);
      expected += kept;
    }
    expect(expected).toBeGreaterThan(0);
    expect(stats[keptKey(0)]).toBeGreaterThan(stats[keptKey(1)]);
  });

  it('model-wide TIES trimming takes one number per parent', () => {
    const m = randomModel(1);
    const view = { names: m.map((t) => t.name), shapes: m.map((t) => t.shape), inputs: () => [] as Float32Array[] };
    expect(() => ties.prepare!(view, { density: [{ value: 0.5 }], trimScope: 'model' }, 0)).toThrow(
      /one density \(or one number per parent\)/,
    );
  });
});

describe('kept fractions and the fast path', () => {
  it('the range kernel counts kept elements as the reference does; one density per parent runs the reference', () => {
    const ties = getOperator('ties');
    const n = 1000;
    const inputs = [randomValues(1, n), randomValues(2, n), randomValues(3, n)];
    const params = resolveParams(ties, { density: 0.3 }, 2) as ParamValues;
    const c: TensorContext = { name: 'w', shape: [n], seed: 1 };
    const ref: Record<string, number> = {};
    ties.cpu(inputs, params, { ...c, stats: ref });
    const k = getFastKernel('ties');
    const prepared = { ...params, ...k.prepare!(inputs, params, c) };
    const out = new Float32Array(n);
    const a = k.run(inputs, out, prepared, c, 0, 400) ?? {};
    const b = k.run(inputs, out, prepared, c, 400, n) ?? {};
    expect(ref[keptKey(0)]).toBe(300); // int(0.3 · 1000)
    expect(a[keptKey(0)] + b[keptKey(0)]).toBe(300);
    expect(a[keptKey(1)] + b[keptKey(1)]).toBe(300);
    expect(a.signConflicts + b.signConflicts).toBe(ref.signConflicts);
    expect(k.unsupported?.({ ...params, density: [0.3, 0.5] })).toMatch(/per parent runs the reference/);
  });

  it('breed’s receipt statistics carry the kept fraction per parent (int(density·n) / n), none for task delta', async () => {
    const parents = [randomModel(1), randomModel(2), randomModel(3)];
    const req = (operator: string, params: RecipeParams) => ({ operator, params, seed: 1, parents });
    const r = await breed(req('ties', { density: { perParent: [0.5, [{ filter: 'fc1', value: 0.25 }, { value: 1 }]] } }), cpuBackend);
    // fc1.weight 96 elements: 48 and int(0.25·96) = 24; fc1.bias 8: 4 and 2; fc2.weight 24: 12 and all; fc2.bias 3: 1 and all.
    expect(r.stats.map((s) => s.keptFraction)).toEqual([
      [48 / 96, 24 / 96],
      [4 / 8, 2 / 8],
      [12 / 24, 1],
      [1 / 3, 1],
    ]);
    expect(r.stats.every((s) => typeof s.signConflicts === 'number')).toBe(true);
    const plain = await breed(req('task-delta', {}), cpuBackend);
    expect(plain.stats.some((s) => s.keptFraction !== undefined)).toBe(false);
  });
});

describe('receipts', () => {
  it('a breed with per-parent and filtered parameters gives manifests that validate, the receipt carrying the kept fractions', async () => {
    const { recordBreed } = await import('../lab/records.ts');
    const { candidateSlm } = await import('./candidate.ts');
    const { validateManifest } = await import('../manifest/validate.ts');
    const H = (c: string) => c.repeat(64) as `${string}`;
    const models = [1, 2, 3].map((seed) => randomModel(seed));
    const params: RecipeParams = { density: { perParent: [0.5, 0.75] }, lambda: [{ filter: 'fc2', value: 0.5 }, { value: 1 }] };
    const result = await breed({ operator: 'ties', params, seed: 7, parents: models }, cpuBackend);
    const parents = models.map((tensors, i) => ({ hash: H(String(i + 1)) as never, species: H('5') as never, tensors }));
    const r = recordBreed({ result, file: candidateSlm(result, parents), parents: parents.map((p) => p.hash), requested: params });
    for (const m of r.manifests) expect(validateManifest(m, m.kind)).toBe(m);
    expect(r.lineage.params).toEqual(result.params);
    // fc1.weight: 96 elements, int(0.5·96) = 48 and int(0.75·96) = 72 kept.
    expect(r.receipt.tensors[0].keptFraction).toEqual([0.5, 0.75]);
  });

  it('sign conflicts and kept fractions by hand, and karcher’s iterations, through breed', async () => {
    const { fromFloat32 } = await import('../tensor.ts');
    const t = (xs: number[]) => [fromFloat32('w', [5], f32(xs))];
    const parents = [t([0, 0, 0, 0, 0]), t([3, -1, 2, 0.5, -4]), t([-2, 1, 1, -3, 5])];
    const whole = await breed({ operator: 'ties', params: { density: 1 }, seed: 1, parents }, cpuBackend);
    // Both signs at 0 (3, −2), 1 (−1, 1), 3 (0.5, −3), 4 (−4, 5): 4; density 1 keeps everything.
    expect(whole.stats[0]).toMatchObject({ signConflicts: 4, keptFraction: [1, 1] });
    const trimmed = await breed({ operator: 'ties', params: { density: 0.6 }, seed: 1, parents }, cpuBackend);
    // Trimmed to [3, 0, 2, 0, −4] and [−2, 0, 0, −3, 5]: both signs at 0 and 4 only; 3 of 5 kept each.
    expect(trimmed.stats[0]).toMatchObject({ signConflicts: 2, keptFraction: [0.6, 0.6] });
    const karcher = getOperator('karcher');
    const stats: Record<string, number> = {};
    karcher.cpu([f32([3, -1, 2, 0.5, -4]), f32([-2, 1, 1, -3, 5]), f32([1, 2, -1, 0, 3])], resolveParams(karcher, {}, 3), {
      ...ctx(stats),
      name: 'w',
    });
    const k = await breed({ operator: 'karcher', params: {}, seed: 1, parents: [...parents.slice(1), t([1, 2, -1, 0, 3])] }, cpuBackend);
    expect(stats.iterations).toBeGreaterThan(0); // three directions: the normalised mean is not yet the Karcher mean
    expect(k.stats[0].iterations).toBe(stats.iterations);
  });

  it('the layer visual of a per-parent TIES breed recomputes the stored output and shows each parent’s density', async () => {
    const { visualizeLayer } = await import('./visualize.ts');
    const parents = [randomModel(1), randomModel(2), randomModel(3)];
    const params: RecipeParams = { density: { perParent: [0.5, 0.75] } };
    const result = await breed({ operator: 'ties', params, seed: 7, parents }, cpuBackend);
    const v = visualizeLayer({ operator: 'ties', params, seed: 7, parents, candidate: result.tensors, tensor: 'fc1.weight' });
    expect(v.outputHash).toBe(result.stats[0].outputHash);
    expect(v.recomputed).toBe(0);
    expect(v.ties!.density).toEqual([0.5, 0.75]);
    expect(v.ties!.keptFraction).toEqual(result.stats[0].keptFraction);
  });
});
