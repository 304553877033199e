/**
 * Accessibility basics under the app's own CSP: no serious or critical axe violation on the page
 * as opened, and with a candidate bred, its operator visual and the import report shown.
 */
import { test, expect } from '@playwright/test';
import { seriousViolations } from './app-helpers.ts';

test('no serious or critical axe violations, opened and after a breed', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByTestId('operator-select').selectOption('ties');
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist'])
    await page.getByLabel(`Select ${name}`).check();
  await page.getByTestId('param-density').fill('7');
  await expect(page.getByTestId('param-density-why')).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByTestId('param-density').fill('0.3');
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('visual-check')).toBeVisible({ timeout: 120_000 });
  expect(await seriousViolations(page)).toEqual([]);
});
