/**
 * What DTQL and its KL baseline share (OFFICIAL-CODE.md §1, §4.1, §4.2, §5): the IQL critic, behaviour
 * cloning of the diffusion model, the learning-rate schedule, pretraining, and the joint training
 * step in the official train() order. Each algorithm file adds its one-step policy and that
 * policy's loss and update.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../../common/config';
import { diffusionLoss, diffusionOutputGradient, sampleSigma, type Denoisable } from '../edm';
import { Critic, isQParam, isValueParam } from '../nets/critic';
import { mlpRunsNatively, type NamedArray, type ParamSet } from '../nets/params';
import { ScoreNetwork, type ScorePasses } from '../nets/score';
import { Rng, type RngState } from '../rng';
import { Adam, type AdamState } from '../tf/adam';
import { fusedSoftUpdate, fusedUpdateFor, softUpdateInPlace } from '../tf/fused-updates';
import { stopGradient } from '../tf/kernels';
import { withBothCores } from '../tf/native-kernels';

/**
 * Each row of a [k, d] tensor `count` times in a row: [k * count, d]. A broadcast product with
 * ones (exact), not tf.tile: wasm's Tile is an element-by-element loop (0.80 ms for 1,024 copies of
 * one state against 0.065 ms, measured) and its gradient one kernel per copy.
 */
export function repeatRows(t: tf.Tensor2D, count: number): tf.Tensor2D {
  const [k, d] = t.shape;
  return tf.reshape(tf.mul(tf.reshape(t, [k, 1, d]), tf.ones([1, count, 1])), [k * count, d]);
}

/**
 * The batch's states lined up with `rows` policy actions: with policyLossSamples > 1 the actions
 * come state-major (every state's samples in a row), so each state repeats that many times.
 */
export function statesForActions(states: tf.Tensor2D, rows: number): tf.Tensor2D {
  const count = rows / states.shape[0];
  if (!Number.isInteger(count)) throw new Error(`${rows} actions do not split evenly over ${states.shape[0]} states`);
  return count === 1 ? states : repeatRows(states, count);
}

/** What the problem fixes, as opposed to the hyperparameters of TrainConfig. */
export interface ProblemSpec {
  stateDim: number;
  actionDim: number;
  /** Bound of the action box; the policy's tanh is scaled by it (1 on D4RL, max |a| on the toys). */
  maxAction: number;
  /** Clamp the denoiser's output to the action box (clip_denoised: true on D4RL, false on the toys). */
  clipDenoised: boolean;
  /** Width of the critic and policy MLPs (256 in every official configuration). */
  hidden?: number;
}

/** One minibatch as tensors: states [B,S], actions [B,A], rewards [B,1], nextStates [B,S], notDone [B,1]. */
export interface Batch {
  states: tf.Tensor2D;
  actions: tf.Tensor2D;
  rewards: tf.Tensor2D;
  nextStates: tf.Tensor2D;
  notDone: tf.Tensor2D;
}

/** Draws every step has: the sigma and noise of the behaviour-cloning loss. */
export interface BaseNoise {
  sigmaBc: Float32Array;
  epsBc: Float32Array;
}

export function drawBcNoise(rng: Rng, batch: number, actionDim: number): BaseNoise {
  const sigmaBc = sampleSigma(rng, batch);
  const epsBc = rng.fillNormal(new Float32Array(batch * actionDim));
  return { sigmaBc, epsBc };
}

/** IQL's expectile weight of diff: tau where diff > 0, else 1 - tau (step() keeps it off the gradient path). */
export function expectileWeight(diff: tf.Tensor, expectile: number): tf.Tensor {
  return tf.add(1 - expectile, tf.mul(2 * expectile - 1, tf.step(stopGradient(diff))));
}

