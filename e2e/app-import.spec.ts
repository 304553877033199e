/**
 * The privacy-minded user's own model: a safetensors file picked (or dropped) is checked against
 * the pool (compatibility report, the species it joins) before anything is stored, then joins the
 * pool and is evaluated; a refused file shows its one-line reason and nothing is written; a drop
 * on the page is never ignored.
 */
import { test, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { plainSafetensors } from './app-helpers.ts';

const SHOTS = 'e2e/screenshots';
mkdirSync(SHOTS, { recursive: true });

async function modelCount(page: Page) {
  return page.locator('[data-testid="parent-pool"] > li').count();
}

async function dropOn(page: Page, name: string, bytes: Buffer) {
  await page.evaluate(
    ({ name, b64 }) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], name));
      document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, b64: bytes.toString('base64') },
  );
}

test('a model of the user’s own is checked before it is stored, then joins the pool', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  const before = await modelCount(page);

  // A truncated file, dropped on the page: refused with its reason, nothing stored.
  const good = plainSafetensors((h, data) => {
    const [start] = h['fc1.weight'].data_offsets;
    data.writeFloatLE(data.readFloatLE(start) + 0.25, start);
  });
  await dropOn(page, 'broken.safetensors', good.subarray(0, 200));
  await expect(page.getByTestId('import-refused')).toContainText('Refused broken.safetensors:');
  await expect(page.getByTestId('import-refused')).toContainText('Nothing was stored.');
  await shot(page, '20-import-refused');
  expect(await modelCount(page)).toBe(before);

  // A drop that holds no file is answered too.
  await page.evaluate(() =>
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: new DataTransfer(), bubbles: true, cancelable: true })),
  );
  await expect(page.getByTestId('import-message')).toContainText('held no file');

  // A file of another shape: the compatibility report's reason.
  const renamed = plainSafetensors((h) => {
    h['fc9.weight'] = h['fc1.weight'];
    delete h['fc1.weight'];
  });
  await page
    .getByTestId('import-input')
    .setInputFiles({ name: 'other.safetensors', mimeType: 'application/octet-stream', buffer: renamed });
  await expect(page.getByTestId('import-refused')).toContainText(/fc1\.weight|fc9\.weight/);
  expect(await modelCount(page)).toBe(before);

  // The user's own fine-tune (the base with one weight changed): the report, then the pool.
  await page
    .getByTestId('import-input')
    .setInputFiles({ name: 'my-digits.safetensors', mimeType: 'application/octet-stream', buffer: good });
  await expect(page.getByTestId('import-report')).toBeVisible();
  await expect(page.getByTestId('import-species')).toContainText('joins the species of the digits');
  expect(await modelCount(page)).toBe(before);
  await shot(page, '21-import-report');
  await page.getByTestId('import-store').click();
  await expect(page.getByTestId('import-message')).toContainText('my-digits (imported) joined the pool');
  expect(await modelCount(page)).toBe(before + 1);
  const card = page.locator('[data-testid^="model-imported-"]');
  await expect(card).toContainText('my-digits (imported)');
  await expect(card.locator('dd').first()).toContainText('%', { timeout: 60_000 });
  await shot(page, '22-imported-in-pool');
  expect(consoleErrors).toEqual([]);
});

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}
