import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS } from '../../playwright.config.ts';
import { CHROMIUM } from '../../scripts/ensure-chromium.mjs';

// The kernel conformance tests alone, against a blank page instead of the built app:
//   npx playwright test -c e2e/harness/playwright.kernels.config.ts
const PORT = 4317;

export default defineConfig({
  testDir: '..',
  testMatch: /kernels.*\.spec\.ts/,
  timeout: 300_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    headless: true,
    bypassCSP: true,
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
  },
  webServer: {
    command: `node serve-blank.mjs ${PORT}`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 30_000,
  },
});
