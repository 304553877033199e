import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, MNIST_PIXELS } from '../../scripts/starter/mnist.ts';
import { readSlm } from '../../src/core/format/slm.ts';
import { readSuite, suiteRows } from '../../src/core/eval/suite.ts';
import { mlpFromTensors } from '../../src/core/models/mlp.ts';
import { writeTinyDigits } from '../lab-fixture.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
let catalog = '';
const jsonl = (rows: Float32Array[]) => rows.map((x) => JSON.stringify({ features: Array.from(x) })).join('\n');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-distill-'));
  writeTinyDigits(dir);
  catalog = join(dir, 'catalog.json');
  // Training images (the suites are drawn from the test set), at the suites' scale.
  const train = loadMnist('train');
  const rows = Array.from({ length: 300 }, (_, r) =>
    Float32Array.from(train.images.subarray(r * MNIST_PIXELS, (r + 1) * MNIST_PIXELS), (v) => v / 255),
  );
  writeFileSync(join(dir, 'x.jsonl'), jsonl(rows));
  const suite = readSuite(readFileSync(join(dir, 'digits/suites/test.suite')));
  writeFileSync(join(dir, 'leak.jsonl'), jsonl([rows[0], suiteRows(suite, 3, 4)]));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('garden distill', () => {
  it('trains a smaller student of its own species that garden eval scores with the catalog it writes', async () => {
    const out = join(dir, 'student.slm');
    const args = [
      '--teacher',
      join(dir, 'digits/base.slm'),
      '--data',
      join(dir, 'x.jsonl'),
      '--hidden',
      '4',
      '--steps',
      '300',
      '--lr',
      '0.01',
    ];
    const r = await runGarden('distill', ...args, '--out', out, '--catalog', catalog, '--catalog-out', join(dir, 'cat'), '--json');
    expect(r.err).toBe('');
    const res = JSON.parse(r.out) as {
      smaller: number;
      rows: number;
      suitesKeptApart: unknown[];
      lastLoss: number;
      firstLoss: number;
      agreement: number;
    };
    expect(res.rows).toBe(300);
    expect(res.suitesKeptApart).toHaveLength(6);
    expect(res.smaller).toBeCloseTo((784 * 16 + 16 + 170) / (784 * 4 + 4 + 50), 9);
    expect(res.lastLoss).toBeLessThan(res.firstLoss * 0.6);
    // The tiny teacher is weak (600 rows, one epoch) and the student has 4 hidden units; a fresh one agrees on about 10%.
    expect(res.agreement).toBeGreaterThan(0.3);
    const slm = readSlm(readFileSync(out));
    expect(mlpFromTensors(slm.tensors).shape).toEqual({ inputs: 784, hidden: 4, classes: 10 });
    const teacher = readSlm(readFileSync(join(dir, 'digits/base.slm')));
    expect(slm.species).not.toBe(teacher.species);
    const ev = await runGarden('eval', out, '--catalog', join(dir, 'cat/catalog.json'), '--suite', 'digits-test', '--json');
    expect(ev.err).toBe('');
    expect(ev.out).toMatch(/"accuracy"/);
    // Under the teachers' own catalog the student is of no family.
    expect((await runGarden('eval', out, '--catalog', catalog, '--suite', 'digits-test')).err).toMatch(/matches no family/);
    // Same flags, same bytes.
    const again = join(dir, 'again.slm');
    expect((await runGarden('distill', ...args, '--out', again, '--catalog', catalog)).code).toBe(0);
    expect(readFileSync(again)).toEqual(readFileSync(out));
  });

  it('refuses inputs that equal a frozen suite row, and writes nothing', async () => {
    const out = join(dir, 'leak.slm');
    const r = await runGarden(
      'distill',
      '--teacher',
      join(dir, 'digits/base.slm'),
      '--data',
      join(dir, 'leak.jsonl'),
      '--hidden',
      '4',
      '--out',
      out,
      '--catalog',
      catalog,
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/leak\.jsonl row 2 has the same model input as row 4 of frozen suite "digits-test"/);
    expect(existsSync(out)).toBe(false);
  });
});
