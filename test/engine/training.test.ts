import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/core/algos/agents';
import { DtqlAgent, policyLoss, type StepNoise } from '../../src/core/algos/dtql';
import type { KlAgent } from '../../src/core/algos/dql-kl';
import { cosineLr, criticActionTerm, type OfflineAgent } from '../../src/core/algos/common';
import { D4RL_DEFAULTS, type Algo, type TrainConfig } from '../../src/common/config';
import { ReplaySampler, disposeBatch } from '../../src/core/data/replay';
import { loadTaskData } from '../../src/core/data/task-data';
import { requireTask } from '../../src/core/tasks';
import { initBackend } from '../../src/core/tf/backend';
import { decodeCheckpoint, encodeCheckpoint, sha256 } from '../../src/engine/training/checkpoint';
import { planRuns } from '../../src/engine/plan';
import { trainRun } from '../../src/engine/local/train-run';
import { PipelinedStepper, SequentialStepper } from '../../src/engine/training/stepper';
import { listCheckpoints } from '../../src/store/checkpoints';
import { openDatabase } from '../../src/store/db';
import { readMetric } from '../../src/store/metrics';
import { getRun, insertRuns } from '../../src/store/runs';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes('all');
beforeAll(async () => {
  await initBackend('wasm');
});

/** A small bandit configuration: the real networks, narrower and on small batches, for speed. */
const SMALL = { batchSize: 32, scoreHidden: 32, logInterval: 1, evalInterval: 4, checkpointInterval: 4, pretrainSteps: 3, trainSteps: 9 };

function smallAgent(seed: number, algo: Algo = 'dtql', overrides: Partial<TrainConfig> = {}) {
  const data = loadTaskData(requireTask('bandit-25g-near'));
  const agent = createAgent(algo, { ...data.problem, hidden: 32 }, { ...D4RL_DEFAULTS, ...SMALL, timeEmbedDim: 4, ...overrides }, seed);
  return { agent, sampler: new ReplaySampler(data.transitions, SMALL.batchSize) };
}

async function runSteps(agent: OfflineAgent, sampler: ReplaySampler, n: number, pretrain = false): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const batch = sampler.sample(agent.dataRng);
    const scalars = Object.values(await (pretrain ? agent.pretrainStep(batch) : agent.trainStep(batch))) as tf.Scalar[];
    out.push(scalars.map((s) => s.dataSync()[0] as number));
    tf.dispose(scalars);
    disposeBatch(batch);
  }
  return out;
}

