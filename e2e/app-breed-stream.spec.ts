/**
 * The app breeds from IndexedDB into IndexedDB in its kernel worker (workers/kernel.worker.ts
 * breedStored): the candidate's tensors are written chunk by chunk and listed by hash, and its
 * file hash is taken without the file. Here: the .slm rebuilt from the store on download hashes
 * to the hash the breed gave it, and no tensor or chunk record is left that no model lists, for
 * an element-wise operator and a selection one. (The bytes equal `garden breed`'s:
 * e2e/app-cpu.spec.ts; the same candidate as the whole-tensor breed: src/store/stored-breed.test.ts;
 * memory, long tasks and Cancel on a 124 M-parameter model: bench/app-breed.ts.)
 */
import { test, expect, type Page } from '@playwright/test';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

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
