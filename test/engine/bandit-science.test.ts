/**
 * The short version of `npm run test:science`: one whole `quick` run of the trust region as a user
 * would start it (the CPU's default preset and the task's official seed), on swiss-near: the task
 * where the best reward lies in the data's hole at the origin and the policy must settle on the
 * roll's inner end instead. The full check, every task on two seeds and KL beside it, takes about
 * 45 minutes and runs apart.
 */
import { describe, expect, it } from 'vitest';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes();

describe('the paper toy figure, short version', () => {
  it('bandit-swiss-near: the trust region settles in the data on the high-reward end of the roll', () => {
    const result = runCli(['--home', freshHome(), 'train', '--task', 'bandit-swiss-near', '--json'], {}, 15 * 60_000);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { finalMetrics: { inSupportFraction: number; topModeFraction: number } };
    expect(summary.finalMetrics.inSupportFraction).toBeGreaterThanOrEqual(0.9);
    expect(summary.finalMetrics.topModeFraction).toBeGreaterThanOrEqual(0.8);
  }, 15 * 60_000);
});
