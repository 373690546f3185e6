import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { ParamSet, addLinear, mlp, mlpGradients, mlpInputGradient, mlpParamGradients, mlpPass, type KeptForward, type MlpLayer } from './params';

/** The passes of the time embedding and of the MLP on [x, s, temb], for gradients written out. */
export interface ScorePasses {
  embed: KeptForward;
  layers: KeptForward;
}

export interface ScoreNetworkSize {
  actionDim: number;
  stateDim: number;
  /** Hidden width (256 on D4RL, 128 on the toys). */
  hidden: number;
  /** Sinusoidal embedding size (16 on D4RL, 4 on the toys). */
  timeEmbedDim: number;
}

/**
 * The official ScoreNetwork (OFFICIAL-CODE.md §3.1): F(x, s, c) with a sinusoidal embedding of c
 * (sin first, then cos) through Linear-Mish-Linear, then an MLP on [x, s, temb] whose first
 * Linear has no activation after it (a quirk of the official code, kept for exactness).
 */
export class ScoreNetwork {
  readonly params = new ParamSet();
  private readonly embed: MlpLayer[];
  private readonly layers: MlpLayer[];
  private readonly frequencies: tf.Tensor2D;

  constructor(
    readonly size: ScoreNetworkSize,
    rng: Rng,
  ) {
    const { actionDim, stateDim, hidden, timeEmbedDim } = size;
    this.embed = [
      { ...addLinear(this.params, 'embed.1', rng, timeEmbedDim, timeEmbedDim * 2), kind: 'mish' },
      { ...addLinear(this.params, 'embed.3', rng, timeEmbedDim * 2, timeEmbedDim), kind: 'none' },
    ];
    this.layers = [
      { ...addLinear(this.params, 'layers.layers.0', rng, actionDim + stateDim + timeEmbedDim, hidden), kind: 'none' },
      { ...addLinear(this.params, 'layers.layers.1', rng, hidden, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'layers.layers.3', rng, hidden, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'layers.layers.5', rng, hidden, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'layers.layers.7', rng, hidden, actionDim), kind: 'none' },
    ];
    const half = timeEmbedDim / 2;
    const step = Math.log(10000) / (half - 1);
    this.frequencies = tf.keep(tf.exp(tf.mul(tf.range(0, half, 1, 'float32'), -step)).reshape([1, half]));
  }

  /** sin(c f_k) then cos(c f_k); c is [B, 1]. */
  sinusoidal(cNoise: tf.Tensor): tf.Tensor2D {
    const angles = tf.mul(cNoise, this.frequencies);
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D;
  }

  timeEmbedding(cNoise: tf.Tensor): tf.Tensor2D {
    return mlp(this.sinusoidal(cNoise), this.embed);
  }

  /** F(x_in, s, c_noise): x_in [B, A], s [B, S], c_noise [B, 1]. */
  forward(xIn: tf.Tensor, states: tf.Tensor, cNoise: tf.Tensor): tf.Tensor2D {
    return mlp(tf.concat([xIn, states, this.timeEmbedding(cNoise)], 1), this.layers);
  }

  /** F(x_in, s, c_noise) with both networks' passes (in the current scope) for `gradients`, where they run natively; null elsewhere. */
  passes(xIn: tf.Tensor, states: tf.Tensor, cNoise: tf.Tensor): ScorePasses | null {
    const embed = mlpPass(this.sinusoidal(cNoise), this.embed);
    return embed && { embed, layers: mlpPass(tf.concat([xIn, states, embed.output], 1), this.layers) as KeptForward };
  }

  /**
   * Every parameter's gradient, by variable name, given the gradient at F: the MLP's backward pass,
   * then the time embedding's at the embedding's columns of the MLP's input gradient.
   */
  gradients(passes: ScorePasses, dF: tf.Tensor): tf.NamedTensorMap {
    const { input, params } = mlpGradients(passes.layers, this.layers, dF);
    const { actionDim, stateDim, timeEmbedDim } = this.size;
    const dEmbedding = tf.split(input, [actionDim, stateDim, timeEmbedDim], 1)[2] as tf.Tensor2D;
    return { ...params, ...mlpParamGradients(passes.embed, this.embed, dEmbedding) };
  }

  /** The gradient at x_in given the gradient at F, from the MLP's pass (its input and workspace): its backward chain alone. */
  inputGradient(layers: Pick<KeptForward, 'input' | 'workspace'>, dF: tf.Tensor): tf.Tensor2D {
    const input = mlpInputGradient(layers, this.layers, dF);
    return tf.split(input, [this.size.actionDim, (input.shape[1] as number) - this.size.actionDim], 1)[0] as tf.Tensor2D;
  }

  dispose(): void {
    this.params.dispose();
    this.frequencies.dispose();
  }
}
