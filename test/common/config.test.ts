import { describe, expect, it } from 'vitest';
import { configDiff, parseConfigOverride, trainConfigSchema, validateConfig } from '../../src/common/config';
import { TASKS, defaultPreset, normalisedScore, presetOf, requireTask } from '../../src/core/tasks';
import { trainingDevice } from '../../src/core/tf/device';

describe('task catalog', () => {
  it('every preset of every task satisfies the config schema', () => {
    for (const task of TASKS) {
      for (const preset of task.presets) {
        for (const algo of ['dtql', 'kl'] as const) expect(() => validateConfig(preset.configs[algo]), `${task.id} ${algo}`).not.toThrow();
      }
    }
  });

  it('every task has a default preset on either device, one of its own: quick on a CPU and paper on a GPU for the bandits', () => {
    for (const task of TASKS) {
      for (const device of ['cpu', 'gpu'] as const) expect(task.presets.map((p) => p.id), `${task.id} on ${device}`).toContain(defaultPreset(task, device));
    }
    const bandit = requireTask('bandit-25g-hard');
    expect([defaultPreset(bandit, 'cpu'), defaultPreset(bandit, 'gpu')]).toEqual(['quick', 'paper']);
    expect(defaultPreset(requireTask('hopper-random-v2'), 'cpu')).toBe('medium-settings');
    expect(defaultPreset(requireTask('pendulum-swingup'), 'cpu')).toBe('default');
  });

  it('the device is a GPU only where the CUDA build of tfjs-node is installed', () => {
    expect(trainingDevice(() => '/x/tfjs-node-gpu/index.js')).toBe('gpu');
    expect(
      trainingDevice(() => {
        throw new Error('Cannot find module');
      }),
    ).toBe('cpu');
  });

  it('lists the five bandit tasks, the 20 D4RL tasks of Table 4 and the three -random locomotion tasks', () => {
    expect(TASKS.filter((t) => t.family === 'bandit').map((t) => t.id)).toEqual([
      'bandit-25g-near',
      'bandit-25g-far',
      'bandit-25g-hard',
      'bandit-swiss-near',
      'bandit-swiss-far',
    ]);
    const d4rl = TASKS.filter((t) => t.family === 'd4rl');
    expect(d4rl.filter((t) => t.presets[0]?.id === 'paper')).toHaveLength(20);
    expect(d4rl.filter((t) => t.presets[0]?.id === 'medium-settings').map((t) => t.id)).toEqual(['hopper-random-v2', 'halfcheetah-random-v2', 'walker2d-random-v2']);
  });

  it('keeps the official per-task settings', () => {
    const hopper = presetOf(requireTask('hopper-medium-v2')).configs.dtql;
    expect(hopper).toMatchObject({ lr: 1e-4, alpha: 5, gamma: 0, lrDecay: true, trainSteps: 1_000_000, batchSize: 256, expectile: 0.7, criticLr: 3e-4, pretrainSteps: 50_000 });
    const antmaze = requireTask('antmaze-large-diverse-v2');
    expect(presetOf(antmaze).configs.dtql).toMatchObject({ alpha: 0.5, gamma: 1, batchSize: 2048, expectile: 0.9, trainSteps: 300_000 });
    expect(antmaze.rewardShift).toBe(-1);
    expect(presetOf(antmaze).configs.kl.gamma).toBe(0);
    const swissFar = presetOf(requireTask('bandit-swiss-far'));
    expect(swissFar.configs.dtql).toMatchObject({ eta: 5, lr: 3e-3, batchSize: 10_000, expectile: 0.95, scoreHidden: 128, timeEmbedDim: 4 });
    expect(presetOf(requireTask('bandit-25g-far')).configs.kl).toMatchObject({ trainSteps: 2000, pretrainSteps: 500 });
    expect(hopper.policyLr).toBe(hopper.lr);
    expect(swissFar.configs.kl).toMatchObject({ lr: 3e-3, policyLr: 3e-3 });
    // The toy script pretrains the diffusion model alone and starts the fake score from its own init; main.py does neither.
    expect(swissFar.configs.kl).toMatchObject({ pretrainCritic: false, fakeScoreFromDiffusion: false });
    expect(presetOf(requireTask('hopper-medium-v2')).configs.kl).toMatchObject({ pretrainCritic: true, fakeScoreFromDiffusion: true });
  });

  it('quick bandit presets: minibatches; two fifths of the Q weight and twice the steps for the trust region (a narrow start for the official steps on 25G-far and swiss-near); a tenth of lr for the KL generator', () => {
    for (const id of ['bandit-25g-far', 'bandit-25g-hard', 'bandit-swiss-far', 'bandit-25g-near', 'bandit-swiss-near']) {
      const task = requireTask(id);
      const paper = presetOf(task, 'paper').configs;
      const quick = presetOf(task, 'quick').configs;
      const narrowStart = { 'bandit-25g-far': { policyInitLogStd: -1.5, trainSteps: 3500 }, 'bandit-swiss-near': { policyInitLogStd: -3, eta: 0.2, trainSteps: 3500 }, 'bandit-25g-hard': { trainSteps: 6000 } }[id] ?? {};
      expect(paper.dtql.policyInitLogStd).toBe(0);
      expect(quick.dtql).toEqual({ ...paper.dtql, batchSize: 256, eta: paper.dtql.eta * 0.4, trainSteps: 7000, ...narrowStart });
      expect(quick.kl).toEqual({ ...paper.kl, batchSize: 256, policyLr: 3e-4 });
    }
    expect(presetOf(requireTask('bandit-swiss-far'), 'quick').configs.dtql.eta).toBeCloseTo(2, 12);
  });

  it('normalises D4RL returns to 0-100 with the reference scores', () => {
    const hopper = requireTask('hopper-medium-v2');
    expect(normalisedScore(hopper, -20.272305)).toBeCloseTo(0, 10);
    expect(normalisedScore(hopper, 3234.3)).toBeCloseTo(100, 10);
    expect(normalisedScore(requireTask('bandit-25g-far'), 5)).toBeNull();
  });

  it('names the unknown task', () => {
    expect(() => requireTask('hopper-v9')).toThrow(/unknown task "hopper-v9"/);
  });
});

