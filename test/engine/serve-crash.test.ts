import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { apiRequest, startServe, tempHome, waitFor } from '../helpers';

const children: ChildProcess[] = [];
const homes: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});

async function serve(home: string) {
  const served = await startServe(home, ['--concurrency', '1']);
  children.push(served.child);
  return served;
}
const api = async (base: string, method: string, url: string, body?: unknown) => (await apiRequest(base, method, url, body)).body;
const until = waitFor;

describe('served mode killed mid-run', () => {
  it('keeps every flushed metric and an intact database, and the run resumes after a restart', async () => {
    const home = tempHome();
    homes.push(home);
    const first = await serve(home);
    const overrides = { batchSize: 32, scoreHidden: 32, logInterval: 1, checkpointInterval: 25, evalInterval: 100, trainSteps: 300 };
    const { runIds } = (await api(first.base, 'POST', '/api/runs', { task: 'bandit-25g-far', algo: 'dtql', seeds: [1], overrides })) as { runIds: number[] };
    const id = runIds[0] as number;
    const db = openDatabase(home);
    const rows = () => db.prepare("SELECT count(*) FROM metrics WHERE run_id = ? AND name = 'critic'").pluck().get(id) as number;
    await until(rows, (n) => n >= 40, 'metrics to be flushed');
    const flushed = rows();
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    // The orphaned training process notices and stops with a checkpoint, or is found dead on restart.
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    const second = await serve(home);
    const run = await until(
      () => api(second.base, 'GET', `/api/runs/${id}`),
      (r) => ['stopped', 'interrupted'].includes(r.status as string),
      'the run to end after its server died',
    );
    const check = openDatabase(home);
    expect(check.prepare("SELECT count(*) FROM metrics WHERE run_id = ? AND name = 'critic'").pluck().get(id) as number).toBeGreaterThanOrEqual(flushed);
    check.close();
    expect(run.stepsDone as number).toBeLessThan(300);
    await api(second.base, 'POST', `/api/runs/${id}/resume`, {});
    const done = await until(() => api(second.base, 'GET', `/api/runs/${id}`), (r) => r.status === 'completed', 'the resumed run to complete', 120_000);
    expect(done.stepsDone).toBe(300);
  }, 240_000);
});
