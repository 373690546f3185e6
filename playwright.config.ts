import { defineConfig } from '@playwright/test';
import { CHROMIUM, CHROMIUM_ARGS, electronBinary } from './e2e/launch';

// The same specs run against served mode in Debian's Chromium everywhere, and through the real
// Electron window wherever the Electron binary is installed.
export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results',
  workers: 1,
  timeout: 180_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
    trace: 'retain-on-failure',
  },
  projects: [{ name: 'served' }, ...(electronBinary() ? [{ name: 'electron' }] : [])],
});
