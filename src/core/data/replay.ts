import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../algos/dtql';
import type { Rng } from '../rng';

/** Transitions in flat row-major arrays (D4RL `qlearning_dataset` semantics: not_done = 1 - terminal). */
export interface Transitions {
  stateDim: number;
  actionDim: number;
  size: number;
  states: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextStates: Float32Array;
  notDone: Float32Array;
}

/** Checks that every array has `size` rows of the declared width. */
export function validateTransitions(t: Transitions): Transitions {
  const expect = (name: string, array: Float32Array, width: number) => {
    if (array.length !== t.size * width) throw new Error(`${name} has ${array.length} values, expected ${t.size} x ${width}`);
  };
  if (t.size < 1) throw new Error('the dataset has no transitions');
  expect('states', t.states, t.stateDim);
  expect('nextStates', t.nextStates, t.stateDim);
  expect('actions', t.actions, t.actionDim);
  expect('rewards', t.rewards, 1);
  expect('notDone', t.notDone, 1);
  return t;
}

/**
 * Minibatches sampled uniformly with replacement (torch.randint in the official Data_Sampler),
 * gathered in JS and uploaded once per step. The caller disposes the batch.
 */
export class ReplaySampler {
  private readonly s: Float32Array;
  private readonly a: Float32Array;
  private readonly r: Float32Array;
  private readonly ns: Float32Array;
  private readonly nd: Float32Array;

  constructor(
    private readonly data: Transitions,
    readonly batchSize: number,
  ) {
    this.s = new Float32Array(batchSize * data.stateDim);
    this.a = new Float32Array(batchSize * data.actionDim);
    this.r = new Float32Array(batchSize);
    this.ns = new Float32Array(batchSize * data.stateDim);
    this.nd = new Float32Array(batchSize);
  }

  sample(rng: Rng): Batch {
    const { stateDim: S, actionDim: A, size } = this.data;
    for (let i = 0; i < this.batchSize; i++) {
      const j = rng.int(size);
      this.s.set(this.data.states.subarray(j * S, (j + 1) * S), i * S);
      this.ns.set(this.data.nextStates.subarray(j * S, (j + 1) * S), i * S);
      this.a.set(this.data.actions.subarray(j * A, (j + 1) * A), i * A);
      this.r[i] = this.data.rewards[j] as number;
      this.nd[i] = this.data.notDone[j] as number;
    }
    const B = this.batchSize;
    return {
      states: tf.tensor2d(this.s, [B, S]),
      actions: tf.tensor2d(this.a, [B, A]),
      rewards: tf.tensor2d(this.r, [B, 1]),
      nextStates: tf.tensor2d(this.ns, [B, S]),
      notDone: tf.tensor2d(this.nd, [B, 1]),
    };
  }
}

export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.states, batch.actions, batch.rewards, batch.nextStates, batch.notDone]);
}
