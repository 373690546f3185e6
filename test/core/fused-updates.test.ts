import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng';
import { composedAdamStep } from '../../src/core/tf/adam';
import { fusedAdamStep, fusedSoftUpdate, fusedUpdateFor, registerFusedUpdates } from '../../src/core/tf/fused-updates';
import { initBackend } from '../../src/core/tf/backend';
import { nativeKernelsActive } from '../../src/core/tf/native-kernels';

/** Values over many magnitudes, zeros and signs included, as parameters and gradients have. */
function spread(rng: Rng, n: number): tf.Tensor {
  const values = rng.fillNormal(new Float32Array(n)).map((x, i) => (i % 17 === 0 ? 0 : x * 10 ** ((i % 9) - 6)));
  return tf.tensor1d(values);
}

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
      const c = {
        beta1: Math.fround(0.9),
        oneMinusBeta1: Math.fround(1 - 0.9),
        beta2: Math.fround(0.999),
        oneMinusBeta2: Math.fround(1 - 0.999),
        bias2Sqrt: Math.fround(Math.sqrt(1 - 0.999 ** step)),
        eps: Math.fround(1e-8),
        stepSize: Math.fround(3e-4 / (1 - 0.9 ** step)),
      };
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
