import path from 'node:path';
import { expect, test } from './fixtures';

test.use({ concurrency: 1 });

const fixture = (name: string) => path.resolve('test/fixtures/hdf5', name);

test('a D4RL task imports its file with progress, refuses a bad one with the reason, and trains on the import', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-hopper-medium-v2').click();
  await expect(page.getByTestId('no-dataset')).toBeVisible();
  await expect(page.getByRole('form', { name: 'New run' })).toHaveCount(0);

  await page.getByLabel('dataset file').setInputFiles(fixture('bad-nan-observations.hdf5'));
  await expect(page.getByRole('alert')).toContainText('bad-nan-observations.hdf5: observations has 1 NaN or infinite value (first at row 3, column 7)');
  await expect(page.getByTestId('no-dataset')).toBeVisible();

  await page.getByLabel('dataset name').fill('my hopper');
  await page.getByLabel('dataset file').setInputFiles(fixture('hopper-medium-v2.hdf5'));
  await expect(page.getByTestId('import-done')).toContainText('Imported my hopper: 28 transitions in 3 episodes, for hopper-medium-v2.');
  const table = page.getByTestId('datasets');
  await expect(table).toContainText('my hopper');
  await expect(table).toContainText('copy');

  const form = page.getByRole('form', { name: 'New run' });
  await expect(form.locator('#field-dataset')).toContainText('my hopper (28 transitions)');
  for (const [field, value] of [
    ['trainSteps', '6'],
    ['pretrainSteps', '2'],
    ['batchSize', '8'],
    ['checkpointInterval', '4'],
    ['evalInterval', '3'],
    ['evalEpisodes', '2'],
    ['actionSamples', '16'],
  ]) {
    await page.locator(`#field-${field}`).fill(value as string);
  }
  await form.getByRole('button', { name: /^Start/ }).click();
  await expect(page).toHaveURL(/#\/live$/);
  await expect.poll(async () => (await app.listRuns()).map((r) => r.status), { timeout: 90_000 }).toEqual(['completed']);
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Tasks' }).click();
  await page.getByTestId('task-hopper-medium-v2').click();
  await expect(page.getByTestId('datasets').locator('tbody tr').first().locator('td').nth(7)).toHaveText('1');
  await app.screenshot('dataset-imported');

  // The run evaluated its policy in MuJoCo: the History page shows its normalised score.
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  const row = page.locator('[data-testid^="run-row-"]').first();
  await expect(row.locator('[title="D4RL-normalised score (0-100)"]').first()).toHaveText(/^-?\d+\.\d$/);
  await row.getByRole('link').click();
  // The run page leads with its outcome and names the dataset it trained on.
  await expect(page.getByTestId('final-metrics')).toContainText('final normalised score (0-100)');
  await expect(page.getByTestId('run-dataset')).toContainText('my hopper (id ');
  await expect(page.getByTestId('run-notes')).toHaveText('-');
  await expect(page.getByTestId('chart-Evaluation: normalised score')).toContainText('eval/normalizedScore');
  await expect(page.getByTestId('chart-Evaluation: reward or return')).toContainText('eval/return');
});

test('a -random task generates its data in MuJoCo from the task page', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-halfcheetah-random-v2').click();
  await expect(page.getByTestId('no-dataset')).toBeVisible();
  await page.getByLabel('transitions to generate').fill('abc');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('alert')).toContainText('size');
  await page.getByLabel('transitions to generate').fill('2000');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByTestId('datasets')).toContainText('halfcheetah-random-v2 generated (2,000, seed 0)', { timeout: 60_000 });
  await expect(page.getByRole('form', { name: 'New run' }).locator('#field-dataset')).toContainText('halfcheetah-random-v2 generated');
});

test('a Minari file is named by its dataset id, a flawed import never becomes the default, and the import message stays on its task page', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-hopper-medium-v2').click();
  await page.getByLabel('dataset file').setInputFiles(fixture('minari-hopper-medium.hdf5'));
  await expect(page.getByTestId('import-done')).toContainText('Imported mujoco-hopper-medium-v0: 15 transitions');
  await page.getByLabel('dataset file').setInputFiles(fixture('warn-actions-out-of-range.hdf5'));
  await expect(page.getByTestId('import-done')).toContainText('Warning: actions: 6 of 84 values lie outside [-1, 1]');
  // The newer file has warnings: the form still starts on the clean one, and marks the other.
  const select = page.getByRole('form', { name: 'New run' }).locator('#field-dataset');
  await expect(select.locator('option:checked')).toHaveText('mujoco-hopper-medium-v0 (15 transitions)');
  await expect(select).toContainText('warn-actions-out-of-range (28 transitions; 1 warning)');
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Tasks' }).click();
  await page.getByTestId('task-walker2d-medium-v2').click();
  await expect(page.getByLabel('dataset file')).toBeVisible();
  await expect(page.getByTestId('import-done')).toHaveCount(0);
});
