import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runGarden } from '../test-run.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-recipe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('garden recipe', () => {
  it('--from-mergekit writes a recipe garden breed runs; --to-mergekit writes it back; the round trip keeps it', async () => {
    mkdirSync(join(dir, 'models'));
    mkdirSync(join(dir, 'recipes'));
    for (const seed of [1, 2, 3]) {
      const tensors = randomModel(seed);
      writeFileSync(
        join(dir, 'models', `m${seed}.slm`),
        writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a', 'b'])), graph: '', vocabulary: ['a', 'b'] }),
      );
    }
    writeFileSync(
      join(dir, 'models', 'ties.yml'),
      [
        'merge_method: ties',
        'base_model: m1.slm',
        'models:',
        '  - model: m2.slm',
        '    parameters: { weight: 0.7, density: 0.5 }',
        '  - model: m3.slm',
        '    parameters: { weight: 0.3, density: 0.5 }',
        'parameters: { lambda: 0.9 }',
        '',
      ].join('\n'),
    );
    const r1 = await runGarden('recipe', '--from-mergekit', join(dir, 'models', 'ties.yml'), '--out', join(dir, 'recipes', 'r.json'));
    expect(r1.code, r1.err).toBe(0);
    const recipe = JSON.parse(readFileSync(join(dir, 'recipes', 'r.json'), 'utf8')) as {
      parents: { path: string }[];
      base: { path: string };
      params: unknown;
    };
    // The paths now point from the recipe's folder to the same files.
    expect(recipe.base.path).toBe('../models/m1.slm');
    expect(recipe.parents.map((p) => p.path)).toEqual(['../models/m2.slm', '../models/m3.slm']);
    expect(recipe.params).toEqual({ weights: [0.7, 0.3], density: 0.5, lambda: 0.9 });
    const bred = await runGarden('breed', join(dir, 'recipes', 'r.json'), '--out', join(dir, 'c.slm'), '--threads', '0', '--root', dir);
    expect(bred.code, bred.err).toBe(0);

    const r2 = await runGarden('recipe', '--to-mergekit', join(dir, 'recipes', 'r.json'), '--out', join(dir, 'models', 'back.yml'));
    expect(r2.code, r2.err).toBe(0);
    const cfg = parse(readFileSync(join(dir, 'models', 'back.yml'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      merge_method: 'ties',
      base_model: 'm1.slm',
      models: [
        { model: 'm2.slm', parameters: { weight: 0.7, density: 0.5 } },
        { model: 'm3.slm', parameters: { weight: 0.3, density: 0.5 } },
      ],
      parameters: { lambda: 0.9, normalize: true },
    });
    const r3 = await runGarden('recipe', '--from-mergekit', join(dir, 'models', 'back.yml'), '--out', join(dir, 'recipes', 'r2.json'));
    expect(r3.code, r3.err).toBe(0);
    const again = JSON.parse(readFileSync(join(dir, 'recipes', 'r2.json'), 'utf8')) as typeof recipe;
    expect({ ...again, params: undefined }).toEqual({ ...recipe, params: undefined });
    expect(again.params).toEqual({ weights: [0.7, 0.3], density: 0.5, lambda: 0.9, normalize: true, rescale: 'none' });
  });

  it('refuses what cannot be represented with one line naming the parameter, and writes nothing', async () => {
    const yml = join(dir, 'bad.yml');
    writeFileSync(
      yml,
      'merge_method: ram\nbase_model: a.slm\nmodels:\n  - model: b.slm\n    parameters: {epsilon: 0.5}\n  - model: c.slm\n    parameters: {epsilon: 0.3}\n',
    );
    const r = await runGarden('recipe', '--from-mergekit', yml, '--out', join(dir, 'bad.json'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^garden recipe: .*bad\.yml: parameter epsilon: different values per model \(0\.5, 0\.3\) cannot be represented/);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(() => readFileSync(join(dir, 'bad.json'))).toThrow();
    const both = await runGarden('recipe', '--from-mergekit', yml, '--to-mergekit', yml, '--out', 'x');
    expect(both.err).toMatch(/give one of --from-mergekit/);
  });
});
