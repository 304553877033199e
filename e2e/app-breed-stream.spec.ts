/**
 * The app breeds from IndexedDB into IndexedDB in its kernel worker (workers/kernel.worker.ts
 * breedStored): the candidate's tensors are written chunk by chunk and listed by hash, and its
 * file hash is taken without the file. Here: the .slm rebuilt from the store on download hashes
 * to the hash the breed gave it, and no tensor or chunk record is left that no model lists, for
 * an element-wise operator and a selection one. (The bytes equal `garden breed`'s:
 * e2e/app-cpu.spec.ts; the same candidate as the whole-tensor breed: src/store/stored-breed.test.ts;
 * memory, long tasks and Cancel on a 124 M-parameter model: bench/app-breed.ts.) And a slowed
 * streamed breed shows its progress with an ETA, and Cancel stops it within one chunk, nothing stored.
 */
import { test, expect, type Page, type Worker } from '@playwright/test';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { arm, checkGarden, expectIntact, installFaults } from './fault-helpers.ts';

mkdirSync('e2e/screenshots', { recursive: true });

/** Records of the garden's tensor store: tensors no model lists (refs 0), and chunks no tensor lists. */
async function unlisted(page: Page): Promise<{ tensors: number; chunks: number; models: number }> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('slm-garden-tensors');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const all = <T>(store: string) =>
      new Promise<T[]>((resolve, reject) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => resolve(r.result as T[]);
        r.onerror = () => reject(r.error);
      });
    const tensors = await all<{ refs: number; chunks?: string[] }>('tensors');
    const chunks = await all<{ hash: string }>('chunks');
    const listed = new Set(tensors.flatMap((t) => t.chunks ?? []));
    const models = (await all<unknown>('models')).length;
    db.close();
    return { tensors: tensors.filter((t) => t.refs <= 0).length, chunks: chunks.filter((c) => !listed.has(c.hash)).length, models };
  });
}

test('the streamed breed stores a candidate whose rebuilt file has its hash, and leaves nothing unlisted', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  for (const name of ['Digits base', 'Digits rotated specialist', 'Digits thick specialist', 'Digits noisy specialist'])
    await page.getByLabel(`Select ${name}`).check();
  const before = await unlisted(page);
  for (const [operator, count] of [
    ['task-delta', 1],
    ['ties', 2],
  ] as const) {
    await page.getByTestId('operator-select').selectOption(operator);
    await page.getByTestId('breed-button').click();
    await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
    await expect(page.getByTestId('candidate-name')).toContainText(`#${count}`);
    const hash = await page.getByTestId('candidate-panel').locator('span.mono').first().getAttribute('title');
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    const download = page.waitForEvent('download');
    await page.getByTestId('download-candidate').click();
    const file = readFileSync((await (await download).path())!);
    expect(createHash('sha256').update(file).digest('hex')).toBe(hash);
    expect(await unlisted(page)).toEqual({ tensors: 0, chunks: 0, models: before.models + count });
  }
});

test('a slowed streamed breed shows tensor, bytes and an ETA; Cancel stops it within one chunk and stores nothing', async ({
  page,
  context,
}) => {
  await context.addInitScript(installFaults);
  let kernels: Worker | null = null;
  page.on('worker', (w) => {
    void w
      .evaluate(() => self.name)
      .then(
        (name) => name === 'kernels' && (kernels = w),
        () => undefined,
      );
  });
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  const before = await checkGarden(page);
  await page.getByTestId('operator-select').selectOption('blend');
  for (const name of ['Digits base', 'Digits thick specialist']) await page.getByLabel(`Select ${name}`).check();
  await expect.poll(() => kernels !== null).toBe(true);
  // Count the kernel worker's SHA-256s: each chunk it reads (verified) or writes is hashed once.
  await kernels!.evaluate(() => {
    const g = globalThis as unknown as { __digests: number };
    g.__digests = 0;
    const digest = crypto.subtle.digest.bind(crypto.subtle);
    crypto.subtle.digest = (alg: AlgorithmIdentifier, data: BufferSource) => (g.__digests++, digest(alg, data));
  });
  await arm(page, { digestDelayMs: 600 });
  await page.getByTestId('breed-button').click();
  const bar = page.getByLabel('Breeding progress');
  await expect(bar).toContainText(/tensor \d of 4 \(.+\) · .+ of .+ · about .+ left/, { timeout: 60_000 });
  await bar.screenshot({ path: 'e2e/screenshots/breed-stream-progress.png' });
  const at = (await bar.locator('progress').getAttribute('value'))!;
  expect(Number(at)).toBeLessThan(Number(await bar.locator('progress').getAttribute('max')));
  await page.getByTestId('cancel-breed').click();
  const digestsAtCancel = await kernels!.evaluate(() => (globalThis as unknown as { __digests: number }).__digests);
  await expect(page.getByRole('status').filter({ hasText: 'Breeding cancelled. Nothing was stored.' })).toBeVisible({ timeout: 60_000 });
  const digestsAfter = await kernels!.evaluate(() => (globalThis as unknown as { __digests: number }).__digests);
  // Within one chunk: at most the chunk in hand (its output written) and the next one read ahead, from each of the 2 parents.
  expect(digestsAfter - digestsAtCancel).toBeLessThanOrEqual(1 + 2);
  await expect(page.getByTestId('receipt')).toHaveCount(0);
  const now = await checkGarden(page);
  expect(now.tensors).toBe(before.tensors);
  expectIntact(now, before);
  // The retry, at full speed, goes through.
  await arm(page, { digestDelayMs: 0 });
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 120_000 });
  expectIntact(await checkGarden(page), before);
});
