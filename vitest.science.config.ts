import { defineConfig } from 'vitest/config';

// The slow reproduction check of the paper's toy figure (npm run test:science).
export default defineConfig({
  test: {
    include: ['science/**/*.science.ts'],
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    testTimeout: 45 * 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
