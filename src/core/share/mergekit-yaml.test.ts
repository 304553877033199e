import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mergekitMethod, recipeFromMergekit, recipeToMergekit } from './mergekit-yaml.ts';
import { OPERATOR_IDS, getOperator } from '../operators/registry.ts';
import { resolveParams } from '../operators/params.ts';
import { validateRecipe, type Recipe } from '../operators/recipe.ts';
import type { OperatorDef } from '../operators/types.ts';

const H = (c: string) => c.repeat(64) as Recipe['parents'][0]['hash'];

function sampleRecipe(id: string): Recipe {
  const op = getOperator(id) as OperatorDef;
  const n = Math.min(op.parents.max, Math.max(op.parents.min, 2));
  const params: Recipe['params'] = {};
  if (op.params.some((d) => d.name === 'weights')) params.weights = Array.from({ length: n }, (_, i) => 0.25 + i * 0.5);
  return {
    kind: 'recipe',
    schemaVersion: 1,
    operator: id,
    params,
    seed: 7,
    parents: Array.from({ length: n }, (_, i) => ({ path: `models/p${i}.slm`, hash: H(String(i + 1)) })),
    ...(op.needsBase ? { base: { path: 'models/base.slm', hash: H('b') } } : {}),
    output: { path: 'out.slm', name: 'child' },
  };
}

/** The same recipe: operator, seed, models, output, and the parameters after defaults. */
function same(a: Recipe, b: Recipe) {
  const op = getOperator(a.operator) as OperatorDef;
  const strip = (r: Recipe) => ({ ...r, params: resolveParams(op, r.params, r.parents.length) });
  expect(strip(validateRecipe(b))).toEqual(strip(validateRecipe(a)));
}

const mapped = OPERATOR_IDS.filter((id) => mergekitMethod(id) !== null);

