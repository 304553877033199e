import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runGarden } from '../test-run.ts';
import { writeCalibration } from '../../src/core/operators/calibration.ts';
import { readSuite, type SuiteInfo } from '../../src/core/eval/suite.ts';
import { DEFAULT_CATALOG } from '../../src/node/catalog.ts';

const dir = mkdtempSync(join(tmpdir(), 'garden-calibration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const starter = resolve(DEFAULT_CATALOG, '..');
const info: SuiteInfo = {
  id: 'cal',
  name: 'cal',
  family: 'digits',
  task: 'classify',
  perturbation: 'none',
  description: '',
  classes: 10,
  scale: 1 / 255,
};

function split(name: string, data: Uint8Array, labels: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, writeCalibration(info, { dtype: 'U8', data, featureSize: 784 }, labels));
  return path;
}
function recipe(operator: string): string {
  const path = join(dir, `${operator}.json`);
  const parents = ['rotated', 'thick'].map((m) => ({ path: join(starter, 'digits', `${m}.slm`) }));
  writeFileSync(path, JSON.stringify({ kind: 'recipe', schemaVersion: 1, operator, params: {}, seed: 3, parents, output: {} }));
  return path;
}

describe('garden breed --calibration', () => {
  // 12 seeded digit-sized rows that are no frozen suite's rows.
  const rows = Uint8Array.from({ length: 12 * 784 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 24) & 0xff);
  const labels = Uint8Array.from({ length: 12 }, (_, i) => i % 10);

  it('breeds regmean and fisher from a declared split; the receipt carries the conditioning and the Fisher means', async () => {
    const cal = split('ok.calibration', rows, labels);
    const rm = join(dir, 'rm.slm');
    const r = await runGarden('breed', recipe('regmean'), '--out', rm, '--root', '/', '--json', '--threads', '0', '--calibration', cal);
    expect(r.err).toBe('');
    const summary = JSON.parse(r.out);
    expect(summary.stats.find((s: { name: string }) => s.name === 'fc1.weight').conditionNumber).toBeGreaterThan(1);
    expect(existsSync(rm)).toBe(true);
    const f = await runGarden(
      'breed',
      recipe('fisher'),
      '--out',
      join(dir, 'f.slm'),
      '--root',
      '/',
      '--json',
      '--threads',
      '0',
      '--calibration',
      cal,
      '--calibration',
      cal,
    );
    expect(f.err).toBe('');
    expect(JSON.parse(f.out).stats.find((s: { name: string }) => s.name === 'fc2.bias').fisherMean).toHaveLength(2);
  });

  it('refuses a split that shares a row with a frozen suite, a frozen suite itself, and a missing split; nothing is written', async () => {
    const mixed = readSuite(readFileSync(join(starter, 'digits', 'suites', 'mixed.suite')));
    const leak = Uint8Array.from(rows);
    leak.set(mixed.inputs.data.subarray(5 * 784, 6 * 784), 3 * 784);
    const out = join(dir, 'refused.slm');
    const a = await runGarden(
      'breed',
      recipe('regmean'),
      '--out',
      out,
      '--root',
      '/',
      '--calibration',
      split('leak.calibration', leak, labels),
    );
    expect(a.code).not.toBe(0);
    expect(a.err).toMatch(/shares 1 of 12 rows .*its row 3 is row 5 of "digits-mixed"/);
    const b = await runGarden(
      'breed',
      recipe('regmean'),
      '--out',
      out,
      '--root',
      '/',
      '--calibration',
      join(starter, 'digits', 'suites', 'test.suite'),
    );
    expect(b.err).toMatch(/not a declared calibration split/);
    const c = await runGarden('breed', recipe('fisher'), '--out', out, '--root', '/');
    expect(c.err).toMatch(/fisher needs --calibration FILE/);
    expect(existsSync(out)).toBe(false);
  });
});
