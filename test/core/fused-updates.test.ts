import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';
import { composedAdamStep } from '../../src/core/tf/adam';
import { adamStepInPlace, fusedAdamStep, fusedSoftUpdate, fusedUpdateFor, registerFusedUpdates, softUpdateInPlace, type AdamCoefficients } from '../../src/core/tf/fused-updates';
import { initBackend } from '../../src/core/tf/backend';
import { nativeKernelsActive } from '../../src/core/tf/native-kernels';

/** Values over many magnitudes, zeros and signs included, as parameters and gradients have. */
function spread(rng: Rng, n: number): tf.Tensor {
  const values = rng.fillNormal(new Float32Array(n)).map((x, i) => (i % 17 === 0 ? 0 : x * 10 ** ((i % 9) - 6)));
  return tf.tensor1d(values);
}

/** Adam's float32 constants at `step`, as the optimizer passes them. */
const coefficients = (step: number): AdamCoefficients => ({
  beta1: Math.fround(0.9),
  oneMinusBeta1: Math.fround(1 - 0.9),
  beta2: Math.fround(0.999),
  oneMinusBeta2: Math.fround(1 - 0.999),
  bias2Sqrt: Math.fround(Math.sqrt(1 - 0.999 ** step)),
  eps: Math.fround(1e-8),
  stepSize: Math.fround(3e-4 / (1 - 0.9 ** step)),
});

const bits = (t: tf.Tensor) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

describe.each(['wasm', 'cpu'] as const)('fused optimizer updates on %s', (backend) => {
  afterAll(async () => {
    await initBackend('wasm');
  });

  // The JavaScript loops take small parameters; the native addon, where built, takes every size on wasm.
  const native = () => backend === 'wasm' && nativeKernelsActive();

  it.each([4099, 65_539])('equal the composed kernels bit for bit on %i values: Adam (parameter and both moments) and the soft target update', async (n) => {
    await initBackend(backend);
    registerFusedUpdates(backend);
    expect(fusedUpdateFor(4099)).toBe(true);
    expect(fusedUpdateFor(65_536)).toBe(native());
    if (!fusedUpdateFor(n)) return;
    const rng = new Rng(3);
    const [param, m, grad] = [spread(rng, n), spread(rng, n), spread(rng, n)];
    const v = tf.abs(spread(rng, n));
    for (const step of [1, 2, 1000]) {
      const c = coefficients(step);
      const fused = fusedAdamStep(param, m, v, grad, c);
      const composed = composedAdamStep(param, m, v, grad, c);
      fused.forEach((t, i) => expect(bits(t)).toEqual(bits(composed[i] as tf.Tensor)));
      tf.dispose([...fused, ...composed]);
    }
    const tau = 0.005;
    const soft = fusedSoftUpdate(param, m, tau);
    const reference = tf.add(tf.mul(param, tau), tf.mul(m, 1 - tau));
    expect(bits(soft)).toEqual(bits(reference));
    tf.dispose([param, m, v, grad, soft, reference]);
  });
});

describe('native updates written over the parameter (wasm with the addon)', () => {
  it('equal the composed kernels bit for bit, and leave a buffer that another tensor holds alone', async () => {
    await initBackend('wasm');
    const rng = new Rng(5);
    const n = 65_539;
    // Variables that own their buffers, as the networks' parameters and the optimizer's moments do.
    const owned = (make: () => tf.Tensor) => tf.tidy(() => tf.variable(make(), false));
    const [param, m, v] = [owned(() => spread(rng, n)), owned(() => spread(rng, n)), owned(() => tf.abs(spread(rng, n)))];
    const grad = spread(rng, n);
    if (!nativeKernelsActive()) {
      // Without the addon nothing is written in place: the optimizer's kernels run as before.
      expect(adamStepInPlace(param, m, v, grad, coefficients(1))).toBe(false);
      return tf.dispose([param, m, v, grad]);
    }
    for (const step of [1, 2, 1000]) {
      const c = coefficients(step);
      const composed = composedAdamStep(param, m, v, grad, c);
      expect(adamStepInPlace(param, m, v, grad, c)).toBe(true);
      [param, m, v].forEach((t, i) => expect(bits(t)).toEqual(bits(composed[i] as tf.Tensor)));
      tf.dispose(composed);
    }
    const target = owned(() => spread(rng, n));
    const reference = tf.add(tf.mul(param, 0.005), tf.mul(target, 1 - 0.005));
    expect(softUpdateInPlace(param, target, 0.005)).toBe(true);
    expect(bits(target)).toEqual(bits(reference));

    // A variable assigned from another shares its buffer: neither update may write over it, nor over a gradient that is a moment.
    const shared = owned(() => tf.zerosLike(target));
    shared.assign(target);
    const before = bits(target);
    expect(adamStepInPlace(shared, m, v, grad, coefficients(3))).toBe(false);
    expect(softUpdateInPlace(param, shared, 0.005)).toBe(false);
    expect(adamStepInPlace(param, m, v, m, coefficients(3))).toBe(false);
    expect(bits(target)).toEqual(before);
    tf.dispose([param, m, v, grad, target, reference, shared]);
  });
});
