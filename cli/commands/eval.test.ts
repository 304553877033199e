import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildDigits, DIGITS_TINY } from '../../scripts/starter/digits.ts';
import { main } from '../main.ts';

let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-eval-'));
  const build = buildDigits(DIGITS_TINY);
  for (const [rel, bytes] of build.files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), bytes);
  }
  writeFileSync(join(dir, 'catalog.json'), JSON.stringify({ version: 1, families: [build.entry] }));
  // A model of another species (a different hidden size).
  const other = buildDigits({ ...DIGITS_TINY, hidden: 8 });
  writeFileSync(join(dir, 'other.slm'), other.files.get('digits/base.slm')!);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function garden(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    const code = await main(args);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('garden eval', () => {
  it('prints the metric vector of a model on a catalogued suite', async () => {
    const r = await garden('eval', join(dir, 'digits/base.slm'), '--suite', 'digits-test', '--catalog', join(dir, 'catalog.json'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/smoke {2}passed/);
    expect(r.out).toMatch(/digits-test .*pinned; 50 rows.*accuracy 0\.\d+ {2}ece 0\.\d+/);
  });

  it('emits sidecar bodies with --json for every suite of the family', async () => {
    const r = await garden('eval', join(dir, 'digits/thick.slm'), '--suite', 'all', '--json', '--catalog', join(dir, 'catalog.json'));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.results).toHaveLength(6);
    for (const x of j.results) {
      expect(x.sidecar.candidate).toBe(j.model.hash);
      expect(x.sidecar.suite).toBe(x.result.suite.hash);
      expect(x.sidecar.checksum).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('refuses a suite that does not match its pin, and a model of another species', async () => {
    const bad = await garden('eval', join(dir, 'digits/base.slm'), '--suite', join(dir, 'digits/suites/test.suite'), '--pin', 'f'.repeat(64), '--catalog', join(dir, 'catalog.json'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/suite hash mismatch/);
    const species = await garden('eval', join(dir, 'other.slm'), '--suite', 'digits-test', '--family', 'digits', '--catalog', join(dir, 'catalog.json'));
    expect(species.code).toBe(1);
    expect(species.err).toMatch(/model species [0-9a-f]{64} is not the expected species/);
    const unknown = await garden('eval', join(dir, 'other.slm'), '--suite', 'digits-test', '--catalog', join(dir, 'catalog.json'));
    expect(unknown.err).toMatch(/matches no family in the catalog/);
  });
});
