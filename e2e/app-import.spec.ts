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

/** The garden's tensor store: how many models and tensors it holds (the databases, read directly). */
async function storeCounts(page: Page) {
  return page.evaluate(
    () =>
      new Promise<{ models: number; tensors: number }>((resolve, reject) => {
        const r = indexedDB.open('slm-garden-tensors');
        r.onerror = () => reject(new Error(String(r.error)));
        r.onsuccess = () => {
          const db = r.result;
          const tx = db.transaction(['models', 'tensors'], 'readonly');
          const m = tx.objectStore('models').count();
          const t = tx.objectStore('tensors').count();
          tx.oncomplete = () => {
            db.close();
            resolve({ models: m.result, tensors: t.result });
          };
        };
      }),
  );
}

test('a long import shows its progress with ETA; Cancel stores nothing; a second drop meanwhile is ignored', async ({ page }) => {
  // A slow disk: every read of a megabyte or more from a file takes a second (the test's throttle, as network throttling would be).
  await page.addInitScript(() => {
    const read = Blob.prototype.arrayBuffer;
    Blob.prototype.arrayBuffer = async function (this: Blob) {
      if (this.size >= 1 << 20) await new Promise((r) => setTimeout(r, 1000));
      return read.call(this);
    };
  });
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-base')).toContainText('%', { timeout: 90_000 });
  const before = { pool: await modelCount(page), store: await storeCounts(page) };

  // The starter base with a 24 MiB tensor more: six slices of 4 MiB to read.
  const plain = plainSafetensors(() => {});
  const n = Number(plain.readBigUInt64LE(0));
  const header = JSON.parse(plain.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const data = plain.subarray(8 + n);
  const pad = 24 << 20;
  header['pad.weight'] = { dtype: 'F32', shape: [pad / 4], data_offsets: [data.length, data.length + pad] } as never;
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const big = Buffer.concat([len, Buffer.from(json), data, Buffer.alloc(pad)]);

  await page.setViewportSize({ width: 1024, height: 900 });
  await page.getByTestId('import-input').setInputFiles({ name: 'big.safetensors', mimeType: 'application/octet-stream', buffer: big });
  const progress = page.getByTestId('import-progress');
  await expect(progress).toHaveAttribute('data-total', String(big.length));
  await expect(page.getByTestId('import-progress-text')).toContainText(/read .* of 24 MiB · about .* left/);
  await expect(page.getByTestId('import-input')).toBeDisabled();
  // A second drop while the import runs is ignored (not queued).
  await dropOn(page, 'second.safetensors', plain);
  await page.getByTestId('import-panel').screenshot({ path: `${SHOTS}/import-progress.png` });
  const done = Number(await progress.getAttribute('data-done'));
  expect(done).toBeLessThan(big.length);
  await page.getByTestId('import-cancel').click();
  await expect(page.getByTestId('import-message')).toHaveText('Import of big.safetensors cancelled: nothing was stored.');
  await expect(progress).toHaveCount(0);
  await expect(page.getByTestId('import-report')).toHaveCount(0);
  await expect(page.getByTestId('import-refused')).toHaveCount(0);
  expect(await modelCount(page)).toBe(before.pool);
  expect(await storeCounts(page)).toEqual(before.store);
  await expect(page.getByTestId('import-input')).toBeEnabled();
});