describe('mergekit YAML', () => {
  it('maps every method the registry names, and the two base variants', () => {
    expect(mapped.length).toBeGreaterThanOrEqual(20);
    expect(mapped).toContain('nuslerp-base');
    expect(mapped).toContain('multislerp-base');
    expect(mapped).not.toContain('crossover');
  });

  it.each(mapped)('%s: garden → YAML → garden keeps the recipe', (id) => {
    const r = sampleRecipe(id);
    const yml = recipeToMergekit(r);
    const cfg = parse(yml) as { merge_method: string };
    expect(cfg.merge_method).toBe(mergekitMethod(id));
    same(r, recipeFromMergekit(yml));
  });

  it('keeps non-default values: gradients, drop ↔ density, rescale, normalize, lambda', () => {
    const cases: Recipe[] = [
      { ...sampleRecipe('ties'), params: { weights: [1, 0.3], density: [1, 0.7, 0.1], lambda: 0.8, normalize: false } },
      { ...sampleRecipe('dare'), params: { drop: 0.7, rescale: 'none', lambda: 1.5 } },
      { ...sampleRecipe('dare-ties'), params: { drop: 0.9 } },
      { ...sampleRecipe('breadcrumbs-ties'), params: { density: 0.8, gamma: 0.05 } },
      { ...sampleRecipe('della'), params: { density: 0.6, epsilon: 0.1 } },
      { ...sampleRecipe('slerp'), params: { t: [0, 0.5, 0.3, 0.7, 1] } },
      { ...sampleRecipe('nuslerp-base'), params: { weights: [1, 3], nuslerpFlatten: false, nuslerpRowWise: true } },
      { ...sampleRecipe('karcher'), params: { maxIter: 20, tol: 1e-6 } },
      { ...sampleRecipe('ramplus-tl'), params: { r: 0.3, alpha: 0.5, epsilon: 1e-4 } },
    ];
    for (const r of cases) same(r, recipeFromMergekit(recipeToMergekit(r)));
    // No weights in the recipe: mergekit still gets its required weight, 1 each, and the garden reads them back as its default.
    const plain = { ...sampleRecipe('multislerp'), params: {} };
    const plainCfg = parse(recipeToMergekit(plain)) as { models: { parameters: { weight: number } }[] };
    expect(plainCfg.models.map((m) => m.parameters.weight)).toEqual([1, 1]);
    same(plain, recipeFromMergekit(recipeToMergekit(plain)));
    expect(recipeFromMergekit(recipeToMergekit(plain)).params.weights).toBeUndefined();
    const dare = parse(recipeToMergekit(cases[1])) as {
      models: { parameters: { density: number } }[];
      parameters: Record<string, unknown>;
    };
    expect(dare.models[0].parameters.density).toBe(0.3);
    expect(dare.parameters.rescale).toBe(false);
  });

  it('reads mergekit configs as mergekit means them', () => {
    const ties = recipeFromMergekit(`
models:
  - model: base.slm
  - model: a.slm
    parameters: { density: 0.5, weight: 1.0 }
  - model: b/
    parameters: { density: 0.5, weight: 0.3 }
merge_method: ties
base_model: base.slm
parameters:
  normalize: true
  int8_mask: true
dtype: float32
`);
    expect(ties).toEqual({
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'ties',
      params: { weights: [1, 0.3], density: 0.5, normalize: true },
      seed: 0,
      parents: [{ path: 'a.slm' }, { path: 'b/' }],
      base: { path: 'base.slm' },
      output: {},
    });
    // mergekit's density defaults to 1 (the garden's TIES default is 0.2); DARE's density is 1 − drop.
    expect(recipeFromMergekit('merge_method: ties\nbase_model: z.slm\nmodels: [{model: a.slm}, {model: b.slm}]').params.density).toBe(1);
    expect(
      recipeFromMergekit('merge_method: dare_linear\nbase_model: z.slm\nparameters: {density: 0.3}\nmodels: [{model: a.slm}]').params,
    ).toEqual({ drop: 0.7 });
    expect(recipeFromMergekit('merge_method: dare_linear\nbase_model: z.slm\nmodels: [{model: a.slm}]').params).toEqual({ drop: 0 });
    // slerp: t = 0 is mergekit's base_model, the garden's first parent.
    const slerp = recipeFromMergekit(
      'merge_method: slerp\nbase_model: y.safetensors\nmodels: [{model: x.slm}, {model: y.safetensors}]\nparameters: {t: 0.25}',
    );
    expect(slerp.parents).toEqual([{ path: 'y.safetensors' }, { path: 'x.slm' }]);
    expect(slerp.base).toBeUndefined();
    expect(
      recipeFromMergekit(
        'merge_method: nuslerp\nbase_model: z\nmodels: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 2}}]',
      ).operator,
    ).toBe('nuslerp-base');
    expect(
      recipeFromMergekit('merge_method: nuslerp\nmodels: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 2}}]')
        .operator,
    ).toBe('nuslerp');
  });

  it('refuses what cannot be represented, naming the parameter', () => {
    const base = 'merge_method: ties\nbase_model: z.slm\n';
    expect(() =>
      recipeFromMergekit(
        `${base}models:\n  - model: a.slm\n    parameters: {density: 0.5}\n  - model: b.slm\n    parameters: {density: 0.33}\n`,
      ),
    ).toThrow(/^parameter density: different values per model \(0.5, 0.33\)/);
    expect(() =>
      recipeFromMergekit(
        `${base}models:\n  - model: a.slm\n    parameters:\n      weight:\n        - filter: mlp\n          value: 0.5\n        - value: 0\n  - model: b.slm\n`,
      ),
    ).toThrow(/^parameter weight \(models\[0\]\): values by tensor filter/);
    expect(() =>
      recipeFromMergekit(`${base}models: [{model: a.slm, parameters: {weight: [0, 1]}}, {model: b.slm, parameters: {weight: 1}}]`),
    ).toThrow(/^parameter weight \(models\[0\]\): a per-model gradient/);
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm}, {model: b.slm}]\ndtype: bfloat16`)).toThrow(/^dtype bfloat16/);
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm}, {model: b.slm}]\nparameters: {flavour: 1}`)).toThrow(
      /^parameter flavour: ties has no such parameter/,
    );
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm+lora}, {model: b.slm}]`)).toThrow(/LoRA/);
    expect(() => recipeFromMergekit('merge_method: passthrough\nmodels: [{model: a}]')).toThrow(
      /^merge_method "passthrough" has no garden operator/,
    );
    expect(() => recipeFromMergekit('merge_method: slerp\nbase_model: a\nslices: []')).toThrow(/^slices:/);
    expect(() => recipeFromMergekit('merge_method: linear\nmodels: [{model: a}, {model: b}]\ntokenizer_source: union')).toThrow(
      /^tokenizer_source:/,
    );
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm}]`)).toThrow(/ties takes 2..16 parents, got 1/);
    expect(() => recipeToMergekit(sampleRecipe('crossover'))).toThrow(/^operator crossover has no mergekit method/);
    expect(() => recipeToMergekit({ ...sampleRecipe('dare'), params: { rescale: 'inverse' } })).toThrow(/^parameter rescale: "inverse"/);
    expect(() => recipeToMergekit({ ...sampleRecipe('ties'), params: { trimScope: 'model' } })).toThrow(/^parameter trimScope/);
    expect(() => recipeToMergekit({ ...sampleRecipe('ties'), base: { hash: H('c') } })).toThrow(/^base is given only by hash/);
  });
});
