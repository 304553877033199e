/**
 * Archive for real: an archived specialist leaves the pool (no longer offered as a parent), keeps
 * its bytes (its storage row, its export rebuilds to its hash), shows the "archived" badge in the
 * lineage graph, stays archived across a reload and comes back on Restore. The routed champion
 * cannot be archived or deleted, and says why beside its buttons.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test, expect, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';
import { breedExampleRecipe, seriousViolations } from './app-helpers.ts';
import { readSlm } from '../src/core/format/slm.ts';

test.use({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') } });

/** A slow store, while the test sets __slowStore: every SHA-256 the page computes waits 800 ms (each stored tensor is verified as it is read). */
async function slowStore(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const digest = crypto.subtle.digest.bind(crypto.subtle);
    crypto.subtle.digest = async (...args: Parameters<SubtleCrypto['digest']>) => {
      if ((window as { __slowStore?: boolean }).__slowStore) await new Promise((r) => setTimeout(r, 800));
      return digest(...args);
    };
  });
}

const setSlow = (page: Page, on: boolean) => page.evaluate((v) => void ((window as { __slowStore?: boolean }).__slowStore = v), on);

test('archive moves a model out of the pool and back; the champion cannot go', async ({ page }) => {
  test.setTimeout(120_000);
  await slowStore(page);
  const downloads: string[] = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));
  await page.goto('/');
  await expect(page.getByTestId('acc-digits-noisy')).toContainText('%', { timeout: 90_000 });
  const pool = page.getByTestId('parent-pool');
  const row = page.getByTestId('storage-digits-noisy');
  await expect(row).toHaveAttribute('data-bytes', /\d+/);
  const bytesBefore = await row.getAttribute('data-bytes');

  // The champion: both buttons disabled, the reason beside them.
  await expect(page.getByTestId('archive-digits-base')).toBeDisabled();
  await expect(page.getByTestId('delete-digits-base')).toBeDisabled();
  await expect(page.getByTestId('delete-why-digits-base')).toContainText("Cannot archive or delete: it is the slot's champion");

  await page.getByTestId('archive-digits-noisy').click();
  await expect(page.getByTestId('storage-message')).toContainText('Archived Digits noisy specialist: out of the pool');
  await expect(pool.getByTestId('model-digits-noisy')).toHaveCount(0);
  await expect(pool.getByTestId('model-digits-rotated')).toHaveCount(1);
  await expect(page.getByTestId('lineage-node-digits-noisy')).toHaveAttribute('data-badges', 'source archived');
  await expect(page.getByTestId('archive-digits-noisy')).toHaveText('Restore');
  await expect(row).toHaveAttribute('data-bytes', bytesBefore!);
  // The decision is ledgered: one storage entry, and the chain still verifies. (Not necessarily the
  // last entry: the champion's open-time fitness evidence may land after it.)
  const ledger = page.getByTestId('ledger');
  await expect(
    ledger.locator('li', { hasText: 'storage archive Digits noisy specialist: archived by the user from the storage panel' }),
  ).toHaveCount(1);
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');

  // A slow export: the bar with ETA, every other action waits, Cancel stops at the next tensor and downloads nothing.
  await setSlow(page, true);
  await page.getByTestId('export-digits-noisy').click();
  await expect(page.getByTestId('export-progress-text')).toContainText(/read from the store \(Digits noisy specialist\) · about .+ left/);
  const bar = page.getByTestId('export-progress');
  const total = Number(await bar.getAttribute('data-total'));
  const doneAtCancel = Number(await bar.getAttribute('data-done'));
  expect(doneAtCancel).toBeGreaterThan(0);
  expect(doneAtCancel).toBeLessThan(total);
  await expect(page.getByTestId('export-digits-noisy')).toBeDisabled();
  await expect(page.getByTestId('export-digits-rotated')).toBeDisabled();
  await page.getByTestId('export-cancel').click();
  await expect(page.getByTestId('storage-message')).toHaveText('Export of Digits noisy specialist cancelled: nothing was downloaded.');
  await expect(page.getByTestId('export-progress')).toHaveCount(0);
  await setSlow(page, false);
  expect(downloads).toEqual([]);

  // Its bytes are kept: the export rebuilds the .slm to the model's hash.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-digits-noisy').click()]);
  expect(download.suggestedFilename()).toBe('digits-noisy.slm');
  const file = await readFile((await download.path())!);
  expect(file.length).toBe(total);
  const hash = createHash('sha256').update(file).digest('hex');
  const catalog = (await (await page.request.get('/starter/catalog.json')).json()) as {
    families: { id: string; models: { id: string; hash: string }[] }[];
  };
  expect(hash).toBe(catalog.families.find((f) => f.id === 'digits')!.models.find((m) => m.id === 'digits-noisy')!.hash);
  // The re-hash covers the archived model too.
  await page.getByTestId('rehash-all').click();
  await expect(page.getByTestId('rehash-result')).toContainText('4 of 4 models rebuilt from their stored tensors match their hash.');
  await expect(page.getByTestId('rehash-digits-noisy')).toContainText('identical hash');
  await page.setViewportSize({ width: 1024, height: 900 });
  await page.getByTestId('storage-panel').screenshot({ path: 'e2e/screenshots/storage-archived.png' });
  expect(await seriousViolations(page)).toEqual([]);

  // Still archived after a reload; Restore puts it back in the pool.
  await page.reload();
  await expect(page.getByTestId('acc-digits-rotated')).toContainText('%', { timeout: 90_000 });
  await expect(pool.getByTestId('model-digits-noisy')).toHaveCount(0);
  await expect(page.getByTestId('lineage-node-digits-noisy')).toHaveAttribute('data-badges', 'source archived');
  await page.getByTestId('archive-digits-noisy').click();
  await expect(page.getByTestId('storage-message')).toContainText('Restored Digits noisy specialist to the pool');
  await expect(pool.getByTestId('model-digits-noisy')).toHaveCount(1);
  await expect(ledger.locator('li', { hasText: 'storage restore Digits noisy specialist: restored to the pool by the user' })).toHaveCount(
    1,
  );
  await expect(ledger.locator('li', { hasText: 'archive Digits noisy specialist' })).toHaveCount(1);
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');
  await expect(page.getByTestId('lineage-node-digits-noisy')).toHaveAttribute('data-badges', 'source');
});

