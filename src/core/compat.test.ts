import { describe, expect, it } from 'vitest';
import { compatibilityReport, requireCompatible, IncompatibleModelsError, compatReportHash } from './compat.ts';
import { mulberry } from './format/testing.ts';
import type { DType } from './tensor.ts';

type Spec = { name: string; dtype: DType; shape: number[] };

function specs(seed: number, n: number): Spec[] {
  const r = mulberry(seed);
  return Array.from({ length: n }, (_, i) => ({
    name: `t${i}`,
    dtype: 'F32' as DType,
    shape: [1 + Math.floor(r() * 8), 1 + Math.floor(r() * 8)],
  }));
}

describe('compatibility report', () => {
  it('same tensors (any order) and same species: compatible; the verdict is stable under shuffling', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const a = specs(seed, 1 + (seed % 12));
      const b = [...a].reverse();
      const r = compatibilityReport([
        { id: 'a', species: 'f'.repeat(64), tensors: a },
        { id: 'b', species: 'f'.repeat(64), tensors: b },
        { id: 'c', tensors: a },
      ]);
      expect(r).toMatchObject({ compatible: true, sameSpecies: null, tensorCount: a.length });
      expect(requireCompatible(r)).toBe(r);
      expect(compatReportHash(r)).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('every kind of difference is listed and makes the verdict false', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const a = specs(seed, 6);
      const r = mulberry(seed + 100);
      const k = Math.floor(r() * 6);
      const kind = seed % 4;
      const b = a.map((t) => ({ ...t, shape: [...t.shape] }));
      if (kind === 0) b.splice(k, 1);
      if (kind === 1) b.push({ name: 'extra', dtype: 'F32', shape: [1] });
      if (kind === 2) b[k].shape[0] += 1;
      if (kind === 3) b[k].dtype = 'F16';
      const rep = compatibilityReport([
        { id: 'a', tensors: a },
        { id: 'b', tensors: b },
      ]);
      expect(rep.compatible).toBe(false);
      const d = rep.diffs[0];
      expect([d.missing.length, d.extra.length, d.shape.length, d.dtype.length]).toEqual([
        kind === 0 ? 1 : 0,
        kind === 1 ? 1 : 0,
        kind === 2 ? 1 : 0,
        kind === 3 ? 1 : 0,
      ]);
      expect(() => requireCompatible(rep, 'ties')).toThrow(IncompatibleModelsError);
      expect(() => requireCompatible(rep, 'ties')).toThrow(/^ties refuses incompatible parents: b /);
    }
  });

  it('matching tensors with different species (graph or vocabulary) are not compatible', () => {
    const a = specs(7, 4);
    const r = compatibilityReport([
      { id: 'a', species: '1'.repeat(64), tensors: a },
      { id: 'b', species: '2'.repeat(64), tensors: a },
    ]);
    expect(r).toMatchObject({ compatible: false, sameSpecies: false });
    expect(r.reason).toMatch(/species differ/);
    expect(() => compatibilityReport([{ id: 'a', tensors: a }])).toThrow(/two or more/);
  });
});

describe('compatibility manifest', () => {
  it('gives a verdict for every tensor and validates as a compatibility-report manifest', async () => {
    const { makeManifest } = await import('./manifest/index.ts');
    const { compatibilityManifestBody } = await import('./compat.ts');
    const h = (c: string) => c.repeat(64);
    const a = [
      { name: 'w', dtype: 'F32' as const, shape: [2, 2] },
      { name: 'b', dtype: 'F32' as const, shape: [2] },
    ];
    const b = [
      { name: 'w', dtype: 'F16' as const, shape: [2, 2] },
      { name: 'x', dtype: 'F32' as const, shape: [2] },
    ];
    const body = compatibilityManifestBody([
      { id: h('a'), tensors: a },
      { id: h('b'), tensors: b },
    ]);
    expect(body.compatible).toBe(false);
    expect(body.tensors).toEqual([
      { name: 'b', verdict: 'missing' },
      { name: 'w', verdict: 'dtype-mismatch' },
      { name: 'x', verdict: 'missing' },
    ]);
    const m = makeManifest('compatibility-report', body);
    expect(m.kind).toBe('compatibility-report');
    const ok = compatibilityManifestBody([
      { id: h('a'), species: h('c'), tensors: a },
      { id: h('b'), species: h('c'), tensors: a },
    ]);
    expect(ok).toMatchObject({ compatible: true, species: h('c') });
    expect(ok.tensors.every((t) => t.verdict === 'match')).toBe(true);
  });
});