describe.each(['dtql', 'kl'] as const)('%s agent', (algo) => {
  it.each([1, 3])('keeps the tensor count flat across 100 training steps (%i policy samples per state)', async (policyLossSamples) => {
    const { agent, sampler } = smallAgent(1, algo, { policyLossSamples });
    await runSteps(agent, sampler, 3, true);
    await runSteps(agent, sampler, 3);
    const before = tf.memory().numTensors;
    await runSteps(agent, sampler, 100);
    expect(tf.memory().numTensors).toBe(before);
    agent.dispose();
  });

  it('trains the policy at policyLr and the diffusion model (and the KL fake score) at lr, both under the cosine schedule', async () => {
    const { agent, sampler } = smallAgent(2, algo, { lr: 1e-3, policyLr: 1e-4, lrDecay: true });
    const rates = () => Object.fromEntries(Object.entries(agent.getState().optimizers).map(([name, o]) => [name, o.lr]));
    await runSteps(agent, sampler, 1);
    const policyName = algo === 'dtql' ? 'policy' : 'generator';
    expect(rates()).toMatchObject({ bc: 1e-3, [policyName]: 1e-4, ...(algo === 'kl' ? { fake: 1e-3 } : {}) });
    await runSteps(agent, sampler, 4);
    agent.applyLearningRates();
    const decayed = rates();
    expect(decayed.bc).toBeCloseTo(cosineLr(1e-3, 5, SMALL.trainSteps), 12);
    expect(decayed[policyName]).toBeCloseTo(cosineLr(1e-4, 5, SMALL.trainSteps), 12);
    if (algo === 'kl') expect(decayed.fake).toBeCloseTo(decayed.bc as number, 15);
    agent.dispose();
  });

  it('gives identical losses for the same seed and different ones for another seed', async () => {
    const a = smallAgent(7, algo);
    const b = smallAgent(7, algo);
    const c = smallAgent(8, algo);
    const la = await runSteps(a.agent, a.sampler, 5);
    expect(await runSteps(b.agent, b.sampler, 5)).toEqual(la);
    expect(await runSteps(c.agent, c.sampler, 5)).not.toEqual(la);
    for (const x of [a, b, c]) x.agent.dispose();
  });

  it('restores a checkpoint and continues exactly', async () => {
    const a = smallAgent(3, algo);
    await runSteps(a.agent, a.sampler, 4);
    const saved = decodeCheckpoint(encodeCheckpoint(a.agent.getState()));
    const expected = await runSteps(a.agent, a.sampler, 4);
    const b = smallAgent(99, algo);
    b.agent.setState(saved);
    expect(await runSteps(b.agent, b.sampler, 4)).toEqual(expected);
    a.agent.dispose();
    b.agent.dispose();
  });

  it.each([
    [1, true, false, false, [5, 7]],
    [3, true, false, false, [5, 7]],
    [1, false, false, false, [5, 7]],
    [1, true, true, false, [5, 7]],
    [3, false, true, false, [5, 7]],
    [1, true, false, true, [1, 5, 7]],
    [3, true, true, true, [2, 7]],
  ])(
    'trains with the critic on a worker thread with exactly the sequential results (%i policy samples per state, critic pretrained: %s, Q term on the main thread: %s, V backward there: %s, synced after steps %j)',
    async (policyLossSamples, pretrainCritic, qTerm, valueBackward, syncs) => {
      const run = async (pipelined: boolean) => {
        const { agent, sampler } = smallAgent(11, algo, { policyLossSamples, pretrainCritic });
        const stepper = pipelined ? await PipelinedStepper.start(agent, sampler, 'wasm', { qTerm, valueBackward }) : new SequentialStepper(agent, sampler);
        const values: Record<string, number>[] = [];
        for (let i = 0; i < 8; i++) values.push(await stepper.step(syncs.includes(i)));
        // V's steps on the main thread: one per pretraining step (3) where it goes there.
        if (stepper instanceof PipelinedStepper) expect(stepper.valueStepsHere).toBe(valueBackward ? SMALL.pretrainSteps : 0);
        await stepper.close();
        const state = agent.getState();
        agent.dispose();
        return { values, state };
      };
      const sequential = await run(false);
      const pipelined = await run(true);
      expect(pipelined.values).toEqual(sequential.values);
      for (const [module, params] of Object.entries(sequential.state.params)) {
        for (const [name, value] of Object.entries(params)) expect(pipelined.state.params[module]?.[name]?.data, `${module}.${name}`).toEqual(value.data);
      }
      expect(pipelined.state.optimizers.critic?.m).toEqual(sequential.state.optimizers.critic?.m);
      expect(pipelined.state.optimizers.critic?.v).toEqual(sequential.state.optimizers.critic?.v);
      expect(pipelined.state.optimizers.critic?.step).toBe(sequential.state.optimizers.critic?.step);
    },
  );
});

describe("V's backward pass on the main thread in pretraining", () => {
  it('keeps the main thread\'s tensor count flat over the steps that take it and over the switch to joint training', async () => {
    const { agent, sampler } = smallAgent(5, 'dtql', { pretrainSteps: 30, trainSteps: 10 });
    const stepper = await PipelinedStepper.start(agent, sampler, 'wasm', { valueBackward: true });
    for (let i = 0; i < 3; i++) await stepper.step(false);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 25; i++) await stepper.step(i === 10);
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 10; i++) await stepper.step(i === 9);
    expect(stepper.valueStepsHere).toBe(30);
    expect(tf.memory().numTensors).toBe(before);
    await stepper.close();
    agent.dispose();
  });
});

