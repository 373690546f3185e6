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

test('History fetches its runs a page at a time as the table scrolls, and counts them all', async ({ app }) => {
  const { page } = app;
  const seeds = Array.from({ length: 100 }, (_, i) => i);
  for (const task of ['bandit-25g-near', 'bandit-25g-far', 'bandit-25g-hard', 'bandit-swiss-far', 'bandit-swiss-near']) await app.createRuns({ task, algo: 'dtql', seeds });
  const asked: { limit: number; offset: number }[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname === '/api/runs' && request.method() === 'GET') asked.push({ limit: Number(url.searchParams.get('limit')), offset: Number(url.searchParams.get('offset')) });
  });
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('500 of 500 runs');
  await expect(page.getByTestId('run-row-500')).toBeVisible();
  // Only the first page so far: the table does not hold what is off screen.
  expect(asked.every((a) => a.offset === 0 && a.limit <= 200)).toBe(true);
  await page.getByTestId('history-table').evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(page.getByTestId('run-row-1')).toBeVisible();
  expect(new Set(asked.map((a) => a.offset))).toContain(400);
  expect(Math.max(...asked.map((a) => a.limit))).toBeLessThanOrEqual(200);
  // The middle, reached by scrolling back, is fetched when it comes on screen.
  await page.getByTestId('history-table').evaluate((el) => el.scrollTo(0, el.scrollHeight / 2));
  await expect(page.getByTestId('run-row-250')).toBeVisible();
  await app.screenshot('history-paged');
});

test('History works from the keyboard, and the app follows a dark system setting', async ({ app }) => {
  const { page } = app;
  await app.createRuns({ task: 'bandit-25g-near', algo: 'dtql', seeds: [1, 2, 3] });
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'History' }).click();
  await expect(page.getByTestId('history-count')).toHaveText('3 of 3 runs');
  const table = page.getByTestId('history-table');
  await table.focus();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByTestId('run-row-3')).toHaveAttribute('aria-current', 'true');
  await page.keyboard.press('ArrowDown');
  await expect(page.getByTestId('run-row-2')).toHaveAttribute('aria-current', 'true');
  await page.keyboard.press(' ');
  await expect(page.getByLabel('select run 2')).toBeChecked();
  await expect(page.getByTestId('compare-selected')).toHaveText('Compare selected (1)');
  await page.keyboard.press('End');
  await expect(page.getByTestId('run-row-1')).toHaveAttribute('aria-current', 'true');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#\/runs\/1$/);

  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goBack();
  const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  expect(background).toBe('rgb(15, 20, 28)');
  const panel = await table.evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(panel).toBe('rgb(23, 29, 39)');
  await app.screenshot('history-dark');
});
