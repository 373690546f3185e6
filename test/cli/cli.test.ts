import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DB_FILE, openDatabase } from '../../src/store/db';
import { insertRuns } from '../../src/store/runs';
import { planRuns } from '../../src/engine/plan';
import type { ChildProcess } from 'node:child_process';
import { runCli, sha256File, spawnCli, tempHomes, waitFor } from '../helpers';

const freshHome = tempHomes('all');

/** What a spawned CLI writes, as it comes. */
function collectOutput(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { stdout: () => out, stderr: () => err };
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

describe('dtql CLI', () => {
  it('tasks --json prints the catalog as one JSON document', () => {
    const result = runCli(['tasks', '--json']);
    expect(result.status).toBe(0);
    const tasks = JSON.parse(result.stdout) as { id: string; presets: { id: string }[] }[];
    expect(tasks.map((t) => t.id)).toContain('bandit-25g-hard');
    expect(tasks.filter((t) => t.id !== 'pendulum-swingup' && !t.id.includes('-random-')).every((t) => t.presets.some((p) => p.id === 'paper'))).toBe(true);
  });

  it('runs list and runs show report what the store holds, with the contract fields', () => {
    const home = freshHome();
    const db = openDatabase(home);
    const [id] = insertRuns(db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'paper', seeds: [3], tags: ['t1'], overrides: { pretrainSteps: 500 } }));
    db.close();
    const list = runCli(['--home', home, 'runs', 'list', '--json']);
    expect(list.status).toBe(0);
    const runs = JSON.parse(list.stdout) as Record<string, unknown>[];
    expect(runs).toHaveLength(1);
    for (const key of ['id', 'name', 'task', 'algo', 'seed', 'status', 'stepsDone', 'stepsTotal', 'backend', 'bestScore', 'finalScore', 'createdAt', 'tags']) {
      expect(runs[0]).toHaveProperty(key);
    }
    const show = runCli(['runs', 'show', String(id), '--json'], { DTQL_HOME: home });
    expect(show.status).toBe(0);
    const run = JSON.parse(show.stdout) as { config: { pretrainSteps: number }; finalMetrics: object; algo: string };
    expect(run).toMatchObject({ algo: 'dtql', config: { pretrainSteps: 500 }, finalMetrics: {} });
    const human = runCli(['--home', home, 'runs', 'list']);
    expect(human.stdout).toMatch(/bandit-25g-near\s+dtql\s+3\s+queued/);
  });

  it('runs list streams every run, past any page size, and stops at --limit', () => {
    const home = freshHome();
    const db = openDatabase(home);
    const [one] = planRuns({ task: 'bandit-25g-near', algo: 'kl', preset: 'quick', seeds: [0], tags: [], overrides: {} });
    insertRuns(db, Array.from({ length: 2500 }, (_, i) => ({ ...one!, name: `run ${i}`, seed: i })));
    db.close();
    const all = JSON.parse(runCli(['--home', home, 'runs', 'list', '--json']).stdout) as { id: number }[];
    expect(all.map((r) => r.id)).toEqual(Array.from({ length: 2500 }, (_, i) => 2500 - i));
    const first = JSON.parse(runCli(['--home', home, 'runs', 'list', '--json', '--limit', '3', '--sort', 'seed', '--asc']).stdout) as { seed: number }[];
    expect(first.map((r) => r.seed)).toEqual([0, 1, 2]);
    const table = runCli(['--home', home, 'runs', 'list']).stdout.trimEnd().split('\n');
    expect(table).toHaveLength(2502);
    expect(table[2]).toMatch(/^2500\s+run 2499\s+bandit-25g-near\s+kl\s+2499\s+queued/);
    expect(runCli(['--home', home, 'runs', 'list', '--limit', '0']).stderr).toMatch(/--limit.*at least 1/);
  }, 60_000);

  it('train without --preset takes the task default for this machine, says so, and records it; every task has one', () => {
    const home = freshHome();
    const small = ['--steps', '2', '--set', 'pretrainSteps=1', '--set', 'batchSize=16', '--set', 'scoreHidden=16', '--set', 'evalInterval=2', '--json'];
    const trained = runCli(['--home', home, 'train', '--task', 'bandit-25g-near', ...small]);
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stderr).toMatch(/preset quick: the default of bandit-25g-near on a CPU \(--preset picks another: quick, paper\)/);
    const shown = runCli(['--home', home, 'runs', 'show', String(JSON.parse(trained.stdout).runId), '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ preset: 'quick', seed: 0 });
    // A task whose only preset is not called "paper" still trains by default (here it needs its data first).
    const random = runCli(['--home', home, 'train', '--task', 'hopper-random-v2']);
    expect(random.status).toBe(2);
    expect(random.stderr).toMatch(/preset medium-settings: the default/);
    expect(random.stderr).toMatch(/no dataset is imported for task hopper-random-v2/);
    const unknown = runCli(['--home', home, 'train', '--task', 'bandit-25g-near', '--preset', 'nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/task bandit-25g-near has no preset "nope" \(has: quick, paper\)/);
  }, 60_000);

  it('an empty store lists no runs; a folder without one is named, and no store is made there', () => {
    const home = freshHome();
    openDatabase(home).close();
    const result = runCli(['--home', home, 'runs', 'list', '--json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
    const typo = path.join(freshHome(), 'nonexistent', 'dir', 'x');
    for (const args of [['runs', 'list'], ['runs', 'show', '1'], ['export', '--out', path.join(home, 'x.csv')], ['dataset', 'list']]) {
      const refused = runCli(['--home', typo, ...args]);
      expect(refused.status, args.join(' ')).toBe(2);
      expect(refused.stderr).toContain(`there is no DTQL Workbench data folder at ${typo}`);
    }
    expect(fs.existsSync(path.join(typo, '..'))).toBe(false);
    // A sweep preview only reads too: it plans without a store and makes none.
    const grid = path.join(home, 'grid.yaml');
    fs.writeFileSync(grid, 'task: bandit-25g-near\nalgo: [dtql, kl]\n');
    const previewed = runCli(['--home', typo, 'sweep', grid, '--preview', '--json']);
    expect(previewed.status, previewed.stderr).toBe(0);
    expect(JSON.parse(previewed.stdout)).toMatchObject({ count: 2, estimate: { seconds: null } });
    expect(previewed.stderr).not.toContain('starting a new data folder');
    expect(fs.existsSync(path.join(typo, '..'))).toBe(false);
    // A command that writes makes the store, and says so.
    const made = runCli(['--home', typo, 'train', '--task', 'bandit-25g-near', '--steps', '1', '--set', 'batchSize=8', '--set', 'evalInterval=1']);
    expect(made.status, made.stderr).toBe(0);
    expect(made.stderr).toContain(`starting a new data folder at ${typo}`);
  }, 60_000);

  it.each([
    [['--bogus'], /unknown option '--bogus'/],
    [['fly'], /unknown command 'fly'/],
    [['runs', 'show', 'abc'], /must be a positive whole number/],
    [['serve', '--port', '99999'], /from 0 to 65535/],
    [[], /no command given/],
  ])('exits 2 with a message on usage errors: %j', (args, message) => {
    const result = runCli(['--home', freshHome(), ...args]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('exits 2 for an unknown run id', () => {
    const home = freshHome();
    openDatabase(home).close();
    const result = runCli(['--home', home, 'runs', 'show', '77', '--json']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/no run with id 77/);
  });

  it('exits 2 when --home is a file', () => {
    const file = path.join(freshHome(), 'a-file');
    fs.writeFileSync(file, 'x');
    const result = runCli(['--home', file, 'runs', 'list']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/exists but is not a folder/);
  });

  it('exits 2 on a corrupt or newer database and leaves it untouched', () => {
    const corruptHome = freshHome();
    const corrupt = path.join(corruptHome, DB_FILE);
    fs.writeFileSync(corrupt, Buffer.alloc(4096, 7));
    const corruptBefore = sha256File(corrupt);
    const a = runCli(['--home', corruptHome, 'runs', 'list']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/not an SQLite file/);
    expect(sha256File(corrupt)).toBe(corruptBefore);

    const newerHome = freshHome();
    openDatabase(newerHome).close();
    const raw = new Database(path.join(newerHome, DB_FILE));
    raw.pragma('user_version = 500');
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const newerBefore = sha256File(path.join(newerHome, DB_FILE));
    const b = runCli(['--home', newerHome, 'runs', 'list', '--json']);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/schema version 500/);
    expect(b.stdout).toBe('');
    expect(sha256File(path.join(newerHome, DB_FILE))).toBe(newerBefore);
  });

  it('serve refuses a non-loopback host without a token', () => {
    const result = runCli(['--home', freshHome(), 'serve', '--host', '0.0.0.0', '--port', '0']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/without --token/);
  });

  it('Ctrl-C stops dtql train after its step with a final checkpoint, and a sweep stops its training runs and keeps the rest queued', async () => {
    const home = freshHome();
    const small = ['--set', 'batchSize=32', '--set', 'scoreHidden=32', '--set', 'logInterval=1', '--set', 'checkpointInterval=1000', '--set', 'pretrainSteps=0'];
    const stepsOf = (status: string) => {
      if (!fs.existsSync(path.join(home, DB_FILE))) return [];
      const db = new Database(path.join(home, DB_FILE), { readonly: true });
      try {
        return db.prepare('SELECT steps_done FROM runs WHERE status = ?').pluck().all(status) as number[];
      } catch {
        return [];
      } finally {
        db.close();
      }
    };
    const train = spawnCli(['--home', home, 'train', '--task', 'bandit-25g-near', '--steps', '100000', '--json', ...small]);
    const trainOut = collectOutput(train);
    await waitFor(() => stepsOf('running'), (s) => (s[0] ?? 0) >= 5, 'the run to train a few steps');
    train.kill('SIGINT');
    const trainExit = await exitOf(train);
    expect(trainExit, trainOut.stderr()).toBe(0);
    const summary = JSON.parse(trainOut.stdout()) as { status: string; steps: number };
    expect(summary.status).toBe('stopped');
    expect(trainOut.stderr()).toContain('stopping after this step (final checkpoint)');
    const db = openDatabase(home);
    const [row] = db.prepare('SELECT max(step) AS step FROM checkpoints').all() as { step: number }[];
    db.close();
    expect(row?.step).toBe(summary.steps);

    const grid = path.join(home, 'grid.yaml');
    fs.writeFileSync(grid, `task: bandit-25g-near\nseed: [1, 2, 3]\nsteps: 100000\n${small.filter((a) => a !== '--set').map((kv) => kv.replace('=', ': ')).join('\n')}\n`);
    const sweep = spawnCli(['--home', home, 'sweep', grid, '--concurrency', '1']);
    const sweepOut = collectOutput(sweep);
    await waitFor(() => stepsOf('running'), (s) => (s[0] ?? 0) >= 5, 'the sweep to train a few steps');
    sweep.kill('SIGINT');
    expect(await exitOf(sweep), sweepOut.stderr()).toBe(1);
    expect(sweepOut.stderr()).toContain('stopping the sweep');
    expect([stepsOf('stopped').length, stepsOf('queued').length, stepsOf('running').length]).toEqual([2, 2, 0]);
  }, 180_000);
});
