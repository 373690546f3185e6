import { expect, test } from '@playwright/test';
import { startServed, tempHome } from './launch';

test('a token-protected server works in the browser and drops the token from the address bar', async ({ browser }, testInfo) => {
  test.skip(testInfo.project.name !== 'served', 'served mode only');
  const token = 'e2e-token-0123456789';
  const served = await startServed(tempHome(), ['--token', token]);
  const origin = new URL(served.url).origin;
  try {
    expect((await fetch(`${origin}/api/runs`)).status).toBe(401);
    const page = await browser.newPage();
    await page.goto(served.url);
    await expect(page.getByTestId('app-info')).toContainText('served');
    expect(page.url()).not.toContain(token);
    await page.getByRole('link', { name: 'History' }).click();
    await expect(page.getByTestId('history-empty')).toBeVisible();
    const created = await fetch(`${origin}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ task: 'bandit-25g-near', algo: 'dtql', seeds: [1] }),
    });
    expect(created.status).toBe(200);
    // The row arrives through the cookie-authorised event socket, without a reload.
    await expect(page.getByTestId('run-row-1')).toBeVisible();
    await page.close();
  } finally {
    served.process.kill('SIGTERM');
  }
});
