/**
 * Evaluations are kept across a reload: a candidate evaluated (but not admitted) before the page
 * reloads can be admitted after it without evaluating again — the sidecars the evaluation wrote
 * come back from the evaluation zone and bind the admission.
 */
import { test, expect } from '@playwright/test';
import { expectAllPassed } from './app-helpers.ts';

test('an evaluated candidate is admitted after a reload without a new evaluation', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });

  await page.getByTestId('operator-select').selectOption('task-delta');
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await page.getByLabel(`Select ${name}`).check();
  await page.getByTestId('param-lambda').fill('0.5');
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('candidate-accuracy-mixed')).toContainText('%', { timeout: 120_000 });
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%', { timeout: 120_000 });
  const candidateName = await page.getByTestId('candidate-name').innerText();

  await page.reload();
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  await page.locator('[data-testid^="review-candidate-"]').first().click();
  await expect(page.getByTestId('candidate-name')).toHaveText(candidateName);
  // The gates pass on the restored sidecars: no "evaluate again" is asked for.
  await expectAllPassed(page.getByTestId('gates'), 4, ['runtime smoke in onnxruntime-web', 'evaluation sidecar', 'viability']);
  await expect(page.getByTestId('admit-button')).toBeEnabled({ timeout: 90_000 });
  await page.getByTestId('admit-button').click();
  await expect(page.getByTestId('registry-shadow')).toContainText(candidateName, { timeout: 60_000 });
});
