import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { expect, expectChartExports, test } from './fixtures';

test.use({ concurrency: 2 });

/** A short real training: a few steps with evaluations, so every run has curves and outcomes. */
const short = { trainSteps: 20, pretrainSteps: 4, evalInterval: 10, logInterval: 5, checkpointInterval: 20 };

test('History filters tagged runs into Compare, which draws seed bands and a summary, and both CSVs download', async ({ app }) => {
  const { page } = app;
  const tr = await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [1, 2], tags: ['study'], overrides: short });
  const kl = await app.createRuns({ task: 'bandit-25g-near', algo: 'kl', preset: 'quick', seeds: [1, 2], tags: ['study'], overrides: short });
  await app.createRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [3], tags: ['other'], overrides: short });
  await expect
    .poll(async () => (await app.listRuns()).map((r) => r.status), { timeout: 150_000, intervals: [1000] })
    .toEqual(['completed', 'completed', 'completed', 'completed', 'completed']);

  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('5 of 5 runs');
  await page.getByLabel('tag filter').selectOption('study');
  await expect(page.getByTestId('history-count')).toHaveText('4 of 5 runs');
  const today = new Date();
  const day = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
  await page.getByLabel('created from').fill(day);
  await expect(page.getByTestId('history-count')).toHaveText('4 of 5 runs');
  await page.getByLabel('created to').fill('2000-01-01');
  await expect(page.getByText(/ends before it starts/)).toBeVisible();
  await page.getByLabel('created to').fill('');
  await page.getByLabel('created from').fill('');

  // Both CSVs of the filtered view, downloaded as a user would.
  const summaryDownload = page.waitForEvent('download');
  await page.getByTestId('export-runs').click();
  const summary = parse(fs.readFileSync(await (await summaryDownload).path(), 'utf8'), { columns: true }) as Record<string, string>[];
  expect(summary.map((r) => Number(r.run_id))).toEqual([...tr, ...kl]);
  expect(summary.every((r) => r.tags === 'study' && r.status === 'completed' && r.trainSteps === '20')).toBe(true);
  const metricsDownload = page.waitForEvent('download');
  await page.getByTestId('export-metrics').click();
  const metrics = parse(fs.readFileSync(await (await metricsDownload).path(), 'utf8'), { columns: true }) as Record<string, string>[];
  expect(new Set(metrics.map((r) => Number(r.run_id)))).toEqual(new Set([...tr, ...kl]));
  expect(metrics.filter((r) => r.run_id === String(tr[0]) && r.metric === 'eval/meanReward').map((r) => r.step)).toEqual(['14', '24']); // steps count the 4 pretraining steps too

  await page.getByLabel('select every shown run').check();
  await page.getByTestId('compare-selected').click();
  await expect(page).toHaveURL(new RegExp(`compare\\?ids=${[...kl, ...tr].sort((a, b) => b - a).join(',')}$`));
  const chart = page.getByTestId('compare-chart');
  await expect(chart.locator('.recharts-area')).toHaveCount(2);
  await expect(chart).toContainText('dtql · bandit-25g-near (n=2)');
  await expect(chart).toContainText('kl · bandit-25g-near (n=2)');
  await expect(page.getByTestId('band-label')).toContainText('standard error');
  await page.getByLabel('band', { exact: true }).selectOption('minmax');
  await expect(page.getByTestId('band-label')).toContainText('min to max');
  const rows = page.getByTestId('compare-summary').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toContainText(/dtql · bandit-25g-near\s*2\s*[\d.]+ ± [\d.]+/);
  await expect(rows.nth(1)).toContainText(/kl · bandit-25g-near\s*2\s*[\d.]+ ± [\d.]+/);
  await app.screenshot('compare-groups');
  // The group summary CSV keeps numbers as numbers: mean, standard error and n in columns of their own.
  const groupDownload = page.waitForEvent('download');
  await page.getByTestId('export-summary').click();
  const groupRows = parse(fs.readFileSync(await (await groupDownload).path(), 'utf8'), { columns: true }) as Record<string, string>[];
  expect(groupRows.map((r) => r.group)).toEqual(['dtql · bandit-25g-near', 'kl · bandit-25g-near']);
  for (const row of groupRows) {
    expect(row.final_n).toBe('2');
    expect(Number.isFinite(Number(row.final_mean)) && Number.isFinite(Number(row.final_se))).toBe(true);
    expect(Object.values(row).some((cell) => cell.includes('±'))).toBe(false);
  }

  await expectChartExports(page, chart, /recharts-area/);

  // A run's charts: the metric picker and a click on a legend entry take a series off and back on; the y axis goes logarithmic.
  await page.evaluate((id) => (window.location.hash = `#/runs/${id}`), tr[0] as number);
  const critic = page.getByTestId('chart-Critic');
  const lines = critic.locator('path.recharts-line-curve');
  await expect.poll(() => lines.count()).toBeGreaterThan(1);
  const all = await lines.count();
  await page.getByTestId('metric-picker').locator('summary').click();
  await page.getByTestId('metric-picker').getByLabel('critic', { exact: true }).uncheck();
  await expect(lines).toHaveCount(all - 1);
  await expect(critic.locator('.recharts-legend-item', { hasText: /^critic$/ })).toHaveCount(1);
  await critic.locator('.recharts-legend-item', { hasText: /^critic$/ }).click();
  await expect(lines).toHaveCount(all);
  await page.getByLabel('log y axis').check();
  await expect.poll(() => lines.count()).toBeGreaterThan(0);
  // Every tick of a log axis is above 0.
  const ticks = (await critic.locator('.recharts-yAxis-tick-labels .recharts-cartesian-axis-tick-value').allTextContents()).map(Number);
  expect(ticks.length).toBeGreaterThan(1);
  expect(ticks.every((t) => t > 0)).toBe(true);

  // The run's newest checkpoint downloads as safetensors: a u64 header length, a JSON header naming each tensor, the data.
  const checkpointDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download checkpoint (safetensors)' }).click();
  const download = await checkpointDownload;
  expect(download.suggestedFilename()).toMatch(new RegExp(`^dtql-run-${tr[0]}-step-\\d+\\.safetensors$`));
  const file = fs.readFileSync(await download.path());
  const { __metadata__: metadata, ...entries } = JSON.parse(file.toString('utf8', 8, 8 + Number(file.readBigUInt64LE(0)))) as { __metadata__: { meta: string } } & Record<string, unknown>;
  const tensors = Object.entries(entries as Record<string, { dtype: string; data_offsets: [number, number] }>);
  expect(tensors.some(([k]) => k.startsWith('params/'))).toBe(true);
  expect(tensors.every(([, t]) => t.dtype === 'F32')).toBe(true);
  expect(8 + Number(file.readBigUInt64LE(0)) + Math.max(...tensors.map(([, t]) => t.data_offsets[1]))).toBe(file.length);
  expect(JSON.parse(metadata.meta)).toMatchObject({ algo: 'dtql', trainStepsDone: 20 });
});
