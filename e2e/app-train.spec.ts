/**
 * Train on your own digits, as a user does it: draw labelled digits (pointer and keyboard), see
 * them as thumbnails with counts, have an out-of-range rank refused at the form, train a LoRA in
 * the training worker with a live loss curve and progress, pause and resume it, cancel it (no
 * candidate), then a full run whose candidate (base + adapter merged) passes the runtime smoke and
 * is evaluated on the pinned suites; the adapter downloads in PEFT's layout and the run's delta as
 * a federated update (plain and clipped) that the federated operator merges; a set holding a row of
 * a calibration split, or of a frozen suite, is refused. No request leaves the app's origin.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { expectAllPassed, SMOKE_CHECKS } from './app-helpers.ts';
import { readSuite, suiteRows } from '../src/core/eval/suite.ts';
import { execFileSync } from 'node:child_process';
import { checkSlmMetadata, readSlm } from '../src/core/format/slm.ts';
import { candidateOperator } from '../src/core/lab/policy.ts';
import { writeCalibration } from '../src/core/operators/calibration.ts';
import { breed } from '../src/core/operators/breed.ts';
import { cpuBackend } from '../src/core/operators/backend.ts';
import { federatedBreedParams, federatedUpdateFile, FEDERATED_KEYS } from '../src/core/train/federated.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

const STROKES: Record<string, [number, number][]> = {
  '1': [
    [0.5, 0.15],
    [0.5, 0.85],
  ],
  '7': [
    [0.25, 0.2],
    [0.75, 0.2],
    [0.45, 0.85],
  ],
  '0': [
    [0.5, 0.15],
    [0.75, 0.3],
    [0.75, 0.7],
    [0.5, 0.85],
    [0.25, 0.7],
    [0.25, 0.3],
    [0.5, 0.15],
  ],
};

/** Draw a polyline on the training pad with the mouse, `jitter` shifting it a little each time. */
async function draw(page: Page, digit: string, jitter: number) {
  const pad = page.getByTestId('train-pad');
  await pad.scrollIntoViewIfNeeded();
  const box = (await pad.boundingBox())!;
  const pts = STROKES[digit].map(([x, y]) => [box.x + (x + jitter) * box.width, box.y + (y - jitter / 2) * box.height] as const);
  await page.mouse.move(...pts[0]);
  await page.mouse.down();
  for (let i = 1; i < pts.length; i++) await page.mouse.move(...pts[i], { steps: 8 });
  await page.mouse.up();
}

async function addDrawn(page: Page, digit: string, jitter: number) {
  await draw(page, digit, jitter);
  await page.getByTestId(`train-label-${digit}`).check();
  await page.getByTestId('add-example').click();
}