describe('what pretraining trains', () => {
  const criticParams = (agent: OfflineAgent) => Object.values(agent.getState().params.critic ?? {}).map((p) => Array.from(p.data));

  it.each([true, false])('trains the critic during pretraining only with pretrainCritic (%s)', async (pretrainCritic) => {
    const { agent, sampler } = smallAgent(5, 'kl', { pretrainCritic });
    const initial = criticParams(agent);
    const losses = await runSteps(agent, sampler, 3, true);
    // bc, then the critic's four losses when it trains
    expect(losses[0]).toHaveLength(pretrainCritic ? 5 : 1);
    if (pretrainCritic) expect(criticParams(agent)).not.toEqual(initial);
    else expect(criticParams(agent)).toEqual(initial);
    await runSteps(agent, sampler, 1);
    expect(criticParams(agent)).not.toEqual(initial);
    agent.dispose();
  });

  it.each([true, false])('starts the KL fake score from the diffusion model only with fakeScoreFromDiffusion (%s)', async (fakeScoreFromDiffusion) => {
    const { agent, sampler } = smallAgent(6, 'kl', { fakeScoreFromDiffusion });
    await runSteps(agent, sampler, 3, true);
    const params = () => agent.getState().params;
    const initialFake = params().fakeScore;
    (agent as KlAgent).startFromDiffusion();
    const { fakeScore, generator, bcActor } = params();
    expect(generator).toEqual(bcActor);
    expect(fakeScore).toEqual(fakeScoreFromDiffusion ? bcActor : initialFake);
    expect(fakeScore).not.toEqual(fakeScoreFromDiffusion ? initialFake : bcActor);
    agent.dispose();
  });
});

describe('policy samples per state (policyLossSamples)', () => {
  /** Sample j of every state from state-major draws with `k` samples per state, one value per row (pendulum's action is one-dimensional). */
  const sampleRows = (values: Float32Array, k: number, j: number) => values.filter((_, row) => row % k === j);

  it('DTQL: the loss and policy gradient with k samples per state are the mean of the k one-sample ones', () => {
    const data = loadTaskData(requireTask('pendulum-swingup'));
    const k = 3;
    const agent = new DtqlAgent({ ...data.problem, hidden: 32 }, { ...D4RL_DEFAULTS, ...SMALL, eta: 0.7, gamma: 0.3, policyLossSamples: k }, 4);
    const batch = new ReplaySampler(data.transitions, SMALL.batchSize).sample(agent.dataRng);
    const noise = agent.drawNoise(SMALL.batchSize);
    expect(noise.sigmaTr.length).toBe(SMALL.batchSize * k);
    const lossAndGrads = (n: StepNoise) => {
      const actions = agent.policyActions(batch.states, n);
      const actionTensor = tf.tensor2d(actions, [actions.length, 1]);
      const qTerm = criticActionTerm(agent.critic, batch.states, actionTensor);
      actionTensor.dispose();
      const { value, grads } = tf.variableGrads(() => policyLoss(agent, batch, n, { alpha: 1, eta: 0.7, gamma: 0.3 }, qTerm).loss, agent.policy.params.variables);
      const out = { loss: value.dataSync()[0] as number, grads: Object.values(grads).map((g) => Array.from(g.dataSync())) };
      tf.dispose([value, grads]);
      return out;
    };
    const all = lossAndGrads(noise);
    const singles = Array.from({ length: k }, (_, j) =>
      lossAndGrads({ ...noise, xiPolicy: sampleRows(noise.xiPolicy, k, j), sigmaTr: sampleRows(noise.sigmaTr, k, j), epsTr: sampleRows(noise.epsTr, k, j) }),
    );
    expect(all.loss).toBeCloseTo(singles.reduce((t, x) => t + x.loss, 0) / k, 4);
    all.grads.forEach((grad, p) =>
      grad.forEach((g, i) => expect(g).toBeCloseTo(singles.reduce((t, x) => t + (x.grads[p]?.[i] as number), 0) / k, 4)),
    );
    disposeBatch(batch);
    agent.dispose();
  });
});

