import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { diffusionGradients } from '../../src/core/algos/common';
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
