/**
 * Inference on onnxruntime's WebGPU execution provider (SwiftShader here): a bred candidate passes
 * its runtime smoke and is scored with every session on WebGPU, the champion answers a routed
 * request there, and on wasm the same candidate scores the same and the same request gets the
 * same label. The status bar's "ran on" chip says which provider onnxruntime actually ran the last
 * model on (it drops WebGPU silently when its backend cannot start), and the test checks it.
 */
import { test, expect, type Page } from '@playwright/test';
import { ask, expectAllPassed, SMOKE_CHECKS } from './app-helpers.ts';

const ranOn = (page: Page) => page.getByTestId('inference-ran-on');

test('models also run on the WebGPU execution provider', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await expect(page.getByTestId('backend-chip')).toContainText('WebGPU');
  // The parent pool was scored on the default provider, wasm.
  await expect(ranOn(page)).toHaveAttribute('data-ep', 'wasm');
  await page.getByTestId('inference-select').selectOption('webgpu');
  // Breed and evaluate a candidate with every session on the WebGPU execution provider.
  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel('Select Digits noisy specialist').check();
  await page.getByTestId('breed-button').click();
  // Evaluate only once the breed has finished (a click during the breed raced it on a cold start).
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%', { timeout: 120_000 });
  await expectAllPassed(page.getByTestId('smoke-checks'), SMOKE_CHECKS.length, SMOKE_CHECKS);
  await expect(ranOn(page)).toHaveAttribute('data-ep', 'webgpu');
  const gpuAcc = await page.getByTestId('candidate-accuracy-clean').innerText();

  // A routed request: the champion answers it on WebGPU.
  await ask(page);
  await expect(page.getByTestId('answered-by')).toHaveText('Digits base', { timeout: 60_000 });
  await expect(ranOn(page)).toHaveAttribute('data-ep', 'webgpu');
  const gpuLabel = await page.getByTestId('answer-label').innerText();

  // The same model scored on wasm gives the same accuracy (argmax agrees on the suite), and the
  // same request gets the same label.
  await page.getByTestId('inference-select').selectOption('wasm');
  await page.reload();
  await expect(page.locator('[data-testid^="model-candidate-"] dd').nth(1)).toHaveText(gpuAcc, { timeout: 90_000 });
  await expect(ranOn(page)).toHaveAttribute('data-ep', 'wasm');
  await ask(page);
  await expect(page.getByTestId('answered-by')).toHaveText('Digits base', { timeout: 60_000 });
  await expect(page.getByTestId('answer-label')).toHaveText(gpuLabel);
  await expect(ranOn(page)).toHaveAttribute('data-ep', 'wasm');
  await page.screenshot({ path: 'e2e/screenshots/webgpu-ep.png', fullPage: true });
  expect(errors).toEqual([]);
});
