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
  const n = op.layout ? 1 : Math.min(op.parents.max, Math.max(op.parents.min, 2));
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
        'merge_method: ram\nbase_model: z.slm\nmodels: [{model: a.slm, parameters: {epsilon: 0.1}}, {model: b.slm, parameters: {epsilon: 0.2}}]',
      ),
    ).toThrow(/^parameter epsilon: different values per model \(0.1, 0.2\)/);
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm, parameters: {lambda: 2}}, {model: b.slm}]`)).toThrow(
      /^parameter lambda: ties has no such per-model parameter/,
    );
    expect(() =>
      recipeFromMergekit(`${base}models: [{model: a.slm, parameters: {weight: [{filter: mlp, value: 1, extra: 2}]}}, {model: b.slm}]`),
    ).toThrow(/^parameter weight \(models\[0\]\) entry 0: "extra"/);
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm}, {model: b.slm}]\ndtype: bfloat16`)).toThrow(/^dtype bfloat16/);
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm}, {model: b.slm}]\nparameters: {flavour: 1}`)).toThrow(
      /^parameter flavour: ties has no such parameter/,
    );
    expect(() => recipeFromMergekit(`${base}models: [{model: a.slm+lora}, {model: b.slm}]`)).toThrow(/LoRA/);
    expect(() => recipeFromMergekit('merge_method: passthrough\nmodels: [{model: a}, {model: b}]')).toThrow(
      /^models: passthrough without slices takes exactly one model/,
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

  it('per-model density, epsilon, gamma and weight as mergekit gives them, both ways', () => {
    const yaml = [
      'merge_method: della',
      'base_model: z.slm',
      'models:',
      '  - model: a.slm',
      '    parameters: {weight: 0.5, density: 0.3, epsilon: 0.1}',
      '  - model: b.slm',
      '    parameters: {weight: [0, 1], density: 0.6}',
      'parameters: {epsilon: 0.2}',
    ].join('\n');
    const r = recipeFromMergekit(yaml);
    expect(r.params).toMatchObject({ weights: [0.5, [0, 1]], density: { perParent: [0.3, 0.6] }, epsilon: { perParent: [0.1, 0.2] } });
    const back = parse(recipeToMergekit(r)) as { models: { parameters: Record<string, unknown> }[] };
    expect(back.models.map((m) => m.parameters)).toEqual([
      { weight: 0.5, density: 0.3, epsilon: 0.1 },
      { weight: [0, 1], density: 0.6, epsilon: 0.2 },
    ]);
    expect(recipeFromMergekit(recipeToMergekit(r)).params).toMatchObject(r.params);
    // DARE: mergekit's per-model density is the garden's per-parent drop (1 − density).
    const dare = recipeFromMergekit(
      'merge_method: dare_linear\nbase_model: z.slm\nmodels: [{model: a.slm, parameters: {weight: 1, density: 0.7}}, {model: b.slm, parameters: {weight: 1, density: 0.4}}]',
    );
    expect(dare.params.drop).toEqual({ perParent: [0.3, 0.6] });
    expect(
      (parse(recipeToMergekit(dare)) as { models: { parameters: { density: number } }[] }).models.map((m) => m.parameters.density),
    ).toEqual([0.7, 0.4]);
    // The same value for every model stays one value.
    expect(
      recipeFromMergekit(
        'merge_method: breadcrumbs\nbase_model: z.slm\nmodels: [{model: a.slm, parameters: {weight: 1, gamma: 0.05}}, {model: b.slm, parameters: {weight: 1, gamma: 0.05}}]',
      ).params.gamma,
    ).toBe(0.05);
  });

  it('filter lists map entry for entry; a model’s own list falls back to the global setting, as mergekit reads it', () => {
    const yaml = [
      'merge_method: ties',
      'base_model: z.slm',
      'models:',
      '  - model: a.slm',
      '    parameters:',
      '      weight: 1',
      '      density: [{filter: self_attn, value: 0.5}]',
      '  - model: b.slm',
      '    parameters: {weight: 1}',
      'parameters:',
      '  density: [{filter: mlp, value: [0.2, 0.8]}, {value: 0.4}]',
      '  lambda: [{filter: fc2, value: 2}, {value: 1}]',
    ].join('\n');
    const r = recipeFromMergekit(yaml);
    expect(r.params.density).toEqual({
      perParent: [
        [{ filter: 'self_attn', value: 0.5 }, { filter: 'mlp', value: [0.2, 0.8] }, { value: 0.4 }],
        [{ filter: 'mlp', value: [0.2, 0.8] }, { value: 0.4 }],
      ],
    });
    expect(r.params.lambda).toEqual([{ filter: 'fc2', value: 2 }, { value: 1 }]);
    const back = parse(recipeToMergekit(r)) as { parameters: Record<string, unknown>; models: { parameters: Record<string, unknown> }[] };
    expect(back.parameters.lambda).toEqual([{ filter: 'fc2', value: 2 }, { value: 1 }]);
    expect(back.models[1].parameters.density).toEqual([{ filter: 'mlp', value: [0.2, 0.8] }, { value: 0.4 }]);
    expect(recipeFromMergekit(recipeToMergekit(r)).params).toMatchObject(r.params);
  });
});

describe('mergekit YAML: passthrough with slices', () => {
  const franken = [
    'slices:',
    '  - sources:',
    '      - model: a.slm',
    '        layer_range: [0, 2]',
    '  - sources:',
    '      - model: b.slm',
    '        layer_range: [1, 3]',
    '        parameters:',
    '          scale:',
    '            - filter: o_proj',
    '              value: 0.0',
    '            - filter: down_proj',
    '              value: [0, 0.5]',
    '  - sources:',
    '      - model: a.slm',
    '        layer_range: [2, 3]',
    'merge_method: passthrough',
    'parameters:',
    '  scale: 0.5',
  ].join('\n');

  it('reads a frankenmerge: one parent per slice (a model twice), layer ranges, scale from the source, falling back to the global', () => {
    const r = recipeFromMergekit(franken);
    expect(r.operator).toBe('passthrough');
    expect(r.parents.map((p) => p.path)).toEqual(['a.slm', 'b.slm', 'a.slm']);
    expect(r.params.layerRange).toEqual([
      [0, 2],
      [1, 3],
      [2, 3],
    ]);
    expect(r.params.scale).toEqual({
      perParent: [0.5, [{ filter: 'o_proj', value: 0 }, { filter: 'down_proj', value: [0, 0.5] }, { value: 0.5 }], 0.5],
    });
  });

  it('garden → YAML → garden keeps the recipe: slices with per-slice scale, one global scale, no slices', () => {
    const r = recipeFromMergekit(franken);
    const yml = recipeToMergekit(r);
    const cfg = parse(yml) as { slices: { sources: { model: string; layer_range: number[] }[] }[] };
    expect(cfg.slices.map((s) => [s.sources[0].model, s.sources[0].layer_range])).toEqual([
      ['a.slm', [0, 2]],
      ['b.slm', [1, 3]],
      ['a.slm', [2, 3]],
    ]);
    same(r, recipeFromMergekit(yml));
    const one = { ...r, params: { layerRange: r.params.layerRange, scale: 2 } };
    expect((parse(recipeToMergekit(one)) as { parameters: unknown }).parameters).toEqual({ scale: 2 });
    same(one, recipeFromMergekit(recipeToMergekit(one)));
    const whole = { ...sampleRecipe('passthrough'), params: { scale: 0.25 } };
    expect((parse(recipeToMergekit(whole)) as { models: unknown[] }).models).toHaveLength(1);
    same(whole, recipeFromMergekit(recipeToMergekit(whole)));
  });

  it('refuses with one line: an empty slice list, two sources in a slice, a bad layer_range, base_model, another parameter', () => {
    const pt = 'merge_method: passthrough\n';
    expect(() => recipeFromMergekit(`${pt}slices: []`)).toThrow(/^slices: an empty list/);
    expect(() =>
      recipeFromMergekit(`${pt}slices: [{sources: [{model: a, layer_range: [0, 1]}, {model: b, layer_range: [0, 1]}]}]`),
    ).toThrow(/^slices\[0\]\.sources: passthrough takes exactly one source/);
    expect(() => recipeFromMergekit(`${pt}slices: [{sources: [{model: a, layer_range: [0]}]}]`)).toThrow(
      /layer_range must be two integers/,
    );
    expect(() => recipeFromMergekit(`${pt}base_model: a\nslices: [{sources: [{model: a, layer_range: [0, 1]}]}]`)).toThrow(/^base_model:/);
    expect(() => recipeFromMergekit(`${pt}slices: [{sources: [{model: a, layer_range: [0, 1]}]}]\nparameters: {weight: 1}`)).toThrow(
      /^parameter weight \(parameters\): passthrough has only scale/,
    );
  });
});