describe('initial policy spread (policyInitLogStd)', () => {
  it('starts the policy at the given log-std with its mean at 0 on the bandit state, and at the official 0 by default', () => {
    const data = loadTaskData(requireTask('bandit-25g-far'));
    const spreadAt = (overrides: Partial<TrainConfig>) => {
      const agent = new DtqlAgent({ ...data.problem, hidden: 32 }, { ...D4RL_DEFAULTS, ...SMALL, ...overrides }, 7);
      const out = tf.tidy(() => {
        const { mu, logStd } = agent.policy.forward(tf.zeros([1, 1]));
        return [Array.from(mu.dataSync()), Array.from(logStd.dataSync())];
      });
      agent.dispose();
      return out;
    };
    expect(spreadAt({})).toEqual([
      [0, 0],
      [0, 0],
    ]);
    const [mu, logStd] = spreadAt({ policyInitLogStd: -1.5 });
    expect(mu).toEqual([0, 0]);
    expect(logStd).toEqual([-1.5, -1.5]);
  });
});

describe('sequential stepper', () => {
  it('yields to the event loop every step, so signals and stop or pause messages are heard between steps', async () => {
    const { agent, sampler } = smallAgent(12);
    const stepper = new SequentialStepper(agent, sampler);
    const heard = { afterSteps: -1 };
    let steps = 0;
    setTimeout(() => {
      heard.afterSteps = steps;
    }, 0);
    for (; steps < 30; steps++) await stepper.step();
    expect(heard.afterSteps).toBeGreaterThanOrEqual(0);
    expect(heard.afterSteps).toBeLessThan(30);
    agent.dispose();
  });
});

describe('DTQL mean action', () => {
  it('is tanh(mu) * maxAction: inside the action box and the same on every call', () => {
    const data = loadTaskData(requireTask('bandit-25g-near'));
    const agent = new DtqlAgent({ ...data.problem, hidden: 32 }, { ...D4RL_DEFAULTS, ...SMALL, timeEmbedDim: 4 }, 4);
    const a = agent.meanAction(new Float32Array(1));
    expect(a).toHaveLength(2);
    for (const v of a) expect(Math.abs(v)).toBeLessThanOrEqual(data.problem.maxAction);
    expect(agent.meanAction(new Float32Array(1))).toEqual(a);
    agent.dispose();
  });
});

const setFlags = Object.entries({ ...SMALL, trainSteps: undefined }).flatMap(([k, v]) => (v === undefined ? [] : ['--set', `${k}=${v}`]));

