import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../seeded.ts';
import { combineAdapters, mergeTensors } from './combine.ts';
import { loraDeltaOutIn, loraScaling, type Adapter, type LinearSite, type LoraConfig } from './lora.ts';

const SITE: LinearSite = { module: 'fc1', weight: 'fc1.weight', inFeatures: 5, outFeatures: 4, layout: 'in-out' };
const CFG: LoraConfig = {
  r: 2,
  alpha: 4,
  dropout: 0,
  targetModules: ['fc1'],
  modulesToSave: [],
  useRslora: false,
  fanInFanOut: true,
  baseModel: 'b',
  taskType: null,
};

function adapter(seed: number, r = 2, alpha = 4): Adapter {
  const g = mulberry32(seed);
  const f = (n: number) => Float32Array.from({ length: n }, () => g() - 0.5);
  return {
    config: { ...CFG, r, alpha },
    lora: new Map([['fc1', { site: SITE, r, a: f(r * 5), b: f(4 * r) }]]),
    saved: new Map(),
    species: 'x',
  };
}

const delta = (a: Adapter) => loraDeltaOutIn(a.lora.get('fc1')!, loraScaling(a.config, a.lora.get('fc1')!.r));

describe("merge_utils' functions", () => {
  const t1 = Float32Array.from([1, -2, 3]);
  const t2 = Float32Array.from([-1, -1, 1]);
  const o = { name: 't', seed: 1 };
  it('ties (density 1): sign elected by the sum, weighted agreeing values averaged by count', () => {
    expect([...mergeTensors('ties', [t1, t2], [1, 1], { ...o, density: 1 })]).toEqual([1, -1.5, 2]);
  });
  it('ties (density 2/3): top-2 by magnitude per tensor first, ties to the lower index', () => {
    expect([...mergeTensors('ties', [t1, t2], [1, 1], { ...o, density: 2 / 3 })]).toEqual([-1, -1.5, 3]);
  });
  it('ties with the frequency sign method counts signs', () => {
    const a = Float32Array.from([5]);
    const b = Float32Array.from([-1]);
    const c = Float32Array.from([-1]);
    expect([...mergeTensors('ties', [a, b, c], [1, 1, 1], { ...o, density: 1, majoritySignMethod: 'total' })]).toEqual([5]);
    expect([...mergeTensors('ties', [a, b, c], [1, 1, 1], { ...o, density: 1, majoritySignMethod: 'frequency' })]).toEqual([-1]);
  });
  it('magnitude_prune is the weighted sum of the pruned tensors', () => {
    expect([...mergeTensors('magnitude_prune', [t1, t2], [2, 1], { ...o, density: 1 / 3 })]).toEqual([-1, 0, 6]);
  });
  it('dare keeps about density of the elements, each divided by density, and depends on the seed', () => {
    const ones = new Float32Array(4000).fill(1);
    const out = mergeTensors('dare_linear', [ones], [1], { ...o, density: 0.25 });
    const kept = [...out].filter((v) => v !== 0);
    expect(kept.length / 4000).toBeGreaterThan(0.22);
    expect(kept.length / 4000).toBeLessThan(0.28);
    expect(kept.every((v) => v === 4)).toBe(true);
    expect(mergeTensors('dare_linear', [ones], [1], { ...o, density: 0.25 })).toEqual(out);
    expect(mergeTensors('dare_linear', [ones], [1], { ...o, density: 0.25, seed: 2 })).not.toEqual(out);
  });
});

describe('add_weighted_adapter', () => {
  const x = adapter(1);
  const y = adapter(2);

  it('cat: the delta of the result is Σ wᵢ·ΔWᵢ exactly, rank Σ rᵢ, alpha = r', () => {
    const c = combineAdapters([x, y], { combination: 'cat', weights: [0.7, -0.4] });
    expect(c.config.r).toBe(4);
    expect(c.config.alpha).toBe(4);
    const got = delta(c);
    const dx = delta(x);
    const dy = delta(y);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(0.7 * dx[i] - 0.4 * dy[i], 6);
  });

  it('linear: A and B merged separately with sign·√|w·s| and √|w·s|', () => {
    const c = combineAdapters([x, y], { combination: 'linear', weights: [1, -0.5] });
    const s = loraScaling(CFG);
    const px = x.lora.get('fc1')!;
    const py = y.lora.get('fc1')!;
    const pc = c.lora.get('fc1')!;
    expect(pc.a[3]).toBeCloseTo(Math.sqrt(s) * px.a[3] - Math.sqrt(0.5 * s) * py.a[3], 6);
    expect(pc.b[5]).toBeCloseTo(Math.sqrt(s) * px.b[5] + Math.sqrt(0.5 * s) * py.b[5], 6);
  });

  it('svd: at full rank, the delta is Σ wᵢ·sᵢ·BᵢAᵢ (the scaling once, as PEFT 0.21; scripts/reference/peft_parity.py)', () => {
    const c = combineAdapters([x, y], { combination: 'svd', weights: [1, 0.5], svdRank: 4 });
    const got = delta(c);
    const dx = delta(x);
    const dy = delta(y);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(dx[i] + 0.5 * dy[i], 5);
  });

  it('refuses unequal ranks for linear, an unknown type, and mixed species', () => {
    expect(() => combineAdapters([x, adapter(3, 3)], { combination: 'linear', weights: [1, 1] })).toThrow(/same r/);
    expect(combineAdapters([x, adapter(3, 3)], { combination: 'cat', weights: [1, 1] }).config.r).toBe(5);
    expect(() => combineAdapters([x, y], { combination: 'slerp' as never, weights: [1, 1] })).toThrow(/valid: linear, cat, svd/);
    expect(() => combineAdapters([x, { ...y, species: 'z' }], { combination: 'linear', weights: [1, 1] })).toThrow(
      /different base species/,
    );
    expect(() => combineAdapters([x, y], { combination: 'ties', weights: [1, 1] })).toThrow(/needs a density/);
  });
});
