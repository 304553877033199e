/**
 * The teacher's flow: each operator on a real layer of the starter digits garden shows its visual,
 * recomputed from the stored tensors; the numbers on the visual equal the receipt's (the test
 * reads both), and the presentation mode steps through TIES one panel at a time.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

const PARENTS = ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'];

async function breedWith(page: Page, operator: string, parents: string[], params: Record<string, string> = {}) {
  for (const name of PARENTS) await page.getByLabel(`Select ${name}`).setChecked(false);
  await page.getByTestId('operator-select').selectOption(operator);
  for (const name of parents) await page.getByLabel(`Select ${name}`).check();
  for (const [k, v] of Object.entries(params)) await page.getByTestId(`param-${k}`).fill(v);
  const hash = page.getByTestId('receipt').locator('h3 .mono');
  const before = (await hash.count()) ? await hash.getAttribute('title') : null;
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  await expect.poll(() => hash.getAttribute('title')).not.toBe(before);
  await expect(page.getByTestId('visual-check')).toBeVisible({ timeout: 60_000 });
}

/** The visual's ‖Δ‖ and sparsity equal the receipt row of the tensor the visual shows. */
async function expectMatchesReceipt(page: Page) {
  const tensor = await page.getByTestId('visual-tensor').inputValue();
  const row = page.getByTestId(`receipt-row-${tensor}`);
  const norm = await row.getByTestId('receipt-delta-norm').innerText();
  expect(Number(norm)).toBeGreaterThan(0);
  await expect(page.getByTestId('visual-delta-norm')).toHaveText(norm);
  await expect(page.getByTestId('visual-zeros')).toHaveText(await row.getByTestId('receipt-sparsity').innerText());
  await expect(page.getByTestId('visual-hash-match')).toBeVisible();
  // The CPU rerun gives the stored weights bit for bit, or (SLERP's GPU reduction sums in
  // another order) within float32 rounding.
  const check = await page.getByTestId('visual-check').innerText();
  const off = /differs by at most (\d+(?:\.\d+)?e[+-]?\d+)/.exec(check);
  if (off) expect(Number(off[1])).toBeLessThan(1e-6);
  else expect(check).toContain('bit for bit');
  return row;
}

test.setTimeout(360_000);

test('each operator shows what it did to a real layer, with the receipt’s numbers', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });

  // TIES over the three specialists: trim → elect → disjoint mean, sign conflicts as the receipt counts them.
  await breedWith(page, 'ties', PARENTS);
  const row = await expectMatchesReceipt(page);
  const conflicts = await row.getByTestId('receipt-sign-conflicts').innerText();
  expect(Number(conflicts)).toBeGreaterThan(0);
  await expect(page.getByTestId('visual-sign-conflicts')).toHaveText(conflicts);
  for (const id of ['weights', 'deltas', 'sparsity', 'ties-trim', 'ties-elect', 'ties-mean'])
    await expect(page.getByTestId(`visual-${id}`)).toBeVisible();
  await expect(page.getByTestId('visual-ties-trim')).toContainText('density 0.2');
  await page.getByTestId('operator-visual').scrollIntoViewIfNeeded();
  await page.getByTestId('operator-visual').screenshot({ path: `${SHOTS}/10-visual-ties.png` });

  // Presentation mode: one panel at a time, the arrow key advances through TIES's steps.
  await page.getByTestId('present').click();
  await expect(page.getByTestId('present-position')).toHaveText(/^1 of \d+$/);
  await expect(page.getByTestId('visual-weights')).toBeVisible();
  await expect(page.getByTestId('visual-deltas')).toHaveCount(0);
  for (const id of ['deltas', 'sparsity', 'ties-trim', 'ties-elect']) {
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId(`visual-${id}`)).toBeVisible();
  }
  await expect(page.getByTestId('visual-sign-conflicts')).toHaveText(conflicts);
  await page.getByTestId('operator-visual').screenshot({ path: `${SHOTS}/11-present-ties-elect.png` });
  await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('visual-ties-mean')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('visual-weights')).toBeVisible();
  await expect(page.getByTestId('visual-ties-mean')).toBeVisible();

  // DARE: the drop mask of each parent.
  await breedWith(page, 'dare', PARENTS, { drop: '0.3' });
  await expectMatchesReceipt(page);
  await expect(page.getByTestId('visual-drop')).toContainText('p = 0.3');
  await expect(page.getByTestId('drop-map-2')).toBeVisible();

  // Crossover of two parents: which parent each weight came from.
  await breedWith(page, 'crossover', PARENTS.slice(1, 3));
  await expectMatchesReceipt(page);
  await expect(page.getByTestId('crossover-map')).toBeVisible();
  await page.getByTestId('visual-crossover').screenshot({ path: `${SHOTS}/12-visual-crossover.png` });

  // SLERP: the angle between the parents.
  await breedWith(page, 'slerp', PARENTS.slice(0, 2), { t: '0.5' });
  await expectMatchesReceipt(page);
  await expect(page.getByTestId('visual-slerp-angle')).toHaveText(/^\d+\.\d\d°$/);

  // Quantize: the error of the stored int8 weights.
  await breedWith(page, 'quantize', PARENTS.slice(0, 1));
  await expectMatchesReceipt(page);
  await expect(page.getByTestId('visual-quant')).toContainText('int8');
  await page.getByTestId('visual-quant').screenshot({ path: `${SHOTS}/13-visual-quant.png` });
  expect(consoleErrors).toEqual([]);
});
