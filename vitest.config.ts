import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'cli/**/*.test.ts', 'scripts/**/*.test.ts', 'workers/**/*.test.ts'],
    // Native SHA-256 (node:crypto) for every test, as the CLI and the bench hash.
    setupFiles: ['src/node/vitest-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
