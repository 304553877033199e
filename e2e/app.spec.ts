/**
 * The walking skeleton, as a user walks it: open the garden → pick two parents and blend → the
 * blend runs on WebGPU in the kernel worker → smoke + evaluation → admit → draw a digit → the
 * admitted candidate answers. No request may leave the app's origin.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

/** Draw a "1": one vertical stroke. */
async function drawOne(page: Page) {
  await page.getByTestId('draw-pad').scrollIntoViewIfNeeded();
  const box = (await page.getByTestId('draw-pad').boundingBox())!;
  const x = box.x + box.width / 2;
  await page.mouse.move(x, box.y + 40);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) await page.mouse.move(x, box.y + 40 + i * 10);
  await page.mouse.up();
}

test('one breeding round, end to end, without leaving the origin', async ({ page, context, baseURL }) => {
  const origin = new URL(baseURL!).origin;
  const offOrigin: string[] = [];
  context.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) offOrigin.push(url);
  });
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));

  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'SLM Garden' })).toBeVisible();

  // 1. The parent pool, seeded from the starter garden into IndexedDB, each parent evaluated.
  await expect(page.getByTestId('model-digits-base')).toBeVisible();
  await expect(page.getByTestId('model-digits-rotated')).toBeVisible();
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 60_000 });
  await expect(page.getByTestId('backend-chip')).toContainText('WebGPU');
  await shot(page, '01-parent-pool');

  // 2. Blend two specialists on the GPU.
  await page.getByLabel('Select Digits rotated specialist').check();
  await page.getByLabel('Select Digits thick specialist').check();
  await page.getByTestId('operator-select').selectOption('blend');
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('receipt-backend')).toHaveText('WebGPU');
  await expect(page.getByTestId('receipt-adapter')).not.toBeEmpty();
  await shot(page, '02-breed-receipt');

  // 3. Runtime smoke and evaluation on the frozen suite; the score comes from the suite.
  await page.getByTestId('evaluate-button').click();
  await expect(page.getByTestId('candidate-accuracy')).toContainText('%', { timeout: 120_000 });
  const acc = Number((await page.getByTestId('candidate-accuracy').innerText()).replace('%', '').trim());
  expect(acc).toBeGreaterThan(50);
  expect(acc).toBeLessThanOrEqual(100);
  await expect(page.getByTestId('smoke-checks').locator('li.fail')).toHaveCount(0);
  await shot(page, '03-evaluation');

  // 4. Admit: the candidate becomes the champion of the digits slot; the ledger records it.
  await page.getByTestId('admit-button').click();
  await expect(page.getByTestId('admit-button')).toContainText('Admitted');
  await expect(page.getByTestId('ledger')).toContainText('admitted');
  const candidateName = await page.getByTestId('candidate-name').innerText();

  // 5. Draw a digit; the selector registry routes it to the admitted candidate.
  await drawOne(page);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answer')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('answered-by')).toHaveText(candidateName);
  await shot(page, '04-routed-answer');
  await expect(page.getByTestId('answer-label')).toHaveText('1');

  expect(offOrigin, `requests that left ${origin}`).toEqual([]);

  // 6. Offline: with the network off, a reload still opens the garden from the service worker
  // and IndexedDB, and the admitted candidate still answers.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await context.setOffline(true);
  await page.reload();
  await expect(page.getByTestId('model-digits-base')).toBeVisible({ timeout: 60_000 });
  await drawOne(page);
  await page.getByTestId('ask-button').click();
  await expect(page.getByTestId('answered-by')).toHaveText(candidateName, { timeout: 60_000 });
  await shot(page, '05-offline-answer');
  await context.setOffline(false);
  expect(consoleErrors.filter((e) => !/favicon/.test(e))).toEqual([]);
});
