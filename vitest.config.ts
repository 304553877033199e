import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'cli/**/*.test.ts', 'scripts/**/*.test.ts', 'workers/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
