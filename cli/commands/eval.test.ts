import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildDigits, DIGITS_TINY } from '../../scripts/starter/digits.ts';
import { hfFolderFiles, tinyCheckpoint } from '../../src/core/models/llama-testing.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readFileSync } from 'node:fs';
import { runGarden } from '../test-run.ts';

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

const garden = runGarden;

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
    const bad = await garden(
      'eval',
      join(dir, 'digits/base.slm'),
      '--suite',
      join(dir, 'digits/suites/test.suite'),
      '--pin',
      'f'.repeat(64),
      '--catalog',
      join(dir, 'catalog.json'),
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/suite hash mismatch/);
    const species = await garden(
      'eval',
      join(dir, 'other.slm'),
      '--suite',
      'digits-test',
      '--family',
      'digits',
      '--catalog',
      join(dir, 'catalog.json'),
    );
    expect(species.code).toBe(1);
    expect(species.err).toMatch(/model species [0-9a-f]{64} is not the expected species/);
    const unknown = await garden('eval', join(dir, 'other.slm'), '--suite', 'digits-test', '--catalog', join(dir, 'catalog.json'));
    expect(unknown.err).toMatch(/matches no family in the catalog/);
  });

  it('--pin pins the one named suite (its baseline keeps its catalog pin) and is refused with "all"', async () => {
    const catalog = join(dir, 'catalog.json');
    const robustHash = sha256Hex(readFileSync(join(dir, 'digits/suites/robust.suite')));
    const one = await garden('eval', join(dir, 'digits/base.slm'), '--suite', 'digits-robust', '--pin', robustHash, '--catalog', catalog);
    expect(one.err).toBe('');
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/digits-test \(baseline of digits-robust\) .*pinned/);
    const all = await garden('eval', join(dir, 'digits/base.slm'), '--suite', 'all', '--pin', robustHash, '--catalog', catalog);
    expect(all.code).toBe(1);
    expect(all.err).toBe(
      'garden eval: --pin pins one suite: name it with --suite ID|FILE (with "all" every suite is checked against its catalog pin)',
    );
  });
});

describe('garden eval: language models (a seeded tiny Llama)', () => {
  let tdir = '';
  beforeAll(async () => {
    tdir = mkdtempSync(join(tmpdir(), 'garden-eval-lm-'));
    mkdirSync(join(tdir, 'hf'));
    for (const [name, bytes] of hfFolderFiles(tinyCheckpoint({ architecture: 'LlamaForCausalLM', scale: 1 })))
      writeFileSync(join(tdir, 'hf', name), bytes);
    const r = await garden('import', join(tdir, 'hf'), '--out', join(tdir, 'lm.slm'));
    expect(r.code, r.err).toBe(0);
    writeFileSync(join(tdir, 'a.txt'), 'the cat and the hat and then the other cat.\nthe end');
  });
  afterAll(() => rmSync(tdir, { recursive: true, force: true }));

  it('scores a frozen text as a language model: perplexity per token, the same from the folder and its .slm', async () => {
    const perplexityOf = async (model: string) => {
      const r = await garden('eval', model, '--text', join(tdir, 'a.txt'), '--json', '--runtime', 'reference');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.out).results as { perplexity: number }[];
    };
    const a = await perplexityOf(join(tdir, 'lm.slm'));
    expect(a).toHaveLength(1);
    expect(a[0].perplexity).toBeGreaterThan(1);
    expect(await perplexityOf(join(tdir, 'hf'))).toEqual(a);
  });

  it('refuses a catalog suite for a language model in one line (no family has its species)', async () => {
    const r = await garden('eval', join(tdir, 'lm.slm'), '--suite', 'all', '--catalog', join(dir, 'catalog.json'));
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^garden eval: model species [0-9a-f]{64} matches no family in the catalog \(digits: /);
  });
});
