import { describe, expect, it } from 'vitest';
import { breed } from './breed.ts';
import { cpuBackend } from './backend.ts';
import { randomModel } from './test-data.ts';
import { visualizeLayer, heatmap, histogram } from './visualize.ts';
import type { ParamValues } from './types.ts';

const models = [randomModel(1), randomModel(2), randomModel(3)];

/** Breed on the CPU, then visualize every tensor: the visual's numbers are the receipt's. */
async function check(operator: string, params: ParamValues, parents = models) {
  const result = await breed({ operator, params, seed: 7, parents }, cpuBackend);
  return result.stats.map((stat) => {
    const v = visualizeLayer({ operator, params, seed: 7, parents, candidate: result.tensors, tensor: stat.name });
    expect(v.outputHash).toBe(stat.outputHash);
    expect(v.stats.sparsity).toBe(stat.sparsity);
    expect(v.stats.changedFraction).toBe(stat.changedFraction);
    expect(v.stats.deltaNorm).toBeCloseTo(stat.deltaNorm, 12);
    const total = v.weights.after.reduce((a, b) => a + b, 0);
    expect(total).toBe(v.shape.reduce((a, b) => a * b, 1));
    return { v, stat };
  });
}

describe('visualizeLayer', () => {
  it('TIES: trim, elect and disjoint mean recompute the stored output; the conflicts equal the receipt', async () => {
    for (const { v, stat } of await check('ties', { density: 0.4 })) {
      expect(v.ties).toBeDefined();
      expect(v.ties!.signConflicts).toBe(stat.signConflicts);
      expect(v.recomputed).toBe(0);
      expect(v.ties!.steps.map((s) => s.step)).toEqual(['trim', 'elect', 'disjoint mean']);
      for (const f of v.ties!.keptFraction) expect(f).toBeLessThanOrEqual(0.4 + 1e-9);
    }
  });

  it('DARE: the drop mask drops about p of each delta and recomputes the output', async () => {
    const rows = await check('dare', { drop: 0.3 });
    for (const { v } of rows) {
      expect(v.drop!.p).toBe(0.3);
      expect(v.recomputed).toBe(0);
    }
    const big = rows.find((r) => r.v.shape.length === 2)!.v;
    for (const d of big.drop!.dropped) expect(Math.abs(d - 0.3)).toBeLessThan(0.2);
  });

  it('crossover: the source map is the operator’s draw and rebuilds the child', async () => {
    for (const { v } of await check('crossover', {}, models.slice(0, 2))) {
      expect(v.recomputed).toBe(0);
      expect(v.crossover!.share[0] + v.crossover!.share[1]).toBeCloseTo(1, 12);
    }
  });

  it('SLERP: the angle between the parents and its coefficients', async () => {
    for (const { v } of await check('slerp', { t: 0.3 }, models.slice(0, 2))) {
      expect(v.slerp!.thetaDeg).toBeGreaterThan(0);
      expect(v.slerp!.thetaDeg).toBeLessThan(180);
      expect(v.recomputed).toBe(0);
    }
  });

  it('quantize: the error of the stored int8 weights, read back from .q and .scales', async () => {
    const rows = await check('quantize', { scheme: 'int8', blockSize: 4 }, models.slice(0, 1));
    const q = rows.find((r) => r.v.quant)!.v;
    expect(q.quant!.maxAbsError).toBeGreaterThan(0);
    expect(q.recomputed).toBe(0);
    expect(q.quant!.error.counts.reduce((a, b) => a + b, 0)).toBe(q.shape[0] * q.shape[1]);
  });

  it('heatmap averages blocks; histogram counts every value', () => {
    const h = heatmap([1, 0, 0, 0, 1, 1, 1, 1], [2, 4], 2);
    expect(h.cells).toEqual([0.5, 0, 1, 1]);
    expect(h.mean).toBe(5 / 8);
    expect(histogram([new Float32Array([0, 1, 1, 2])], 2).counts).toEqual([1, 3]);
  });
});
