import * as tf from '@tensorflow/tfjs';
import { D4RL_DEFAULTS } from './config';
import { DtqlAgent } from './algos/dtql';
import { ReplaySampler, disposeBatch, type Transitions } from './data/replay';
import { Rng } from './rng';

export interface BenchProblem {
  problem: string;
  stateDim: number;
  actionDim: number;
}

/** The two problem sizes of the speed goal (D4RL hopper and halfcheetah). */
export const BENCH_PROBLEMS: BenchProblem[] = [
  { problem: 'hopper', stateDim: 11, actionDim: 3 },
  { problem: 'halfcheetah', stateDim: 17, actionDim: 6 },
];

export interface BenchResult {
  problem: string;
  pretrainStepsPerSec: number;
  trainStepsPerSec: number;
  actLatencyMs: number;
}

function randomTransitions(rng: Rng, stateDim: number, actionDim: number, size: number): Transitions {
  const uniform = (n: number) => Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
  return {
    stateDim,
    actionDim,
    size,
    states: uniform(size * stateDim),
    actions: uniform(size * actionDim),
    rewards: uniform(size),
    nextStates: uniform(size * stateDim),
    notDone: new Float32Array(size).fill(1),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Median over `repeats` timed blocks of `steps` calls, after `warmup` untimed calls. */
function timeBlocks(run: () => void, warmup: number, steps: number, repeats: number): number {
  for (let i = 0; i < warmup; i++) run();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) run();
    times.push((performance.now() - start) / steps);
  }
  return median(times);
}

/**
 * Training and inference speed at batch 256 with the full network sizes (hidden 256, time
 * embedding 16): pretraining steps/s, joint training steps/s, and one evaluation action
 * (1024 policy samples + softmax over the target Q) in ms.
 */
export function benchProblem(p: BenchProblem, options: { steps: number; repeats: number; warmup: number }): BenchResult {
  const rng = new Rng(1);
  const data = randomTransitions(rng, p.stateDim, p.actionDim, 10_000);
  const config = { ...D4RL_DEFAULTS, batchSize: 256 };
  const agent = new DtqlAgent({ stateDim: p.stateDim, actionDim: p.actionDim, maxAction: 1, clipDenoised: true }, config, 1);
  const sampler = new ReplaySampler(data, config.batchSize);
  const step = (pretrain: boolean) => () => {
    const batch = sampler.sample(agent.rng);
    const metrics = pretrain ? agent.pretrainStep(batch) : agent.trainStep(batch);
    // Read the losses back every step, as training does to catch NaN/Inf.
    const values = tf.tidy(() => tf.stack(Object.values(metrics) as tf.Scalar[]));
    values.dataSync();
    tf.dispose([values, ...(Object.values(metrics) as tf.Scalar[])]);
    disposeBatch(batch);
  };
  try {
    const pretrainMs = timeBlocks(step(true), options.warmup, options.steps, options.repeats);
    const trainMs = timeBlocks(step(false), options.warmup, options.steps, options.repeats);
    const state = data.states.slice(0, p.stateDim);
    const actMs = timeBlocks(() => agent.selectAction(state, 1024, rng), options.warmup, options.steps, options.repeats);
    return { problem: p.problem, pretrainStepsPerSec: 1000 / pretrainMs, trainStepsPerSec: 1000 / trainMs, actLatencyMs: actMs };
  } finally {
    agent.dispose();
  }
}
