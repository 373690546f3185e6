import { expect, test } from './fixtures';

test('History filters, sorts and edits runs, keeps the view in the URL, and deletes after asking', async ({ app }) => {
  const { page } = app;
  await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', seeds: [1, 2], tags: ['sweep-a'] });
  await app.createRuns({ task: 'bandit-swiss-far', algo: 'kl', seeds: [3], tags: ['sweep-b'], name: 'swiss, "kl" run' });
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('3 of 3 runs');

  await page.getByLabel('tag filter').selectOption('sweep-a');
  await expect(page.getByTestId('history-count')).toHaveText('2 of 3 runs');
  await expect(page).toHaveURL(/tag=sweep-a/);
  await page.reload();
  await expect(page.getByTestId('history-count')).toHaveText('2 of 3 runs');
  await page.getByLabel('tag filter').selectOption('');
  await page.getByLabel('search').fill('swiss, "kl"');
  await expect(page.getByTestId('history-count')).toHaveText('1 of 3 runs');
  await page.getByLabel('search').fill('');

  await page.getByRole('button', { name: /^seed/ }).click();
  await expect(page.locator('[data-testid^="run-row-"]').first()).toContainText('swiss');
  await page.getByLabel('notes of run 1').fill('best so far, "really"');
  await page.getByLabel('notes of run 1').blur();
  await page.getByLabel('search').fill('really');
  await expect(page.getByTestId('history-count')).toHaveText('1 of 3 runs');
  await page.getByLabel('search').fill('');
  // Enter saves too: the edit survives a reload.
  await page.getByLabel('tags of run 2').fill('sweep-a, checked');
  await page.getByLabel('tags of run 2').press('Enter');
  await expect(page.getByLabel('tags of run 2')).not.toBeFocused();
  await expect.poll(async () => (await app.listRuns()).find((r) => r.id === 2)?.tags).toEqual(['checked', 'sweep-a']);
  await page.reload();
  await expect(page.getByLabel('tags of run 2')).toHaveValue('checked, sweep-a');

  // At 1280 pixels the whole table fits: no sideways scrolling, every header readable, every row's buttons on screen.
  const table = page.getByTestId('history-table');
  expect(await table.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
  const cutHeaders = await table.locator('[role="columnheader"]').evaluateAll((cells) => cells.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.textContent));
  expect(cutHeaders).toEqual([]);
  const actions = page.getByTestId('run-row-3').locator('.row-actions');
  expect(await actions.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
  const deleteBox = await actions.getByRole('button', { name: 'Delete' }).boundingBox();
  expect((deleteBox?.x ?? Infinity) + (deleteBox?.width ?? 0)).toBeLessThanOrEqual(1280);

  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByTestId('run-row-3').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('2 of 2 runs');
  await page.getByTestId('run-row-2').getByRole('button', { name: 'Archive' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('1 of 2 runs');
  await app.screenshot('history-filtered');
});
