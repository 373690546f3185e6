import fs from 'node:fs';
import path from 'node:path';
import { test as base, expect, _electron, type Locator, type Page } from '@playwright/test';
import type { CreateRunsRequest, RunPage, RunSummary } from '../src/api/contract';
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
          const reply = (await page.evaluate(() => window.dtqlBridge?.call('listRuns', { archived: 'include' }))) as { ok: boolean; result: RunPage };
          if (!reply.ok) throw new Error(JSON.stringify(reply));
          return reply.result.runs;
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
        listRuns: async () => ((await (await fetch(`${origin}/api/runs?archived=%22include%22`)).json()) as RunPage).runs,
        screenshot: (name) => screenshot(page, name),
      });
      await context.close();
      served.process.kill('SIGTERM');
    }
    fs.rmSync(home, { recursive: true, force: true });
  },
});

export { expect };

/**
 * Saves a chart through its PNG and SVG buttons, as a user would, and checks what each file holds:
 * a picture at least `minWidth` pixels wide (not a 14-pixel legend icon) whose SVG has `marker`.
 */
export async function expectChartExports(page: Page, chart: Locator, marker: RegExp, minWidth = 300): Promise<void> {
  const svgDownload = page.waitForEvent('download');
  await chart.getByRole('button', { name: 'SVG' }).click();
  const svg = fs.readFileSync(await (await svgDownload).path(), 'utf8');
  expect(svg).toMatch(/^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(Number(/^<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1])).toBeGreaterThanOrEqual(minWidth);
  expect(svg).toMatch(marker);
  const pngDownload = page.waitForEvent('download');
  await chart.getByRole('button', { name: 'PNG' }).click();
  const png = fs.readFileSync(await (await pngDownload).path());
  expect(png.subarray(1, 4).toString()).toBe('PNG');
  // IHDR: width and height as big-endian 32-bit integers at bytes 16 and 20.
  expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(minWidth);
  expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(100);
}

