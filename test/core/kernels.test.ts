import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/core/tf/backend';
import { mish } from '../../src/core/tf/kernels';
import { Rng } from '../../src/core/rng';
import { sampleSigma, sigmaFromUniform } from '../../src/core/edm';

beforeAll(async () => {
  await initBackend('wasm');
});

const exactMish = (x: number) => x * Math.tanh(Math.log1p(Math.exp(x)));

describe('Mish', () => {
  it('matches x tanh(softplus(x)) and its derivative, and stays finite at |x| = 100', () => {
    const xs = [-100, -20, -5, -1, -0.1, 0, 0.3, 1, 4, 20, 100];
    const [values, grads] = tf.tidy(() => {
      const x = tf.tensor1d(xs);
      return [mish(x), tf.grad((t: tf.Tensor) => tf.sum(mish(t)))(x)];
    });
    const v = values.dataSync();
    const g = grads.dataSync();
    xs.forEach((x, i) => {
      expect(v[i]).toBeCloseTo(Number.isFinite(exactMish(x)) ? exactMish(x) : x, 5);
      const h = 1e-4;
      const numeric = Math.abs(x) >= 50 ? (x > 0 ? 1 : 0) : (exactMish(x + h) - exactMish(x - h)) / (2 * h);
      expect(g[i]).toBeCloseTo(numeric, 4);
    });
    tf.dispose([values, grads]);
  });
});

describe('fast matMul gradient', () => {
  it('equals the analytic gradients of x W', () => {
    const [dx, dw] = tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const w = tf.tensor2d([0.5, -1, 2, 0.25, -0.5, 1], [3, 2]);
      const dy = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), dy));
      return tf.grads(f)([x, w]) as [tf.Tensor, tf.Tensor];
    });
    // dx = dy W^T, dW = x^T dy
    expect(Array.from(dx.dataSync())).toEqual([2.5, 1.5, -2.5, -2.75, 1.75, 2.75]);
    expect(Array.from(dw.dataSync())).toEqual([3, 10, 4.5, 11, 6, 12]);
    tf.dispose([dx, dw]);
  });
});

describe('sigma sampler', () => {
  it('has the truncated log-logistic quantiles of the notes', () => {
    expect(sigmaFromUniform(0.5)).toBeCloseTo(0.5, 3);
    const sigmas = Array.from(sampleSigma(new Rng(3), 40_000)).sort((a, b) => a - b);
    const q = (p: number) => sigmas[Math.floor(p * sigmas.length)] as number;
    expect(q(0.05)).toBeCloseTo(0.115, 2);
    expect(q(0.25)).toBeCloseTo(0.289, 2);
    expect(q(0.5)).toBeCloseTo(0.5, 2);
    expect(q(0.75)).toBeCloseTo(0.866, 1);
    expect(q(0.95)).toBeCloseTo(2.18, 0);
    expect(sigmas[0]).toBeGreaterThanOrEqual(0.002);
    expect(sigmas.at(-1)).toBeLessThanOrEqual(80);
  });
});

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    expect([a.uniform(), a.normal(), a.int(10)]).toEqual([b.uniform(), b.normal(), b.int(10)]);
    const saved = a.state;
    const next = [a.uniform(), a.normal()];
    const c = new Rng(saved);
    expect([c.uniform(), c.normal()]).toEqual(next);
    expect(new Rng(1).uniform()).not.toBe(new Rng(2).uniform());
  });
});
