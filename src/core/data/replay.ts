import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../algos/dtql';
import type { Rng } from '../rng';

/** `size` transitions in flat row-major arrays (D4RL `qlearning_dataset` semantics: not_done = 1 - terminal). */
export interface TransitionArrays {
  size: number;
  states: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextStates: Float32Array;
  notDone: Float32Array;
}

/** A dataset: transitions with their widths. */
export interface Transitions extends TransitionArrays {
  stateDim: number;
  actionDim: number;
}

/** One minibatch as plain arrays; what crosses to a worker thread. */
export type BatchArrays = TransitionArrays;

export function batchToTensors(b: BatchArrays, stateDim: number, actionDim: number): Batch {
  return {
    states: tf.tensor2d(b.states, [b.size, stateDim]),
    actions: tf.tensor2d(b.actions, [b.size, actionDim]),
    rewards: tf.tensor2d(b.rewards, [b.size, 1]),
    nextStates: tf.tensor2d(b.nextStates, [b.size, stateDim]),
    notDone: tf.tensor2d(b.notDone, [b.size, 1]),
  };
}

/**
 * Minibatches sampled uniformly with replacement (torch.randint in the official Data_Sampler),
 * gathered in JS and uploaded once per step. A batch as large as the dataset is the whole dataset,
 * each transition once and in order, as the toy script trains (OFFICIAL-CODE.md §9); it draws nothing from the
 * random stream. The caller disposes the batch.
 */
export class ReplaySampler {
  constructor(
    private readonly data: Transitions,
    readonly batchSize: number,
  ) {}

  sampleArrays(rng: Rng): BatchArrays {
    const { stateDim: S, actionDim: A, size } = this.data;
    const B = this.batchSize;
    if (B === size) return this.data;
    const out: BatchArrays = {
      size: B,
      states: new Float32Array(B * S),
      actions: new Float32Array(B * A),
      rewards: new Float32Array(B),
      nextStates: new Float32Array(B * S),
      notDone: new Float32Array(B),
    };
    for (let i = 0; i < B; i++) {
      const j = rng.int(size);
      out.states.set(this.data.states.subarray(j * S, (j + 1) * S), i * S);
      out.nextStates.set(this.data.nextStates.subarray(j * S, (j + 1) * S), i * S);
      out.actions.set(this.data.actions.subarray(j * A, (j + 1) * A), i * A);
      out.rewards[i] = this.data.rewards[j] as number;
      out.notDone[i] = this.data.notDone[j] as number;
    }
    return out;
  }

  sample(rng: Rng): Batch {
    return batchToTensors(this.sampleArrays(rng), this.data.stateDim, this.data.actionDim);
  }
}

export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.states, batch.actions, batch.rewards, batch.nextStates, batch.notDone]);
}
