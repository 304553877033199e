import { describe, expect, it } from 'vitest';
import { chooseParentPool, crowdingDistances, dominates, nonDominatedFronts, novelty, reviewPopulation } from './population.ts';
import { manifestHash, validateManifest } from '../manifest/index.ts';
import { rng, testPolicy } from './test-helpers.ts';
import type { Direction } from '../manifest/kinds.ts';

describe('population review', () => {
  it('fronts partition the points; nothing is dominated from its own or a later front; front k+1 is dominated by front k', () => {
    const r = rng(5);
    for (let t = 0; t < 30; t++) {
      const m = 1 + Math.floor(r() * 3);
      const dirs: Direction[] = Array.from({ length: m }, () => (r() < 0.5 ? 'max' : 'min'));
      const pts = Array.from({ length: 5 + Math.floor(r() * 30) }, () => Array.from({ length: m }, () => Math.round(r() * 10) / 10));
      const fronts = nonDominatedFronts(pts, dirs);
      expect(fronts.flat().sort((a, b) => a - b)).toEqual(pts.map((_, i) => i));
      fronts.forEach((front, k) => {
        for (const i of front) {
          for (const later of fronts.slice(k)) for (const j of later) expect(dominates(pts[j], pts[i], dirs)).toBe(false);
          if (k > 0) expect(fronts[k - 1].some((j) => dominates(pts[j], pts[i], dirs))).toBe(true);
        }
      });
    }
  });

  it('crowding: boundaries are infinite, interior points sum normalised neighbour gaps', () => {
    const pts = [
      [0, 4],
      [1, 3],
      [2, 1],
      [4, 0],
    ];
    const d = crowdingDistances(pts, [0, 1, 2, 3]);
    expect(d.get(0)).toBe(Infinity);
    expect(d.get(3)).toBe(Infinity);
    expect(d.get(1)).toBeCloseTo((2 - 0) / 4 + (4 - 1) / 4, 12);
    expect(d.get(2)).toBeCloseTo((4 - 1) / 4 + (3 - 0) / 4, 12);
  });

  it('novelty is mean disagreement with the rest of the pool on the probe set', () => {
    expect(
      novelty([
        [1, 2, 3],
        [1, 2, 3],
        [1, 2, 3],
      ]),
    ).toEqual([0, 0, 0]);
    const n = novelty([
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [1, 1, 1, 1],
    ]);
    expect(n).toEqual([0.5, 0.5, 1]);
    expect(() => novelty([[1], [1, 2]])).toThrow(/same 1 probe inputs/);
  });

  it('produces a valid review manifest ranked by front, crowding, novelty; the recipe is chosen from it', () => {
    const review = reviewPopulation(
      [
        { candidate: 'a', objectives: [0.9, 0.05], predictions: [1, 2, 3, 4] },
        { candidate: 'b', objectives: [0.8, 0.02], predictions: [1, 2, 3, 5] },
        { candidate: 'c', objectives: [0.7, 0.1], predictions: [1, 2, 3, 4] },
        { candidate: 'd', objectives: [0.85, 0.03], predictions: [0, 0, 0, 0] },
      ],
      [
        { metric: 'accuracy', direction: 'max' },
        { metric: 'ece', direction: 'min' },
      ],
    );
    expect(validateManifest(review, 'population-review')).toBe(review);
    const by = Object.fromEntries(review.members.map((m) => [m.candidate, m]));
    expect([by.a.front, by.b.front, by.d.front, by.c.front]).toEqual([0, 0, 0, 1]);
    expect(by.a.crowding).toBeNull();
    expect(by.d.crowding).not.toBeNull();
    // a and b are both boundary points of front 0; b is more novel (0.5 vs 0.4167).
    expect(by.b.novelty).toBeCloseTo(0.5, 12);
    expect(by.a.novelty).toBeCloseTo(1.25 / 3, 12);
    expect(review.members.map((m) => m.candidate)).toEqual(['b', 'a', 'd', 'c']);
    const recipe = chooseParentPool(review, testPolicy(), { size: 3, seed: 10 });
    expect(recipe.review).toBe(manifestHash(review));
    expect(recipe.parents).toEqual(['b', 'a', 'd']);
    expect(recipe.plan).toEqual([
      {
        operator: { id: 'blend', version: expect.any(String) },
        parents: ['b', 'a'],
        params: { weights: [0.5, 0.5], normalize: true },
        seed: 10,
      },
      {
        operator: { id: 'blend', version: expect.any(String) },
        parents: ['a', 'd'],
        params: { weights: [0.5, 0.5], normalize: true },
        seed: 11,
      },
    ]);
    expect(() => chooseParentPool(review, testPolicy(), { size: 2, seed: 1, operator: 'mutate' })).toThrow(/not in the policy allowlist/);
    // An allowlisted "lora-merge" (trained candidates) breeds nothing: the plan takes the next operator.
    const withTrained = chooseParentPool(review, testPolicy({ allowlist: ['lora-merge', 'blend'] }), { size: 2, seed: 1 });
    expect(withTrained.plan.map((p) => p.operator.id)).toEqual(['blend']);
  });
});
