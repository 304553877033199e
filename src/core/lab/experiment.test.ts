import { describe, expect, it } from 'vitest';
import {
  attribution,
  effectsTable,
  factorialDesign,
  factorialEffects,
  runExperiment,
  type ExperimentRun,
  type Factor,
} from './experiment.ts';
import type { RoundRecipe } from './round.ts';

const F: Factor[] = [
  { name: 'operator', levels: ['ties', 'dare-ties'] },
  { name: 'density', levels: [0.2, 0.5] },
];

/** y = 0.5 + 0.1·a + 0.04·b + 0.02·a·b (a, b = ±1) + per-seed noise that does not depend on the cell. */
function response(cell: Record<string, string | number>, seed: number, noise = 0): number {
  const a = cell.operator === 'dare-ties' ? 1 : -1;
  const b = cell.density === 0.5 ? 1 : -1;
  return 0.5 + 0.1 * a + 0.04 * b + 0.02 * a * b + noise * (seed % 2 ? a : 0);
}

describe('attributable experiments', () => {
  it('the full factorial has every cell once', () => {
    expect(factorialDesign(F)).toEqual([
      { operator: 'ties', density: 0.2 },
      { operator: 'ties', density: 0.5 },
      { operator: 'dare-ties', density: 0.2 },
      { operator: 'dare-ties', density: 0.5 },
    ]);
    expect(() => factorialDesign([{ name: 'x', levels: [1, 1] }])).toThrow('needs two different levels');
  });

  it('recovers main effects (high − low = twice the coefficient) and the interaction, with their spread over seeds', () => {
    const runs: ExperimentRun[] = [];
    for (const seed of [1, 2, 3])
      for (const cell of factorialDesign(F)) runs.push({ cell, seed, candidate: `${seed}`, response: response(cell, seed, 0.01) });
    const e = factorialEffects(F, runs);
    const by = Object.fromEntries(e.effects.map((x) => [x.term, x]));
    expect(Object.keys(by)).toEqual(['operator', 'density', 'operator×density']);
    // Seeds 1 and 3 add +0.01·a: the operator effect is 0.2 + 0.02 there and 0.2 under seed 2.
    expect(by.operator.perSeed).toEqual([expect.closeTo(0.22, 12), expect.closeTo(0.2, 12), expect.closeTo(0.22, 12)]);
    expect(by.operator.sd).toBeCloseTo(Math.sqrt(((0.02 / 3) ** 2 * 2 + (0.04 / 3) ** 2) / 2), 12);
    expect(by.density.estimate).toBeCloseTo(0.08, 12);
    expect(by.density.sd).toBeCloseTo(0, 12);
    expect(by['operator×density'].estimate).toBeCloseTo(0.04, 12);
    expect(effectsTable(e, 'accuracy')).toContain('| operator×density | +0.0400 | 0.0000 |');
  });

  it('refuses a design with a missing cell', () => {
    const runs = factorialDesign(F)
      .slice(1)
      .map((cell) => ({ cell, seed: 1, candidate: 'x', response: 0 }));
    expect(() => factorialEffects(F, runs)).toThrow('seed 1 has no run for cell operator=ties,density=0.2: the design is not full');
  });

  it('labels a round that changes several things at once as not attributable', () => {
    const base: RoundRecipe = { operator: 'ties', parents: ['a', 'b'], params: { density: 0.2 }, seed: 1 };
    expect(
      attribution(base, [
        { ...base, params: { density: 0.5 } },
        { ...base, operator: 'dare-ties' },
        { ...base, seed: 2 },
      ]),
    ).toMatchObject({ attributable: true, mode: 'one-at-a-time' });
    const c = attribution(base, [{ ...base, operator: 'dare-ties', params: { density: 0.5 } }]);
    expect(c).toMatchObject({ attributable: false, mode: 'confounded', changes: [['operator', 'params.density']] });
    expect(c.reason).toBe('recipe 0 changes operator, params.density at once: a gain cannot be attributed to one of them');
    const cells = factorialDesign(F);
    const recipes = cells.map((x) => ({ ...base, operator: String(x.operator), params: { density: x.density } }));
    expect(attribution(base, recipes, { factors: F, cells })).toMatchObject({ attributable: true, mode: 'factorial' });
    expect(attribution(base, recipes.slice(1), { factors: F, cells: cells.slice(1) })).toMatchObject({ attributable: false });
  });

  it('runExperiment breeds and evaluates every cell under every seed', async () => {
    const bred: RoundRecipe[] = [];
    const r = await runExperiment(
      {
        factors: F,
        seeds: [1, 2],
        suite: { name: 'mixed', hash: 'e'.repeat(64) },
        metric: 'accuracy',
        recipe: (cell, seed) => ({ operator: String(cell.operator), parents: ['a', 'b'], params: { density: cell.density }, seed }),
      },
      {
        breed: async (rec) => (bred.push(rec), { id: JSON.stringify(rec) }),
        evaluate: async (id) => {
          const rec = JSON.parse(id) as RoundRecipe;
          return { accuracy: response({ operator: rec.operator, density: rec.params.density as number }, rec.seed) };
        },
      },
    );
    expect(bred).toHaveLength(8);
    expect(r.effects.find((e) => e.term === 'operator')!.estimate).toBeCloseTo(0.2, 12);
  });
});
