import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Browser and stack tests bind real ports and start Chromium; two cores, so keep the fan-out modest.
    maxWorkers: 2,
  },
});
