import { defineConfig } from '@playwright/test';
import { CHROMIUM, CHROMIUM_ARGS } from './scripts/ensure-chromium.mjs';

export { CHROMIUM_ARGS };

const PORT = Number(process.env.PW_PORT ?? 4173);
/** Serve a build other than dist/ (PW_DIST=/tmp/dist-x after `vite build --outDir /tmp/dist-x`), so parallel runs keep apart. */
const DIST = process.env.PW_DIST ? ` --outDir ${process.env.PW_DIST}` : '';

export default defineConfig({
  testDir: 'e2e',
  testMatch: /.*\.spec\.ts/,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  // Two browsers side by side: every test has its own context (its own IndexedDB) and temp dirs.
  // PW_WORKERS=1 runs them one at a time.
  workers: Number(process.env.PW_WORKERS ?? 2),
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    headless: true,
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
  },
  projects: [
    { name: 'kernels', testMatch: /kernels.*\.spec\.ts/, use: { bypassCSP: true } },
    { name: 'app', testMatch: /app.*\.spec\.ts/ },
  ],
  webServer: {
    command: `npx vite preview --port ${PORT} --strictPort --host 127.0.0.1${DIST}`,
    url: `http://127.0.0.1:${PORT}/`,
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
