import { describe, expect, it } from 'vitest';
import { mlpToTensors } from '../models/mlp.ts';
import { mulberry32 } from '../seeded.ts';
import { toFloat32 } from '../tensor.ts';
import { extractLora } from './extract.ts';
import { mergeAdapter } from './lora.ts';
import { mlpSites } from './mlp.ts';

function mlp(seed: number) {
  const g = mulberry32(seed);
  const f = (n: number) => Float32Array.from({ length: n }, () => g() - 0.5);
  return { shape: { inputs: 8, hidden: 6, classes: 3 }, w1: f(48), b1: f(6), w2: f(18), b2: f(3) };
}

describe('extract a LoRA from a fine-tune (mergekit-extract-lora)', () => {
  const p = mlp(1);
  const base = mlpToTensors(p);
  // The fine-tune: fc1 moved by a rank-2 delta u₁v₁ᵀ·3 + u₂v₂ᵀ·1 ([in, out] layout), fc2 by a dense one, b2 too.
  const g = mulberry32(9);
  const u = [Float32Array.from({ length: 8 }, () => g() - 0.5), Float32Array.from({ length: 8 }, () => g() - 0.5)];
  const v = [Float32Array.from({ length: 6 }, () => g() - 0.5), Float32Array.from({ length: 6 }, () => g() - 0.5)];
  const w1 = p.w1.slice();
  for (let i = 0; i < 8; i++) for (let o = 0; o < 6; o++) w1[i * 6 + o] += 3 * u[0][i] * v[0][o] + u[1][i] * v[1][o];
  const w2 = p.w2.map((x) => x + (g() - 0.5) * 0.1);
  const fine = mlpToTensors({ ...p, w1, w2, b2: p.b2.map((x) => x + 0.01) });
  const sites = mlpSites(base);

  it('at rank 2 the rank-2 delta comes back whole; merging gives the fine-tune', () => {
    const { adapter, report } = extractLora(base, fine, sites, { maxRank: 2, targetModules: ['fc1'] });
    expect(report.modules).toHaveLength(1);
    expect(report.modules[0].relativeError).toBeLessThan(1e-6);
    expect(adapter.config).toMatchObject({ r: 2, alpha: 2, fanInFanOut: true, targetModules: ['fc1'] });
    const merged = toFloat32(mergeAdapter(base, adapter)[0]);
    for (let i = 0; i < w1.length; i++) expect(merged[i]).toBeCloseTo(w1[i], 5);
    // fc2 and b2 changed and were not extracted: listed.
    expect(report.notCarried).toEqual(['fc2.weight', 'fc2.bias']);
  });

  it('at rank 1 the error left is the share of the dropped singular value; smaller ranks are zero-padded', () => {
    const { adapter, report } = extractLora(base, fine, sites, { maxRank: 1 });
    const fc1 = report.modules.find((m) => m.module === 'fc1')!;
    expect(fc1.rank).toBe(1);
    expect(fc1.relativeError).toBeGreaterThan(0.05);
    expect(fc1.relativeError).toBeLessThan(0.6);
    const merged = toFloat32(mergeAdapter(base, adapter)[0]);
    let res = 0;
    let all = 0;
    const w0 = p.w1;
    for (let i = 0; i < w1.length; i++) {
      res += (w1[i] - merged[i]) ** 2;
      all += (w1[i] - w0[i]) ** 2;
    }
    expect(Math.sqrt(res / all)).toBeCloseTo(fc1.relativeError, 4);
    const big = extractLora(base, fine, sites, { maxRank: 4 });
    expect(big.adapter.config.r).toBe(4);
    expect(big.report.modules.find((m) => m.module === 'fc2')!.rank).toBe(3);
    expect(big.adapter.lora.get('fc2')!.a.length).toBe(4 * 6);
  });

  it('--save-module keeps a module at full rank, bias included', () => {
    const { adapter, report } = extractLora(base, fine, sites, { maxRank: 2, targetModules: ['fc1'], modulesToSave: ['fc2'] });
    expect([...adapter.saved.keys()]).toEqual(['fc2.weight', 'fc2.bias']);
    expect(report.notCarried).toEqual([]);
  });
});
