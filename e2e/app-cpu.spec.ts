/**
 * Where WebGPU is missing (Chromium without --enable-unsafe-webgpu: requestAdapter() gives null),
 * the app says so and breeds on the CPU reference; the receipt records the CPU backend, and the
 * candidate it writes is byte for byte the file `garden breed` writes in Node for the same recipe.
 */
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';
import { breedExampleRecipe } from './app-helpers.ts';

test.use({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') } });

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('without WebGPU the breed runs on the CPU and writes the same bytes as garden breed', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('backend-chip')).toContainText('No WebGPU');
  await breedExampleRecipe(page);
  await expect(page.getByTestId('receipt-backend')).toHaveText('CPU', { timeout: 60_000 });
  await page.screenshot({ path: 'e2e/screenshots/cpu-fallback.png', fullPage: true });

  const download = page.waitForEvent('download');
  await page.getByTestId('download-candidate').click();
  const file = await (await download).path();
  const browserHash = sha256(readFileSync(file));

  const out = join(mkdtempSync(join(tmpdir(), 'garden-')), 'cand.slm');
  execFileSync('node', ['bin/garden.mjs', 'breed', 'examples/recipe.json', '--out', out], { stdio: 'pipe' });
  expect(browserHash).toBe(sha256(readFileSync(out)));
  await expect(page.getByTestId('candidate-panel')).toContainText(browserHash.slice(0, 10));
});