// Types, not interfaces, so that tf.tidy may return them (a TensorContainer is an index signature).
export type CriticLossParts = {
  loss: tf.Scalar;
  valueLoss: tf.Scalar;
  q1Loss: tf.Scalar;
  q2Loss: tf.Scalar;
  q1: tf.Tensor2D;
  q2: tf.Tensor2D;
  v: tf.Tensor2D;
  targetQ: tf.Tensor2D;
  /** min(Q1, Q2) - V, the expectile's argument, and its weight. */
  valueDiff: tf.Tensor2D;
  valueWeight: tf.Tensor2D;
  /** Q1 - y and Q2 - y. */
  q1Diff: tf.Tensor2D;
  q2Diff: tf.Tensor2D;
};

/**
 * Critic loss (OFFICIAL-CODE.md §4.1) at the networks' outputs: V regresses to the detached min(Q1, Q2)
 * by expectile; Q1 and Q2 regress to r + discount * not_done * V(s') with the online V under no_grad
 * (`nextV` is computed outside the tape).
 */
function criticLossAt(q1: tf.Tensor2D, q2: tf.Tensor2D, v: tf.Tensor2D, batch: Batch, nextV: tf.Tensor, expectile: number, discount: number): CriticLossParts {
  const valueDiff = tf.sub(stopGradient(tf.minimum(q1, q2)), v) as tf.Tensor2D;
  const valueWeight = expectileWeight(valueDiff, expectile) as tf.Tensor2D;
  const valueLoss = tf.mean(tf.mul(valueWeight, tf.square(valueDiff))) as tf.Scalar;
  const targetQ = tf.add(batch.rewards, tf.mul(tf.mul(batch.notDone, discount), nextV)) as tf.Tensor2D;
  const q1Diff = tf.sub(q1, targetQ) as tf.Tensor2D;
  const q2Diff = tf.sub(q2, targetQ) as tf.Tensor2D;
  const q1Loss = tf.mean(tf.square(q1Diff)) as tf.Scalar;
  const q2Loss = tf.mean(tf.square(q2Diff)) as tf.Scalar;
  return { loss: tf.addN([valueLoss, q1Loss, q2Loss]) as tf.Scalar, valueLoss, q1Loss, q2Loss, q1, q2, v, targetQ, valueDiff, valueWeight, q1Diff, q2Diff };
}

/** The critic loss of the critic's networks on the batch. */
export function criticLoss(critic: Critic, batch: Batch, nextV: tf.Tensor, expectile: number, discount: number): CriticLossParts {
  const [q1, q2] = critic.q(batch.states, batch.actions);
  return criticLossAt(q1, q2, critic.value(batch.states), batch, nextV, expectile, discount);
}

/**
 * The loss's gradients at Q1, Q2 and V, written out in the order of the tape's own gradient ops
 * (mean: 1/B; square: times 2 diff; the product: times the weight; the difference: negated for
 * V), so the same bits: dQi = (1/B)(2 (Qi - y)), dV = -((1/B) w)(2 (min Q - V)).
 */
function criticOutputGradients(parts: CriticLossParts): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const perRow = tf.div(1, parts.q1.shape[0]);
  const dq = (diff: tf.Tensor) => tf.mul(perRow, tf.mul(diff, 2));
  return [dq(parts.q1Diff), dq(parts.q2Diff), tf.neg(tf.mul(tf.mul(perRow, parts.valueWeight), tf.mul(parts.valueDiff, 2)))];
}

/** The critic loss's parts and every critic parameter's gradient (by variable name). */
export type CriticGradients = {
  parts: CriticLossParts;
  grads: tf.NamedTensorMap;
};

/**
 * V's part of a critic update, handed to the thread that holds V's optimizer: the workspace of V's
 * forward pass on the minibatch's states (as the forward kernel wrote it) and the loss's gradient
 * at V's output. From these V's parameter gradients are the same kernels on either thread.
 */
export interface ValueWork {
  workspace: Float32Array;
  outputGradient: Float32Array;
}

/**
 * The critic loss and its gradients. Where the networks run natively, written out: the outputs'
 * gradients by hand and each network's backward pass, the kernels the tape would run, without its
 * bookkeeping (about 0.5 ms of an 11 ms critic step); elsewhere, or with `byTape`, by the tape.
 * The same bits either way (tested). With `handOffValue` (written out only), V's gradients are not
 * computed here: its work goes to that callback as soon as it is known, before Q1's and Q2's
 * backward passes, and `grads` holds Q1's and Q2's. The caller disposes the tensors.
 */
