import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { downsampleMetric, insertMetrics, type MetricRow } from '../../src/store/metrics';
import { claimRun, getRun, insertRuns } from '../../src/store/runs';
import { STALE_HEARTBEAT_MS, openStore, recoverOrphanedRuns } from '../../src/engine/local/recovery';
import { planRuns } from '../../src/engine/plan';
import { tempHome } from '../helpers';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});
const freshDb = () => {
  const home = tempHome();
  homes.push(home);
  return openDatabase(home);
};
const plan = (n: number) => planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'paper', seeds: Array.from({ length: n }, (_, i) => i), tags: [], overrides: {} });
const owner = (pid: number, host: string) => ({ token: `attempt-${pid}-${host}`, pid, host, worker: null });

describe('crash recovery', () => {
  it('interrupts runs whose process died, and leaves live ones and other hosts with fresh heartbeats alone', () => {
    const db = freshDb();
    const [dead, alive, remoteFresh, remoteStale] = insertRuns(db, plan(4)) as [number, number, number, number];
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid as number;
    const now = Date.now();
    claimRun(db, dead, owner(gone, os.hostname()), {}, now);
    claimRun(db, alive, owner(process.pid, os.hostname()), {}, now);
    claimRun(db, remoteFresh, owner(1, 'other-box'), {}, now);
    claimRun(db, remoteStale, owner(1, 'other-box'), {}, now - STALE_HEARTBEAT_MS - 1000);
    expect(recoverOrphanedRuns(db, os.hostname(), now).sort()).toEqual([dead, remoteStale].sort());
    expect(getRun(db, dead)).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/resume continues from the last checkpoint/) });
    expect(getRun(db, alive).status).toBe('running');
    expect(getRun(db, remoteFresh).status).toBe('running');
    expect(getRun(db, remoteStale).status).toBe('interrupted');
    db.close();
  });

  it('runs at start-up of the engine (openStore), not when the store alone is opened', () => {
    const home = tempHome();
    homes.push(home);
    const db = openDatabase(home);
    const [dead] = insertRuns(db, plan(1)) as [number];
    claimRun(db, dead, owner(spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid as number, os.hostname()));
    db.close();
    const plain = openDatabase(home);
    expect(getRun(plain, dead).status).toBe('running');
    plain.close();
    const started = openStore(home);
    expect(getRun(started, dead).status).toBe('interrupted');
    started.close();
  });
});

describe('downsampled curves', () => {
  it('a 1,000,000-point series comes back as at most 2,000 points holding every bucket\u2019s true min and max', () => {
    const db = freshDb();
    const [runId] = insertRuns(db, plan(1)) as [number];
    const n = 1_000_000;
    const values = new Float64Array(n);
    let x = 0;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      values[i] = Math.sin(i / 5000) + (x / 2147483648 - 0.5) * 0.1;
    }
    values[123_457] = 42; // a spike must survive downsampling
    values[777_777] = -42;
    const rows: MetricRow[] = Array.from({ length: n }, (_, i) => ({ name: 'critic', step: i + 1, wallTime: i / 100, value: values[i] as number }));
    insertMetrics(db, runId, rows);
    const series = downsampleMetric(db, runId, 'critic', 2000);
    expect(series.points).toBe(n);
    expect(series.step.length).toBeLessThanOrEqual(2000);
    expect(series.step.length).toBeGreaterThan(1900);
    expect(Math.max(...series.max)).toBe(42);
    expect(Math.min(...series.min)).toBe(-42);
    // Check every bucket against the raw values: bucket k covers steps [1 + k w, (k + 1) w].
    const width = Math.ceil(n / 2000);
    series.step.forEach((lastStep, k) => {
      const start = Math.floor((lastStep - 1) / width) * width;
      const slice = values.subarray(start, Math.min(start + width, n));
      expect(series.min[k]).toBe(Math.min(...slice));
      expect(series.max[k]).toBe(Math.max(...slice));
      expect(series.last[k]).toBe(values[lastStep - 1]);
    });
    db.close();
  }, 60_000);
});