test('the signed bundle with the model shows its export progress; Cancel saves nothing', async ({ page }) => {
  test.setTimeout(120_000);
  await slowStore(page);
  const downloads: string[] = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));
  await page.goto('/');
  await breedExampleRecipe(page);
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 90_000 });
  await page.getByTestId('share-with-model').check();
  await setSlow(page, true);
  await page.getByTestId('share-export-bundle').click();
  await expect(page.getByTestId('share-export-progress-text')).toContainText(/read from the store \(.+\) · about .+ left/);
  await expect(page.getByTestId('share-export-bundle')).toBeDisabled();
  await page.getByTestId('share-export-cancel').click();
  await expect(page.getByTestId('share-export-message')).toHaveText('The export was cancelled: nothing was downloaded.');
  await expect(page.getByTestId('share-export-progress')).toHaveCount(0);
  expect(downloads).toEqual([]);
  await setSlow(page, false);
  await page.getByTestId('share-export-bundle').click();
  await expect(page.getByTestId('share-export-message')).toContainText('with the model');
  expect(downloads).toEqual([expect.stringMatching(/\.bundle\.json$/)]);
});

test("the candidate's Download .slm shows progress with ETA, Cancel downloads nothing; a breed identical to an archived model offers it back", async ({
  page,
}) => {
  test.setTimeout(180_000);
  await slowStore(page);
  const downloads: string[] = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));
  await page.goto('/');
  await breedExampleRecipe(page);
  await expect(page.getByTestId('receipt')).toBeVisible({ timeout: 90_000 });
  const panel = page.getByTestId('candidate-panel');
  const hash = (await panel.locator('.mono').first().getAttribute('title'))!;
  const id = `candidate-${hash.slice(0, 8)}`;
  const name = (await page.getByTestId('candidate-name').textContent())!;

  await setSlow(page, true);
  await page.getByTestId('download-candidate').click();
  await expect(page.getByTestId('candidate-download-progress-text')).toContainText(/read from the store \(.+\) · about .+ left/);
  const bar = page.getByTestId('candidate-download-progress');
  const total = Number(await bar.getAttribute('data-total'));
  expect(Number(await bar.getAttribute('data-done'))).toBeLessThan(total);
  await expect(page.getByTestId('download-candidate')).toBeDisabled();
  await panel.scrollIntoViewIfNeeded();
  await panel.screenshot({ path: 'e2e/screenshots/candidate-download-progress.png' });
  await page.getByTestId('candidate-download-cancel').click();
  await expect(page.getByTestId('candidate-download-message')).toHaveText(`Export of ${name} cancelled: nothing was downloaded.`);
  await expect(bar).toHaveCount(0);
  await setSlow(page, false);
  expect(downloads).toEqual([]);

  // Then it downloads: the model's hash, its recipe in the metadata.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-candidate').click()]);
  expect(download.suggestedFilename()).toBe(`${id}.slm`);
  const file = new Uint8Array(await readFile((await download.path())!));
  expect(file.length).toBe(total);
  expect(createHash('sha256').update(file).digest('hex')).toBe(hash);
  const recipe = JSON.parse(readSlm(file).metadata['garden.recipe']) as { params: Record<string, unknown>; seed: number };
  expect(recipe.params.lambda).toBe(0.5);

  // Archived (ledgered), then bred again to exactly the same tensors: the panel says so and offers it back.
  await page.getByTestId(`archive-${id}`).click();
  await expect(page.getByTestId('storage-message')).toContainText(`Archived ${name}`);
  await breedExampleRecipe(page);
  const archived = page.getByTestId('candidate-archived');
  await expect(archived).toHaveText(
    `This candidate is identical to the archived model ${name} (archived: archived by the user from the storage panel); restore it to evaluate it? Restore ${name}`,
    { timeout: 90_000 },
  );
  await panel.screenshot({ path: 'e2e/screenshots/candidate-archived.png' });
  await page.getByTestId('restore-candidate').click();
  await expect(page.getByTestId('candidate-name')).toHaveText(name);
  await expect(page.getByTestId('parent-pool').getByTestId(`model-${id}`)).toHaveCount(1);
  const ledger = page.getByTestId('ledger');
  // Found wherever it is, exactly once: the champion's open-time fitness evidence can land after it.
  await expect(
    ledger.locator('li', { hasText: `storage restore ${name}: restored as the candidate: a breed gave exactly its tensors` }),
  ).toHaveCount(1);
  await expect(page.getByTestId('ledger-verdict')).toContainText('chain intact');

  // The exit check reads the candidates' files the same way: its bar, and Cancel makes no report.
  await setSlow(page, true);
  await page.getByTestId('run-exit-check').click();
  await expect(page.getByTestId('exit-progress-text')).toContainText(/of candidates read \(.+\) · about .+ left/);
  await page.getByTestId('exit-panel').screenshot({ path: 'e2e/screenshots/exit-check-progress.png' });
  await page.getByTestId('exit-cancel').click();
  await expect(page.getByTestId('lab-message')).toHaveText(
    'The exit check was cancelled while it read the candidates: no report was made.',
  );
  await expect(page.getByTestId('exit-progress')).toHaveCount(0);
  await expect(page.getByTestId('exit-report')).toHaveCount(0);
  await setSlow(page, false);
});