export function criticGradients(critic: Critic, batch: Batch, nextV: tf.Tensor, expectile: number, discount: number, byTape = false, handOffValue?: (work: ValueWork) => void): CriticGradients {
  const writtenOut = byTape
    ? undefined
    : tf.tidy((): CriticGradients | undefined => {
        const passes = critic.passes(batch.states, batch.actions);
        if (passes === null) return undefined;
        const parts = criticLossAt(passes.q1.output as tf.Tensor2D, passes.q2.output as tf.Tensor2D, passes.v.output as tf.Tensor2D, batch, nextV, expectile, discount);
        const [dq1, dq2, dv] = criticOutputGradients(parts);
        if (!handOffValue) return { parts, grads: critic.gradients(passes, dq1, dq2, dv) };
        handOffValue({ workspace: passes.v.workspace.dataSync() as Float32Array, outputGradient: dv.dataSync() as Float32Array });
        return { parts, grads: critic.qGradients(passes, dq1, dq2) };
      });
  if (writtenOut !== undefined) return writtenOut;
  if (handOffValue) throw new Error("V's update can go to another thread only where the critic's networks run natively");
  let kept: CriticLossParts | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const p = criticLoss(critic, batch, nextV, expectile, discount);
    kept = Object.fromEntries(Object.entries(p).map(([name, t]) => [name, name === 'loss' ? t : tf.keep(t)])) as CriticLossParts;
    return p.loss;
  }, critic.params.variables);
  // A kept tensor outlives every scope: each part comes back as a copy in the caller's scope instead (the loss is in it already).
  const parts = Object.fromEntries(
    Object.entries(kept as CriticLossParts).map(([name, t]) => {
      if (name === 'loss') return [name, value];
      const copy = tf.clone(t);
      t.dispose();
      return [name, copy];
    }),
  ) as CriticLossParts;
  return { parts, grads };
}

/** diffusionLoss with the score network's passes kept as the loss runs it, for its backward passes; where the network runs natively. */
export function diffusionLossWithPasses(net: ScoreNetwork, x: tf.Tensor2D, states: tf.Tensor, sigma: tf.Tensor, eps: tf.Tensor, clampTo: number | null): ReturnType<typeof diffusionLoss> & { passes: ScorePasses } {
  const kept: { passes?: ScorePasses } = {};
  const recording: Denoisable = {
    forward: (xIn, s, cNoise) => {
      kept.passes = net.passes(xIn, s, cNoise) as ScorePasses;
      return kept.passes.layers.output;
    },
  };
  return { ...diffusionLoss(recording, x, states, sigma, eps, clampTo), passes: kept.passes as ScorePasses };
}

// A type, not an interface, so that tf.tidy may return it.
export type DiffusionGradients = {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
};

/**
 * A score network's diffusion loss on fixed actions and its gradients: behaviour cloning on the
 * dataset's actions (paper Eq. 2), the KL baseline's fake score on the generator's. Where the
 * network runs natively, written out: the gradient at its output by hand (diffusionOutputGradient)
 * and its backward passes, the kernels the tape would run, without the tape's bookkeeping and
 * saved-tensor clones; elsewhere, or with `byTape`, by the tape. The same bits either way (tested).
 * The caller disposes the tensors.
 */
export function diffusionGradients(net: ScoreNetwork, x: tf.Tensor2D, states: tf.Tensor, sigma: tf.Tensor, eps: tf.Tensor, clampTo: number | null, byTape = false): DiffusionGradients {
  if (!byTape && mlpRunsNatively(x)) {
    const { loss, parts, error, passes } = diffusionLossWithPasses(net, x, states, sigma, eps, clampTo);
    return { loss, grads: net.gradients(passes, diffusionOutputGradient(parts, error, clampTo)) };
  }
  const { value, grads } = tf.variableGrads(() => diffusionLoss(net, x, states, sigma, eps, clampTo).loss, net.params.variables);
  return { loss: value, grads };
}

