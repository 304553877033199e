import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, MNIST_PIXELS } from '../../scripts/starter/mnist.ts';
import { writeCalibration } from '../../src/core/operators/calibration.ts';
import type { SuiteInfo } from '../../src/core/eval/suite.ts';
import { writeTinyDigits } from '../lab-fixture.ts';
import { runGarden } from '../test-run.ts';

let dir = '';
const info: SuiteInfo = {
  id: 'my-cal',
  name: 'my calibration split',
  family: 'digits',
  task: 'classify',
  perturbation: 'none',
  description: '',
  classes: 10,
  scale: 1 / 255,
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'garden-train-calibration-'));
  writeTinyDigits(dir);
  // 20 labelled training images (the suites come from the test set).
  const train = loadMnist('train');
  const image = (r: number) => train.images.subarray(r * MNIST_PIXELS, (r + 1) * MNIST_PIXELS);
  writeFileSync(
    join(dir, 'mine.jsonl'),
    Array.from({ length: 20 }, (_, r) => JSON.stringify({ features: Array.from(image(r), (v) => v / 255), label: train.labels[r] })).join(
      '\n',
    ),
  );
  // Calibration splits in the suite format, declared as such (as garden breed --calibration takes them):
  // one holding image 7 of the training set, one of images 100… that the set does not hold.
  const split = (name: string, rows: number[]) =>
    writeFileSync(
      join(dir, name),
      writeCalibration(
        info,
        { dtype: 'U8', data: Uint8Array.from(rows.flatMap((r) => Array.from(image(r)))), featureSize: MNIST_PIXELS },
        Uint8Array.from(rows.map((r) => train.labels[r])),
      ),
    );
  split('leak.calibration', [100, 7, 101]);
  split('clean.calibration', [100, 101, 102]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(name: string, calibration: string[]): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      base: 'digits/base.slm',
      data: { train: 'mine.jsonl' },
      calibration,
      adapter: { r: 2, lora_alpha: 4, target_modules: ['fc1'] },
      train: { steps: 3, batch: 8, lr: 0.01, seed: 1 },
    }),
  );
  return path;
}

const train = (name: string, calibration: string[], ...extra: string[]) =>
  runGarden(
    'train',
    spec(name, calibration),
    '--out',
    join(dir, `${name}-out`),
    '--catalog',
    join(dir, 'catalog.json'),
    '--root',
    dir,
    ...extra,
  );

describe('garden train: the wall against the calibration split', () => {
  it('refuses a set that holds a row of a calibration split the spec names, with rc 1, one line, and writes nothing', async () => {
    const r = await train('leak', ['clean.calibration', 'leak.calibration']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(
      /mine\.jsonl row 8 has the same model input as row 2 of calibration split "my-cal" \([0-9a-f]{12}…\); training data must be kept apart from the calibration split/,
    );
    expect(existsSync(join(dir, 'leak-out'))).toBe(false);
  });

  it('refuses a file that is not a declared calibration split (a frozen suite)', async () => {
    const r = await train('suite', ['digits/suites/test.suite']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is not a declared calibration split/);
    expect(existsSync(join(dir, 'suite-out'))).toBe(false);
  });

  it('trains on a set kept apart from the split, and the manifest records it', async () => {
    const r = await train('clean', ['clean.calibration']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/data {6}20 rows .*, kept apart from \d+ frozen suites and 1 calibration split/);
    const manifest = JSON.parse(readFileSync(join(dir, 'clean-out', 'garden_training.json'), 'utf8'));
    expect(manifest.calibrationKeptApart).toMatchObject([{ id: 'my-cal', rows: 3 }]);
  });
});
