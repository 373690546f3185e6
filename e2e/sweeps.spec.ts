import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { expect, expectChartExports, test } from './fixtures';

test.use({ concurrency: 2 });

test('a sweep built on the Sweeps page is previewed, queued, trained and opened in Compare grouped by its swept keys', async ({ app }) => {
  const { page } = app;
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Sweeps' }).click();
  // Each task starts from its own default preset for this machine (a CPU here).
  await expect(page.getByLabel('preset')).toHaveValue('quick');
  await page.getByLabel('task', { exact: true }).selectOption('pendulum-swingup');
  await expect(page.getByLabel('preset')).toHaveValue('default');
  await page.getByLabel('task', { exact: true }).selectOption('bandit-25g-near');
  await expect(page.getByLabel('preset')).toHaveValue('quick');
  await page.getByLabel('seeds').fill('1, 2');
  await page.getByLabel('joint training steps').fill('20');
  await page.getByLabel('axis 1 hyperparameter').selectOption('alpha');
  await page.getByLabel('axis 1 values').fill('1, 5');
  await page.getByTestId('sweep-add-axis').click();
  await page.getByLabel('axis 2 hyperparameter').selectOption('pretrainSteps');
  await page.getByLabel('axis 2 values').fill('4');
  await page.getByTestId('sweep-add-axis').click();
  await page.getByLabel('axis 3 hyperparameter').selectOption('evalInterval');
  await page.getByLabel('axis 3 values').fill('10');
  await page.getByTestId('sweep-algo-kl').uncheck();
  await expect(page.getByTestId('sweep-file')).toHaveValue(/alpha:\n\s+- 1\n\s+- 5/);

  // A bad value is named by the back end and nothing is queued.
  await page.getByLabel('axis 1 values').fill('1, -5');
  await page.getByTestId('sweep-preview').click();
  await expect(page.getByText(/grid point alpha=-5: overrides.alpha/)).toBeVisible();
  await expect(page.getByTestId('sweep-queue')).toBeDisabled();
  await page.getByLabel('axis 1 values').fill('1, 5');
  await page.getByTestId('sweep-preview').click();
  await expect(page.getByTestId('sweep-preview-result')).toContainText('4 runs over alpha');
  expect(await app.listRuns()).toEqual([]);

  // A preview stands for the sweep it was made for: edited into an invalid file, the table goes.
  await page.getByText('Sweep file (YAML').click();
  await page.getByTestId('sweep-edit-file').check();
  await page.getByTestId('sweep-file').fill('task: [unclosed');
  await expect(page.getByText(/the sweep file is not valid YAML or JSON/)).toBeVisible();
  await expect(page.getByTestId('sweep-preview-result')).toHaveCount(0);
  await expect(page.getByTestId('sweep-queue')).toBeDisabled();
  await page.getByTestId('sweep-edit-file').uncheck();
  await expect(page.getByTestId('sweep-preview-result')).toContainText('4 runs over alpha');

  await page.getByTestId('sweep-queue').click();
  await expect(page).toHaveURL(/compare\?sweep=\d+/);
  await expect(page.getByTestId('sweep-summary')).toContainText('4 runs over alpha');
  await expect.poll(async () => (await app.listRuns()).map((r) => r.status), { timeout: 150_000, intervals: [1000] }).toEqual(['completed', 'completed', 'completed', 'completed']);
  const chart = page.getByTestId('compare-chart');
  await expect(chart).toContainText('alpha=1 (n=2)');
  await expect(chart).toContainText('alpha=5 (n=2)');
  await expect(page.getByTestId('sweep-row-0')).toContainText(/1\s*2\/2\s*[\d.]+ ± [\d.]+/);
  await expect(page.getByTestId('sweep-row-1')).toContainText(/5\s*2\/2\s*[\d.]+ ± [\d.]+/);
  // Hyperparameters beside scores: the swept key in the table, sortable, and against the final score in a scatter.
  const table = page.getByTestId('hyperparameter-table');
  await expect(table.locator('thead')).toContainText('alpha');
  await expect(table.locator('tbody tr')).toHaveCount(4);
  await table.getByRole('button', { name: 'alpha' }).click();
  await expect(table.locator('tbody tr').first().locator('td').nth(2)).toHaveText('5');
  await table.getByRole('button', { name: 'alpha' }).click();
  await expect(table.locator('tbody tr').first().locator('td').nth(2)).toHaveText('1');
  const scatter = page.getByTestId('hyperparameter-scatter');
  await expect(scatter.getByLabel('hyperparameter on the x axis')).toHaveValue('alpha');
  await expect(scatter.locator('.recharts-scatter-symbol')).toHaveCount(4);
  await expectChartExports(page, scatter, /recharts-scatter/);
  await app.screenshot('sweep-compare');

  const download = page.waitForEvent('download');
  await page.getByTestId('export-sweep').click();
  const rows = parse(fs.readFileSync(await (await download).path(), 'utf8'), { columns: true }) as Record<string, string>[];
  expect(rows.map((r) => [r.alpha, r.runs, r.completed])).toEqual([
    ['1', '2', '2'],
    ['5', '2', '2'],
  ]);
  expect(rows.every((r) => Number.isFinite(Number(r.final_score_mean)) && Number.isFinite(Number(r.final_score_se)))).toBe(true);

  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Sweeps' }).click();
  await expect(page.getByTestId('sweeps')).toContainText('4 (4 completed)');
});
