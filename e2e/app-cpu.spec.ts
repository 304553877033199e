/**
 * Where WebGPU is missing (Chromium without --enable-unsafe-webgpu: requestAdapter() gives null),
 * the app says so and breeds on the CPU reference, and the receipt records the CPU backend.
 */
import { test, expect } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';
import { CHROMIUM } from '../scripts/ensure-chromium.mjs';

test.use({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu') } });

test('without WebGPU the breed runs on the CPU reference and says so', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('backend-chip')).toContainText('No WebGPU');
  await page.getByLabel('Select Digits noisy specialist').check();
  await page.getByLabel('Select Digits thick specialist').check();
  await page.getByTestId('breed-button').click();
  await expect(page.getByTestId('receipt-backend')).toHaveText('CPU', { timeout: 60_000 });
  await page.screenshot({ path: 'e2e/screenshots/cpu-fallback.png', fullPage: true });
});
