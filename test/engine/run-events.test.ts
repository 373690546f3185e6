import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from '../../src/engine/events';
import { RunManager } from '../../src/engine/local/run-manager';
import { applyRunEvent, type RunEvent } from '../../src/engine/training/run-events';
import { checkpointFile, writeRunCheckpoint } from '../../src/engine/training/checkpoint';
import { planRuns } from '../../src/engine/plan';
import { nodeTraining, type SpawnTraining } from '../../src/engine/local/training-process';
import { listCheckpoints } from '../../src/store/checkpoints';
import { openDatabase, type Db } from '../../src/store/db';
import { readMetric } from '../../src/store/metrics';
import { claimRun, getRun, insertRuns } from '../../src/store/runs';
import { REPO_ROOT, tempHomes } from '../helpers';

const freshHome = tempHomes();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'processes');
const SMALL = { batchSize: 32, scoreHidden: 32, logInterval: 1, evalInterval: 40, checkpointInterval: 25, pretrainSteps: 10 };

function store(): { db: Db; home: string } {
  const home = freshHome();
  const db = openDatabase(home);
  cleanups.push(() => {
    db.close();
  });
  return { db, home };
}

const queueRun = (db: Db, trainSteps: number) => insertRuns(db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [7], tags: [], overrides: { ...SMALL, trainSteps } }))[0] as number;

/** Training processes forked as the app forks them, with extra Node flags or another script. */
function forkWith(execArgv: string[], script?: string): SpawnTraining {
  const spawn = nodeTraining(execArgv);
  return (entry, args) => spawn(script ?? entry, args);
}

async function until(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function manager(db: Db, home: string, spawn: SpawnTraining): RunManager {
  const m = new RunManager(db, home, new EventHub(), 1, spawn);
  cleanups.push(() => m.shutdown(2000));
  return m;
}

describe('run events: training processes never open the store', () => {
  it('the no-sqlite flag really keeps better-sqlite3 from loading', () => {
    const probe = spawnSync(process.execPath, ['--import', path.join(FIXTURES, 'no-sqlite.mjs'), '-e', "require('better-sqlite3')"], { encoding: 'utf8' });
    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toMatch(/better-sqlite3 is not loadable/);
  });

  it('a run trains to the end in a process that cannot load better-sqlite3, with every metric row in the store', async () => {
    const { db, home } = store();
    const id = queueRun(db, 60);
    const m = manager(db, home, forkWith(['--import', path.join(FIXTURES, 'no-sqlite.mjs')]));
    m.schedule();
    await until(() => !['queued', 'running'].includes(getRun(db, id).status), 'the run to end');
    const run = getRun(db, id);
    expect(run.error).toBeNull();
    expect(run).toMatchObject({ status: 'completed', stepsDone: run.stepsTotal });
    // logInterval 1: every step, pretraining included, logged its losses.
    const loggedSteps = db.prepare("SELECT count(DISTINCT step) FROM metrics WHERE run_id = ? AND name NOT LIKE 'eval/%' AND name NOT LIKE 'event/%'").pluck().get(id);
    expect(loggedSteps).toBe(run.stepsTotal);
    expect(readMetric(db, id, 'eval/meanReward').length).toBeGreaterThan(0);
    expect(listCheckpoints(db, id)[0]?.step).toBe(run.stepsTotal);
  }, 180_000);

  it('a malformed event fails its run with the reason and applies nothing of itself', async () => {
    const { db, home } = store();
    const id = queueRun(db, 60);
    const m = manager(db, home, forkWith([], path.join(FIXTURES, 'malformed-events.mjs')));
    m.schedule();
    await until(() => getRun(db, id).status === 'failed', 'the run to fail');
    expect(getRun(db, id).error).toMatch(/the training process sent a malformed event \(.*rows.*value.*\); nothing of it was applied/);
    // The well-formed event before it landed; nothing of the malformed one did.
    expect(readMetric(db, id, 'critic')).toEqual([{ step: 1, value: 0.5 }]);
    expect(getRun(db, id).stepsDone).toBe(1);
  }, 60_000);
});

describe('applyRunEvent', () => {
  const claimed = (db: Db, id: number, token: string) => expect(claimRun(db, id, { token, pid: process.pid, host: 'here', worker: null })).toBe(true);

  it('ignores every event of a superseded attempt', () => {
    const { db, home } = store();
    const id = queueRun(db, 60);
    claimed(db, id, 'old');
    db.prepare("UPDATE runs SET status = 'interrupted' WHERE id = ?").run(id);
    claimed(db, id, 'new');
    const stale: RunEvent = { type: 'ended', runId: id, token: 'old', stepsDone: 9, rows: [{ name: 'critic', step: 9, wallTime: 0, value: 1 }], trainSeconds: 3, status: 'completed', error: null, finalMetrics: {}, bestScore: null, finalScore: null };
    expect(applyRunEvent(db, home, stale)).toEqual([]);
    expect(getRun(db, id)).toMatchObject({ status: 'running', stepsDone: 0 });
    expect(readMetric(db, id, 'critic')).toEqual([]);
  });

  it('a checkpoint lands with its metric rows and leaves only the newest two, rows and files', () => {
    const { db, home } = store();
    const id = queueRun(db, 60);
    claimed(db, id, 't');
    for (const step of [25, 50, 75]) {
      writeRunCheckpoint(home, id, step, Buffer.from(`checkpoint ${step}`));
      applyRunEvent(db, home, { type: 'checkpoint', runId: id, token: 't', stepsDone: step, rows: [{ name: 'critic', step, wallTime: step, value: step }], trainSeconds: 1.5, step, sha256: 'a'.repeat(64), bytes: 13 });
    }
    expect(listCheckpoints(db, id).map((c) => c.step)).toEqual([75, 50]);
    // Each event's training seconds add up to the run's duration.
    expect(getRun(db, id).durationSec).toBeCloseTo(4.5, 9);
    expect(fs.existsSync(checkpointFile(home, id, 25))).toBe(false);
    expect(fs.existsSync(checkpointFile(home, id, 50))).toBe(true);
    expect(readMetric(db, id, 'critic').map((r) => r.step)).toEqual([25, 50, 75]);
    expect(getRun(db, id).stepsDone).toBe(75);
  });
});
