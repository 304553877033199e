/**
 * Text LoRA training in the language-model lab: the starter base stored; a form value out of
 * range refused at the form; a text that shares a window with a frozen suite text refused; then a
 * few KB of one author (Franklin D. Roosevelt's 1935 State of the Union, from
 * examples/train/writing-lm, which no starter suite holds) pasted and trained: the live loss
 * curve (train and validation) and progress with ETA, Pause and Resume, a Cancel that keeps
 * nothing, then a full short run whose candidate (operator lora-merge) joins the pool with a
 * lower perplexity than the base on held-out text of the same author (his 1940 address) and is
 * evaluated by the lab on its suites. No request leaves the origin.
 */
import { test, expect } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchOrigin } from './fault-helpers.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });
const LM = 'public/starter/lm';
const DATA = 'examples/train/writing-lm';
const env = (k: string, d: string) => process.env[k] ?? d;
const TRAIN_CHARS = Number(env('LM_TRAIN_CHARS', '12000'));
const HELD_CHARS = Number(env('LM_HELD_CHARS', '6000'));

test('a LoRA trained on pasted text of one author: live curve, pause, cancel, a candidate with lower held-out perplexity', async ({
  page,
  context,
  baseURL,
}) => {
  test.setTimeout(240_000);
  const off = watchOrigin(context, new URL(baseURL!).origin);
  const author = readFileSync(join(DATA, 'train.txt'), 'utf8').slice(0, TRAIN_CHARS);
  // Held out: the end of the same address (never pasted), or with LM_HELD=1940 his 1940 address.
  const heldOut =
    env('LM_HELD', 'tail') === 'tail'
      ? readFileSync(join(DATA, 'train.txt'), 'utf8').slice(-HELD_CHARS)
      : readFileSync(join(DATA, 'heldout.txt'), 'utf8').slice(0, HELD_CHARS);
  expect(TRAIN_CHARS + HELD_CHARS).toBeLessThanOrEqual(readFileSync(join(DATA, 'train.txt'), 'utf8').length);
  const suite = readFileSync(join(LM, 'suites', 'sotu.txt'), 'utf8').slice(2000, 2400);

  await page.goto('/');
  await expect(page.getByTestId('family-slot')).toContainText('Family digits', { timeout: 60_000 });
  await page.getByTestId('family-switch').selectOption('lm');
  await expect(page.getByTestId('family-slot')).toContainText('Family lm', { timeout: 60_000 });
  await page.getByTestId('text-pick-folder').setInputFiles(join(LM, 'base'));
  await expect(page.getByTestId('text-arch')).toHaveText('LlamaForCausalLM');
  await page.getByTestId('text-store').click();
  await expect(page.getByTestId('text-import-message')).toContainText('base is stored');
  const panel = page.getByTestId('lm-train');
  await expect(panel).toBeVisible({ timeout: 30_000 });

  // Refused at the form, not clamped: a learning rate out of range disables Train and says why.
  await panel.getByTestId('lm-train-text').fill(author);
  await panel.getByTestId('lm-train-lr').fill('5');
  await expect(panel.getByTestId('lm-train-lr-why')).toContainText('learning rate must be a number in 0.00001…0.1, got "5"');
  await expect(panel.getByTestId('lm-train-run')).toBeDisabled();
  await panel.getByTestId('lm-train-lr').fill(env('LM_LR', '0.015'));

  // A text sharing a 64-byte window with a frozen suite text is refused before any step.
  await panel.getByTestId('lm-train-text').fill(`${author.slice(0, 1000)}\n${suite}`);
  await panel.getByTestId('lm-train-run').click();
  await expect(panel.getByTestId('lm-train-message')).toContainText('with suite text suites/sotu.txt', { timeout: 30_000 });
  await expect(panel.getByTestId('lm-train-message')).toContainText('Nothing was stored');

  // The author's text alone; a held-out text that repeats part of it is refused before any step.
  await panel.getByTestId('lm-train-text').fill(author);
  await panel.getByTestId('lm-train-heldout').fill(author.slice(0, 2000));
  await panel.getByTestId('lm-train-run').click();
  await expect(panel.getByTestId('lm-train-message')).toContainText('the held-out text shares a 64-byte stretch with the training text', {
    timeout: 30_000,
  });
  await panel.getByTestId('lm-train-heldout').fill(heldOut);
  // Settings for a short run.
  for (const [k, v] of Object.entries({
    steps: env('LM_STEPS', '60'),
    batch: env('LM_BATCH', '4'),
    seqLen: env('LM_SEQ', '64'),
    evalEvery: env('LM_EVAL', '15'),
    r: env('LM_R', '8'),
    alpha: env('LM_ALPHA', '16'),
  }))
    await panel.getByTestId(`lm-train-${k}`).fill(v);

  // Cancel keeps nothing: the pool still holds the base alone.
  await panel.getByTestId('lm-train-run').click();
  await expect(panel.getByTestId('lm-train-progress-text')).toContainText(/step [1-9]/, { timeout: 30_000 });
  await panel.getByTestId('lm-train-cancel').click();
  await expect(panel.getByTestId('lm-train-message')).toContainText('cancelled at step', { timeout: 30_000 });
  await expect(panel.getByTestId('lm-train-message')).toContainText('nothing was kept');

  // The real run: the curve grows, Pause holds it, Resume goes on.
  const t0 = Date.now();
  await panel.getByTestId('lm-train-run').click();
  await expect(panel.getByTestId('lm-train-chart')).toBeVisible({ timeout: 30_000 });
  await expect(panel.getByTestId('lm-train-progress-text')).toContainText(/left/, { timeout: 30_000 });
  await panel.getByTestId('lm-train-pause').click();
  await expect(panel.getByTestId('lm-train-progress-text')).toContainText('paused');
  // Switching family reloads the page: not while a run (paused or not) holds its work.
  await expect(page.getByTestId('family-switch')).toBeDisabled();
  await expect(page.getByTestId('family-switch-why')).toContainText('training in progress');
  const held = await panel.getByTestId('lm-train-progress-text').textContent();
  await page.waitForTimeout(1500);
  expect(await panel.getByTestId('lm-train-progress-text').textContent()).toBe(held);
  await panel.getByTestId('lm-train-pause').click();
  await expect(panel.getByTestId('lm-train-progress-text')).toContainText('validation loss', { timeout: 60_000 });
  await panel.screenshot({ path: `${SHOTS}/app-train-lm-running.png` });

  const result = panel.getByTestId('lm-train-result');
  await expect(result).toBeVisible({ timeout: 180_000 });
  const trainMs = Date.now() - t0;
  await panel.screenshot({ path: `${SHOTS}/app-train-lm-done.png` });
  const h = panel.getByTestId('lm-train-heldout-result');
  const base = Number(await h.getAttribute('data-base'));
  const cand = Number(await h.getAttribute('data-candidate'));
  console.log(
    `held-out perplexity base ${base.toFixed(3)} → candidate ${cand.toFixed(3)}; ${await result.textContent()}; run ${(trainMs / 1000).toFixed(1)} s`,
  );
  expect(cand).toBeLessThan(base);

  // The candidate is in the pool, recorded as lora-merge, and the lab evaluates it on its suites.
  await expect(page.getByTestId('lm-pool-row')).toHaveCount(2);
  await expect(page.getByTestId('lm-lineage')).toContainText('lora-merge@1.0.0');
  await page.getByTestId('lm-evaluate').click();
  await expect(page.getByTestId('lm-verdict')).toHaveAttribute('data-viable', /true|false/, { timeout: 120_000 });
  await expect(page.getByTestId('lm-smoke')).toContainText('passed');
  // Its documents (lineage template, operator receipt, candidate manifest) are stored with it and check out.
  await expect(page.getByTestId('lm-breed-docs')).toHaveAttribute('data-ok', 'true');
  await page.getByTestId('lm-lab').screenshot({ path: `${SHOTS}/app-train-lm-evaluated.png` });
  expect(off).toEqual([]);
});
