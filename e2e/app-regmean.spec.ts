/**
 * The data-informed merges in the app: RegMean needs a calibration split (the breed button says so
 * until one is picked); a split sharing a row with a frozen suite is refused in one line and
 * nothing is bred; a declared split of MNIST training digits (rows no suite holds) gives a
 * candidate whose receipt names the split and the Grams' conditioning, byte for byte the file
 * `garden breed --calibration` writes in Node from the same split.
 */
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCalibration } from '../src/core/operators/calibration.ts';
import { readSuite } from '../src/core/eval/suite.ts';
import { loadMnist, MNIST_PIXELS } from '../scripts/starter/mnist.ts';

const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');
const ROWS = 200;
const info = (id: string) => ({
  id,
  name: id,
  family: 'digits',
  task: 'classify' as const,
  perturbation: 'none',
  description: 'e2e calibration split',
  classes: 10,
  scale: 1 / 255,
});

/** The last ROWS MNIST training digits (the starter trains on the head of a permutation; the suites come from the test set). */
function trainingTail(): { bytes: Uint8Array; labels: Uint8Array } {
  const train = loadMnist('train');
  const from = train.count - ROWS;
  return {
    bytes: train.images.slice(from * MNIST_PIXELS, train.count * MNIST_PIXELS),
    labels: train.labels.slice(from, train.count),
  };
}

test('RegMean in the app fits on a declared calibration split and writes the bytes garden breed writes', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'garden-regmean-'));
  const tail = trainingTail();
  const split = writeCalibration(info('mnist-train-tail'), { dtype: 'U8', data: tail.bytes, featureSize: MNIST_PIXELS }, tail.labels);
  const splitPath = join(dir, 'tail.calibration');
  writeFileSync(splitPath, split);
  // The same rows with the first row of the frozen mixed suite in the middle.
  const mixed = readSuite(readFileSync('public/starter/digits/suites/mixed.suite'));
  expect(mixed.inputs.dtype).toBe('U8');
  const leaked = new Uint8Array(tail.bytes);
  leaked.set((mixed.inputs.data as Uint8Array).subarray(0, MNIST_PIXELS), 7 * MNIST_PIXELS);
  const leakedSplit = writeCalibration(info('leaky'), { dtype: 'U8', data: leaked, featureSize: MNIST_PIXELS }, tail.labels);

  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await page.getByTestId('operator-select').selectOption('regmean');
  for (const name of ['Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await page.getByLabel(`Select ${name}`).check();
  await page.getByTestId('param-alpha').fill('0.9');
  await page.getByTestId('seed').fill('3');
  // No split yet: the button says what is missing.
  await expect(page.getByTestId('breed-button')).toBeDisabled();
  await expect(page.getByTestId('calibration-hint')).toHaveText('RegMean needs a calibration split: pick one above.');

  // A split that shares a row with a frozen suite: refused in one line, nothing bred.
  const candidates = async () => page.locator('[data-testid^="model-candidate-"]').count();
  const before = await candidates();
  await page
    .getByTestId('breed-calibration-file')
    .setInputFiles({ name: 'leaky.calibration', mimeType: 'application/octet-stream', buffer: Buffer.from(leakedSplit) });
  await expect(page.getByTestId('breed-calibration-kept')).toContainText('fits on calibration split “leaky” (200 rows, leaky.calibration)');
  await page.getByTestId('breed-button').click();
  await expect(
    page.getByText(
      /Breeding failed: calibration split "leaky" shares 1 of 200 rows with frozen evaluation suites \(first: its row 7 is row 0 of "digits-mixed"\)/,
    ),
  ).toBeVisible({
    timeout: 60_000,
  });
  expect(await candidates()).toBe(before);

  // A clean split: the candidate, with the split and the Grams' conditioning in its receipt.
  await page.getByTestId('breed-calibration-file').setInputFiles(splitPath);
  await expect(page.getByTestId('breed-calibration-kept')).toContainText('fits on calibration split “mnist-train-tail” (200 rows');
  await page.getByTestId('breed-button').click();
  const line = page.getByTestId('receipt-calibration');
  await expect(line).toContainText('Gram matrices from 200 rows of calibration split “mnist-train-tail”', { timeout: 120_000 });
  await expect(line).toContainText(/fc1\.weight: κ \d\.\de[+-]\d+/);
  await expect(line).toContainText(/fc2\.weight: κ \d\.\de[+-]\d+/);
  await page.getByTestId('receipt').scrollIntoViewIfNeeded();
  await page.screenshot({ path: 'e2e/screenshots/app-regmean.png', fullPage: false });

  const download = page.waitForEvent('download');
  await page.getByTestId('download-candidate').click();
  const appHash = sha256(readFileSync(await (await download).path()));

  for (const m of ['rotated', 'thick', 'noisy']) copyFileSync(`public/starter/digits/${m}.slm`, join(dir, `${m}.slm`));
  const recipe = {
    kind: 'recipe',
    schemaVersion: 1,
    operator: 'regmean',
    params: { alpha: 0.9 },
    seed: 3,
    parents: ['rotated', 'thick', 'noisy'].map((m) => ({ path: `${m}.slm` })),
    output: { path: 'regmean.slm' },
  };
  writeFileSync(join(dir, 'recipe.json'), JSON.stringify(recipe));
  const out = join(dir, 'cli.slm');
  execFileSync('node', ['bin/garden.mjs', 'breed', join(dir, 'recipe.json'), '--out', out, '--root', dir, '--calibration', splitPath], {
    stdio: 'pipe',
  });
  expect(appHash).toBe(sha256(readFileSync(out)));
});