/**
 * The Q term of the policy loss at the policy's actions, computed by whoever holds the critic:
 * q_loss = -mean min(Q1, Q2)(s, a) and its gradient with respect to a ([B, A], row-major).
 */
export interface QTerm {
  loss: number;
  actionGrad: Float32Array;
}

/**
 * -mean min(Q1, Q2)(s, a) and d/da of it, with the critic frozen (OFFICIAL-CODE.md §4.4); one or more
 * actions per state. Where the networks run natively the gradient is written out as the tape
 * computes it (the mean's -1/N, to Q1 where Q1 <= Q2 and to Q2 elsewhere, each network's input
 * gradient, their sum's action columns), with no weight product and none of the tape's
 * bookkeeping: the same bits (tested). Elsewhere, or with `byTape`, by the tape.
 */
export function criticActionTerm(critic: Critic, states: tf.Tensor2D, actions: tf.Tensor2D, byTape = false): QTerm {
  const { value, grad } = tf.tidy(() => {
    const repeated = statesForActions(states, actions.shape[0]);
    const passes = byTape ? null : critic.qPasses(repeated, actions);
    if (passes === null) {
      const f = (a: tf.Tensor) => tf.neg(tf.mean(critic.qMin(repeated, a))) as tf.Scalar;
      return tf.valueAndGrad(f)(actions);
    }
    const [q1, q2] = [passes.q1.output, passes.q2.output];
    const perRow = tf.div(-1, actions.shape[0]);
    const dq1 = tf.mul(perRow, tf.cast(tf.lessEqual(q1, q2), 'float32'));
    const dq2 = tf.mul(perRow, tf.cast(tf.greater(q1, q2), 'float32'));
    return { value: tf.neg(tf.mean(tf.minimum(q1, q2))), grad: critic.actionGradient(passes, dq1, dq2) };
  });
  const term = { loss: value.dataSync()[0] as number, actionGrad: grad.dataSync() as Float32Array };
  tf.dispose([value, grad]);
  return term;
}

/** A scalar with a given value whose gradient with respect to `actions` is the given one. */
export const injectedLoss = (actions: tf.Tensor, term: QTerm): tf.Scalar =>
  (
    tf.customGrad((a) => ({
      value: tf.scalar(term.loss),
      gradFunc: (dy) => [tf.mul(dy as tf.Tensor, tf.tensor(term.actionGrad, (a as tf.Tensor).shape))],
    })) as (a: tf.Tensor) => tf.Scalar
  )(actions);

/** Cosine annealing to 0 over `total` steps, as CosineAnnealingLR stepped once per training step. */
export function cosineLr(base: number, step: number, total: number): number {
  return (base * (1 + Math.cos((Math.PI * Math.min(step, total)) / total))) / 2;
}

export interface LearningRates {
  lr: number;
  policyLr: number;
  criticLr: number;
}

/**
 * The learning rates of a step (OFFICIAL-CODE.md §5): the base rates in pretraining (`trainStepsDone`
 * null); in joint training, under cosine decay (when on) over the joint steps.
 */
export function learningRates(config: TrainConfig, trainStepsDone: number | null): LearningRates {
  const { lr, policyLr, criticLr, lrDecay, trainSteps } = config;
  if (trainStepsDone === null || !lrDecay) return { lr, policyLr, criticLr };
  const decayed = (base: number) => cosineLr(base, trainStepsDone, trainSteps);
  return { lr: decayed(lr), policyLr: decayed(policyLr), criticLr: decayed(criticLr) };
}

/** Steps an agent has done: pretraining steps, then joint training steps. */
export interface StepCounts {
  pretrain: number;
  train: number;
}

/**
 * The critic's part of a step: an update at `lr`; in joint training (`joint`) the target then moves
 * by tau and the policy asks for the Q term.
 */
export interface CriticUpdate {
  lr: number;
  joint: boolean;
}

