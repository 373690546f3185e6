import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '../nets/params';

export interface AdamState {
  step: number;
  lr: number;
  m: NamedArray[];
  v: NamedArray[];
}

/**
 * Adam as torch.optim.Adam computes it (betas 0.9/0.999, eps 1e-8, no weight decay):
 * p -= lr/(1 - b1^t) * m / (sqrt(v)/sqrt(1 - b2^t) + eps), bias corrections in float64.
 * Written out (not tf.train.adam) so the moments, the step and the learning rate can be saved
 * and restored exactly, and the learning rate can follow a schedule.
 */
export class Adam {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  step = 0;

  constructor(
    private readonly variables: tf.Variable[],
    public lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = variables.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = variables.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  /** Applies one update; `grads` maps variable names (from tf.variableGrads) to gradients. */
  apply(grads: tf.NamedTensorMap): void {
    this.step += 1;
    const stepSize = this.lr / (1 - this.beta1 ** this.step);
    const bias2Sqrt = Math.sqrt(1 - this.beta2 ** this.step);
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        const g = grads[variable.name];
        if (!g) throw new Error(`no gradient for ${variable.name}`);
        const m = this.m[i] as tf.Variable;
        const v = this.v[i] as tf.Variable;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(v), bias2Sqrt), this.eps);
        variable.assign(tf.sub(variable, tf.mul(tf.div(m, denom), stepSize)));
      });
    });
  }

  getState(): AdamState {
    const dump = (vars: tf.Variable[]) => vars.map((x) => ({ shape: [...x.shape], data: x.dataSync() as Float32Array }));
    return { step: this.step, lr: this.lr, m: dump(this.m), v: dump(this.v) };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) throw new Error('optimizer state does not match the network');
    const load = (vars: tf.Variable[], values: NamedArray[]) =>
      vars.forEach((x, i) => {
        const value = values[i] as NamedArray;
        if (value.shape.join('x') !== x.shape.join('x')) throw new Error(`optimizer moment ${i} has shape ${value.shape}, expected ${x.shape}`);
        tf.tidy(() => x.assign(tf.tensor(value.data, value.shape, 'float32')));
      });
    load(this.m, state.m);
    load(this.v, state.v);
    this.step = state.step;
    this.lr = state.lr;
  }

  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}
