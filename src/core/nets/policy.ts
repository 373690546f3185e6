import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { orthogonalInit } from '../tf/init';
import { ParamSet, keepMlp, mlp, type KeptForward, type MlpLayer } from './params';

export const LOG_STD_MIN = -5;
export const LOG_STD_MAX = 2;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export interface PolicyOutput {
  mu: tf.Tensor2D;
  logStdRaw: tf.Tensor2D;
  logStd: tf.Tensor2D;
  std: tf.Tensor2D;
}

/**
 * The one-step policy, DiagGaussianActorTanhAction (OFFICIAL-CODE.md §3.3): a ReLU MLP giving mean and
 * log-std (hard-clamped to [-5, 2]); actions are tanh of a reparameterised Gaussian sample.
 * Orthogonal weights and zero biases at initialisation, except an optional log-std bias.
 */
export class GaussianPolicy {
  readonly params = new ParamSet();
  private readonly layers: MlpLayer[];

  constructor(
    readonly stateDim: number,
    readonly actionDim: number,
    hidden: number,
    readonly maxAction: number,
    rng: Rng,
    initLogStd = 0,
  ) {
    const sizes: [number, number][] = [
      [stateDim, hidden],
      [hidden, hidden],
      [hidden, hidden],
      [hidden, 2 * actionDim],
    ];
    this.layers = sizes.map(([fanIn, fanOut], i) => ({
      weight: this.params.add(`net.${2 * i}.weight`, orthogonalInit(rng, fanIn, fanOut), [fanIn, fanOut]),
      bias: this.params.add(`net.${2 * i}.bias`, new Float32Array(fanOut), [fanOut]),
      kind: i < sizes.length - 1 ? 'relu' : 'none',
    }));
    // The output layer's second half is the log-std; its bias sets the spread at states near 0.
    if (initLogStd !== 0) {
      const bias = new Float32Array(2 * actionDim).fill(initLogStd, actionDim);
      tf.tidy(() => this.params.get(`net.${2 * (sizes.length - 1)}.bias`).assign(tf.tensor1d(bias)));
    }
  }

  /** Mean and log-std at the states; from `kept` if it is a pass on these same states (`keepForward`). */
  forward(states: tf.Tensor, kept: KeptForward | null = null): PolicyOutput {
    const h = mlp(states, this.layers, kept);
    const [mu, logStdRaw] = tf.split(h, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    const logStd = tf.clipByValue(logStdRaw, LOG_STD_MIN, LOG_STD_MAX);
    return { mu, logStdRaw, logStd, std: tf.exp(logStd) };
  }

  /** The network's pass on the states, kept for a forward and its gradient later, before the weights change (null without the native addon). */
  keepForward(states: tf.Tensor): KeptForward | null {
    return keepMlp(states, this.layers);
  }

  /** Reparameterised sample a = clamp(tanh(mu + std xi) * maxAction); also returns the pre-tanh value. */
  sample(out: PolicyOutput, xi: tf.Tensor): { preTanh: tf.Tensor2D; action: tf.Tensor2D } {
    const preTanh = tf.add(out.mu, tf.mul(out.std, xi)) as tf.Tensor2D;
    const action = tf.clipByValue(tf.mul(tf.tanh(preTanh), this.maxAction), -this.maxAction, this.maxAction) as tf.Tensor2D;
    return { preTanh, action };
  }

  /**
   * Gaussian log-density of atanh(a / (maxAction + 1e-3)), summed over action dims, [B, 1].
   * No tanh Jacobian term, exactly as the official code (OFFICIAL-CODE.md §3.3, §10).
   */
  logProb(out: PolicyOutput, actions: tf.Tensor): tf.Tensor2D {
    const z = tf.atanh(tf.div(actions, this.maxAction + 1e-3));
    const perDim = tf.sub(tf.neg(tf.div(tf.square(tf.sub(z, out.mu)), tf.mul(2, tf.square(out.std)))), tf.add(out.logStd, HALF_LOG_2PI));
    return tf.sum(perDim, 1, true) as tf.Tensor2D;
  }

  dispose(): void {
    this.params.dispose();
  }
}