/** The critic's part of the step that follows `done`, or null when it has none (pretraining without pretrainCritic). */
export function criticUpdateAt(config: TrainConfig, done: StepCounts): CriticUpdate | null {
  const joint = done.pretrain >= config.pretrainSteps;
  if (!joint && !config.pretrainCritic) return null;
  return { lr: learningRates(config, joint ? done.train : null).criticLr, joint };
}

export type CriticMetric = 'critic' | 'value' | 'q1' | 'q2';

/** Losses of a step by their logged names: tensors of this thread, or numbers from another thread. */
export type StepLosses = Record<string, tf.Scalar | number>;

/**
 * Where the critic trains: on this thread (the CriticLearner itself), or on another thread that keeps
 * pace with the steps (the engine's). A step asks in its order, the update and then the Q term;
 * answers may come later, and the step waits for them only where it needs them.
 */
export interface CriticHolder {
  update(batch: Batch, update: CriticUpdate): Record<CriticMetric, tf.Scalar | number> | Promise<Record<CriticMetric, tf.Scalar | number>>;
  /** The Q term at `actions` (policyLossSamples per state of the batch), from the critic just updated. */
  qTerm(batch: Batch, actions: Float32Array): QTerm | Promise<QTerm>;
}

/**
 * The critic with its target and optimizer: the IQL half of DTQL. It depends on nothing else of
 * the agent (no policy, no diffusion model), so it can also run on its own thread.
 */
export class CriticLearner implements CriticHolder {
  readonly critic: Critic;
  readonly target: Critic;
  readonly optimizer: Adam;
  /** Q1's and Q2's variables, and V's: the two parts of an update that may run on two threads. */
  readonly qVariables: ReadonlySet<tf.Variable>;
  readonly valueVariables: ReadonlySet<tf.Variable>;

  constructor(
    problem: ProblemSpec,
    private readonly config: TrainConfig,
    rng: Rng,
  ) {
    const hidden = problem.hidden ?? 256;
    this.critic = new Critic(problem.stateDim, problem.actionDim, hidden, rng);
    this.target = new Critic(problem.stateDim, problem.actionDim, hidden, rng);
    this.target.params.copyFrom(this.critic.params);
    this.optimizer = new Adam(this.critic.params.variables, config.criticLr);
    this.qVariables = this.critic.params.variablesWhere(isQParam);
    this.valueVariables = this.critic.params.variablesWhere(isValueParam);
  }

  /**
   * Critic update (OFFICIAL-CODE.md §4.1); returns its loss parts as scalars owned by the caller.
   * With `handOffValue`, V's part of the update goes to that callback (for `valueStep` on the thread
   * that holds V's optimizer state) and only Q1 and Q2 move here.
   */
  step(batch: Batch, handOffValue?: (work: ValueWork) => void): Record<CriticMetric, tf.Scalar> {
    const { losses, grads } = tf.tidy(() => {
      const nextV = this.critic.value(batch.nextStates);
      const { parts, grads } = criticGradients(this.critic, batch, nextV, this.config.expectile, this.config.discount, false, handOffValue);
      return { losses: { critic: parts.loss, value: parts.valueLoss, q1: parts.q1Loss, q2: parts.q2Loss }, grads };
    });
    this.optimizer.apply(grads, handOffValue ? this.qVariables : undefined);
    tf.dispose(grads);
    return losses;
  }

  /**
   * V's part of a critic update whose Q part ran elsewhere (`step` with handOffValue, on the same
   * weights and minibatch): V's gradients at the minibatch's states from the handed-off work, and
   * its Adam step at `lr` (the optimizer's step count moves as on the other thread).
   */
  valueStep(states: tf.Tensor2D, lr: number, work: ValueWork): void {
    const grads = tf.tidy(() => this.critic.valueGradients({ input: states, workspace: tf.tensor1d(work.workspace) }, tf.tensor2d(work.outputGradient, [states.shape[0], 1])));
    this.optimizer.lr = lr;
    this.optimizer.apply(grads, this.valueVariables);
    tf.dispose(grads);
  }

