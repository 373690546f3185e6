import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { estimateSweep, parseSweepText, planSweep } from '../../src/engine/sweep';
import { openDatabase, type Db } from '../../src/store/db';
import { exportCsv } from '../../src/store/export';
import { finishRun, listRuns } from '../../src/store/runs';
import { SWEEP_BATCH, getSweep, insertSweep, listSweeps } from '../../src/store/sweeps';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes();
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});
function store(): { db: Db; home: string } {
  const home = freshHome();
  const db = openDatabase(home);
  dbs.push(db);
  return { db, home };
}

const GRID = { task: 'bandit-25g-near', preset: 'quick', algo: ['dtql', 'kl'], alpha: [1, 5], seed: [1, 2], steps: 40 };

describe('sweep planning', () => {
  it('expands every combination, with the axes that tell grid points apart (seed is not one)', () => {
    const planned = planSweep(GRID, { maxRuns: 100 });
    expect(planned.runs).toHaveLength(8);
    expect(planned.axes).toEqual(['algo', 'alpha']);
    expect(planned.runs.map((r) => [r.algo, r.config.alpha, r.seed])).toEqual([
      ['dtql', 1, 1], ['dtql', 1, 2], ['dtql', 5, 1], ['dtql', 5, 2],
      ['kl', 1, 1], ['kl', 1, 2], ['kl', 5, 1], ['kl', 5, 2],
    ]);
    expect(planned.runs[2]?.sweepPoint).toEqual({ algo: 'dtql', alpha: 5 });
    expect(planned.runs.every((r) => r.config.trainSteps === 40 && r.preset === 'quick')).toBe(true);
    expect(planned.name).toBe('sweep over algo x alpha');
    expect(planned.runs[2]?.name).toBe('sweep over algo x alpha: algo=dtql alpha=5');
  });

  it('a single value is no axis; a missing seed is the preset default', () => {
    const planned = planSweep({ task: 'bandit-25g-near', preset: 'quick' }, { maxRuns: 10 });
    expect(planned.runs).toHaveLength(1);
    expect(planned.axes).toEqual([]);
    expect(planned.runs[0]).toMatchObject({ algo: 'dtql', seed: 0, name: 'sweep over one point' });
    expect(planSweep({ task: 'bandit-25g-near', seed: [1, 2] }, { maxRuns: 10, name: 'seeds' }).runs.map((r) => r.name)).toEqual(['seeds', 'seeds']);
  });

  it.each([
    [{ task: 'bandit-25g-near', alhpa: [1, 2], foo: 1 }, /unknown keys in the sweep: alhpa, foo; use task, algo, preset, seed, steps or a hyperparameter \(alpha,/],
    [{ alpha: 1 }, /needs a task/],
    [{ task: 'bandit-25g-near', alpha: [] }, /empty grid axis: alpha/],
    [{ task: 'bandit-25g-near', seed: [1, 1] }, /a value repeats on the grid axis seed/],
    [{ task: 'bandit-25g-near', alpha: [1, -3] }, /grid point alpha=-3: overrides.alpha: /],
    [{ task: ['bandit-25g-near', 'nope'] }, /grid point task=nope: unknown task "nope"/],
    [{ task: 'bandit-25g-near', seed: 1.5 }, /grid point .*seed/],
    [{ task: 'bandit-25g-near', algo: 'ppo' }, /grid point .*algo/],
  ])('refuses %j with a message naming the problem', (spec, message) => {
    expect(() => planSweep(spec as never, { maxRuns: 100 })).toThrow(message);
  });

  it('refuses a grid over the limit before expanding it', () => {
    const huge = { task: 'bandit-25g-near', seed: Array.from({ length: 1000 }, (_, i) => i), alpha: Array.from({ length: 1000 }, (_, i) => i + 1), eta: Array.from({ length: 1000 }, (_, i) => i + 1) };
    const start = performance.now();
    expect(() => planSweep(huge, { maxRuns: 500 })).toThrow('this sweep makes 1,000,000,000 runs, more than the limit of 500');
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('reads JSON and YAML, and names the file when it is neither or has the wrong shape', () => {
    expect(parseSweepText('{"task": "bandit-25g-near", "seed": [1, 2]}', 's.json')).toEqual({ task: 'bandit-25g-near', seed: [1, 2] });
    expect(parseSweepText('task: bandit-25g-near\nalgo: [dtql, kl]\nlrDecay: true\n', 's.yaml')).toEqual({ task: 'bandit-25g-near', algo: ['dtql', 'kl'], lrDecay: true });
    expect(() => parseSweepText('task: [unclosed', 'bad.yaml')).toThrow(/^bad.yaml: not valid JSON or YAML/);
    expect(() => parseSweepText('- a\n- b\n', 'list.yaml')).toThrow(/list.yaml: a sweep is an object/);
    expect(() => parseSweepText('task: {nested: 1}', 'n.yaml')).toThrow(/n.yaml: /);
    expect(() => parseSweepText(`seed: [${Array.from({ length: 1001 }, (_, i) => i).join(', ')}]`, 'long.yaml')).toThrow('long.yaml: seed: at most 1,000 values per axis (this one has 1,001); split it into several sweeps');
  });
});

describe('sweeps in the store', () => {
  it('queues all runs with the sweep or none, lists it, and summarises mean ± SE per grid point', async () => {
    const { db, home } = store();
    const planned = planSweep(GRID, { maxRuns: 100, db });
    const { sweepId, runIds } = await insertSweep(db, planned);
    expect(runIds).toHaveLength(8);
    expect(listRuns(db, { sweep: sweepId }).total).toBe(8);
    expect(listSweeps(db)).toMatchObject([{ id: sweepId, runs: 8, axes: ['algo', 'alpha'], statuses: { queued: 8 } }]);
    // Two seeds per grid point: final rewards 1 and 3 give mean 2, SE 1.
    runIds.forEach((id, i) => finishRun(db, id, { status: 'completed', stepsDone: 40, finalMetrics: { meanReward: i % 2 ? 3 : 1 } }));
    const sweep = getSweep(db, sweepId);
    expect(sweep.summary).toHaveLength(4);
    expect(sweep.summary[0]).toMatchObject({ point: { algo: 'dtql', alpha: 1 }, runs: 2, completed: 2, finalScore: { mean: 2, se: 1, n: 2 }, finals: { meanReward: { mean: 2, se: 1, n: 2 } } });

    const out = path.join(home, 'sweep.csv');
    return exportCsv(db, out, 'sweep', { sweep: sweepId }).then(({ rows }) => {
      expect(rows).toBe(4);
      const table = parse(fs.readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
      expect(table[3]).toMatchObject({ algo: 'kl', alpha: '5', runs: '2', completed: '2', final_score_mean: '2', final_score_se: '1', final_meanReward_mean: '2' });
    });
  });

  it('refuses a sweep summary export without a sweep or for an unknown one, writing nothing', async () => {
    const { db, home } = store();
    const out = path.join(home, 'x.csv');
    await expect(exportCsv(db, out, 'sweep', {})).rejects.toThrow(/needs the sweep/);
    await expect(exportCsv(db, out, 'sweep', { sweep: 99 })).rejects.toThrow(/no sweep 99/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('queues a large sweep a batch at a time, answering other work between batches; a failed batch takes the sweep back', async () => {
    const { db } = store();
    const planned = planSweep({ task: 'bandit-25g-near', preset: 'quick', seed: Array.from({ length: 100 }, (_, i) => i), lr: Array.from({ length: 50 }, (_, i) => 1e-4 * (i + 1)) }, { maxRuns: 10_000, db });
    expect(planned.runs).toHaveLength(5000);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const { runIds } = await insertSweep(db, planned);
    clearInterval(ticker);
    expect(runIds).toHaveLength(5000);
    expect(turns).toBeGreaterThanOrEqual(2);
    // A run the store refuses in the third batch: nothing of the sweep stays.
    const broken = planned.runs.map((r, i) => (i === 2 * SWEEP_BATCH + 5 ? { ...r, algo: 'nope' as 'dtql' } : r));
    await expect(insertSweep(db, { ...planned, runs: broken })).rejects.toThrow(/CHECK constraint/);
    expect(listSweeps(db)).toHaveLength(1);
    expect(listRuns(db, { archived: 'include' }).total).toBe(5000);
  });

  it('estimates time from the measured speed of finished runs of the same task and algorithm', async () => {
    const { db } = store();
    const planned = planSweep({ task: 'bandit-25g-near', preset: 'quick', algo: ['dtql', 'kl'], steps: 1000, pretrainSteps: 0 }, { maxRuns: 10, db });
    expect(estimateSweep(db, planned.runs, 1)).toEqual({ seconds: null, measuredRuns: 0, unmeasured: 2 });
    const [done] = (await insertSweep(db, planSweep({ task: 'bandit-25g-near', preset: 'quick', steps: 500, pretrainSteps: 0 }, { maxRuns: 1, db }))).runIds as [number];
    // 500 steps in 10 s: 50 steps/s.
    db.prepare("UPDATE runs SET status = 'completed', steps_done = 500, started_at = 0, finished_at = 10000 WHERE id = ?").run(done);
    expect(estimateSweep(db, planned.runs, 2)).toEqual({ seconds: 10, measuredRuns: 1, unmeasured: 1 });
  });
});

describe('dtql sweep', () => {
  it('trains a sweep here until every run ends and prints the summary; bad files queue nothing', () => {
    const home = freshHome();
    const file = path.join(home, 'grid.yaml');
    fs.writeFileSync(file, 'task: bandit-25g-near\npreset: quick\nalgo: [dtql, kl]\nseed: [1, 2]\nsteps: 30\npretrainSteps: 5\nbatchSize: 32\nscoreHidden: 32\nevalInterval: 15\n');
    for (const [content, message] of [
      ['task: bandit-25g-near\nfoo: 1\n', /unknown key in the sweep: foo/],
      ['task: bandit-25g-near\nalpha: []\n', /empty grid axis: alpha/],
      ['{', /not valid JSON or YAML/],
    ] as const) {
      const bad = path.join(home, 'bad.yaml');
      fs.writeFileSync(bad, content);
      const refused = runCli(['--home', home, 'sweep', bad]);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(message);
    }
    expect(runCli(['--home', home, 'sweep', file, '--max-runs', '3']).stderr).toMatch(/makes 4 runs, more than the limit of 3/);
    // The limit itself has a ceiling, on the sweep and on serve alike.
    for (const args of [['sweep', file, '--max-runs', '2000000'], ['serve', '--port', '0', '--max-sweep-runs', '100001']]) {
      const capped = runCli(['--home', home, ...args]);
      expect(capped.status).toBe(2);
      expect(capped.stderr).toMatch(/must be at most 100,000/);
    }
    expect(runCli(['--home', home, 'sweep', path.join(home, 'missing.yaml')]).stderr).toMatch(/cannot read sweep file .*ENOENT/);
    expect(JSON.parse(runCli(['--home', home, 'runs', 'list', '--json']).stdout)).toEqual([]);

    const preview = runCli(['--home', home, 'sweep', file, '--preview', '--json', '--concurrency', '3']);
    expect(JSON.parse(preview.stdout)).toMatchObject({ count: 4, axes: ['algo'], estimate: { concurrency: 3 } });
    // The CLI previews through the service, as the Sweeps page does: the first 200 runs and the count.
    const wide = path.join(home, 'wide.yaml');
    fs.writeFileSync(wide, `task: bandit-25g-near\nseed: [${Array.from({ length: 300 }, (_, i) => i).join(', ')}]\n`);
    const widePreview = JSON.parse(runCli(['--home', home, 'sweep', wide, '--preview', '--json', '--max-runs', '300']).stdout) as { count: number; runs: unknown[] };
    expect([widePreview.count, widePreview.runs.length]).toEqual([300, 200]);
    expect(runCli(['--home', home, 'sweep', wide, '--preview', '--max-runs', '300']).stdout).toMatch(/300 runs over one grid point \(the first 200 shown\)/);
    const result = runCli(['--home', home, 'sweep', file, '--json', '--concurrency', '2'], {}, 300_000);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { sweepId: number; runIds: number[]; statuses: Record<string, number>; summary: { point: Record<string, string>; completed: number }[] };
    expect(out.statuses).toEqual({ completed: 4 });
    expect(out.summary.map((r) => [r.point.algo, r.completed])).toEqual([['dtql', 2], ['kl', 2]]);
  }, 300_000);
});
