/**
 * The work of one joint training step, counted from the network shapes: the FLOPs (2 per
 * multiply-add) of its matrix products, which are nearly all of it. A backward pass costs two
 * forward passes where weights train and one where only the input's gradient is needed (the Q term,
 * the trust region or DMD through a frozen network). The bench reports the distance to the
 * machine's limit with it, and the two-thread stepper places the Q term and, in pretraining, V's
 * backward pass with it.
 */
import type { TrainConfig } from '../../common/config';
import type { ProblemSpec } from './common';

/** One forward pass of a stack of dense layers [in, out] over `rows` rows. */
const layerFlops = (rows: number, layers: [number, number][]): number => 2 * rows * layers.reduce((t, [i, o]) => t + i * o, 0);

export interface StepFlops {
  /** The critic update: Q1, Q2 and V trained, V(s') forward. */
  criticUpdate: number;
  /** Of the critic update, V's backward pass (its weights' gradients). */
  valueBackward: number;
  /** The policy's Q term: Q1 and Q2 forward at its actions, and back to them through the smaller one per row. */
  qTerm: number;
  /** Behaviour cloning and the one-step policy's actions and update (the algorithm's own part). */
  policySide: number;
  /** Of the policy's side, behaviour cloning: all that pretraining runs beside the critic. */
  behaviourCloning: number;
}

export function stepFlops(algo: 'dtql' | 'kl', problem: ProblemSpec, config: TrainConfig): StepFlops {
  const { stateDim: s, actionDim: a } = problem;
  const { scoreHidden, timeEmbedDim: t, batchSize: batch } = config;
  const h = problem.hidden ?? 256;
  // The policy's actions: policyLossSamples per state.
  const actionRows = batch * config.policyLossSamples;
  const q = (rows: number) => layerFlops(rows, [[s + a, h], [h, h], [h, h], [h, 1]]);
  const v = layerFlops(batch, [[s, h], [h, h], [h, h], [h, 1]]);
  const score = (rows: number) => layerFlops(rows, [[t, 2 * t], [2 * t, t], [a + s + t, scoreHidden], [scoreHidden, scoreHidden], [scoreHidden, scoreHidden], [scoreHidden, scoreHidden], [scoreHidden, a]]);
  const behaviourCloning = 3 * score(batch);
  // DTQL: the policy's forward on the states (its actions, kept for its update) and back; the trust
  // region through the diffusion model. KL: the generator (a score network) on the actions' rows,
  // forward and back; DMD's two denoisers forward; the fake score trained.
  const policy = algo === 'dtql' ? 3 * layerFlops(batch, [[s, h], [h, h], [h, h], [h, 2 * a]]) + 2 * score(actionRows) : 3 * score(actionRows) + 2 * score(actionRows) + 3 * score(actionRows);
  return { criticUpdate: 3 * (2 * q(batch) + v) + v, valueBackward: 2 * v, qTerm: 3 * q(actionRows), policySide: behaviourCloning + policy, behaviourCloning };
}

/** All of a joint step. */
export const jointStepFlops = (algo: 'dtql' | 'kl', problem: ProblemSpec, config: TrainConfig): number => {
  const f = stepFlops(algo, problem, config);
  return f.criticUpdate + f.qTerm + f.policySide;
};

/**
 * Whether the Q term belongs on the policy's thread rather than the critic's, when the critic trains
 * on a thread of its own: where that makes the busier thread's share of a step smaller. So it does
 * where the critic outweighs the policy's side (the bandits: a critic of hidden 256 beside a
 * diffusion model of 128), not at D4RL sizes.
 */
export function qTermWithPolicy(f: StepFlops): boolean {
  return Math.max(f.criticUpdate, f.policySide + f.qTerm) < Math.max(f.criticUpdate + f.qTerm, f.policySide);
}

/**
 * Whether, in pretraining with the critic on a thread of its own, V's backward pass and Adam step
 * belong on the thread that runs behaviour cloning: where that makes the busier thread's share of a
 * step smaller. So they do where the critic outweighs behaviour cloning by more than V's
 * backward pass (D4RL sizes). Not in joint training: the target's move at the end of the critic's
 * update reads V, and there the policy's side is heavier anyway.
 */
export function valueBackwardWithPolicy(f: StepFlops): boolean {
  return Math.max(f.criticUpdate - f.valueBackward, f.behaviourCloning + f.valueBackward) < Math.max(f.criticUpdate, f.behaviourCloning);
}