  /**
   * The update at `lr`, then in joint training the target's move. The official code moves the
   * target at the end of the step; nothing in between reads it, so it moves here.
   */
  update(batch: Batch, { lr, joint }: CriticUpdate, handOffValue?: (work: ValueWork) => void): Record<CriticMetric, tf.Scalar> {
    if (joint && handOffValue) throw new Error("V's update goes to another thread in pretraining only: the target's move reads it");
    this.optimizer.lr = lr;
    const losses = this.step(batch, handOffValue);
    if (joint) this.softUpdateTarget();
    return losses;
  }

  qTerm(batch: Batch, actions: Float32Array): QTerm {
    const a = tf.tensor2d(actions, [actions.length / batch.actions.shape[1], batch.actions.shape[1]]);
    const term = criticActionTerm(this.critic, batch.states, a);
    a.dispose();
    return term;
  }

  /** critic_target <- tau * critic + (1 - tau) * critic_target, over Q1, Q2 and V. */
  softUpdateTarget(): void {
    const tau = this.config.tau;
    tf.tidy(() => {
      for (const [name, target] of this.target.params.byName) {
        const source = this.critic.params.get(name);
        if (softUpdateInPlace(source, target, tau)) continue;
        target.assign(fusedUpdateFor(target.size) ? fusedSoftUpdate(source, target, tau) : tf.add(tf.mul(source, tau), tf.mul(target, 1 - tau)));
      }
    });
  }

  dispose(): void {
    this.critic.dispose();
    this.target.dispose();
    this.optimizer.dispose();
  }
}

/** A checkpointable agent state: counters and random streams, networks by name, optimizers. */
export interface AgentState {
  meta: { algo: 'dtql' | 'kl'; pretrainStepsDone: number; trainStepsDone: number; rng: RngState; dataRng: RngState };
  params: Record<string, Record<string, NamedArray>>;
  optimizers: Record<string, AdamState>;
}

/**
 * The shared half of an agent: the behaviour-cloning diffusion model and the critic, their
 * optimizers, the random streams, the step counters and the order of a step. Subclasses add the
 * one-step policy: how its noise is drawn, its actions for a batch, and its update given the
 * critic's Q term.
 */
export abstract class OfflineAgent<Noise extends BaseNoise = BaseNoise> {
  readonly bcActor: ScoreNetwork;
  readonly criticLearner: CriticLearner;
  readonly bcOptimizer: Adam;
  /** Draws of the losses (sigma, noise) and initialisation. */
  readonly rng: Rng;
  /** Minibatch indices: a stream of its own, so batches can be drawn ahead of the noise. */
  readonly dataRng: Rng;
  readonly denoiserClamp: number | null;
  pretrainStepsDone = 0;
  trainStepsDone = 0;
  abstract readonly algo: 'dtql' | 'kl';

  constructor(
    readonly problem: ProblemSpec,
    readonly config: TrainConfig,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    this.dataRng = new Rng([seed >>> 0, 0x9e3779b9, 0x6a09e667, 0xbb67ae85]);
    this.bcActor = new ScoreNetwork(
      { actionDim: problem.actionDim, stateDim: problem.stateDim, hidden: config.scoreHidden, timeEmbedDim: config.timeEmbedDim },
      this.rng,
    );
    this.criticLearner = new CriticLearner(problem, config, this.rng);
    this.denoiserClamp = problem.clipDenoised ? problem.maxAction : null;
    this.bcOptimizer = new Adam(this.bcActor.params.variables, config.lr);
  }

  get critic(): Critic {
    return this.criticLearner.critic;
  }

  get criticTarget(): Critic {
    return this.criticLearner.target;
  }

