import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The machines have 2 cores; CLI tests spawn processes, so keep parallelism modest.
    maxWorkers: 2,
    // Memory tests force full collections to measure live heap, not garbage awaiting collection.
    execArgv: ['--expose-gc'],
  },
});
