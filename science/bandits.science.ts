/**
 * The paper's toy result (README figure of the official repository), checked on the `quick`
 * presets: on every task the trust region stays in the data and collapses onto a best mode, on two
 * seeds per task; KL (each task's official seed) leaves the data on 25G-far, spreads wider than the
 * trust region on swiss-far, finds the centre mode on 25G-near, and on 25G-hard (seeds 0-4) leaves
 * the data as the official toy loop itself does there (README). KL on swiss-near matches the
 * figure only with the full batch of the `paper` preset, so it is not checked here.
 * Slow (two runs at a time, about 20 minutes on 2 cores): `npm run test:science`, not part of `npm test`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/db';
import { readSamples } from '../src/store/samples';
import { REPO_ROOT, tempHomes } from '../test/helpers';

const home = tempHomes('all')();
const TASKS = ['bandit-25g-far', 'bandit-25g-hard', 'bandit-25g-near', 'bandit-swiss-far', 'bandit-swiss-near'] as const;
/** Seeds beyond the official ones (README: the trust region holds on at least 4 of seeds 0-4 per task). */
const TRUST_REGION_SEEDS = [2, 4];
const KL_TASKS = ['bandit-25g-far', 'bandit-25g-hard', 'bandit-25g-near', 'bandit-swiss-far'] as const;
/**
 * 25G-hard's KL outcome varies by seed (README: it leaves the data on 4 of seeds 0-4, and its
 * official seed 2 keeps half its actions on the best mode), so it is checked over seeds 0-4: the
 * official seed's run and these four.
 */
const KL_HARD_OTHER_SEEDS = [0, 1, 3, 4];
/** Two runs at once: one per core, as the app trains them. */
const PARALLEL = 2;

interface Outcome {
  meanReward: number;
  inSupportFraction: number;
  topModeFraction: number;
  spread: number;
  seconds: number;
}

interface Job {
  task: string;
  algo: 'dtql' | 'kl';
  /** Absent: the preset's (official) seed. */
  seed?: number;
}

const keyOf = (job: Job) => `${job.task} ${job.algo}${job.seed === undefined ? '' : ` seed ${job.seed}`}`;
const JOBS: Job[] = [
  ...TASKS.flatMap((task) => TRUST_REGION_SEEDS.map((seed) => ({ task, algo: 'dtql' as const, seed }))),
  ...KL_TASKS.map((task) => ({ task, algo: 'kl' as const })),
  ...KL_HARD_OTHER_SEEDS.map((seed) => ({ task: 'bandit-25g-hard', algo: 'kl' as const, seed })),
];
const results = new Map<string, Outcome>();

/** Mean distance of the final policy actions from their centroid. */
function spreadOf(runId: number): number {
  const db = openDatabase(home);
  try {
    const samples = readSamples(db, runId);
    if (!samples) throw new Error(`run ${runId} stored no policy samples`);
    const a = samples.actions;
    const n = a.length / 2;
    let cx = 0;
    let cy = 0;
    for (let i = 0; i < n; i++) {
      cx += (a[2 * i] as number) / n;
      cy += (a[2 * i + 1] as number) / n;
    }
    let d = 0;
    for (let i = 0; i < n; i++) d += Math.hypot((a[2 * i] as number) - cx, (a[2 * i + 1] as number) - cy) / n;
    return d;
  } finally {
    db.close();
  }
}

/** One `dtql train` of the job's quick preset, as a user would start it. */
function train(job: Job): Promise<Outcome> {
  const args = ['--home', home, 'train', '--task', job.task, '--algo', job.algo, '--preset', 'quick', '--json', ...(job.seed === undefined ? [] : ['--seed', String(job.seed)])];
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dtql.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${keyOf(job)} exited ${code}: ${stderr}`));
      const summary = JSON.parse(stdout) as { runId: number; finalMetrics: Omit<Outcome, 'spread' | 'seconds'> };
      resolve({ ...summary.finalMetrics, spread: spreadOf(summary.runId), seconds: (Date.now() - start) / 1000 });
    });
  });
}

beforeAll(async () => {
  const queue = [...JOBS];
  const failures: string[] = [];
  const lane = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      try {
        results.set(keyOf(job), await train(job));
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, lane));
  if (failures.length) throw new Error(failures.join('\n'));
}, 70 * 60_000);

afterAll(() => {
  const rows = [...results].map(([k, o]) => `| ${k} | ${o.meanReward.toFixed(2)} | ${o.inSupportFraction.toFixed(3)} | ${o.topModeFraction.toFixed(3)} | ${o.spread.toFixed(2)} | ${o.seconds.toFixed(0)} s |`);
  process.stdout.write(`\n| run | mean reward | in support | in best mode | spread | wall time |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
});

const outcome = (job: Job): Outcome => {
  const found = results.get(keyOf(job));
  if (!found) throw new Error(`${keyOf(job)} did not train`);
  return found;
};

describe('trust region versus KL on the 2D bandits (quick presets)', () => {
  const seeded = TASKS.flatMap((task) => TRUST_REGION_SEEDS.map((seed) => [task, seed] as const));

  it.each(seeded.filter(([task]) => task.includes('25g')))('%s seed %i: the trust-region policy stays in the data and collapses onto a best mode', (task, seed) => {
    const tr = outcome({ task, algo: 'dtql', seed });
    expect(tr.inSupportFraction).toBeGreaterThanOrEqual(0.9);
    expect(tr.topModeFraction).toBeGreaterThanOrEqual(0.8);
  });

  it.each(seeded.filter(([task]) => task.includes('swiss')))('%s seed %i: the trust-region policy sits in the data on the high-reward end of the roll', (task, seed) => {
    const tr = outcome({ task, algo: 'dtql', seed });
    expect(tr.inSupportFraction).toBeGreaterThanOrEqual(0.9);
    expect(tr.topModeFraction).toBeGreaterThanOrEqual(0.5);
  });

  it('bandit-25g-far: KL leaves the data, clearly more than the trust region', () => {
    expect(outcome({ task: 'bandit-25g-far', algo: 'kl' }).inSupportFraction).toBeLessThan(outcome({ task: 'bandit-25g-far', algo: 'dtql', seed: 2 }).inSupportFraction - 0.2);
  });

  it('bandit-swiss-far: KL spreads wider than the trust region', () => {
    // Seed 2 is swiss-far's official seed, the one KL trains with.
    expect(outcome({ task: 'bandit-swiss-far', algo: 'kl' }).spread).toBeGreaterThan(outcome({ task: 'bandit-swiss-far', algo: 'dtql', seed: 2 }).spread);
  });

  it('bandit-25g-near: KL also finds the centre mode', () => {
    expect(outcome({ task: 'bandit-25g-near', algo: 'kl' }).topModeFraction).toBeGreaterThanOrEqual(0.5);
  });

  it('bandit-25g-hard: KL leaves the data on at least 4 of seeds 0-4, as the official toy loop does there', () => {
    const runs = [outcome({ task: 'bandit-25g-hard', algo: 'kl' }), ...KL_HARD_OTHER_SEEDS.map((seed) => outcome({ task: 'bandit-25g-hard', algo: 'kl', seed }))];
    expect(runs.filter((run) => run.inSupportFraction < 0.5).length).toBeGreaterThanOrEqual(4);
  });
});
