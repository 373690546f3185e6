import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { ParamSet, addLinear, addNorm, dense, denseLayerNormMish, type Linear, type Norm } from './params';

interface QNet {
  linears: [Linear, Linear, Linear, Linear];
  norms: [Norm, Norm, Norm];
}

/**
 * The official Critic (OFFICIAL-CODE.md §3.2): Q1 and Q2 on [s, a] with LayerNorm and Mish, and V on s
 * without LayerNorm. One module, one optimizer, as in the official code.
 */
export class Critic {
  readonly params = new ParamSet();
  private readonly q1: QNet;
  private readonly q2: QNet;
  private readonly v: [Linear, Linear, Linear, Linear];

  constructor(stateDim: number, actionDim: number, hidden: number, rng: Rng) {
    const qnet = (prefix: string): QNet => ({
      linears: [
        addLinear(this.params, `${prefix}.0`, rng, stateDim + actionDim, hidden),
        addLinear(this.params, `${prefix}.3`, rng, hidden, hidden),
        addLinear(this.params, `${prefix}.6`, rng, hidden, hidden),
        addLinear(this.params, `${prefix}.9`, rng, hidden, 1),
      ],
      norms: [addNorm(this.params, `${prefix}.1`, hidden), addNorm(this.params, `${prefix}.4`, hidden), addNorm(this.params, `${prefix}.7`, hidden)],
    });
    // Registration order follows the torch state_dict: q1 (Linear, LN interleaved) is built first.
    this.q1 = qnet('q1_model');
    this.q2 = qnet('q2_model');
    this.v = [
      addLinear(this.params, 'v_model.0', rng, stateDim, hidden),
      addLinear(this.params, 'v_model.2', rng, hidden, hidden),
      addLinear(this.params, 'v_model.4', rng, hidden, hidden),
      addLinear(this.params, 'v_model.6', rng, hidden, 1),
    ];
  }

  private qForward(net: QNet, input: tf.Tensor): tf.Tensor2D {
    let h: tf.Tensor = input;
    for (let i = 0; i < 3; i++) h = denseLayerNormMish(h, net.linears[i] as Linear, net.norms[i] as Norm);
    return dense(h, net.linears[3]);
  }

  /** Q1(s, a) and Q2(s, a), each [B, 1]. */
  q(states: tf.Tensor, actions: tf.Tensor): [tf.Tensor2D, tf.Tensor2D] {
    const input = tf.concat([states, actions], 1);
    return [this.qForward(this.q1, input), this.qForward(this.q2, input)];
  }

  qMin(states: tf.Tensor, actions: tf.Tensor): tf.Tensor2D {
    const [q1, q2] = this.q(states, actions);
    return tf.minimum(q1, q2);
  }

  value(states: tf.Tensor): tf.Tensor2D {
    const [l0, l2, l4, l6] = this.v;
    let h = dense(states, l0, 'mish');
    h = dense(h, l2, 'mish');
    h = dense(h, l4, 'mish');
    return dense(h, l6);
  }

  dispose(): void {
    this.params.dispose();
  }
}
