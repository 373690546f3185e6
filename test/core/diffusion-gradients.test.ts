import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { diffusionGradients } from '../../src/core/algos/common';
import { DtqlAgent, policyLoss, type Batch } from '../../src/core/algos/dtql';
import { D4RL_DEFAULTS } from '../../src/common/config';
import { ScoreNetwork } from '../../src/core/nets/score';
import { Rng } from '../../src/core/rng';
import { sampleSigma } from '../../src/core/edm';
import { initBackend } from '../../src/core/tf/backend';
import { nativeMlpActive } from '../../src/core/tf/native-mlp';

await initBackend('wasm');
const native = nativeMlpActive();

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describe("a diffusion loss's gradients written out (behaviour cloning, the KL fake score)", () => {
  // D4RL's denoiser clamps to the action box, here also to a box so narrow that most values are cut; the toys' does not clamp.
  it.runIf(native).each([
    ['clamped to [-1, 1]', 1, 11, 3, 16],
    ['clamped to [-0.05, 0.05]', 0.05, 11, 3, 16],
    ['unclamped', null, 1, 2, 4],
  ] as const)('equal the tape bit for bit (%s): the loss and every parameter, with fewer kernels and no tensor left', async (_name, clampTo, stateDim, actionDim, timeEmbedDim) => {
    const rng = new Rng(12);
    const actor = new ScoreNetwork({ actionDim, stateDim, hidden: 32, timeEmbedDim }, rng);
    // 100 rows: 1/N is not a power of two.
    const rows = 100;
    const normal = (n: number, scale = 1) => Array.from({ length: n }, () => scale * rng.normal());
    const batch = { states: tf.tensor2d(normal(rows * stateDim), [rows, stateDim]), actions: tf.tensor2d(normal(rows * actionDim, 0.8), [rows, actionDim]) };
    const sigma = tf.tensor2d(sampleSigma(rng, rows), [rows, 1]);
    const eps = tf.tensor2d(normal(rows * actionDim), [rows, actionDim]);
    const before = tf.memory().numTensors;
    const read = (byTape: boolean) => {
      const { loss, grads } = tf.tidy(() => diffusionGradients(actor, batch.actions, batch.states, sigma, eps, clampTo, byTape));
      const out = { loss: bits(loss), grads: actor.params.variables.map((v) => bits(grads[v.name] as tf.Tensor)) };
      tf.dispose([loss, ...Object.values(grads)]);
      return out;
    };
    const [writtenOut, tape] = [read(false), read(true)];
    expect(tf.memory().numTensors).toBe(before);
    expect(writtenOut.grads).toHaveLength(actor.params.variables.length);
    expect(writtenOut.loss).toEqual(tape.loss);
    writtenOut.grads.forEach((grad, i) => expect(grad, actor.params.variables[i]?.name).toEqual(tape.grads[i]));
    // The time embedding's gradient is not zero: it reaches it through the MLP's input.
    expect(writtenOut.grads[0]?.some((b) => b !== 0)).toBe(true);
    const kernels = async (byTape: boolean) =>
      (
        await tf.profile(() => {
          const { loss, grads } = tf.tidy(() => diffusionGradients(actor, batch.actions, batch.states, sigma, eps, clampTo, byTape));
          tf.dispose([loss, ...Object.values(grads)]);
        })
      ).kernels.length;
    expect(await kernels(false)).toBeLessThan((await kernels(true)) / 2);
    tf.dispose([batch.states, batch.actions, sigma, eps]);
    actor.dispose();
  });
});

describe("the trust region's gradient written out (the policy's tape)", () => {
  // D4RL's clamped denoiser (also a box that cuts most values) and the toys' unclamped one; one and three policy samples per state.
  it.runIf(native).each([
    ['clamped to [-1, 1]', true, 1, 1],
    ['clamped to [-0.05, 0.05]', true, 0.05, 3],
    ['unclamped', false, 1, 1],
  ] as const)('equals the tape bit for bit (%s): the loss parts and every policy gradient, with fewer kernels and no tensor left', async (_name, clipDenoised, maxAction, samples) => {
    const [stateDim, actionDim, rows] = [11, 3, 100];
    const agent = new DtqlAgent({ stateDim, actionDim, maxAction, clipDenoised, hidden: 32 }, { ...D4RL_DEFAULTS, scoreHidden: 32, batchSize: rows, eta: 0.7, gamma: 0.3, policyLossSamples: samples }, 5);
    const rng = new Rng(13);
    const normal = (n: number, scale = 1) => Array.from({ length: n }, () => scale * rng.normal());
    const batch = { states: tf.tensor2d(normal(rows * stateDim), [rows, stateDim]), actions: tf.tensor2d(normal(rows * actionDim, 0.3 * maxAction), [rows, actionDim]) } as Batch;
    const noise = agent.drawNoise(rows);
    const qTerm = { loss: 0.25, actionGrad: Float32Array.from(normal(rows * samples * actionDim, 0.01)) };
    const weights = { alpha: 1.3, eta: 0.7, gamma: 0.3 };
    const before = tf.memory().numTensors;
    const read = (byTape: boolean) => {
      const { value, grads } = tf.variableGrads(() => policyLoss(agent, batch, noise, weights, qTerm, null, byTape).loss, agent.policy.params.variables);
      const out = { loss: bits(value), grads: agent.policy.params.variables.map((v) => bits(grads[v.name] as tf.Tensor)) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const [writtenOut, tape] = [read(false), read(true)];
    expect(tf.memory().numTensors).toBe(before);
    expect(writtenOut.loss).toEqual(tape.loss);
    writtenOut.grads.forEach((grad, i) => expect(grad, agent.policy.params.variables[i]?.name).toEqual(tape.grads[i]));
    const kernels = async (byTape: boolean) =>
      (
        await tf.profile(() => {
          const { value, grads } = tf.variableGrads(() => policyLoss(agent, batch, noise, weights, qTerm, null, byTape).loss, agent.policy.params.variables);
          tf.dispose([value, ...Object.values(grads)]);
        })
      ).kernels.length;
    expect(await kernels(false)).toBeLessThan(await kernels(true));
    tf.dispose([batch.states, batch.actions]);
    agent.dispose();
  });
});
