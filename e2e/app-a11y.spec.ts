/**
 * Accessibility basics under the app's own CSP: no serious or critical axe violation on the page
 * as opened, and with a candidate bred, its operator visual and the import report shown.
 */
import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

async function seriousViolations(page: Page) {
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id}: ${v.help} (${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')})`,
    );
}

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