describe('training runs in the store', () => {
  it('dtql train writes the run, its metrics and checkpoints, and prints the contract summary', () => {
    const home = freshHome();
    const result = runCli(['--home', home, 'train', '--task', 'bandit-25g-hard', '--steps', '9', '--tag', 'smoke', ...setFlags, '--json']);
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ task: 'bandit-25g-hard', algo: 'dtql', seed: 2, steps: 12, status: 'completed', backend: 'wasm', bestScore: null, finalScore: null });
    expect(summary.finalMetrics.meanReward).toEqual(expect.any(Number));
    expect(summary.stepsPerSec).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/step \d+\/12/);
    const db = openDatabase(home);
    expect(readMetric(db, summary.runId, 'bc').map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // The bandit presets pretrain the diffusion model alone, as the toy script does.
    expect(readMetric(db, summary.runId, 'critic').map((r) => r.step)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(readMetric(db, summary.runId, 'trustRegion').map((r) => r.step)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(readMetric(db, summary.runId, 'eval/meanReward').map((r) => r.step)).toEqual([7, 11, 12]);
    expect(listCheckpoints(db, summary.runId).map((c) => c.step)).toEqual([12, 8]);
    expect(getRun(db, summary.runId).tags).toEqual(['smoke']);
    db.close();
  });

  it.each(['dtql', 'kl'] as const)('a %s run stopped at step N and resumed in a fresh process ends bit-for-bit like an uninterrupted run', async (algo) => {
    const home = freshHome();
    const full = runCli(['--home', home, 'train', '--task', 'bandit-25g-near', '--algo', algo, '--preset', 'paper', '--seed', '5', '--steps', '9', ...setFlags, '--json']);
    expect(full.status, full.stderr).toBe(0);
    const fullId = JSON.parse(full.stdout).runId as number;

    const db = openDatabase(home);
    const [runId] = insertRuns(db, planRuns({ task: 'bandit-25g-near', algo, preset: 'paper', seeds: [5], tags: [], overrides: { ...SMALL } }));
    let steps = 0;
    // A stop request ends the run after the step in progress: asked after step 5, it stops at 6.
    const stopped = await trainRun(db, home, runId as number, { flushSeconds: 0, onProgress: (p) => (steps = p.step), control: () => (steps >= 5 ? 'stop' : null) });
    expect(stopped.run.status).toBe('stopped');
    expect(stopped.run.stepsDone).toBe(6);
    db.close();

    const resumed = runCli(['--home', home, 'resume', String(runId), '--json']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'completed', steps: 12 });

    const check = openDatabase(home);
    const [a] = listCheckpoints(check, fullId);
    const [b] = listCheckpoints(check, runId as number);
    expect(b?.step).toBe(12);
    expect(b?.sha256).toBe(a?.sha256);
    for (const metric of ['critic', 'bc', 'policy', 'eval/meanReward']) {
      expect(readMetric(check, runId as number, metric).map((r) => r.value)).toEqual(readMetric(check, fullId, metric).map((r) => r.value));
    }
    check.close();
    // Two CLI processes and an in-process run: about 30 s on a 2-core machine without AVX-512.
  }, 120_000);

  it('a NaN in training stops the run as diverged, naming the step and loss, and keeps its checkpoint', async () => {
    const home = freshHome();
    const db = openDatabase(home);
    const [runId] = insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'paper', seeds: [1], tags: [], overrides: { ...SMALL } }));
    let steps = 0;
    await trainRun(db, home, runId as number, { flushSeconds: 0, onProgress: (p) => (steps = p.step), control: () => (steps >= 3 ? 'stop' : null) });
    // Simulate a numerically broken state: a NaN in V's output bias of the last (valid) checkpoint.
    const [ckpt] = listCheckpoints(db, runId as number);
    if (!ckpt) throw new Error('no checkpoint');
    const state = decodeCheckpoint(fs.readFileSync(ckpt.path));
    const bias = state.params.critic?.['v_model.6.bias'];
    if (!bias) throw new Error('no v_model.6.bias');
    bias.data[0] = Number.NaN;
    const broken = encodeCheckpoint(state);
    fs.writeFileSync(ckpt.path, broken);
    db.prepare('UPDATE checkpoints SET sha256 = ? WHERE id = ?').run(sha256(broken), ckpt.id);
    const result = await trainRun(db, home, runId as number, { flushSeconds: 0 });
    expect(result.run.status).toBe('diverged');
    expect(result.run.error).toMatch(/loss became NaN at step 5/);
    expect(listCheckpoints(db, runId as number).map((c) => c.step)).toEqual([4]);
    db.close();
  });

  it('rejects bad training input with exit code 2 and stores nothing', () => {
    const home = freshHome();
    for (const args of [
      ['--task', 'nope'],
      ['--task', 'bandit-25g-far', '--set', 'lr=-1'],
      ['--task', 'bandit-25g-far', '--set', 'batchSize=0'],
      ['--task', 'bandit-25g-far', '--steps', '0'],
      ['--task', 'bandit-25g-far', '--set', 'alpha=abc'],
      ['--task', 'bandit-25g-far', '--seed', '1.5'],
      ['--task', 'bandit-25g-far', '--set', 'bogus=1'],
    ]) {
      const result = runCli(['--home', home, 'train', ...args]);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr.length).toBeGreaterThan(0);
    }
    // Refused before the store was touched: not even an empty one was made.
    const list = runCli(['--home', home, 'runs', 'list', '--json']);
    expect(list.status).toBe(2);
    expect(list.stderr).toContain('there is no DTQL Workbench data folder');
    // Eight CLI processes: 17-25 s on a quiet machine, past the default 30 s on a busy one.
  }, 120_000);
});
