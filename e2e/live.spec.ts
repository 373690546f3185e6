import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, expectChartExports, test } from './fixtures';
import { REPO_ROOT } from './launch';

test.use({ concurrency: 1 });

const stepOf = async (text: Promise<string | null>) => Number(/step ([\d,]+)/.exec((await text) ?? '')?.[1]?.replace(/,/g, '') ?? 0);

test('the new-run form validates as typed and a started run trains live, pauses, resumes and stops', async ({ app }) => {
  const { page } = app;
  await page.getByTestId('task-bandit-25g-hard').click();
  const form = page.getByRole('form', { name: 'New run' });
  await expect(form).toBeVisible();
  const start = form.getByRole('button', { name: /^Start/ });

  // The algorithm's name fits its select: the text's drawn width plus padding and the arrow.
  const fits = await page.locator('#field-algo').evaluate((el) => {
    const select = el as HTMLSelectElement;
    const context = document.createElement('canvas').getContext('2d') as CanvasRenderingContext2D;
    context.font = getComputedStyle(select).font;
    const text = select.options[select.selectedIndex]?.text ?? '';
    return { text, needed: context.measureText(text).width + 40, width: select.clientWidth };
  });
  expect(fits.text).toBe('Trust region (DTQL)');
  expect(fits.needed).toBeLessThanOrEqual(fits.width);
  await page.locator('#field-algo').selectOption('kl');
  await expect(page.locator('#field-fakeScoreFromDiffusion')).toBeVisible();
  await expect(page.locator('#field-policyInitLogStd')).toHaveCount(0);
  await page.locator('#field-algo').selectOption('dtql');

  await page.locator('#field-lr').fill('-1');
  await expect(page.getByTestId('note-lr')).toHaveText('must be above 0');
  await page.locator('#field-batchSize').fill('abc');
  await expect(page.getByTestId('note-batchSize')).toHaveText('must be a number in decimal notation (e.g. 0.5 or 3e-4)');
  await page.locator('#field-evalInterval').fill('0x10');
  await expect(page.getByTestId('note-evalInterval')).toHaveText(/decimal notation/);
  await page.locator('#field-trainSteps').fill('1e400');
  await expect(page.getByTestId('note-trainSteps')).toHaveText('is too large');
  // Every setting the CLI and sweeps take is in the form; those of one algorithm show for it alone.
  for (const key of ['discount', 'tau', 'scoreHidden', 'timeEmbedDim', 'policyInitLogStd', 'gamma']) await expect(page.locator(`#field-${key}`)).toBeVisible();
  await expect(page.locator('#field-fakeScoreFromDiffusion')).toHaveCount(0);
  await expect(start).toBeDisabled();
  await app.screenshot('form-invalid');
  await form.getByRole('button', { name: /Reset to quick preset/ }).click();
  await expect(page.getByTestId('note-lr')).toHaveText('');
  await expect(start).toBeEnabled();

  for (const [field, value] of [
    ['trainSteps', '1500'],
    ['batchSize', '32'],
    ['logInterval', '5'],
    ['evalInterval', '100'],
    ['checkpointInterval', '200'],
  ]) {
    await page.locator(`#field-${field}`).fill(value as string);
  }
  await expect(page.getByTestId('note-trainSteps')).toHaveText('preset: 6000');
  await expect(page.getByTestId('changed-count')).toContainText('5 changed');
  await page.locator('#field-name').fill('live e2e run');
  await start.click();

  await expect(page).toHaveURL(/#\/live$/);
  const card = page.locator('[data-testid^="live-run-"]').first();
  await expect(card).toBeVisible();
  const progressText = card.locator('[data-testid^="live-progress-"]');
  await expect.poll(() => stepOf(progressText.textContent()), { timeout: 60_000 }).toBeGreaterThan(20);
  await expect(card.getByTestId('chart-Critic').locator('path.recharts-curve').first()).toBeVisible({ timeout: 20_000 });
  const before = await stepOf(progressText.textContent());
  await expect.poll(() => stepOf(progressText.textContent()), { timeout: 30_000 }).toBeGreaterThan(before);
  await expect(card.locator('progress')).toHaveAttribute('value', /[1-9]/);
  await app.screenshot('live-training');
  // Evaluation outcomes of different scales get axes of their own.
  await expect(card.getByTestId('chart-Evaluation: share of actions')).toContainText('eval/inSupportFraction', { timeout: 60_000 });
  await expect(card.getByTestId('chart-Evaluation: share of actions')).not.toContainText('eval/meanReward');
  await expect(card.getByTestId('chart-Evaluation: reward or return')).toContainText('eval/meanReward');

  await card.getByRole('button', { name: 'Pause' }).click();
  await expect(card.locator('.badge')).toHaveText('paused', { timeout: 20_000 });
  await expect(progressText).toContainText('paused');
  await expect(progressText).not.toContainText('steps/s');
  await card.getByRole('button', { name: 'Resume' }).click();
  await expect(card.locator('.badge')).toHaveText('running', { timeout: 20_000 });
  await card.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('live-empty')).toBeVisible({ timeout: 30_000 });

  await page.getByRole('link', { name: 'History' }).click();
  const row = page.getByRole('row', { name: /live e2e run/ });
  await expect(row).toContainText('stopped');
  await row.getByRole('link').click();
  await expect(page.getByTestId('chart-Critic')).toBeVisible();
  await expectChartExports(page, page.getByTestId('chart-Critic'), /recharts-curve/);
  await app.screenshot('run-page');
});

test('a run that dtql train starts in another process shows live without a reload, and the app pauses and stops it', async ({ app }) => {
  const { page } = app;
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Live' }).click();
  await expect(page.getByTestId('live-empty')).toBeVisible();
  const cli = spawn(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'dtql.js'), '--home', app.home, 'train', '--task', 'bandit-25g-hard', '--preset', 'quick', '--steps', '100000', '--set', 'batchSize=32', '--name', 'cli run'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  cli.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
  try {
    const card = page.locator('[data-testid^="live-run-"]').filter({ hasText: 'cli run' });
    await expect(card).toBeVisible({ timeout: 30_000 });
    const progressText = card.locator('[data-testid^="live-progress-"]');
    await expect.poll(() => stepOf(progressText.textContent()), { timeout: 30_000 }).toBeGreaterThan(0);
    // Each new look at the run's step comes within about 2 s of the last, as the CLI trains.
    for (let i = 0; i < 3; i++) {
      const seen = await stepOf(progressText.textContent());
      await expect.poll(() => stepOf(progressText.textContent()), { timeout: 2500, intervals: [100] }).toBeGreaterThan(seen);
    }
    await app.screenshot('live-cli-run');

    await card.getByRole('button', { name: 'Pause' }).click();
    await expect(card.locator('.badge')).toHaveText('paused', { timeout: 10_000 });
    await card.getByRole('button', { name: 'Resume' }).click();
    await expect(card.locator('.badge')).toHaveText('running', { timeout: 10_000 });
    await card.getByRole('button', { name: 'Stop' }).click();
    expect(await exited, stderr).toBe(0);
    await expect(page.getByTestId('live-empty')).toBeVisible({ timeout: 10_000 });
  } finally {
    cli.kill('SIGKILL');
  }
});
