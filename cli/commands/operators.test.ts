import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGarden } from '../test-run.ts';
import { getOperator, listOperators, MERGEKIT_NAMES, resolveOperatorId } from '../../src/core/operators/registry.ts';
import { validateRecipe } from '../../src/core/operators/recipe.ts';
import { speciesId, speciesSignature, writeSlm } from '../../src/core/format/slm.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { randomModel } from '../../src/core/operators/test-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-operators-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('garden operators', () => {
  it('--json lists every registry operator with its mergekit name and parameter declarations', async () => {
    const r = await runGarden('operators', '--json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as {
      id: string;
      mergekit: string | null;
      params: { name: string; default: unknown; min: unknown; max: unknown }[];
    }[];
    expect(list.map((o) => o.id)).toEqual(listOperators().map((o) => o.id));
    const byId = Object.fromEntries(list.map((o) => [o.id, o]));
    expect(byId.ties.mergekit).toBe('ties');
    expect(byId['dare-ties'].mergekit).toBe('dare_ties');
    expect(byId.dare.mergekit).toBe('dare_linear');
    expect(byId['task-delta'].mergekit).toBe('task_arithmetic');
    expect(byId.blend.mergekit).toBe('linear');
    expect(byId.crossover.mergekit).toBeNull();
    expect(byId.ties.params.find((p) => p.name === 'density')).toMatchObject({ default: 0.2, min: 0, max: 1, perParent: true });
    expect(byId.ties.params.find((p) => p.name === 'lambda')).toMatchObject({ perParent: false });
  });

  it('prints one block per operator, and garden breed --help carries the same list', async () => {
    const r = await runGarden('operators');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ties \(mergekit: ties\) — TIES merge, 2–16 parents \+ base$/m);
    expect(r.out).toMatch(/^ {2}density {7}number or per parent {3}0 … 1; default 0\.2$/m);
    const help = await runGarden('breed', '--help');
    expect(help.out).toContain(r.out);
  });

  it('refuses an unknown flag with exit 1 and one line', async () => {
    const r = await runGarden('operators', '--yaml');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^garden operators: Unknown option '--yaml'/);
  });
});

describe('mergekit names', () => {
  it('are aliases of the garden ids, derived from the registry', () => {
    // every method of mergekit's registry (merge_methods/registry.py)
    expect(Object.keys(MERGEKIT_NAMES).sort()).toEqual([
      'arcee_fusion',
      'breadcrumbs',
      'breadcrumbs_ties',
      'dare_linear',
      'dare_ties',
      'della',
      'della_linear',
      'karcher',
      'linear',
      'model_stock',
      'multislerp',
      'nearswap',
      'nuslerp',
      'passthrough',
      'ram',
      'ramplus_tl',
      'sce',
      'slerp',
      'task_arithmetic',
      'ties',
    ]);
    expect(MERGEKIT_NAMES).toMatchObject({
      linear: 'blend',
      task_arithmetic: 'task-delta',
      dare_linear: 'dare',
      ties: 'ties',
      dare_ties: 'dare-ties',
      slerp: 'slerp',
      breadcrumbs_ties: 'breadcrumbs-ties',
    });
    for (const [mk, id] of Object.entries(MERGEKIT_NAMES)) expect(getOperator(id).mergekit).toBe(mk);
    expect(resolveOperatorId('dare_ties')).toBe('dare-ties');
    expect(resolveOperatorId('dare-ties')).toBe('dare-ties');
  });

  it('an unknown name gets the list of valid ones, not a pattern error', () => {
    expect(() => resolveOperatorId('dare_tie')).toThrow(
      /^unknown operator "dare_tie"; valid: blend, task-delta, .*\(or mergekit's linear, task_arithmetic, .*dare_ties.*\)$/,
    );
    const recipe = {
      kind: 'recipe',
      schemaVersion: 1,
      operator: 'Model Stock!',
      params: {},
      seed: 0,
      parents: [{ path: 'a.slm' }, { path: 'b.slm' }],
      output: {},
    };
    expect(() => validateRecipe(recipe)).toThrow(/^unknown operator "Model Stock!"; valid: blend,/);
  });

  it('a recipe written with mergekit names breeds the same bytes as with the garden id', async () => {
    const files = [1, 2, 3].map((seed) => {
      const tensors = randomModel(seed);
      const bytes = writeSlm(tensors, { species: speciesId(speciesSignature(tensors, '', ['a', 'b'])), graph: '', vocabulary: ['a', 'b'] });
      writeFileSync(join(dir, `p${seed}.slm`), bytes);
      return bytes;
    });
    expect(files.length).toBe(3);
    const hashes: string[] = [];
    for (const operator of ['dare_ties', 'dare-ties']) {
      const path = join(dir, `${operator}.json`);
      writeFileSync(
        path,
        JSON.stringify({
          kind: 'recipe',
          schemaVersion: 1,
          operator,
          params: { drop: 0.3 },
          seed: 5,
          base: { path: 'p1.slm' },
          parents: [{ path: 'p2.slm' }, { path: 'p3.slm' }],
          output: { path: `${operator}.slm` },
        }),
      );
      const r = await runGarden('breed', path, '--json');
      expect(r.code, r.err).toBe(0);
      hashes.push(sha256Hex(new Uint8Array(readFileSync(join(dir, `${operator}.slm`)))));
    }
    expect(hashes[0]).toBe(hashes[1]);
  });
});
