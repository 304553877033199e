import { describe, expect, it } from 'vitest';
import { buildMail, MAIL_TINY } from './mail.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { readSuite } from '../../src/core/eval/suite.ts';
import { evaluateFamily } from './evaluate-family.ts';
import type { FamilyBuild } from './family.ts';

const hashes = (b: FamilyBuild) => [...b.files].map(([k, v]) => [k, sha256Hex(v)]);

async function checkFamily(b: FamilyBuild) {
  const e = b.entry;
  for (const m of e.models) expect(readSlm(b.files.get(m.file)!).species).toBe(e.species);
  for (const s of e.suites) expect(readSuite(b.files.get(s.file)!, s.hash).task).toBe(s.task);
  const report = await evaluateFamily(e, (p) => b.files.get(p)!);
  expect(report.smoke.map((s) => s.message)).toEqual(e.models.map(() => 'passed'));
  expect(report.rows).toHaveLength(e.models.length * e.suites.length);
  return report;
}

describe('mail starter build', () => {
  it('is deterministic and scores through onnxruntime', async () => {
    const a = buildMail(MAIL_TINY);
    expect(hashes(buildMail(MAIL_TINY))).toEqual(hashes(a));
    expect(a.entry.models.map((m) => m.id)).toEqual(['mail-base', 'mail-hard-ham', 'mail-later']);
    const report = await checkFamily(a);
    for (const r of report.rows) expect(r.metrics.perplexity).toBeNull();
    // The robustness suite declares its perturbation and its clean suite; every model's row on it
    // carries the drop, and no other row does.
    const robust = a.entry.suites.find((s) => s.id === 'mail-robust')!;
    expect(robust).toMatchObject({
      baseline: 'mail-test',
      perturbation: 'casing(p=0.25/word: upper|title)+typos(p=0.04/letter: swap|drop)',
    });
    expect(robust.count).toBe(a.entry.suites.find((s) => s.id === 'mail-test')!.count);
    expect(readSuite(a.files.get(robust.file)!).baseline).toBe('mail-test');
    for (const r of report.rows) {
      expect(r.robustness !== undefined).toBe(r.suite === 'mail-robust');
      if (r.robustness)
        expect(r.metrics.accuracyDrop).toBeCloseTo(
          report.rows.find((x) => x.model === r.model && x.suite === 'mail-test')!.metrics.accuracy - r.metrics.accuracy,
          12,
        );
    }
    // The perturbation changes the suite's inputs (so the drop can be non-zero).
    expect(sha256Hex(readSuite(a.files.get(robust.file)!).inputs.data)).not.toBe(
      sha256Hex(readSuite(a.files.get('mail/suites/test.suite')!).inputs.data),
    );
  });
});
