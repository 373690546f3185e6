import type { Rng } from '../rng';

/** What an evaluation needs of an environment: gym's reset/step with terminated vs truncated. */
export interface StepResult {
  observation: Float32Array;
  reward: number;
  /** A true terminal (the episode cannot go on). */
  terminated: boolean;
  /** The step limit ended the episode. */
  truncated: boolean;
}

export interface Env {
  readonly observationSize: number;
  readonly actionSize: number;
  reset(rng: Rng): Float32Array;
  step(action: ArrayLike<number>): StepResult;
  dispose(): void;
}
