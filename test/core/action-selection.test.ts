import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '../../src/core/algos/agents';
import { D4RL_DEFAULTS } from '../../src/common/config';
import { Rng } from '../../src/core/rng';
import { initBackend } from '../../src/core/tf/backend';

beforeAll(async () => {
  await initBackend();
});

describe('action selection for several states at once (evaluation of parallel episodes)', () => {
  it.each([
    ['dtql', 16],
    ['kl', 16],
    // 3,072 rows: the critic's products and layers run split over two cores (withBothCores).
    ['dtql', 1024],
  ] as const)('%s, %i samples a state: each state gets one of its own candidate actions, and no tensor leaks', (algo, samples) => {
    const problem = { stateDim: 4, actionDim: 2, maxAction: 1, clipDenoised: true };
    const agent = createAgent(algo, problem, { ...D4RL_DEFAULTS, scoreHidden: 32 }, 3);
    // Three very different states: their candidate sets differ.
    const states = Float32Array.from([0, 0, 0, 0, 5, -5, 5, -5, -9, 9, -9, 9]);
    const before = tf.memory().numTensors;
    // The same stream: the candidates selectActions draws are exactly these.
    const candidates = agent.samplePolicyAt(states, samples, new Rng(11));
    const chosen = agent.selectActions(states, samples, new Rng(11));
    expect(tf.memory().numTensors).toBe(before);
    expect(chosen).toHaveLength(3 * 2);
    for (let k = 0; k < 3; k++) {
      const own = Array.from({ length: samples }, (_, i) => Array.from(candidates.subarray((k * samples + i) * 2, (k * samples + i + 1) * 2)).join(','));
      expect(own).toContain(Array.from(chosen.subarray(k * 2, k * 2 + 2)).join(','));
    }
    // One state alone draws from the same candidates as when stacked first. Equal up to rounding
    // only: OpenBLAS may pick another kernel for 16 rows than for 48 (it does without AVX-512),
    // while another draw would differ by far more than 1e-6.
    const single = agent.samplePolicyAt(states.subarray(0, 4), samples, new Rng(11));
    const stacked = candidates.subarray(0, 2 * samples);
    expect(single).toHaveLength(stacked.length);
    single.forEach((value, i) => expect(value).toBeCloseTo(stacked[i] as number, 6));
    agent.dispose();
  });
});
