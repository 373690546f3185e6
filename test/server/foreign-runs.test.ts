/**
 * A run that `dtql train` trains in another process while the app is open on the same data folder
 * shows live, and the app's pause, resume and stop reach it (issue 21.3).
 */
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvent } from '../../src/api/contract';
import { apiRequest, spawnCli, startServe, tempHomes, waitFor } from '../helpers';

const freshHome = tempHomes();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('runs started elsewhere', () => {
  it('a CLI run appears live in the app within about 2 s, and the app pauses, resumes and stops it', async () => {
    const home = freshHome();
    // A server free to train would take a queued run: the CLI's run is never queued.
    const served = await startServe(home, ['--concurrency', '1']);
    children.push(served.child);
    const socket = new WebSocket(`${served.base.replace('http', 'ws')}/api/events`);
    const events: { at: number; event: ApiEvent }[] = [];
    socket.on('message', (data) => events.push({ at: Date.now(), event: JSON.parse(String(data)) as ApiEvent }));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });

    const cli = spawnCli(['--home', home, 'train', '--task', 'bandit-25g-far', '--preset', 'quick', '--steps', '100000', '--set', 'batchSize=32', '--set', 'scoreHidden=32', '--set', 'checkpointInterval=50']);
    children.push(cli);
    let cliErr = '';
    cli.stderr?.on('data', (d: Buffer) => (cliErr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    const progressOf = () => events.filter((e) => e.event.type === 'run-progress' && e.event.runId === 1).map((e) => ({ at: e.at, step: (e.event as { step: number }).step }));

    // Live: progress events arrive without asking, at most about 2 s apart, their steps climbing.
    await waitFor(() => progressOf().length, (n) => n >= 4, 'four progress events of the CLI run', 60_000);
    const seen = progressOf();
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.step).toBeGreaterThan(seen[i - 1]!.step);
      expect(seen[i]!.at - seen[i - 1]!.at).toBeLessThan(2500);
    }
    expect(events.some((e) => e.event.type === 'runs-changed' && e.event.runIds.includes(1))).toBe(true);
    // A page opened now gets it from the progress list, with the step the CLI reached.
    const listed = (await apiRequest(served.base, 'GET', '/api/progress')).body as unknown as { runId: number; step: number; total: number }[];
    expect(listed.find((p) => p.runId === 1)?.step).toBeGreaterThan(0);

    expect((await apiRequest(served.base, 'POST', '/api/runs/1/pause', {})).status).toBe(200);
    await waitFor(() => apiRequest(served.base, 'GET', '/api/runs/1'), (r) => r.body.status === 'paused', 'the CLI run to pause', 10_000);
    const heldAt = (await apiRequest(served.base, 'GET', '/api/runs/1')).body.stepsDone as number;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await apiRequest(served.base, 'GET', '/api/runs/1')).body.stepsDone).toBe(heldAt);
    expect((await apiRequest(served.base, 'POST', '/api/runs/1/resume', {})).status).toBe(200);
    await waitFor(() => apiRequest(served.base, 'GET', '/api/runs/1'), (r) => r.body.status === 'running' && (r.body.stepsDone as number) > heldAt, 'the CLI run to go on', 10_000);
    const stopAt = Date.now();
    expect((await apiRequest(served.base, 'POST', '/api/runs/1/stop', {})).status).toBe(200);
    expect(await exited, cliErr).toBe(0);
    const stopped = (await apiRequest(served.base, 'GET', '/api/runs/1')).body;
    expect(stopped.status).toBe('stopped');
    // The open page hears of the end without asking.
    await waitFor(() => events.some((e) => e.at > stopAt && e.event.type === 'runs-changed' && e.event.runIds.includes(1)), (ok) => ok, 'the app to announce the end', 5000);
    socket.close();
  }, 120_000);
});
