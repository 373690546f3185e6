/**
 * The paper's toy result (README figure of the official repository, shared/reference/
 * official-toy-figure.png), checked on the `quick` presets of all ten configurations: the trust
 * region stays in the data and collapses onto a best mode; KL leaves the data on 25G-far and
 * spreads wider than the trust region on the Swiss roll; on near and hard both find the best mode.
 * Slow (every run trains for minutes): `npm run test:science`, not part of `npm test`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/store/db';
import { readSamples } from '../src/store/samples';
import { runCli, tempHomes } from '../test/helpers';

const home = tempHomes('all')();
const TASKS = ['bandit-25g-far', 'bandit-25g-hard', 'bandit-25g-near', 'bandit-swiss-far', 'bandit-swiss-near'] as const;

interface Outcome {
  meanReward: number;
  inSupportFraction: number;
  topModeFraction: number;
  spread: number;
  seconds: number;
}
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

function train(task: string, algo: 'dtql' | 'kl'): Outcome {
  const key = `${task} ${algo}`;
  const cached = results.get(key);
  if (cached) return cached;
  const start = Date.now();
  const result = runCli(['--home', home, 'train', '--task', task, '--algo', algo, '--preset', 'quick', '--json'], {}, 20 * 60_000);
  if (result.status !== 0) throw new Error(`${key} failed: ${result.stderr}`);
  const summary = JSON.parse(result.stdout) as { runId: number; finalMetrics: Omit<Outcome, 'spread' | 'seconds'> };
  const outcome = { ...summary.finalMetrics, spread: spreadOf(summary.runId), seconds: (Date.now() - start) / 1000 };
  results.set(key, outcome);
  return outcome;
}

afterAll(() => {
  const rows = [...results].map(([k, o]) => `| ${k} | ${o.meanReward.toFixed(2)} | ${o.inSupportFraction.toFixed(3)} | ${o.topModeFraction.toFixed(3)} | ${o.spread.toFixed(2)} | ${o.seconds.toFixed(0)} s |`);
  process.stdout.write(`\n| run | mean reward | in support | in best mode | spread | wall time |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
});

describe('trust region versus KL on the 2D bandits (quick presets)', () => {
  it.each(TASKS.filter((t) => t.includes('25g')))('%s: the trust-region policy stays in the data and collapses onto a best mode', (task) => {
    const tr = train(task, 'dtql');
    expect(tr.inSupportFraction).toBeGreaterThanOrEqual(0.9);
    expect(tr.topModeFraction).toBeGreaterThanOrEqual(0.5);
  });

  it.each(['bandit-swiss-far', 'bandit-swiss-near'])('%s: the trust-region policy sits on the high-reward end of the roll', (task) => {
    expect(train(task, 'dtql').topModeFraction).toBeGreaterThanOrEqual(0.5);
  });

  it('bandit-25g-far: KL leaves the data, clearly more than the trust region', () => {
    expect(train('bandit-25g-far', 'kl').inSupportFraction).toBeLessThan(train('bandit-25g-far', 'dtql').inSupportFraction - 0.2);
  });

  it.each(['bandit-swiss-far', 'bandit-swiss-near'])('%s: KL spreads wider than the trust region', (task) => {
    expect(train(task, 'kl').spread).toBeGreaterThan(train(task, 'dtql').spread);
  });

  it.each(['bandit-25g-near', 'bandit-25g-hard'])('%s: KL also finds the best mode', (task) => {
    expect(train(task, 'kl').topModeFraction).toBeGreaterThanOrEqual(0.5);
  });
});
