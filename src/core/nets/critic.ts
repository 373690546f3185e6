import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { ParamSet, addLinear, addNorm, mlp, mlpInputGradient, mlpPairForward, mlpParamGradients, mlpPass, type KeptForward, type Linear, type MlpLayer, type NamedArray } from './params';

/** The passes of Q1 and Q2 on [s, a], for gradients written out. */
export interface QPasses {
  q1: KeptForward;
  q2: KeptForward;
}

/** The Q passes and V's on s. */
export interface CriticPasses extends QPasses {
  v: KeptForward;
}

/**
 * The official Critic (OFFICIAL-CODE.md §3.2): Q1 and Q2 on [s, a] with LayerNorm and Mish, and V on s
 * without LayerNorm. One module, one optimizer, as in the official code.
 */
export class Critic {
  readonly params = new ParamSet();
  private readonly q1: MlpLayer[];
  private readonly q2: MlpLayer[];
  private readonly v: MlpLayer[];

  constructor(
    stateDim: number,
    private readonly actionDim: number,
    hidden: number,
    rng: Rng,
  ) {
    // Registration order is the optimizer's moment order in checkpoints: per Q network its Linears, then its LayerNorms.
    const qnet = (prefix: string): MlpLayer[] => {
      const linears = [0, 3, 6, 9].map((index, i) => addLinear(this.params, `${prefix}.${index}`, rng, i === 0 ? stateDim + actionDim : hidden, i === 3 ? 1 : hidden));
      const norms = [1, 4, 7].map((index) => addNorm(this.params, `${prefix}.${index}`, hidden));
      return [...norms.map((norm, i): MlpLayer => ({ ...(linears[i] as Linear), kind: 'layerNormMish', norm })), { ...(linears[3] as Linear), kind: 'none' }];
    };
    this.q1 = qnet('q1_model');
    this.q2 = qnet('q2_model');
    this.v = [
      { ...addLinear(this.params, 'v_model.0', rng, stateDim, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'v_model.2', rng, hidden, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'v_model.4', rng, hidden, hidden), kind: 'mish' },
      { ...addLinear(this.params, 'v_model.6', rng, hidden, 1), kind: 'none' },
    ];
  }

  /** Q1(s, a) and Q2(s, a), each [B, 1]. */
  q(states: tf.Tensor, actions: tf.Tensor): [tf.Tensor2D, tf.Tensor2D] {
    const input = tf.concat([states, actions], 1);
    return [mlp(input, this.q1), mlp(input, this.q2)];
  }

  qMin(states: tf.Tensor, actions: tf.Tensor): tf.Tensor2D {
    const [q1, q2] = this.q(states, actions);
    return tf.minimum(q1, q2);
  }

  /** min(Q1, Q2) for choosing among actions, with no gradient: where the addon runs, Q1 and Q2 side by side as one kernel. */
  qMinForward(states: tf.Tensor, actions: tf.Tensor): tf.Tensor2D {
    const [q1, q2] = mlpPairForward(tf.concat([states, actions], 1), this.q1, this.q2);
    return tf.minimum(q1, q2);
  }

  value(states: tf.Tensor): tf.Tensor2D {
    return mlp(states, this.v);
  }

  /** Q1 and Q2 with their passes (in the current scope) for `actionGradient`, where the networks run natively; null elsewhere. */
  qPasses(states: tf.Tensor, actions: tf.Tensor): QPasses | null {
    const q1 = mlpPass(tf.concat([states, actions], 1), this.q1);
    return q1 && { q1, q2: mlpPass(q1.input, this.q2) as KeptForward };
  }

  /** Q1, Q2 and V with their passes (in the current scope) for `gradients`, where the networks run natively; null elsewhere. */
  passes(states: tf.Tensor, actions: tf.Tensor): CriticPasses | null {
    const q = this.qPasses(states, actions);
    return q && { ...q, v: mlpPass(states, this.v) as KeptForward };
  }

  /** The gradient at the actions given the gradients at Q1's and Q2's outputs: the action columns of the two input gradients' sum. */
  actionGradient(passes: QPasses, dq1: tf.Tensor, dq2: tf.Tensor): tf.Tensor2D {
    const input = tf.add(mlpInputGradient(passes.q1, this.q1, dq1), mlpInputGradient(passes.q2, this.q2, dq2));
    const width = input.shape[1] as number;
    return tf.split(input, [width - this.actionDim, this.actionDim], 1)[1] as tf.Tensor2D;
  }

  /** Every parameter's gradient, by variable name, given the gradients at the passes' outputs. */
  gradients(passes: CriticPasses, dq1: tf.Tensor, dq2: tf.Tensor, dv: tf.Tensor): tf.NamedTensorMap {
    return { ...this.qGradients(passes, dq1, dq2), ...this.valueGradients(passes.v, dv) };
  }

  /** Q1's and Q2's parameter gradients, by variable name, given the gradients at their outputs. */
  qGradients(passes: QPasses, dq1: tf.Tensor, dq2: tf.Tensor): tf.NamedTensorMap {
    return { ...mlpParamGradients(passes.q1, this.q1, dq1), ...mlpParamGradients(passes.q2, this.q2, dq2) };
  }

  /** V's parameter gradients, by variable name, given the gradient at its output: from its pass on the states (kept here, or its workspace from another thread's copy of V). */
  valueGradients(pass: Pick<KeptForward, 'input' | 'workspace'>, dv: tf.Tensor): tf.NamedTensorMap {
    return mlpParamGradients(pass, this.v, dv);
  }

  /** Q1's and Q2's parameters by name, without V's: what the Q term needs. */
  qSnapshot(): Record<string, NamedArray> {
    return this.params.snapshot(isQParam);
  }

  /** V's parameters by name. */
  valueSnapshot(): Record<string, NamedArray> {
    return this.params.snapshot(isValueParam);
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const isQParam = (name: string): boolean => name.startsWith('q1_model.') || name.startsWith('q2_model.');
export const isValueParam = (name: string): boolean => name.startsWith('v_model.');