/** A "1" drawn with the keyboard alone: focus the pad, pen down, eight steps down, pen up. */
async function addByKeyboard(page: Page, column: number) {
  const pad = page.getByTestId('train-pad');
  await pad.focus();
  for (let i = 0; i < column; i++) await page.keyboard.press('ArrowLeft');
  for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Space');
  for (let i = 0; i < 12; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Space');
  await page.getByTestId('train-label-1').focus();
  await page.keyboard.press('Space');
  await page.getByTestId('add-example').focus();
  await page.keyboard.press('Enter');
}

/**
 * The training set in the page's IndexedDB (`slm-garden-train`), in the order added, after putting
 * `put` into it when given (as a user's own file of digits could hold any input).
 */
async function trainSet(page: Page, put?: { id: string; label: number; input: number[]; at: number }) {
  return page.evaluate(async (put) => {
    const db = await new Promise<IDBDatabase>((ok, no) => {
      const r = indexedDB.open('slm-garden-train');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => no(r.error);
    });
    if (put) {
      const tx = db.transaction('examples', 'readwrite');
      tx.objectStore('examples').put({ ...put, input: Float32Array.from(put.input) });
      await new Promise((ok) => (tx.oncomplete = ok));
    }
    const all = await new Promise<{ at: number; input: Float32Array }[]>((ok) => {
      const q = db.transaction('examples').objectStore('examples').getAll();
      q.onsuccess = () => ok(q.result as { at: number; input: Float32Array }[]);
    });
    db.close();
    return all.sort((a, b) => a.at - b.at).map((e) => ({ at: e.at, input: Array.from(e.input) }));
  }, put ?? null);
}

const progressStep = async (page: Page) =>
  Number(/step (\d+) of/.exec((await page.getByTestId('train-progress-text').textContent()) ?? '')?.[1] ?? -1);

test('train an adapter on drawn digits: curve, pause, cancel, then a candidate through smoke and evaluation', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(300_000);
  // Every request the run makes, by origin: none may leave the app's.
  const origin = new URL(baseURL!).origin;
  const requests: string[] = [];
  context.on('request', (r) => void requests.push(r.url()));
  const offOrigin = () => requests.filter((u) => !/^(data|blob):/.test(u) && new URL(u).origin !== origin);
  const errors: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));

  await page.goto('/');
  await expect(page.getByTestId('train-panel')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('train-panel')).toContainText("on WebGPU's training kernels where the GPU is hardware, else on the CPU");

  // 1. A handful of labelled examples: pointer strokes and two by keyboard.
  for (const [k, j] of [0, 0.04, -0.04].entries()) {
    await addDrawn(page, '1', j + k * 0.01);
    await addDrawn(page, '7', j);
    await addDrawn(page, '0', j);
  }
  await addByKeyboard(page, 0);
  await addByKeyboard(page, 2);
  await expect(page.getByTestId('example-count')).toHaveText('11');
  await expect(page.getByTestId('example-thumb')).toHaveCount(11);
  await expect(page.getByTestId('label-counts')).toContainText('0: 3');
  await expect(page.getByTestId('label-counts')).toContainText('1: 5');
  await expect(page.getByTestId('label-counts')).toContainText('7: 3');
  // Removable: the last one goes, and the set is 10.
  await page.getByRole('button', { name: 'Remove example 11 (label 1)' }).click();
  await expect(page.getByTestId('example-count')).toHaveText('10');
  await page.getByTestId('train-panel').screenshot({ path: `${SHOTS}/train-1-examples.png` });

  // 2. Out of range at the form: refused with the valid range, Train disabled.
  await page.getByTestId('train-r').fill('0');
  await expect(page.getByTestId('train-r-why')).toHaveText('rank r must be an integer in 1…64, got "0"');
  await expect(page.getByTestId('train-button')).toBeDisabled();
  await page.getByTestId('train-r').fill('64');
  await expect(page.getByTestId('train-r-why')).toHaveCount(0);

  // 3. A long run (batch 1, many epochs): live progress and curve, pause, resume, cancel.
  await page.getByTestId('train-epochs').fill('1000');
  await page.getByTestId('train-batch').fill('1');
  await page.getByTestId('train-patience').fill('0');
  // Two clicks in one moment: the second is ignored (one run).
  await page.getByTestId('train-button').evaluate((b: HTMLButtonElement) => {
    b.click();
    b.click();
  });
  await expect(page.getByRole('status').filter({ hasText: 'second click was ignored' })).toBeVisible();
  await expect.poll(() => progressStep(page), { timeout: 60_000 }).toBeGreaterThan(20);
  await expect(page.getByTestId('train-loss-chart')).toBeVisible();
  await page.getByTestId('pause-button').click();
  await expect(page.getByTestId('train-progress-text')).toContainText('paused');
  const at = await progressStep(page);
  await page.waitForTimeout(1500);
  expect(await progressStep(page)).toBe(at);
  await expect(page.getByTestId('train-progress-text')).toContainText(`of 8000`);
  await page.getByTestId('train-panel').screenshot({ path: `${SHOTS}/train-2-paused.png` });
  await page.getByTestId('pause-button').click();
  await expect.poll(() => progressStep(page)).toBeGreaterThan(at);
  await expect(page.getByTestId('train-progress-text')).toContainText('left');
  await page.getByTestId('cancel-training').click();
  await expect(page.getByTestId('train-message')).toContainText('cancelled at step');
  await expect(page.getByTestId('candidate-panel')).toHaveCount(0);
  await expect(page.getByTestId('train-result')).toHaveCount(0);

  // 4. A full run: LoRA r 4 on fc1 and fc2, early stop on validation; the candidate goes through the pipeline.
  await page.getByTestId('train-r').fill('4');
  await page.getByTestId('train-epochs').fill('60');
  await page.getByTestId('train-batch').fill('8');
  await page.getByTestId('train-patience').fill('5');
  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('train-result')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('train-loss-chart')).toBeVisible();
  await expect(page.getByTestId('train-progress-text')).toContainText('validation loss');
  const name = (await page.getByTestId('trained-candidate').textContent())!;
  expect(name).toMatch(/Trained · LoRA r4 α8 on fc1\+fc2/);
  await expect(page.getByTestId('train-validation')).toContainText('On the 2 held-out drawings: accuracy');
  await page.getByTestId('train-panel').screenshot({ path: `${SHOTS}/train-3-done.png` });

  // The adapter in PEFT's layout, as three downloads.
  const names: string[] = [];
  page.on('download', (d) => names.push(d.suggestedFilename()));
  await page.getByTestId('download-adapter').click();
  await expect.poll(() => names.sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'garden_training.json']);

  await expect(page.getByTestId('candidate-name')).toHaveText(name);
  await page.getByTestId('evaluate-button').click();
  await expectAllPassed(page.getByTestId('smoke-checks'), 4, SMOKE_CHECKS);
  await expect(page.getByTestId('candidate-accuracy-mixed')).toContainText('%', { timeout: 120_000 });
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%');
  await page.getByTestId('candidate-panel').scrollIntoViewIfNeeded();
  await page.getByTestId('candidate-panel').screenshot({ path: `${SHOTS}/train-4-evaluated.png` });
  // Its recipe names lora-merge (trainedCandidateSlm), which the app's policy allowlist admits.
  const slm = page.waitForEvent('download');
  await page.getByTestId('download-candidate').click();
  const candidate = readSlm(new Uint8Array(readFileSync((await (await slm).path())!)));
  expect(candidateOperator(candidate.metadata)).toBe('lora-merge');

  // The run's delta as a federated update, plain and clipped: the file garden train --federated-update
  // writes for this run (core federatedUpdateFile on the base and this candidate, byte for byte),
  // which garden inspect reads as the base's species and the federated operator merges by its count.
  const base = readSlm(new Uint8Array(readFileSync('public/starter/digits/base.slm')));
  const info = checkSlmMetadata(base.metadata);
  const of = { hash: base.hash, species: base.species, graph: info.graph, vocabulary: info.vocabulary, tensors: base.tensors };
  const update = async (clip: string) => {
    await page.getByTestId('federated-clip').fill(clip);
    const dl = page.waitForEvent('download');
    await page.getByTestId('download-federated').click();
    const path = (await (await dl).path())!;
    return { path, bytes: new Uint8Array(readFileSync(path)) };
  };
  await page.getByTestId('federated-clip').fill('-1');
  await expect(page.getByTestId('federated-clip-why')).toHaveText('the clip norm must be a positive number, got "-1"');
  await expect(page.getByTestId('download-federated')).toBeDisabled();
  const plain = await update('');
  const clipped = await update('0.01');
  expect(plain.bytes).toEqual(federatedUpdateFile(of, candidate.tensors, { examples: 8 }).bytes);
  expect(clipped.bytes).toEqual(federatedUpdateFile(of, candidate.tensors, { examples: 8, clipNorm: 0.01 }).bytes);
  const [u, uc] = [readSlm(plain.bytes), readSlm(clipped.bytes)];
  expect(Number(uc.metadata[FEDERATED_KEYS.norm])).toBeGreaterThan(0.01);
  expect(uc.metadata[FEDERATED_KEYS.clip]).toBe('0.01');
  expect(execFileSync('node', ['bin/garden.mjs', 'inspect', clipped.path], { encoding: 'utf8' })).toContain(`species: ${base.species}`);
  const fed = federatedBreedParams({}, [u, uc], base.hash);
  expect(fed).toMatchObject({ source: 'counts', counts: [8, 8] });
  const merged = await breed(
    { operator: 'federated', params: fed.params, seed: 0, parents: [base.tensors, u.tensors, uc.tensors] },
    cpuBackend,
  );
  expect(merged.tensors.map((t) => t.name).sort()).toEqual(base.tensors.map((t) => t.name).sort());

  // A new head instead of a LoRA: fc2 retrained whole (modules_to_save); rank, alpha and dropout do not apply.
  await page.getByTestId('train-mode-head').check();
  await expect(page.getByTestId('train-r')).toHaveCount(0);
  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('trained-candidate')).toContainText('new head (fc2, modules_to_save)', { timeout: 120_000 });
  await expect(page.getByTestId('candidate-name')).toContainText('new head');

  // 4b. The wall against a calibration split too: a file that is not a declared split (a frozen
  // suite) is not taken; a declared split holding one of the user's drawings refuses the set, naming the
  // split; forgotten again, the set trains as before.
  const drawn = (await trainSet(page)).map((e) => e.input);
  // The first drawing no other example equals (centring makes some strokes the same input).
  const key = drawn.map((r) => r.join());
  const first = key.findIndex((k) => key.indexOf(k) === key.lastIndexOf(k));
  const mine = { at: first + 1, input: drawn[first] };
  const calibrationInfo = { id: 'my-cal', name: 'my calibration split', family: 'digits', task: 'classify' as const };
  const split = writeCalibration(
    { ...calibrationInfo, perturbation: 'none', description: '', classes: 10, scale: 1 },
    { dtype: 'F32', data: Float32Array.from([...new Array<number>(784).fill(0.5), ...mine.input]), featureSize: 784 },
    Uint8Array.from([0, 1]),
  );
  const pick = page.getByTestId('train-calibration-file');
  await pick.setInputFiles({
    name: 'test.suite',
    mimeType: 'application/octet-stream',
    buffer: readFileSync('public/starter/digits/suites/test.suite'),
  });
  await expect(
    page.getByText(/Not kept as a calibration split: test.suite \("digits-test"\) is not a declared calibration split/),
  ).toBeVisible();
  await expect(page.getByTestId('train-calibration-kept')).toHaveCount(0);
  await pick.setInputFiles({ name: 'mine.calibration', mimeType: 'application/octet-stream', buffer: Buffer.from(split) });
  await expect(page.getByTestId('train-calibration-kept')).toContainText(
    'kept apart from calibration split “my-cal” (2 rows, mine.calibration)',
  );
  const before = await page.locator('[data-testid^="model-"]').count();
  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('train-message')).toContainText(
    /Training failed: drawn digits \((training|validation)\) row \d+ has the same model input as row 2 of calibration split "my-cal" \([0-9a-f]{12}…\); training data must be kept apart from the calibration split/,
  );
  expect(mine.at).toBeGreaterThan(0);
  await expect(page.getByTestId('train-message')).toContainText(`That is example ${mine.at} of your set (marked)`);
  await expect(page.getByLabel(new RegExp(`^example ${mine.at}, label`))).toHaveClass(/refused/);
  await expect(page.locator('[data-testid^="model-"]')).toHaveCount(before);
  await page.getByTestId('train-message').scrollIntoViewIfNeeded();
  await page.getByTestId('train-panel').screenshot({ path: `${SHOTS}/train-6-calibration-refused.png` });
  await page.getByRole('button', { name: 'Forget the calibration split' }).click();
  await expect(page.getByTestId('train-calibration-kept')).toHaveCount(0);

  // 5. The wall: a digit of a frozen suite put into the set (as a user's own file of digits could
  // hold one) makes the whole set refused, naming the suite; nothing is trained.
  const suite = readSuite(new Uint8Array(readFileSync('public/starter/digits/suites/test.suite')));
  const row = Array.from(suiteRows(suite, 7, 8));
  await trainSet(page, { id: 'from-a-suite', label: suite.labels[7], input: row, at: Date.now() });
  await page.reload();
  await expect(page.getByTestId('example-count')).toHaveText('11', { timeout: 60_000 });
  const models = await page.locator('[data-testid^="model-"]').count();
  await page.getByTestId('train-button').click();
  await expect(page.getByTestId('train-message')).toContainText(
    /Training failed: drawn digits \((training|validation)\) row \d+ has the same model input as row 8 of frozen suite "digits-test"/,
  );
  await expect(page.getByTestId('train-message')).toContainText('That is example 11 of your set (marked)');
  await expect(page.getByLabel('example 11, label', { exact: false })).toHaveClass(/refused/);
  await expect(page.getByTestId('train-progress')).toHaveCount(0);
  await expect(page.locator('[data-testid^="model-"]')).toHaveCount(models);
  await page.getByTestId('train-message').scrollIntoViewIfNeeded();
  await page.getByTestId('train-panel').screenshot({ path: `${SHOTS}/train-5-refused.png` });

  expect(requests.length).toBeGreaterThan(10);
  expect(offOrigin(), `requests that left ${origin}`).toEqual([]);
  expect(errors).toEqual([]);
});