  /** All draws of one step, in the algorithm's order (the BC draws first). */
  abstract drawNoise(batch: number): Noise;
  /** The one-step policy's actions for the batch under this step's noise: policyLossSamples per state, state-major. */
  abstract policyActions(states: tf.Tensor2D, noise: Noise): Float32Array;
  /** The policy update (and any helper network's) given the critic's Q term at those actions. */
  abstract policyStep(batch: Batch, noise: Noise, qTerm: QTerm): Record<string, tf.Scalar>;
  /** `count` policy actions at each of k stacked states (state-major rows): evaluations and action selection draw these. */
  abstract samplePolicyAt(states: Float32Array, count: number, rng: Rng): Float32Array;
  protected abstract policyOptimizers(): Record<string, Adam>;
  /** Those of the policy optimizers that train a score network and so learn at `lr` (the KL fake score); the rest learn at `policyLr`. */
  protected scoreOptimizers(): Adam[] {
    return [];
  }
  protected abstract policyNetworks(): Record<string, { params: ParamSet; dispose(): void }>;

  /** Behaviour-cloning update of the diffusion model (OFFICIAL-CODE.md §4.2, paper Eq. 2). */
  bcStep(batch: Batch, sigma: Float32Array, eps: Float32Array): tf.Scalar {
    const [b, a] = batch.actions.shape;
    const { loss, grads } = tf.tidy(() => diffusionGradients(this.bcActor, batch.actions, batch.states, tf.tensor2d(sigma, [b, 1]), tf.tensor2d(eps, [b, a]), this.denoiserClamp));
    this.bcOptimizer.apply(grads);
    tf.dispose(grads);
    return loss;
  }

  get counts(): StepCounts {
    return { pretrain: this.pretrainStepsDone, train: this.trainStepsDone };
  }

  /** The next step, pretraining or joint as the counters call for; the critic trains where `critic` holds it. */
  step(batch: Batch, critic: CriticHolder = this.criticLearner): Promise<StepLosses> {
    return this.pretrainStepsDone < this.config.pretrainSteps ? this.pretrainStep(batch, critic) : this.trainStep(batch, critic);
  }

  /**
   * Pretraining (OFFICIAL-CODE.md §1): behaviour cloning and (unless pretrainCritic is off) the
   * critic, at the base learning rates, with no target update and no policy.
   */
  async pretrainStep(batch: Batch, critic: CriticHolder = this.criticLearner): Promise<StepLosses> {
    const noise = this.drawNoise(batch.actions.shape[0]);
    const update = criticUpdateAt(this.config, this.counts);
    const criticLosses = update ? critic.update(batch, update) : {};
    const bc = this.bcStep(batch, noise.sigmaBc, noise.epsBc);
    this.pretrainStepsDone += 1;
    return { bc, ...(await criticLosses) };
  }

  /**
   * One joint training step on one minibatch, in the order of the official train()
   * (DTQL:agents/dtql.py and agents/dql_kl.py; OFFICIAL-CODE.md §4, §8). `critic` says where the
   * critic trains (this thread by default); `noise` fixes the step's draws.
   */
  async trainStep(batch: Batch, critic: CriticHolder = this.criticLearner, noise: Noise = this.drawNoise(batch.actions.shape[0])): Promise<StepLosses> {
    const rates = this.applyLearningRates();
    // 1. Critic: IQL's expectile V loss and two Q regressions to r + discount * not_done * V(s'); its target then moves by tau.
    const criticLosses = critic.update(batch, { lr: rates.criticLr, joint: true });
    // The Q term at the policy's actions under this step's noise, from the critic just updated.
    const qTerm = critic.qTerm(batch, this.policyActions(batch.states, noise));
    // 2. Behaviour cloning: the diffusion model's denoising loss on the dataset's actions (paper Eq. 2).
    const bc = this.bcStep(batch, noise.sigmaBc, noise.epsBc);
    // 3. The policy against the diffusion model and critic just updated (each algorithm's policyStep:
    //    DTQL's alpha * trust region (Eq. 5) - eta * min Q + gamma * NLL; KL's alpha * DMD - eta * min Q).
    const policy = this.policyStep(batch, noise, await qTerm);
    this.trainStepsDone += 1;
    return { ...(await criticLosses), bc, ...policy };
  }

