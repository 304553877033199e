/**
 * garden eval on classifier suites with declared groups: each group's accuracy, the worst group's
 * (worstGroupAccuracy, also in the sidecar), and over a family's suites the worst suite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyDigits } from '../lab-fixture.ts';
import { readSuite, writeSuite } from '../../src/core/eval/suite.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-eval-groups-'));
  writeTinyDigits(dir);
  // The mixed suite's rows are rotated, thick, noisy in turn (row % 3): the same rows with those groups declared.
  const mixed = readSuite(readFileSync(join(dir, 'digits/suites/mixed.suite')));
  const groups = ['rotated', 'thick', 'noisy'];
  const bytes = writeSuite(
    { ...mixed, id: 'digits-mixed-grouped', groups },
    { dtype: 'U8', data: mixed.inputs.data, featureSize: mixed.featureSize },
    mixed.labels,
    Uint8Array.from({ length: mixed.count }, (_, i) => i % 3),
  );
  writeFileSync(join(dir, 'grouped.suite'), bytes);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Out {
  results: {
    result: {
      metrics: { accuracy: number; count: number; worstGroupAccuracy?: number };
      groups?: { accuracies: { group: string; count: number; accuracy: number }[]; worst: string };
      suite: { id: string };
    };
    sidecar: { metrics: Record<string, number> };
  }[];
  worstSuite?: { suite: string; accuracy: number; of: string[] };
}

describe('garden eval: worst-group accuracy', () => {
  it('a suite with declared groups: every group, the worst, consistent with the overall accuracy', async () => {
    const model = join(dir, 'digits/base.slm');
    const r = await runGarden('eval', model, '--suite', join(dir, 'grouped.suite'), '--catalog', join(dir, 'catalog.json'), '--json');
    expect(r.code, r.err).toBe(0);
    const res = (JSON.parse(r.out) as Out).results[0];
    const g = res.result.groups!;
    expect(g.accuracies.map((x) => [x.group, x.count])).toEqual([
      ['rotated', 10],
      ['thick', 10],
      ['noisy', 10],
    ]);
    const min = Math.min(...g.accuracies.map((x) => x.accuracy));
    expect(res.result.metrics.worstGroupAccuracy).toBe(min);
    expect(g.accuracies.find((x) => x.group === g.worst)!.accuracy).toBe(min);
    expect(res.sidecar.metrics.worstGroupAccuracy).toBe(min);
    // The groups partition the rows: their count-weighted accuracies are the suite's accuracy.
    const weighted = g.accuracies.reduce((s, x) => s + x.accuracy * x.count, 0) / res.result.metrics.count;
    expect(weighted).toBeCloseTo(res.result.metrics.accuracy, 12);
    const text = await runGarden('eval', model, '--suite', join(dir, 'grouped.suite'), '--catalog', join(dir, 'catalog.json'));
    expect(text.out).toMatch(new RegExp(`worstGroupAccuracy 0\\.\\d+ \\(${g.worst}\\)`));
    expect(text.out).toMatch(/groups: rotated 0?\.?\d.* \(10\), thick .* \(10\), noisy .* \(10\)/);
  }, 30_000);

  it('--suite all: the worst suite among the family’s conditions', async () => {
    const r = await runGarden('eval', join(dir, 'digits/noisy.slm'), '--suite', 'all', '--catalog', join(dir, 'catalog.json'), '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out) as Out;
    const accs = j.results.map((x) => x.result.metrics.accuracy);
    expect(j.worstSuite!.accuracy).toBe(Math.min(...accs));
    expect(j.worstSuite!.suite).toBe(j.results[accs.indexOf(Math.min(...accs))].result.suite.id);
    expect(j.worstSuite!.of).toHaveLength(6);
    // Catalogued suites declare no groups: no worst-group figure is invented for them.
    for (const x of j.results) expect(x.result.metrics.worstGroupAccuracy).toBeUndefined();
  }, 30_000);
});
