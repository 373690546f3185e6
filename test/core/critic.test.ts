import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CriticLearner, criticActionTerm, criticGradients, type Batch, type CriticGradients } from '../../src/core/algos/common';
import { D4RL_DEFAULTS } from '../../src/common/config';
import { Critic } from '../../src/core/nets/critic';
import { Rng } from '../../src/core/rng';
import { initBackend } from '../../src/core/tf/backend';
import { nativeMlpActive } from '../../src/core/tf/native-mlp';

await initBackend('wasm');
const native = nativeMlpActive();

/** 100 rows (so 1/B is not a power of two), every fifth terminal. */
function batchOf(rng: Rng, rows: number, stateDim: number, actionDim: number): Batch {
  const normal = (n: number, scale = 1) => Array.from({ length: n }, () => scale * rng.normal());
  return {
    states: tf.tensor2d(normal(rows * stateDim), [rows, stateDim]),
    actions: tf.tensor2d(normal(rows * actionDim, 0.5), [rows, actionDim]),
    rewards: tf.tensor2d(normal(rows), [rows, 1]),
    nextStates: tf.tensor2d(normal(rows * stateDim), [rows, stateDim]),
    notDone: tf.tensor2d(Array.from({ length: rows }, (_, i) => (i % 5 === 0 ? 0 : 1)), [rows, 1]),
  };
}

const bitsOf = (values: Float32Array) => Array.from(new Uint32Array(values.slice().buffer));
const bits = (t: tf.Tensor) => bitsOf(t.dataSync() as Float32Array);

describe("the critic's gradients written out", () => {
  it.runIf(native)('equal the tape bit for bit (losses and every parameter), with a tenth of the kernels and no tensor left', async () => {
    const rng = new Rng(11);
    const critic = new Critic(11, 3, 32, rng);
    const batch = batchOf(rng, 100, 11, 3);
    // V moved by the median of min(Q1, Q2) - V, so that the expectile weighs rows on both sides.
    const diffs = tf.tidy(() => tf.sub(critic.qMin(batch.states, batch.actions), critic.value(batch.states)).dataSync());
    const median = [...diffs].sort((a, b) => a - b)[50] as number;
    const vBias = critic.params.get('v_model.6.bias');
    tf.tidy(() => vBias.assign(tf.add(vBias, median)));
    const nextV = critic.value(batch.nextStates);
    const before = tf.memory().numTensors;
    const read = (byTape: boolean) => {
      const result: CriticGradients = criticGradients(critic, batch, nextV, 0.7, 0.99, byTape);
      const { loss, valueLoss, q1Loss, q2Loss, valueWeight } = result.parts;
      const read = {
        losses: [loss, valueLoss, q1Loss, q2Loss].map((t) => bits(t)[0]),
        weights: new Set(valueWeight.dataSync()),
        grads: critic.params.variables.map((v) => bits(result.grads[v.name] as tf.Tensor)),
      };
      tf.dispose([...Object.values(result.parts), ...Object.values(result.grads)]);
      return read;
    };
    const [writtenOut, tape] = [read(false), read(true)];
    expect(tf.memory().numTensors).toBe(before);
    // Both sides of the expectile are in the batch, and every parameter has a gradient.
    expect(writtenOut.weights.size).toBe(2);
    expect(writtenOut.grads.length).toBe(critic.params.variables.length);
    expect(writtenOut.losses).toEqual(tape.losses);
    writtenOut.grads.forEach((grad, i) => expect(grad).toEqual(tape.grads[i]));

    const kernels = async (byTape: boolean) =>
      (await tf.profile(() => {
        const { parts, grads } = criticGradients(critic, batch, nextV, 0.7, 0.99, byTape);
        tf.dispose([...Object.values(parts), ...Object.values(grads)]);
      })).kernels.length;
    expect(await kernels(false)).toBeLessThan((await kernels(true)) / 3);
    tf.dispose([nextV, ...Object.values(batch)]);
    critic.dispose();
  });
});

describe('a critic update', () => {
  it.each(['wasm', 'cpu'] as const)('leaves no tensor behind on %s (the cpu backend differentiates by the tape)', async (backend) => {
    await initBackend(backend);
    try {
      const rng = new Rng(12);
      const learner = new CriticLearner({ stateDim: 5, actionDim: 2, maxAction: 1, clipDenoised: true, hidden: 16 }, D4RL_DEFAULTS, rng);
      const batch = batchOf(rng, 32, 5, 2);
      const step = () => tf.dispose(Object.values(learner.update(batch, { lr: 3e-4, joint: true })));
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(batch));
      learner.dispose();
    } finally {
      await initBackend('wasm');
    }
  });
});

describe("the policy's Q term written out", () => {
  it.runIf(native)('equals the tape bit for bit, with several actions per state, and runs no weight product', async () => {
    const rng = new Rng(13);
    const critic = new Critic(11, 3, 32, rng);
    const states = tf.tensor2d(Array.from({ length: 48 * 11 }, () => rng.normal()), [48, 11]);
    // Two actions per state (policyLossSamples 2), rows state-major; rows of both kinds of min.
    const actions = tf.tensor2d(Array.from({ length: 96 * 3 }, () => rng.normal()), [96, 3]);
    const before = tf.memory().numTensors;
    const sameAsTape = () => {
      const [writtenOut, tape] = [criticActionTerm(critic, states, actions), criticActionTerm(critic, states, actions, true)];
      expect(tf.memory().numTensors).toBe(before);
      expect(writtenOut.loss).toBe(tape.loss);
      expect(bitsOf(writtenOut.actionGrad)).toEqual(bitsOf(tape.actionGrad));
      expect(writtenOut.actionGrad.some((g) => g !== 0)).toBe(true);
    };
    sameAsTape();
    const q = tf.tidy(() => {
      const repeated = tf.reshape(tf.tile(tf.reshape(states, [48, 1, 11]), [1, 2, 1]), [96, 11]);
      const [q1, q2] = critic.q(repeated, actions);
      return tf.lessEqual(q1, q2).dataSync();
    });
    expect(new Set(q).size).toBe(2);
    // With Q2 far above Q1, every row's gradient goes through Q1 (its chain on all rows) and none through Q2.
    const q2Bias = critic.params.get('q2_model.9.bias');
    tf.tidy(() => q2Bias.assign(tf.add(q2Bias, 100)));
    sameAsTape();
    const kernels = (await tf.profile(() => void criticActionTerm(critic, states, actions))).kernels.map((k) => k.name);
    expect(kernels).not.toContain('DtqlMlpWeightGrad');
    expect(kernels.length).toBeLessThan((await tf.profile(() => void criticActionTerm(critic, states, actions, true))).kernels.length);
    tf.dispose([states, actions]);
    critic.dispose();
  });
});
