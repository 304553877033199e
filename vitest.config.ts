import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'cli/**/*.test.ts', 'scripts/**/*.test.ts', 'workers/**/*.test.ts'],
    // Native SHA-256 (node:crypto) for every test, as the CLI and the bench hash.
    setupFiles: ['src/node/vitest-setup.ts'],
    // Vitest's default keeps one core free (cores − 1: one file at a time on a 2-core machine). The
    // files are independent (temp dirs, port 0), so run as many as there are cores.
    maxWorkers: availableParallelism(),
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
