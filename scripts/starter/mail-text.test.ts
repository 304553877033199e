import { describe, expect, it } from 'vitest';
import { buildMail, MAIL_TINY } from './mail.ts';
import { buildText, TEXT_TINY } from './text.ts';
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
  });
});

describe('text starter build', () => {
  it('is deterministic, has lm suites, and reports perplexity through onnxruntime', async () => {
    const a = await buildText(TEXT_TINY);
    const b = await buildText(TEXT_TINY);
    expect(hashes(b)).toEqual(hashes(a));
    expect(b.notes).toEqual(a.notes);
    expect(a.entry.input.kind).toBe('tokens');
    const report = await checkFamily(a);
    for (const r of report.rows) {
      expect(r.metrics.perplexity).toBeGreaterThan(1);
      // A model that learned anything is better than uniform over the character set.
      expect(r.metrics.perplexity!).toBeLessThan(a.entry.output.labels.length);
    }
  });
});
