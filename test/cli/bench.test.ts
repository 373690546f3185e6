import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkOfficialTarget, formatSummary, speedRatios, summariseRounds } from '../../src/cli/bench/official';
import { BENCH_PROBLEMS, type BenchResult, benchProblemSpec, concurrentMatMulPeakGflops, matMulPeakGflops } from '../../src/cli/bench/speed';
import { jointStepFlops, qTermWithPolicy, stepFlops, valueBackwardWithPolicy } from '../../src/core/algos/step-flops';
import { nativeKernelsActive } from '../../src/core/tf/native-kernels';
import { initBackend } from '../../src/core/tf/backend';
import { runCli } from '../helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('the distance to the machine limit (dtql bench)', () => {
  it('counts a joint step at hopper size as about 1.6 GFLOP of matrix products, in proportion to the batch', () => {
    const [hopper, halfcheetah] = BENCH_PROBLEMS as [(typeof BENCH_PROBLEMS)[number], (typeof BENCH_PROBLEMS)[number]];
    // By hand: critic 3 x (2 Q + V) + V(s') = 689 M, Q term 3 Q = 207 M, BC 316 M, policy 3 x 69 M + 2 x 106 M = 419 M (batch 256, hidden 256).
    const flops = (p: (typeof BENCH_PROBLEMS)[number], batchSize = 256) => jointStepFlops('dtql', benchProblemSpec(p), { ...p.config, batchSize });
    expect(flops(hopper) / 1e9).toBeCloseTo(1.63, 2);
    expect(flops(hopper, 512)).toBeCloseTo(2 * flops(hopper), -3);
    expect(flops(halfcheetah)).toBeGreaterThan(flops(hopper));
  });

  it('puts the Q term beside the policy where the critic outweighs it (the bandits), not at D4RL sizes', () => {
    const [hopper, halfcheetah, bandit] = BENCH_PROBLEMS as [(typeof BENCH_PROBLEMS)[number], (typeof BENCH_PROBLEMS)[number], (typeof BENCH_PROBLEMS)[number]];
    const withPolicy = (p: (typeof BENCH_PROBLEMS)[number], algo: 'dtql' | 'kl') => qTermWithPolicy(stepFlops(algo, benchProblemSpec(p), p.config));
    expect([hopper, halfcheetah].flatMap((p) => [withPolicy(p, 'dtql'), withPolicy(p, 'kl')])).toEqual([false, false, false, false]);
    expect(withPolicy(bandit, 'dtql')).toBe(true);
    expect(withPolicy(bandit, 'kl')).toBe(true);
    // By hand at hopper size: the critic's update 689 M and Q term 207 M against the policy's side 316 M + 419 M.
    const hopperFlops = stepFlops('dtql', benchProblemSpec(hopper), hopper.config);
    expect(hopperFlops.criticUpdate / 1e6).toBeCloseTo(689, -1);
    expect(hopperFlops.qTerm / 1e6).toBeCloseTo(207, -1);
  });

  it("puts V's backward pass beside behaviour cloning in pretraining where the critic outweighs behaviour cloning by more than it", () => {
    const [hopper, halfcheetah] = BENCH_PROBLEMS as [(typeof BENCH_PROBLEMS)[number], (typeof BENCH_PROBLEMS)[number]];
    const flops = (p: (typeof BENCH_PROBLEMS)[number], scoreHidden = p.config.scoreHidden) => stepFlops('dtql', benchProblemSpec(p), { ...p.config, scoreHidden });
    // By hand at hopper size: V's backward 2 x 69 M; the critic 689 M against behaviour cloning 316 M, so the busier thread goes from 689 M to 552 M.
    expect(flops(hopper).valueBackward / 1e6).toBeCloseTo(137, -1);
    expect(flops(hopper).behaviourCloning / 1e6).toBeCloseTo(316, -1);
    expect([hopper, halfcheetah].map((p) => valueBackwardWithPolicy(flops(p)))).toEqual([true, true]);
    // A diffusion model of hidden 512 is about 1.2 GFLOP of behaviour cloning: the critic's thread is the lighter one already.
    expect(valueBackwardWithPolicy(flops(hopper, 512))).toBe(false);
  });

  it('measures a finite matMul peak on the active backend', () => {
    const peak = matMulPeakGflops(2);
    expect(Number.isFinite(peak) && peak > 0.1).toBe(true);
  });

  it('measures two threads multiplying at once where the native addon is built', async () => {
    const together = await concurrentMatMulPeakGflops(2, 1, 1);
    if (!nativeKernelsActive()) return expect(together).toBeNull();
    expect(together !== null && Number.isFinite(together) && together > 0.1).toBe(true);
  });
});

