import { describe, expect, it } from 'vitest';
import { buildDigits, DIGITS_TINY } from './digits.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { readSuite } from '../../src/core/eval/suite.ts';
import { evaluateFamily } from './evaluate-family.ts';

describe('digits starter build', () => {
  it('is deterministic: two builds from scratch give identical file hashes', () => {
    const a = buildDigits(DIGITS_TINY);
    const b = buildDigits(DIGITS_TINY);
    const hashes = (m: Map<string, Uint8Array>) => [...m].map(([k, v]) => [k, sha256Hex(v)]);
    expect(hashes(a.files)).toEqual(hashes(b.files));
    expect(a.entry).toEqual(b.entry);
    // A different seed gives different models (the check above can fail).
    const c = buildDigits({ ...DIGITS_TINY, seed: DIGITS_TINY.seed + 1 });
    expect(sha256Hex(c.files.get('digits/base.slm')!)).not.toBe(sha256Hex(a.files.get('digits/base.slm')!));
  });

  it('writes models of one species and suites that the evaluator reads, and scores them through onnxruntime', async () => {
    const build = buildDigits(DIGITS_TINY);
    const e = build.entry;
    expect(e.models.map((m) => m.id)).toEqual(['digits-base', 'digits-rotated', 'digits-thick', 'digits-noisy']);
    for (const m of e.models) {
      const slm = readSlm(build.files.get(m.file)!);
      expect(slm.species).toBe(e.species);
      expect(slm.hash).toBe(m.hash);
      expect(slm.tensors.map((t) => `${t.name}:${t.dtype}:${t.shape}`)).toEqual([
        'fc1.bias:F32:16',
        'fc1.weight:F32:784,16',
        'fc2.bias:F32:10',
        'fc2.weight:F32:16,10',
      ]);
    }
    for (const s of e.suites) expect(readSuite(build.files.get(s.file)!, s.hash).count).toBe(s.count);
    expect(e.suites.filter((s) => s.primary).map((s) => s.id)).toEqual(['digits-test']);
    const report = await evaluateFamily(e, (p) => build.files.get(p)!);
    expect(report.smoke.every((s) => s.ok)).toBe(true);
    expect(report.rows.length).toBe(e.models.length * e.suites.length);
    // Even a tiny model trained on 600 digits beats chance (10%) on the clean suite.
    const base = report.rows.find((r) => r.model === 'digits-base' && r.suite === 'digits-test')!;
    expect(base.metrics.accuracy).toBeGreaterThan(0.3);
  });
});
