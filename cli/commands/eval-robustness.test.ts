import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildDigits, DIGITS_TINY } from '../../scripts/starter/digits.ts';
import { main } from '../main.ts';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-eval-robust-'));
  const build = buildDigits(DIGITS_TINY);
  for (const [rel, bytes] of build.files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 1, families: [build.entry] }));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function garden(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('garden eval: robustness', () => {
  it('scores a robustness suite beside its baseline and prints the drop', async () => {
    const r = await garden('eval', join(dir, 'digits/base.slm'), '--suite', 'digits-robust', '--catalog', join(dir, 'catalog.json'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/digits-robust .*perturbation noise\(σ=0\.15\)\+shift\(±3px\)\]/);
    expect(r.out).toMatch(/robustness vs digits-test: accuracy 0\.\d+ → 0\.\d+ \(accuracyDrop -?0\.\d+\) {2}nllIncrease -?\d/);
    expect(r.out).toMatch(/digits-test \(baseline of digits-robust\) .*pinned/);
  });

  it('puts accuracyDrop and nllIncrease in the metric vector and sidecar of the robustness suite only', async () => {
    const r = await garden('eval', join(dir, 'digits/noisy.slm'), '--suite', 'all', '--json', '--catalog', join(dir, 'catalog.json'));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const byId = new Map<
      string,
      {
        result: { metrics: Record<string, number>; robustness?: { baseline: { id: string } } };
        sidecar: { metrics: Record<string, number> };
      }
    >(j.results.map((x: { result: { suite: { id: string } } }) => [x.result.suite.id, x]));
    expect(byId.size).toBe(6);
    const robust = byId.get('digits-robust')!;
    const test = byId.get('digits-test')!;
    expect(robust.result.robustness!.baseline.id).toBe('digits-test');
    expect(robust.result.metrics.accuracyDrop).toBeCloseTo(test.result.metrics.accuracy - robust.result.metrics.accuracy, 12);
    expect(robust.sidecar.metrics.accuracyDrop).toBe(robust.result.metrics.accuracyDrop);
    expect(robust.sidecar.metrics.nllIncrease).toBe(robust.result.metrics.nllIncrease);
    for (const [id, x] of byId) if (id !== 'digits-robust') expect(x.result.metrics.accuracyDrop).toBeUndefined();
  });
});
