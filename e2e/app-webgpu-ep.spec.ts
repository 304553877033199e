/**
 * Inference on onnxruntime's WebGPU execution provider (SwiftShader here): a starter model passes
 * its runtime smoke and answers a routed request with the same label as on wasm.
 */
import { test, expect } from '@playwright/test';

test('models also run on the WebGPU execution provider', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await expect(page.getByTestId('backend-chip')).toContainText('WebGPU');
  await page.getByTestId('inference-select').selectOption('webgpu');
  // Breed and evaluate a candidate with every session on the WebGPU execution provider.
  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel('Select Digits noisy specialist').check();
  await page.getByTestId('breed-button').click();
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%', { timeout: 120_000 });
  await expect(page.getByTestId('smoke-checks').locator('li.fail')).toHaveCount(0);
  const gpuAcc = await page.getByTestId('candidate-accuracy-clean').innerText();
  // The same model scored on wasm gives the same accuracy (argmax agrees on the suite).
  await page.getByTestId('inference-select').selectOption('wasm');
  await page.reload();
  await expect(page.locator('[data-testid^="model-candidate-"] dd').nth(1)).toHaveText(gpuAcc, { timeout: 90_000 });
  await page.screenshot({ path: 'e2e/screenshots/webgpu-ep.png', fullPage: true });
});
