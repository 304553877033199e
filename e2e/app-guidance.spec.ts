/**
 * Guidance at the form: parameters out of range are refused with the valid range (never clamped
 * in silence), candidates are named by operator and parameters and listed by creation, and
 * "Make champion" is disabled with its reason beside it while it cannot act.
 */
import { test, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

test('out-of-range parameters are refused at the form; candidates are named and listed by creation', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  await expect(page.getByTestId('family-slot')).toHaveText('Family digits · slot digits');
  await expect(page.getByTestId('to-champion')).toBeDisabled();
  await expect(page.getByTestId('champion-why')).toContainText('needs a candidate in shadow or canary');

  await page.getByTestId('operator-select').selectOption('ties');
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist'])
    await page.getByLabel(`Select ${name}`).check();
  await expect(page.getByTestId('breed-button')).toBeEnabled();
  for (const [field, value, range] of [
    ['param-density', '5', 'from 0 to 1'],
    ['param-lambda', '-1e9', 'from -10 to 10'],
    ['seed', '1e20', 'from 0 to 4294967295'],
  ] as const) {
    await page.getByTestId(field).fill(value);
    await expect(page.getByTestId(`${field}-why`)).toContainText(`must be from ${range.slice(5)}; ${value} is outside`);
    await expect(page.getByTestId(field)).toHaveValue(value);
    await expect(page.getByTestId('breed-button')).toBeDisabled();
  }
  await expect(page.getByTestId('invalid-hint')).toContainText('density must be from 0 to 1');
  await page.getByTestId('seed').fill('2.5');
  await expect(page.getByTestId('seed-why')).toContainText('whole number');
  await page.getByTestId('param-density').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SHOTS}/30-refused-params.png`, fullPage: true });
  await page.getByTestId('param-density').fill('0.4');
  await page.getByTestId('param-lambda').fill('0.8');
  await page.getByTestId('seed').fill('9');
  await expect(page.getByTestId('invalid-hint')).toHaveCount(0);
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('candidate-name')).toHaveText(
    '#1 TIES merge · lambda 0.8, normalize on, density 0.4, trimScope tensor, rescale none · seed 9',
    { timeout: 120_000 },
  );

  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByLabel('weight of Digits thick specialist').fill('0.25');
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('candidate-name')).toContainText('#2 Blend · weights 1/1/0.25, normalize on · seed 9', {
    timeout: 120_000,
  });
  const names = await page.locator('[data-testid^="model-candidate-"] .card-title').allInnerTexts();
  expect(names).toEqual([expect.stringMatching(/^#1 TIES merge/), expect.stringMatching(/^#2 Blend/)]);
  await page.screenshot({ path: `${SHOTS}/31-named-candidates.png`, fullPage: true });
});