describe('the side-by-side comparison with the official code (dtql bench --official)', () => {
  const ours = (problem: string, pretrain: number, train: number, oneThread: number, act: number): BenchResult => ({
    problem,
    pretrainStepsPerSec: pretrain,
    trainStepsPerSec: train,
    trainStepsPerSecSingleThread: oneThread,
    actLatencyMs: act,
  });

  it('takes each ratio against the faster official thread setting, and one thread against its one thread', () => {
    const report = [
      { problem: 'hopper', threads: 1, pretrainStepsPerSec: 30, trainStepsPerSec: 15, actLatencyMs: 20 },
      { problem: 'hopper', threads: 2, pretrainStepsPerSec: 40, trainStepsPerSec: 25, actLatencyMs: 12 },
      { problem: 'bandit (quick)', threads: 1, trainStepsPerSec: 20 },
      { problem: 'bandit (quick)', threads: 2, trainStepsPerSec: 10 },
    ];
    const [hopper, bandit, ...rest] = speedRatios([ours('hopper', 80, 50, 30, 6), ours('bandit (quick)', 400, 50, 30, 9), ours('halfcheetah', 1, 1, 1, 1)], report);
    expect(rest).toEqual([]);
    expect(hopper).toEqual({ problem: 'hopper', pretrain: 2, train: 2, trainOneThread: 2, act: 0.5 });
    expect(bandit).toEqual({ problem: 'bandit (quick)', pretrain: null, train: 2.5, trainOneThread: 1.5, act: null });
  });

  it('refuses a folder that is not the official repository before timing anything', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-official-'));
    try {
      expect(() => checkOfficialTarget({ checkout: dir, python: 'python3' })).toThrow(/not a checkout of the official DTQL code: it has no agents\/dtql.py/);
      for (const file of ['agents/dtql.py', 'agents/model.py', 'diffusion/karras.py', 'diffusion/mlps.py']) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), '');
      }
      expect(() => checkOfficialTarget({ checkout: dir, python: path.join(dir, 'no-such-python') })).toThrow(/--python .*no-such-python could not be started/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('summarises rounds by each ratio\'s median, its range and how often it met its goal', () => {
    const round = (train: number, act: number, pretrain: number | null) => [
      { problem: 'hopper', pretrain, train, trainOneThread: 1.5, act },
      { problem: 'bandit (quick)', pretrain: null, train: train + 0.5, trainOneThread: 1.2, act: null },
    ];
    const [hopper, bandit, ...rest] = summariseRounds([round(1.8, 0.6, 1.4), round(2.2, 0.45, null), round(2.0, 0.5, 1.6)]);
    expect(rest).toEqual([]);
    expect(hopper?.problem).toBe('hopper');
    expect(hopper?.ratios.train).toEqual({ median: 2.0, min: 1.8, max: 2.2, met: 2, rounds: 3 });
    // At most 0.5x: 0.5 meets it, 0.6 does not.
    expect(hopper?.ratios.act).toEqual({ median: 0.5, min: 0.45, max: 0.6, met: 2, rounds: 3 });
    // A round without the measure does not count: an even count takes the middle two's mean.
    expect(hopper?.ratios.pretrain?.median).toBeCloseTo(1.5, 12);
    expect(hopper?.ratios.pretrain).toMatchObject({ min: 1.4, max: 1.6, met: 0, rounds: 2 });
    expect(bandit?.ratios.trainOneThread).toEqual({ median: 1.2, min: 1.2, max: 1.2, met: 0, rounds: 3 });
    expect(bandit?.ratios.act).toBeNull();
    const table = formatSummary([hopper!, bandit!]);
    expect(table).toMatch(/hopper .*2\.00x \(1\.80-2\.20\), met 2 of 3/);
    expect(table).toMatch(/bandit \(quick\) .*not timed/);
    // The headers name each goal as SPEED_GOALS states it.
    expect(table.split('\n')[0]).toMatch(/^against official +pretrain \(goal 2x\) +train \(goal 2x\) +one thread \(goal 1\.3x\) +act ms \(goal 0\.5x\)$/);
  });

  it('refuses --rounds without --official before timing anything', () => {
    const result = runCli(['bench', '--rounds', '3']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--rounds compares with the official code: give --official <checkout> too/);
    expect(runCli(['bench', '--rounds', '0']).stderr).toMatch(/--rounds.*at least 1/);
  });
});
