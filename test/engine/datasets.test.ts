import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { listDatasets } from '../../src/store/datasets';
import { getRun, insertRuns } from '../../src/store/runs';
import { readMetric } from '../../src/store/metrics';
import { generateDataset, importDataset } from '../../src/engine/datasets/datasets';
import { planRuns } from '../../src/engine/plan';
import { trainRun } from '../../src/engine/local/train-run';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes('each');
const fixture = (name: string) => path.resolve('test/fixtures/hdf5', name);
const hopperRun = { task: 'hopper-medium-v2', algo: 'dtql' as const, preset: 'paper', seeds: [0], tags: [], overrides: { pretrainSteps: 2, trainSteps: 4, batchSize: 8, checkpointInterval: 5, evalInterval: 2, evalEpisodes: 2, actionSamples: 16 } };

describe('dataset import', () => {
  it('keeps a copy named by content, or only a reference, with the statistics in the store', async () => {
    const home = freshHome();
    const db = openDatabase(home);
    const copied = await importDataset(db, home, fixture('hopper-medium-v2.hdf5'), { keep: 'copy' });
    expect(copied).toMatchObject({ name: 'hopper-medium-v2', format: 'd4rl', transitions: 28, episodes: 3, obsDim: 11, actDim: 3, suggestedTask: 'hopper-medium-v2', env: 'hopper', runs: 0 });
    expect(copied.storedPath).toBe(path.join(home, 'datasets', `${copied.sha256}.hdf5`));
    expect(fs.readFileSync(copied.storedPath as string)).toEqual(fs.readFileSync(fixture('hopper-medium-v2.hdf5')));
    expect(copied.stats).toMatchObject({ doneCount: 1 });
    expect(copied.stats.returnMax).toBeGreaterThanOrEqual(copied.stats.returnMean as number);
    const referenced = await importDataset(db, home, fixture('minari-hopper-medium.hdf5'), { keep: 'reference', name: 'minari hopper' });
    expect(referenced).toMatchObject({ format: 'minari', storedPath: null, sourcePath: fixture('minari-hopper-medium.hdf5'), transitions: 15 });
    expect(listDatasets(db).map((d) => d.name)).toEqual(['minari hopper', 'hopper-medium-v2']);
    db.close();
  });

  it('refuses a bad file, the same file twice and a taken name, and stores nothing for them', async () => {
    const home = freshHome();
    const db = openDatabase(home);
    await expect(importDataset(db, home, fixture('bad-nan-observations.hdf5'), { keep: 'copy' })).rejects.toThrow(/bad-nan-observations.hdf5: observations has 1 NaN/);
    expect(listDatasets(db)).toEqual([]);
    expect(fs.existsSync(path.join(home, 'datasets'))).toBe(false);
    await importDataset(db, home, fixture('hopper-medium-v2.hdf5'), { keep: 'copy' });
    await expect(importDataset(db, home, fixture('hopper-medium-v2.hdf5'), { keep: 'copy', name: 'again' })).rejects.toThrow(/already imported as "hopper-medium-v2"/);
    await expect(importDataset(db, home, fixture('minari-hopper-medium.hdf5'), { keep: 'copy', name: 'hopper-medium-v2' })).rejects.toThrow(/a dataset named "hopper-medium-v2" exists/);
    await expect(importDataset(db, home, fixture('minari-hopper-medium.hdf5'), { keep: 'copy', name: 'a/b' })).rejects.toThrow(/slashes/);
    expect(listDatasets(db)).toHaveLength(1);
    expect(fs.readdirSync(path.join(home, 'datasets'))).toHaveLength(1);
    db.close();
  }, 120_000);

  it('a D4RL task needs an imported dataset, then trains on it for real', async () => {
    const home = freshHome();
    const db = openDatabase(home);
    expect(() => planRuns(hopperRun, db)).toThrow(/no dataset is imported for task hopper-medium-v2: import hopper-medium-v2.hdf5 first/);
    const minari = await importDataset(db, home, fixture('minari-hopper-medium.hdf5'), { keep: 'copy', name: 'other hopper' });
    const d4rl = await importDataset(db, home, fixture('hopper-medium-v2.hdf5'), { keep: 'copy' });
    const [runId] = insertRuns(db, planRuns(hopperRun, db)) as [number];
    expect(getRun(db, runId).datasetId).toBe(d4rl.id);
    expect(planRuns({ ...hopperRun, dataset: minari.id }, db)[0]?.datasetId).toBe(minari.id);
    expect(() => planRuns({ ...hopperRun, task: 'halfcheetah-medium-v2', dataset: d4rl.id }, db)).toThrow(/sizes 11\/3; task halfcheetah-medium-v2 needs 17\/6/);
    expect(() => planRuns({ ...hopperRun, task: 'bandit-25g-far', preset: 'quick', dataset: d4rl.id }, db)).toThrow(/generates its own data/);
    const result = await trainRun(db, home, runId);
    expect(result.run.status).toBe('completed');
    expect(getRun(db, runId).stepsDone).toBe(6);
    // Evaluated in MuJoCo at train steps 2 and 4: raw return and the D4RL-normalised score.
    const evals = readMetric(db, runId, 'eval/normalizedScore');
    expect(evals.map((p) => p.step)).toEqual([4, 6]);
    expect(result.run.finalScore).toBe(evals[1]?.value);
    expect(result.run.bestScore).toBe(Math.max(...evals.map((p) => p.value)));
    expect(result.run.finalMetrics).toMatchObject({ return: expect.any(Number), episodeLength: expect.any(Number) });
    // An untrained policy falls within a few dozen steps: near the hopper's random-policy score.
    expect(result.run.finalMetrics.episodeLength).toBeLessThan(200);
    db.close();
  }, 60_000);

  it('generates <env>-random-v2 data in MuJoCo whose returns match D4RL random policies', async () => {
    const home = freshHome();
    const db = openDatabase(home);
    // D4RL: hopper-random-v2 averages about 18.8 (normalised 1.2); halfcheetah's random policy about -280; walker2d's about 1.6.
    for (const [env, low, high] of [
      ['hopper', 10, 30],
      ['halfcheetah', -400, -200],
      ['walker2d', -10, 15],
    ] as const) {
      const made = await generateDataset(db, home, env, { size: 3000, seed: 1 });
      expect(made).toMatchObject({ suggestedTask: `${env}-random-v2`, env, transitions: expect.any(Number), warnings: [] });
      expect(made.stats.returnMean).toBeGreaterThan(low);
      expect(made.stats.returnMean).toBeLessThan(high);
    }
    await expect(generateDataset(db, home, 'hopper', { size: 3000, seed: 1 })).rejects.toThrow(/exists already/);
    await expect(generateDataset(db, home, 'hopper', { size: 10 })).rejects.toThrow(/from 1,000/);
    expect(planRuns({ ...hopperRun, task: 'hopper-random-v2', preset: 'medium-settings' }, db)[0]?.datasetId).toBe(listDatasets(db).find((d) => d.env === 'hopper')?.id);
    db.close();
  }, 60_000);

  it('dtql dataset inspect|import|list, exit 2 on a bad file', () => {
    const home = freshHome();
    const inspected = runCli(['dataset', 'inspect', fixture('warn-actions-out-of-range.hdf5'), '--json']);
    expect(inspected.status).toBe(0);
    expect(JSON.parse(inspected.stdout)).toMatchObject({ format: 'd4rl', transitions: 28, episodes: 3, obsDim: 11, actDim: 3, doneCount: 1, warnings: [expect.stringMatching(/6 of 84 values lie outside/)] });
    expect(JSON.parse(inspected.stdout).rewardSum).toEqual(expect.any(Number));
    const bad = runCli(['dataset', 'inspect', fixture('bad-rows-disagree.hdf5')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/bad-rows-disagree.hdf5: row counts disagree/);
    expect(runCli(['--home', home, 'dataset', 'import', fixture('hopper-medium-v2.hdf5'), '--reference']).status).toBe(0);
    const listed = JSON.parse(runCli(['--home', home, 'dataset', 'list', '--json']).stdout) as { name: string; storedPath: string | null }[];
    expect(listed).toMatchObject([{ name: 'hopper-medium-v2', storedPath: null }]);
  }, 120_000);
});