describe('config validation', () => {
  const base = presetOf(requireTask('hopper-medium-v2')).configs.dtql;

  it.each([
    [{ lr: -1 }, 'lr: must be above 0'],
    [{ batchSize: 0 }, 'batchSize: must be at least 1'],
    [{ alpha: Number.NaN }, 'alpha'],
    [{ trainSteps: 1.5 }, 'trainSteps: must be a whole number'],
    [{ expectile: 1 }, 'expectile: must be below 1'],
    [{ timeEmbedDim: 5 }, 'timeEmbedDim: must be even'],
    [{ policyLossSamples: 0 }, 'policyLossSamples: must be at least 1'],
    [{ policyInitLogStd: 2.5 }, 'policyInitLogStd: must be at most 2 (the log-std clamp)'],
    [{ policyLossSamples: 2.5 }, 'policyLossSamples: must be a whole number'],
  ])('rejects %o naming the field', (patch, message) => {
    expect(() => validateConfig({ ...base, ...patch })).toThrow(message);
  });

  it('rejects unknown keys', () => {
    expect(() => validateConfig({ ...base, learningRate: 1 })).toThrow(/learningRate/);
  });

  it('parses --set overrides by the type of the key', () => {
    expect(parseConfigOverride('lr=0.001')).toEqual(['lr', 0.001]);
    expect(parseConfigOverride('lrDecay=true')).toEqual(['lrDecay', true]);
    expect(parseConfigOverride('eta=-2.5e-1')).toEqual(['eta', -0.25]);
    expect(parseConfigOverride('trainSteps=.5e4')).toEqual(['trainSteps', 5000]);
    expect(() => parseConfigOverride('lr=abc')).toThrow('lr must be a number in decimal notation (e.g. 0.5 or 3e-4), got "abc"');
    expect(() => parseConfigOverride('lr=')).toThrow('lr must be a number');
    // Number() would read these as 16, 2, 8 and Infinity.
    for (const text of ['0x10', '0b10', '0o10']) expect(() => parseConfigOverride(`batchSize=${text}`)).toThrow(`batchSize must be a number in decimal notation`);
    expect(() => parseConfigOverride('lr=1e400')).toThrow('lr is too large, got "1e400"');
    expect(() => parseConfigOverride('lr=Infinity')).toThrow('lr must be a number');
    expect(() => parseConfigOverride('bogus=1')).toThrow(/unknown hyperparameter "bogus"/);
    expect(() => parseConfigOverride('lrDecay=1')).toThrow('lrDecay must be true or false');
    expect(() => parseConfigOverride('noequals')).toThrow(/key=value/);
  });

  it('diffs two configs key by key in schema order', () => {
    expect(configDiff(base, { ...base, alpha: 9, lr: 1 })).toEqual(['alpha', 'lr']);
    expect(Object.keys(trainConfigSchema.shape)[0]).toBe('alpha');
  });
});
