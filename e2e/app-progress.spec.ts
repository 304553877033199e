/**
 * Long work shows it: the candidate's evaluation shows its share done over all suites (and an ETA,
 * src/app/format.test.ts), Cancel stops it with no verdict given, and a second run completes it.
 */
import { test, expect } from '@playwright/test';
import { expectAllPassed, SMOKE_CHECKS } from './app-helpers.ts';

test('an evaluation shows its progress, and Cancel leaves no verdict', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-thick')).toContainText('%', { timeout: 90_000 });
  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel('Select Digits noisy specialist').check();
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  const evaluate = page.getByTestId('evaluate-button');
  await evaluate.click();
  await expect(evaluate).toHaveText(/Evaluating… \d+ %/);
  // At once: a click's actionability wait (two stable frames, a scroll) let a quick evaluation
  // finish first in a fresh clone, and the button was gone before the click landed.
  await page.getByTestId('cancel-evaluation').dispatchEvent('click');
  await expect(page.getByRole('status').filter({ hasText: 'Evaluation cancelled: no verdict was given' })).toBeVisible();
  await expect(evaluate).toHaveText('Run smoke test and evaluate');
  await expect(page.getByTestId('admit-button')).toBeDisabled();
  await expect(page.getByTestId('noop-decision')).toHaveCount(0);
  await expect(page.getByTestId('smoke-checks')).toHaveCount(0);
  await expect(page.getByTestId('cancel-evaluation')).toHaveCount(0);

  await evaluate.click();
  await expect(page.getByTestId('candidate-accuracy-clean')).toContainText('%', { timeout: 120_000 });
  await expectAllPassed(page.getByTestId('smoke-checks'), SMOKE_CHECKS.length, SMOKE_CHECKS);
});
