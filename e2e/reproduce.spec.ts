import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { expect, test } from './fixtures';

test.use({ concurrency: 2 });

const OFFICIAL_SEEDS: Record<string, number> = { 'bandit-25g-far': 0, 'bandit-25g-hard': 2, 'bandit-25g-near': 0, 'bandit-swiss-far': 2, 'bandit-swiss-near': 2 };

test('Reproduce queues all ten configurations at their official seeds, fills the 5 x 2 grid, and exports CSV and PNG', async ({ app }) => {
  const { page } = app;
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Reproduce' }).click();
  await page.getByLabel('training steps').fill('0');
  await page.getByRole('button', { name: 'Run all 10 configurations' }).click();
  await expect(page.getByText(/training steps must be a whole number from 1/)).toBeVisible();
  expect(await app.listRuns()).toEqual([]);

  await page.getByLabel('training steps').fill('10');
  await page.getByRole('button', { name: 'Run all 10 configurations' }).click();
  await expect(page).toHaveURL(/tag=reproduction-/);
  const runs = await app.listRuns();
  expect(runs).toHaveLength(10);
  for (const run of runs) expect(run.seed, `${run.task} ${run.algo}`).toBe(OFFICIAL_SEEDS[run.task]);
  expect(runs.every((r) => r.preset === 'quick')).toBe(true);

  const cells = page.locator('[data-testid^="cell-"]');
  await expect(cells).toHaveCount(10);
  for (const cell of await cells.all()) {
    await expect(cell.locator('dd').first()).toHaveText(/^-?\d+\.\d{3}$/, { timeout: 240_000 });
    await expect(cell.locator('canvas')).toHaveCount(1);
  }
  const grid = page.getByTestId('repro-grid');
  const fits = await grid.evaluate((el) => el.scrollWidth <= el.clientWidth && document.documentElement.scrollWidth <= window.innerWidth);
  expect(fits, 'the 5 x 2 grid fits the 1,280 px window without scrolling sideways').toBe(true);
  await app.screenshot('reproduce-grid');

  const csvDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  const rows = parse(fs.readFileSync(await (await csvDownload).path(), 'utf8'), { columns: true }) as Record<string, string>[];
  expect(rows).toHaveLength(10);
  for (const row of rows) {
    expect(Number(row.seed)).toBe(OFFICIAL_SEEDS[row.task as string]);
    expect(Number(row.inSupportFraction)).toBeGreaterThanOrEqual(0);
    expect(Number(row.inSupportFraction)).toBeLessThanOrEqual(1);
  }
  const pngDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export PNG' }).click();
  expect(fs.readFileSync(await (await pngDownload).path()).subarray(1, 4).toString()).toBe('PNG');
});

test('a reproduction over several seeds draws the chosen seed in every cell and averages the numbers over all', async ({ app }) => {
  const { page } = app;
  const tag = 'reproduction-seeds';
  await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [3, 1], tags: [tag], overrides: { trainSteps: 5, evalInterval: 5 } });
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Reproduce' }).click();
  await page.getByLabel('reproduction').selectOption(tag);
  const cell = page.getByTestId('cell-dtql-bandit-25g-near');
  // Two seeds: the numbers read mean ± s.e. once both runs have their outcome.
  await expect(cell.locator('dd').first()).toHaveText(/^-?\d+\.\d{3} ± \d+\.\d{3}$/, { timeout: 120_000 });
  await expect(cell.locator('figcaption')).toContainText('seed 1');
  await page.getByLabel('scatter of seed').selectOption({ label: 'seed 2 of 2' });
  await expect(cell.locator('figcaption')).toContainText('seed 3');
  await expect(page.getByTestId('cell-kl-bandit-25g-near').locator('figcaption')).not.toContainText('seed');
});
