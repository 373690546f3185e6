import * as tf from '@tensorflow/tfjs';
import type { NamedArray } from '../nets/params';
import { adamStepInPlace, fusedAdamStep, fusedUpdateFor, type AdamCoefficients } from './fused-updates';

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
    // In a tidy, so that no zero tensor keeps sharing a moment's buffer (and the first update can write over it).
    this.m = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /**
   * Applies one update; `grads` maps variable names (from tf.variableGrads) to gradients. With
   * `only`, just those variables move: the rest of this step's update runs on another thread's copy
   * of the optimizer, whose step count moves in step with this one.
   */
  apply(grads: tf.NamedTensorMap, only?: ReadonlySet<tf.Variable>): void {
    this.step += 1;
    const c = this.coefficients();
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        if (only && !only.has(variable)) return;
        const g = grads[variable.name];
        if (!g) throw new Error(`no gradient for ${variable.name}`);
        const m = this.m[i] as tf.Variable;
        const v = this.v[i] as tf.Variable;
        if (adamStepInPlace(variable, m, v, g, c)) return;
        const [p1, m1, v1] = fusedUpdateFor(variable.size) ? fusedAdamStep(variable, m, v, g, c) : composedAdamStep(variable, m, v, g, c);
        m.assign(m1);
        v.assign(v1);
        variable.assign(p1);
      });
    });
  }

  /** This step's constants, rounded to float32 as a scalar tensor of each would be. */
  private coefficients(): AdamCoefficients {
    const f = Math.fround;
    return {
      beta1: f(this.beta1),
      oneMinusBeta1: f(1 - this.beta1),
      beta2: f(this.beta2),
      oneMinusBeta2: f(1 - this.beta2),
      bias2Sqrt: f(Math.sqrt(1 - this.beta2 ** this.step)),
      eps: f(this.eps),
      stepSize: f(this.lr / (1 - this.beta1 ** this.step)),
    };
  }

  getState(): AdamState {
    const dump = (vars: tf.Variable[]) => vars.map((x) => ({ shape: [...x.shape], data: x.dataSync() as Float32Array }));
    return { step: this.step, lr: this.lr, m: dump(this.m), v: dump(this.v) };
  }

  /** Restores a state; with `only`, just those variables' moments (the step and rate always). */
  setState(state: AdamState, only?: ReadonlySet<tf.Variable>): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) throw new Error('optimizer state does not match the network');
    const load = (vars: tf.Variable[], values: NamedArray[]) =>
      vars.forEach((x, i) => {
        if (only && !only.has(this.variables[i] as tf.Variable)) return;
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

/** One Adam step as composed tfjs kernels (the backends without the fused kernel). */
export function composedAdamStep(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, c: AdamCoefficients): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const m1 = tf.add(tf.mul(m, c.beta1), tf.mul(g, c.oneMinusBeta1));
  const v1 = tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), c.oneMinusBeta2));
  const denom = tf.add(tf.div(tf.sqrt(v1), c.bias2Sqrt), c.eps);
  return [tf.sub(param, tf.mul(tf.div(m1, denom), c.stepSize)), m1, v1];
}