  /**
   * Sets this joint step's learning rates (OFFICIAL-CODE.md §5) on every optimizer but the critic's,
   * whose rate travels with its update (it may train on another thread); returns them all.
   */
  applyLearningRates(): LearningRates {
    const rates = learningRates(this.config, this.trainStepsDone);
    this.bcOptimizer.lr = rates.lr;
    const scoreOptimizers = new Set(this.scoreOptimizers());
    for (const optimizer of Object.values(this.policyOptimizers())) optimizer.lr = scoreOptimizers.has(optimizer) ? rates.lr : rates.policyLr;
    return rates;
  }

  /**
   * The paper's action selection (OFFICIAL-CODE.md §6) for k stacked states: `samples` policy actions
   * per state, one of them drawn per state by softmax over the target critic's min-Q.
   */
  selectActions(states: Float32Array, samples: number, rng: Rng): Float32Array {
    const { stateDim, actionDim } = this.problem;
    const k = states.length / stateDim;
    const { all, p } = withBothCores(() => {
      const actions = this.samplePolicyAt(states, samples, rng);
      const probs = tf.tidy(() => {
        const repeated = repeatRows(tf.tensor2d(states, [k, stateDim]), samples);
        const q = this.criticTarget.qMinForward(repeated, tf.tensor2d(actions, [k * samples, actionDim]));
        return tf.softmax(tf.reshape(q, [k, samples]));
      });
      const values = probs.dataSync();
      probs.dispose();
      return { all: actions, p: values };
    });
    const chosen = new Float32Array(k * actionDim);
    for (let row = 0; row < k; row++) {
      let u = rng.uniform();
      let index = samples - 1;
      for (let i = 0; i < samples; i++) {
        u -= p[row * samples + i] as number;
        if (u < 0) {
          index = i;
          break;
        }
      }
      const from = (row * samples + index) * actionDim;
      chosen.set(all.subarray(from, from + actionDim), row * actionDim);
    }
    return chosen;
  }

  getState(): AgentState {
    const networks = Object.fromEntries(Object.entries(this.policyNetworks()).map(([k, n]) => [k, n.params.snapshot()]));
    const optimizers = Object.fromEntries(Object.entries(this.policyOptimizers()).map(([k, o]) => [k, o.getState()]));
    return {
      meta: { algo: this.algo, pretrainStepsDone: this.pretrainStepsDone, trainStepsDone: this.trainStepsDone, rng: this.rng.state, dataRng: this.dataRng.state },
      params: { bcActor: this.bcActor.params.snapshot(), critic: this.critic.params.snapshot(), criticTarget: this.criticTarget.params.snapshot(), ...networks },
      optimizers: { bc: this.bcOptimizer.getState(), critic: this.criticLearner.optimizer.getState(), ...optimizers },
    };
  }

  setState(state: AgentState): void {
    const { params, optimizers, meta } = state;
    if (meta.algo !== this.algo) throw new Error(`checkpoint is for ${meta.algo}, not ${this.algo}`);
    this.bcActor.params.assign(required(params, 'bcActor'));
    this.critic.params.assign(required(params, 'critic'));
    this.criticTarget.params.assign(required(params, 'criticTarget'));
    this.bcOptimizer.setState(required(optimizers, 'bc'));
    this.criticLearner.optimizer.setState(required(optimizers, 'critic'));
    for (const [name, network] of Object.entries(this.policyNetworks())) network.params.assign(required(params, name));
    for (const [name, optimizer] of Object.entries(this.policyOptimizers())) optimizer.setState(required(optimizers, name));
    this.pretrainStepsDone = meta.pretrainStepsDone;
    this.trainStepsDone = meta.trainStepsDone;
    this.rng.state = meta.rng;
    this.dataRng.state = meta.dataRng;
  }

  dispose(): void {
    this.bcActor.dispose();
    this.criticLearner.dispose();
    this.bcOptimizer.dispose();
    for (const network of Object.values(this.policyNetworks())) network.dispose();
    for (const optimizer of Object.values(this.policyOptimizers())) optimizer.dispose();
  }
}

function required<T>(record: Record<string, T>, key: string): T {
  const value = record[key];
  if (value === undefined) throw new Error(`checkpoint has no ${key}`);
  return value;
}
