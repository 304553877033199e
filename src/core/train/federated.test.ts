import { describe, expect, it } from 'vitest';
import { breed } from '../operators/breed.ts';
import { cpuBackend } from '../operators/backend.ts';
import { randomModel } from '../operators/test-data.ts';
import { readSlm, speciesId, speciesSignature, writeSlm } from '../format/slm.ts';
import { toFloat32, type Tensor } from '../tensor.ts';
import { federatedBreedParams, federatedUpdate, federatedUpdateFile, federatedWeights, FEDERATED_KEYS } from './federated.ts';

const base = randomModel(1);
const trained = [randomModel(2), randomModel(3)];
const BASE_HASH = 'a'.repeat(64);
const flat = (m: readonly Tensor[]) => Float64Array.from(m.flatMap((t) => Array.from(toFloat32(t))));
const delta = (m: readonly Tensor[]) => {
  const [x, b] = [flat(m), flat(base)];
  return x.map((v, i) => v - b[i]);
};
const l2 = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** An update written as a .slm and read back, as another garden receives it. */
function shipped(u: ReturnType<typeof federatedUpdate>) {
  return readSlm(writeSlm(u.tensors, { species: 'b'.repeat(64), extra: u.metadata }));
}

describe('federated updates', () => {
  it('two updates merged by the federated operator give the example-count-weighted mean of their deltas', async () => {
    const counts = [30, 10];
    const updates = trained.map((t, k) => shipped(federatedUpdate(base, t, { examples: counts[k], baseHash: BASE_HASH })));
    const weights = federatedWeights(updates, BASE_HASH);
    expect(weights).toEqual(counts);
    const r = await breed(
      { operator: 'federated', params: { weights }, seed: 0, parents: [base, ...updates.map((u) => u.tensors)] },
      cpuBackend,
    );
    const [d1, d2] = trained.map(delta);
    const expected = flat(base).map((b, i) => b + (30 * d1[i] + 10 * d2[i]) / 40);
    const got = flat(r.tensors);
    let worst = 0;
    got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - expected[i]))));
    expect(worst).toBeLessThan(1e-6);
    // Not the plain mean: the counts matter.
    const plain = flat(base).map((b, i) => b + (d1[i] + d2[i]) / 2);
    expect(Math.max(...got.map((v, i) => Math.abs(v - plain[i])))).toBeGreaterThan(1e-3);
  });

  it('clips the whole update to the norm, keeping its direction, and records norm and clip', () => {
    const d = delta(trained[0]);
    const norm = l2(d);
    const u = federatedUpdate(base, trained[0], { examples: 5, baseHash: BASE_HASH, clipNorm: norm / 4 });
    expect(u.norm).toBeCloseTo(norm, 5);
    expect(u.factor).toBeCloseTo(0.25, 6);
    const dc = delta(u.tensors);
    expect(l2(dc)).toBeCloseTo(norm / 4, 5);
    dc.forEach((v, i) => expect(v).toBeCloseTo(d[i] / 4, 6));
    expect(u.metadata[FEDERATED_KEYS.clip]).toBe(String(norm / 4));
    // A clip above the norm changes nothing.
    const loose = federatedUpdate(base, trained[0], { examples: 5, baseHash: BASE_HASH, clipNorm: norm * 2 });
    expect(loose.factor).toBe(1);
    expect(loose.tensors.map((t) => t.data)).toEqual(trained[0].map((t) => t.data));
  });

  it('refuses an update without a count, from another base, or between different species', () => {
    const u = shipped(federatedUpdate(base, trained[0], { examples: 3, baseHash: BASE_HASH }));
    expect(() => federatedWeights([u], 'c'.repeat(64))).toThrow(/taken from base aaaaaaaaaaaa/);
    expect(() => federatedWeights([{ metadata: {} }], BASE_HASH)).toThrow(/no example count/);
    expect(() => federatedUpdate(base, randomModel(2, 12, 9), { examples: 3, baseHash: BASE_HASH })).toThrow(/fc1.weight/);
    expect(() => federatedUpdate(base, trained[0], { examples: 0, baseHash: BASE_HASH })).toThrow(/examples/);
  });

  it("a federated breed's weights: the updates' counts when the recipe gives none; equal weights kept; others refused", () => {
    const ups = trained.map((t, k) => shipped(federatedUpdate(base, t, { examples: [30, 10][k], baseHash: BASE_HASH })));
    expect(federatedBreedParams({ clip: 2 }, ups, BASE_HASH)).toEqual({
      params: { clip: 2, weights: [30, 10] },
      source: 'counts',
      counts: [30, 10],
    });
    expect(federatedBreedParams({ weights: [30, 10] }, ups, BASE_HASH).source).toBe('recipe');
    expect(() => federatedBreedParams({ weights: [1, 1] }, ups, BASE_HASH)).toThrow(
      /weights \[1,1\] disagree with the updates' example counts \[30,10\]/,
    );
    expect(() => federatedBreedParams({}, ups, 'c'.repeat(64))).toThrow(/update 1 was taken from base/);
    // Parents that are no updates keep the recipe's weights (or the default).
    const plain = trained.map((t) => readSlm(writeSlm(t, { species: 'b'.repeat(64) })));
    expect(federatedBreedParams({ weights: [2, 1] }, plain, BASE_HASH)).toEqual({ params: { weights: [2, 1] }, source: 'recipe' });
    expect(federatedBreedParams({}, plain, BASE_HASH).source).toBe('default');
  });

  it('federatedUpdateFile: the update as a .slm of the base (species, graph, labels) that federatedWeights accepts', () => {
    const [graph, vocabulary] = ['c'.repeat(64), ['x', 'y']];
    const of = { hash: BASE_HASH, species: speciesId(speciesSignature(base, graph, vocabulary)), graph, vocabulary, tensors: base };
    const u = federatedUpdateFile(of, trained[0], { examples: 12, clipNorm: 0.5 });
    const back = readSlm(u.bytes);
    expect(back.hash).toBe(u.hash);
    expect(back.species).toBe(of.species);
    expect(back.metadata).toMatchObject({ 'slm.graph': of.graph, 'slm.vocabulary': JSON.stringify(of.vocabulary) });
    expect(federatedWeights([back], BASE_HASH)).toEqual([12]);
    expect(back.metadata[FEDERATED_KEYS.clip]).toBe('0.5');
    const plain = federatedUpdate(base, trained[0], { examples: 12, baseHash: BASE_HASH, clipNorm: 0.5 });
    expect(u.factor).toBeLessThan(1);
    const byName = (m: readonly Tensor[]) => [...m].sort((a, b) => a.name.localeCompare(b.name));
    expect(flat(byName(back.tensors))).toEqual(flat(byName(plain.tensors)));
  });
});
