import fs from 'node:fs';
import path from 'node:path';
import { test as base, _electron, type Page } from '@playwright/test';
import type { CreateRunsRequest, RunSummary } from '../src/api/contract';
import { REPO_ROOT, electronBinary, startServed, tempHome } from './launch';

/** One running app under test, whichever shell hosts it. */
export interface AppUnderTest {
  page: Page;
  /** The app's data folder (another process may share it, as `dtql train` would). */
  home: string;
  /** Starts runs through the app's own API (HTTP in served mode, the preload bridge in Electron). */
  createRuns(request: CreateRunsRequest): Promise<number[]>;
  /** The runs as the app lists them, through the same API. */
  listRuns(): Promise<RunSummary[]>;
  /** Saves a full-page screenshot as a test artifact. */
  screenshot(name: string): Promise<void>;
}

export const ARTIFACTS = path.join(REPO_ROOT, 'e2e-artifacts');

export const test = base.extend<{ app: AppUnderTest; concurrency: number }>({
  /** Runs the app trains at once; 0 (the default here) holds the queue so runs stay queued. */
  concurrency: [0, { option: true }],
  app: async ({ browser, concurrency }, use, testInfo) => {
    const home = tempHome();
    const shots = path.join(ARTIFACTS, testInfo.project.name);
    fs.mkdirSync(shots, { recursive: true });
    const screenshot = async (page: Page, name: string) => {
      const file = path.join(shots, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      await testInfo.attach(name, { path: file, contentType: 'image/png' });
    };

    if (testInfo.project.name === 'electron') {
      const executablePath = electronBinary();
      if (!executablePath) throw new Error('the electron project needs the Electron binary');
      const electronApp = await _electron.launch({ executablePath, args: [REPO_ROOT], env: { ...process.env, DTQL_HOME: home, DTQL_CONCURRENCY: String(concurrency) } });
      const page = await electronApp.firstWindow();
      await use({
        page,
        home,
        createRuns: async (request) => {
          const reply = (await page.evaluate((r) => window.dtqlBridge?.call('createRuns', r), request)) as { ok: boolean; result: { runIds: number[] } };
          if (!reply.ok) throw new Error(JSON.stringify(reply));
          return reply.result.runIds;
        },
        listRuns: async () => {
          const reply = (await page.evaluate(() => window.dtqlBridge?.call('listRuns', { archived: 'include' }))) as { ok: boolean; result: RunSummary[] };
          if (!reply.ok) throw new Error(JSON.stringify(reply));
          return reply.result;
        },
        screenshot: (name) => screenshot(page, name),
      });
      await electronApp.close();
    } else {
      const served = await startServed(home, ['--concurrency', String(concurrency)]);
      const origin = new URL(served.url).origin;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(served.url);
      await use({
        page,
        home,
        createRuns: async (request) => {
          const response = await fetch(`${origin}/api/runs`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(request),
          });
          if (!response.ok) throw new Error(await response.text());
          return ((await response.json()) as { runIds: number[] }).runIds;
        },
        listRuns: async () => (await (await fetch(`${origin}/api/runs?archived=%22include%22`)).json()) as RunSummary[],
        screenshot: (name) => screenshot(page, name),
      });
      await context.close();
      served.process.kill('SIGTERM');
    }
    fs.rmSync(home, { recursive: true, force: true });
  },
});

export { expect } from '@playwright/test';
