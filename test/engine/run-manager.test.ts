import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApiEvent } from '../../src/api/contract';
import { EventHub } from '../../src/engine/events';
import { RunManager } from '../../src/engine/local/run-manager';
import { planRuns } from '../../src/engine/plan';
import { openDatabase, type Db } from '../../src/store/db';
import { readMetric } from '../../src/store/metrics';
import { getRun, insertRuns } from '../../src/store/runs';
import { tempHome } from '../helpers';

const SMALL = { batchSize: 32, scoreHidden: 32, logInterval: 1, evalInterval: 50, checkpointInterval: 20 };

interface Harness {
  db: Db;
  home: string;
  events: ApiEvent[];
  manager: RunManager;
}
const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    await h.manager.shutdown(2000);
    h.db.close();
    fs.rmSync(h.home, { recursive: true, force: true });
  }
});

function harness(concurrency: number): Harness {
  const home = tempHome();
  const db = openDatabase(home);
  const hub = new EventHub();
  const events: ApiEvent[] = [];
  hub.subscribe((e) => events.push(e));
  const h = { db, home, events, manager: new RunManager(db, home, hub, concurrency) };
  harnesses.push(h);
  return h;
}

const queue = (h: Harness, seeds: number[], trainSteps: number) =>
  insertRuns(h.db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'paper', seeds, tags: [], overrides: { ...SMALL, trainSteps } }));

async function until(condition: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('run queue and training processes', () => {
  it('never trains more runs at once than the concurrency limit, and finishes them all', async () => {
    const h = harness(1);
    const ids = queue(h, [1, 2], 30);
    let maxRunning = 0;
    h.manager.schedule();
    await until(() => {
      const statuses = ids.map((id) => getRun(h.db, id).status);
      maxRunning = Math.max(maxRunning, statuses.filter((s) => s === 'running' || s === 'paused').length, h.manager.activeRunIds.length);
      return statuses.every((s) => s === 'completed');
    }, 'both runs to complete');
    expect(maxRunning).toBe(1);
    expect(h.events.some((e) => e.type === 'run-progress')).toBe(true);
  }, 120_000);

  it('a training process killed with SIGKILL leaves its run interrupted with a message; resuming finishes it', async () => {
    const h = harness(1);
    const [id] = queue(h, [3], 400) as [number];
    h.manager.schedule();
    await until(() => getRun(h.db, id).stepsDone >= 25, 'the run to pass its first checkpoint');
    // The store names its owner (this process); the training process is the manager's child.
    expect(h.db.prepare('SELECT owner_pid FROM runs WHERE id = ?').pluck().get(id)).toBe(process.pid);
    const pid = h.manager.trainingPid(id) ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(pid).not.toBe(process.pid);
    process.kill(pid, 'SIGKILL');
    // Every step the process reported is in the store: a SIGKILL loses only what it had not sent.
    const reported = Math.max(...h.events.flatMap((e) => (e.type === 'run-progress' && e.runId === id ? [e.step] : [])));
    expect(reported).toBeGreaterThan(0);
    await until(() => getRun(h.db, id).status === 'interrupted', 'the run to be marked interrupted');
    expect(getRun(h.db, id).stepsDone).toBeGreaterThanOrEqual(reported);
    expect(getRun(h.db, id).error).toMatch(/killed \(SIGKILL\)/);
    h.manager.resume(id);
    await until(() => getRun(h.db, id).status === 'completed', 'the resumed run to complete');
    expect(getRun(h.db, id).stepsDone).toBe(400);
    const steps = readMetric(h.db, id, 'critic').map((r) => r.step);
    expect(steps.at(-1)).toBe(400);
    expect(new Set(steps).size).toBe(steps.length);
    expect(readMetric(h.db, id, 'event/resume').length).toBe(1);
  }, 180_000);

  it('pauses and resumes a training run, and stops one with a final checkpoint', async () => {
    const h = harness(1);
    const [id] = queue(h, [4], 2000) as [number];
    h.manager.schedule();
    await until(() => getRun(h.db, id).stepsDone >= 5, 'the run to start');
    h.manager.pause(id);
    await until(() => getRun(h.db, id).status === 'paused', 'the run to pause');
    const heldAt = getRun(h.db, id).stepsDone;
    await new Promise((r) => setTimeout(r, 3000));
    expect(getRun(h.db, id).stepsDone).toBe(heldAt);
    h.manager.resume(id);
    await until(() => getRun(h.db, id).status === 'running' && getRun(h.db, id).stepsDone > heldAt, 'the run to continue');
    h.manager.stop(id);
    await until(() => getRun(h.db, id).status === 'stopped', 'the run to stop');
    const stoppedAt = getRun(h.db, id).stepsDone;
    expect(stoppedAt).toBeLessThan(2000);
    const newest = h.db.prepare('SELECT max(step) FROM checkpoints WHERE run_id = ?').pluck().get(id);
    expect(newest).toBe(stoppedAt);
    // The duration is training time: the 3 s paused count in the wall-clock span only.
    const { durationSec, wallSec } = getRun(h.db, id);
    expect(durationSec).toBeGreaterThan(0);
    expect((wallSec as number) - (durationSec as number)).toBeGreaterThanOrEqual(2.8);
    expect(() => h.manager.pause(id)).toThrow(/not training/);
  }, 180_000);
});
