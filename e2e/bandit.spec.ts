import { expect, expectChartExports, test } from './fixtures';

test.use({ concurrency: 2 });

test('Compare runs trust region and KL on bandit-25g-hard in one click and draws both scatters with their numbers', async ({ app }) => {
  const { page } = app;
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Compare' }).click();
  const section = page.getByRole('region', { name: 'Trust region versus KL' });
  await expect(section.getByLabel('bandit task')).toHaveValue('bandit-25g-hard');
  await expect(section.getByTestId('bandit-scatter')).toHaveCount(2);
  await section.getByLabel('training steps').fill('250');
  await section.getByRole('button', { name: 'Run trust region and KL' }).click();
  await expect(page).toHaveURL(/tr=\d+&kl=\d+/);
  const [, trId, klId] = /tr=(\d+)&kl=(\d+)/.exec(page.url()) as RegExpExecArray;
  // Away and back through the navigation: Compare still shows the pair while it trains.
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Compare' }).click();
  await expect(section.getByTestId('panel-Trust region')).toContainText(`run ${trId} · step`);
  await expect(section.getByTestId('panel-KL')).toContainText(`run ${klId} · step`);
  await expect(section).not.toContainText('not started');
  for (const title of ['Trust region', 'KL']) {
    const outcome = section.getByTestId(`outcome-${title}`);
    // Numbers appear with the first evaluation (step 250 of training).
    await expect(outcome.locator('dd').first()).toHaveText(/^-?\d+\.\d+$/, { timeout: 150_000 });
    await expect(outcome.locator('dd').nth(1)).toHaveText(/^\d\.\d{3}$/);
    await expect(outcome.locator('dd').nth(2)).toHaveText(/^\d\.\d{3}$/);
  }
  // Each saved scatter carries its key: what the red dots and rings are.
  await expectChartExports(page, section.getByTestId('panel-Trust region'), /dataset action \(colour: reward\)[\s\S]*policy action[\s\S]*beyond the plot/);
  await app.screenshot('tr-vs-kl');
});
