/**
 * Leaks in long runs (issue 9.5), the CI-sized version: a training process logs its live tensor
 * count and heap every second; over a run with evaluations and checkpoints the tensor count must
 * not move and the heap left after full collections must not climb. The 100,000-step figures
 * are in docs/RELIABILITY.md.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { readMetric } from '../../src/store/metrics';
import { getRun } from '../../src/store/runs';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes();

describe('long-run leak watch', () => {
  it('a bandit run with evaluations and checkpoints keeps its tensor count flat and its heap from climbing', () => {
    const home = freshHome();
    const sets = { batchSize: 16, scoreHidden: 16, logInterval: 50, evalInterval: 250, checkpointInterval: 250 };
    const result = runCli(['--home', home, 'train', '--task', 'bandit-25g-far', '--preset', 'quick', '--steps', '2500', ...Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`])], {}, 600_000);
    expect(result.status, result.stderr).toBe(0);
    const db = openDatabase(home);
    try {
      expect(getRun(db, 1).status).toBe('completed');
      const tensors = readMetric(db, 1, 'sys/tensors').map((m) => m.value);
      const live = readMetric(db, 1, 'sys/liveHeapMB').map((m) => m.value);
      expect(tensors.length).toBeGreaterThanOrEqual(10);
      // Flat from the first report on: every evaluation and checkpoint disposed what it made.
      expect(new Set(tensors.slice(1)).size).toBe(1);
      expect(tensors.at(-1)).toBe(tensors[1]);
      // The heap after full collections: a young process still grows a little (compiled code,
      // caches), so the bound is loose; a leak of 10 kB per step would already add 25 MB.
      expect(live.length).toBeGreaterThan(0);
      expect((live.at(-1) as number) - (live[0] as number)).toBeLessThan(16);
    } finally {
      db.close();
    }
  }, 600_000);
});
