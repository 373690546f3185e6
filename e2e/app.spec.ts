import { expect, test } from './fixtures';

const PAGES = [
  { link: 'Tasks', heading: 'Tasks', shot: 'tasks' },
  { link: 'Live run', heading: 'Live runs', shot: 'live' },
  { link: 'Compare', heading: 'Compare', shot: 'compare' },
  { link: 'History', heading: 'History', shot: 'history' },
  { link: 'Reproduce', heading: 'Reproduce the toy figure', shot: 'reproduce' },
];

test('the app opens on the task catalog', async ({ app }) => {
  const { page } = app;
  await expect(page).toHaveTitle('DTQL Workbench');
  await expect(page.getByRole('heading', { name: 'Tasks', level: 1 })).toBeVisible();
  await expect(page.getByTestId('task-bandit-25g-hard')).toBeVisible();
  await expect(page.getByTestId('app-info')).toContainText(/served|desktop/);
});

test('navigation reaches every page, with a screenshot of each', async ({ app }) => {
  const { page } = app;
  await app.createRuns({ task: 'bandit-25g-far', algo: 'dtql', seeds: [0], tags: ['screenshot'] });
  for (const p of PAGES) {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: p.link }).click();
    await expect(page.getByRole('heading', { name: p.heading, level: 1 })).toBeVisible();
    await app.screenshot(p.shot);
  }
});

test('a task shows its paper preset for both algorithms', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-bandit-swiss-far').click();
  await page.getByText(/^Preset paper/).click();
  const preset = page.getByTestId('preset-paper');
  await expect(preset).toBeVisible();
  await expect(preset.getByRole('row', { name: /^eta/ })).toContainText('5');
  await expect(preset.getByRole('row', { name: /^trainSteps/ })).toContainText('3500');
  await app.screenshot('task-detail');
});

test('the run form starts from the task default for this machine and switches to any other preset of the task', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-bandit-swiss-far').click();
  const form = page.getByRole('form', { name: 'New run' });
  const presetField = form.locator('#field-preset');
  // This machine trains on a CPU: quick is the default, as for `dtql train`.
  await expect(presetField).toHaveValue('quick');
  await expect(presetField.locator('option')).toHaveText(['quick (default on this CPU)', 'paper']);
  await expect(page.locator('#field-batchSize')).toHaveValue('256');
  await presetField.selectOption('paper');
  await expect(page.locator('#field-batchSize')).toHaveValue('10000');
  await expect(page.locator('#field-trainSteps')).toHaveValue('3500');
  await expect(page.getByTestId('preset-description')).toContainText('official toy script');
  await form.getByRole('button', { name: /^Start/ }).click();
  await expect(page).toHaveURL(/#\/live$/);
  const [run] = await app.listRuns();
  expect(run).toMatchObject({ task: 'bandit-swiss-far', preset: 'paper', seed: 2 });
});

test('History shows the empty state, then runs created through the API, live', async ({ app }) => {
  const { page } = app;
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('history-empty')).toBeVisible();
  const [id] = await app.createRuns({ task: 'bandit-25g-hard', algo: 'dtql', seeds: [7], name: 'e2e, "quoted" run', tags: ['e2e'] });
  const row = page.getByTestId(`run-row-${id}`);
  await expect(row).toBeVisible();
  await expect(row).toContainText('e2e, "quoted" run');
  await expect(row).toContainText('queued');
  await expect(row).toContainText('e2e');
  await row.getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(`Run ${id}`);
});

test('Compare shows only the hyperparameters that differ', async ({ app }) => {
  const { page } = app;
  const [a] = await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', seeds: [1] });
  const [b] = await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', seeds: [1], overrides: { alpha: 2.5 } });
  await page.getByRole('link', { name: 'Compare' }).click();
  await page.getByTestId(`compare-pick-${a}`).check();
  await page.getByTestId(`compare-pick-${b}`).check();
  const diff = page.getByTestId('config-diff');
  await expect(diff).toBeVisible();
  await expect(diff.getByRole('row')).toHaveCount(2);
  await expect(diff).toContainText('alpha');
  await expect(diff).toContainText('2.5');
});

test('"New run from this one" opens the run form with that run\'s settings, to edit and start', async ({ app }) => {
  const { page } = app;
  const [id] = await app.createRuns({ task: 'bandit-25g-near', algo: 'kl', preset: 'quick', seeds: [5], tags: ['base'], name: 'kl base', overrides: { trainSteps: 20, criticLr: 0.001 } });
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await page.getByTestId(`run-row-${id}`).getByRole('link', { name: 'kl base' }).click();
  await page.getByTestId('new-run-from-this').click();
  await expect(page).toHaveURL(new RegExp(`#/tasks/bandit-25g-near\\?from=${id}$`));
  const form = page.getByRole('form', { name: 'New run' });
  await expect(page.getByTestId('run-form-source')).toContainText(`Starting from run ${id} (kl base)`);
  await expect(form.locator('#field-algo')).toHaveValue('kl');
  await expect(form.locator('#field-trainSteps')).toHaveValue('20');
  await expect(form.locator('#field-criticLr')).toHaveValue('0.001');
  await expect(page.getByTestId('changed-count')).toHaveText('2 changed from the quick preset: criticLr, trainSteps');
  await form.locator('#field-seeds').fill('6');
  await form.locator('#field-trainSteps').fill('30');
  await form.getByRole('button', { name: /^Start/ }).click();
  await expect(page).toHaveURL(/#\/live$/);
  const copy = (await app.listRuns()).find((r) => r.id !== id);
  expect(copy).toMatchObject({ algo: 'kl', seed: 6, preset: 'quick', tags: ['base'], name: 'kl base (again)', stepsTotal: 500 + 30 });
});
