/**
 * Diffusion Trusted Q-Learning (DTQL), as the official PyTorch code implements it
 * (TianyuCodings/Diffusion_Trusted_Q_Learning@9a29cea; shared/reference/dtql-implementation-notes.md).
 *
 * Per training step, on one minibatch shared by the three updates:
 *   1. critic: IQL expectile V loss + two Q MSEs against r + discount * not_done * V(s')
 *   2. behaviour cloning: the EDM diffusion loss on dataset actions (paper Eq. 2)
 *   3. policy: alpha * trust-region loss (Eq. 5) - eta * min(Q1, Q2) + gamma * NLL (Eq. 7 + the
 *      code's likelihood term), using the diffusion model and critic just updated
 *   then the critic target moves by tau.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../config';
import { diffusionLoss, sampleSigma } from '../edm';
import { Critic } from '../nets/critic';
import type { NamedArray } from '../nets/params';
import { GaussianPolicy } from '../nets/policy';
import { ScoreNetwork } from '../nets/score';
import { Rng, type RngState } from '../rng';
import { Adam, type AdamState } from '../tf/adam';
import { stopGradient } from '../tf/kernels';

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

/** The random draws of one training step, in the official draw order. */
export interface StepNoise {
  sigmaBc: Float32Array;
  epsBc: Float32Array;
  xiPolicy: Float32Array;
  sigmaTr: Float32Array;
  epsTr: Float32Array;
}

export function drawStepNoise(rng: Rng, batch: number, actionDim: number): StepNoise {
  const sigmaBc = sampleSigma(rng, batch);
  const epsBc = rng.fillNormal(new Float32Array(batch * actionDim));
  const xiPolicy = rng.fillNormal(new Float32Array(batch * actionDim));
  const sigmaTr = sampleSigma(rng, batch);
  const epsTr = rng.fillNormal(new Float32Array(batch * actionDim));
  return { sigmaBc, epsBc, xiPolicy, sigmaTr, epsTr };
}

/** IQL's asymmetric L2: weight tau where diff > 0, else 1 - tau (step() keeps it off the gradient path). */
export function expectileLoss(diff: tf.Tensor, expectile: number): tf.Scalar {
  const weight = tf.add(1 - expectile, tf.mul(2 * expectile - 1, tf.step(stopGradient(diff))));
  return tf.mean(tf.mul(weight, tf.square(diff))) as tf.Scalar;
}

export interface CriticLossParts {
  loss: tf.Scalar;
  valueLoss: tf.Scalar;
  q1Loss: tf.Scalar;
  q2Loss: tf.Scalar;
  q1: tf.Tensor2D;
  q2: tf.Tensor2D;
  v: tf.Tensor2D;
  targetQ: tf.Tensor2D;
}

/**
 * Critic loss (notes 4.1): V regresses to the detached min(Q1, Q2) by expectile; Q1 and Q2 regress to
 * r + discount * not_done * V(s') with the online V under no_grad (`nextV` is computed outside the tape).
 */
export function criticLoss(critic: Critic, batch: Batch, nextV: tf.Tensor, expectile: number, discount: number): CriticLossParts {
  const [q1, q2] = critic.q(batch.states, batch.actions);
  const qMin = stopGradient(tf.minimum(q1, q2));
  const v = critic.value(batch.states);
  const valueLoss = expectileLoss(tf.sub(qMin, v), expectile);
  const targetQ = tf.add(batch.rewards, tf.mul(tf.mul(batch.notDone, discount), nextV)) as tf.Tensor2D;
  const q1Loss = tf.mean(tf.square(tf.sub(q1, targetQ))) as tf.Scalar;
  const q2Loss = tf.mean(tf.square(tf.sub(q2, targetQ))) as tf.Scalar;
  return { loss: tf.addN([valueLoss, q1Loss, q2Loss]) as tf.Scalar, valueLoss, q1Loss, q2Loss, q1, q2, v, targetQ };
}

/**
 * The Q term of the policy loss at the policy's actions, computed by whoever holds the critic:
 * q_loss = -mean min(Q1, Q2)(s, a) and its gradient with respect to a ([B, A], row-major).
 */
export interface QTerm {
  loss: number;
  actionGrad: Float32Array;
}

/** -mean min(Q1, Q2)(s, a) and d/da of it, with the critic frozen (notes 4.4). */
export function criticActionTerm(critic: Critic, states: tf.Tensor2D, actions: tf.Tensor2D): QTerm {
  const { value, grad } = tf.tidy(() => {
    const f = (a: tf.Tensor) => tf.neg(tf.mean(critic.qMin(states, a))) as tf.Scalar;
    const { value: v, grad: g } = tf.valueAndGrad(f)(actions);
    return { value: v, grad: g };
  });
  const term = { loss: value.dataSync()[0] as number, actionGrad: grad.dataSync() as Float32Array };
  tf.dispose([value, grad]);
  return term;
}

/** A scalar with a given value whose gradient with respect to `actions` is the given one. */
const injectedLoss = (actions: tf.Tensor, term: QTerm): tf.Scalar =>
  (
    tf.customGrad((a) => ({
      value: tf.scalar(term.loss),
      gradFunc: (dy) => [tf.mul(dy as tf.Tensor, tf.tensor(term.actionGrad, (a as tf.Tensor).shape))],
    })) as (a: tf.Tensor) => tf.Scalar
  )(actions);

export interface PolicyLossParts {
  loss: tf.Scalar;
  trLoss: tf.Scalar;
  qLoss: tf.Scalar;
  nll: tf.Scalar;
  newAction: tf.Tensor2D;
  logStdMean: tf.Scalar;
}

export interface PolicyWeights {
  alpha: number;
  eta: number;
  gamma: number;
}

/**
 * Policy loss (notes 4.4): alpha * L_TR + eta * (-mean min Q(s, a_theta)) + gamma * NLL of dataset
 * actions. The Q term enters through `qTerm` (its value and action gradient at a_theta), which is
 * exactly the gradient the critic would pass back, computed by whichever thread holds the critic.
 */
export function policyLoss(
  agent: Pick<DtqlAgent, 'policy' | 'bcActor' | 'denoiserClamp'>,
  batch: Batch,
  noise: Pick<StepNoise, 'xiPolicy' | 'sigmaTr' | 'epsTr'>,
  weights: PolicyWeights,
  qTerm: QTerm,
): PolicyLossParts {
  const [b, a] = batch.actions.shape;
  const out = agent.policy.forward(batch.states);
  const newAction = agent.policy.sample(out, tf.tensor2d(noise.xiPolicy, [b, a])).action;
  const sigma = tf.tensor2d(noise.sigmaTr, [b, 1]);
  const trLoss = diffusionLoss(agent.bcActor, newAction, batch.states, sigma, tf.tensor2d(noise.epsTr, [b, a]), agent.denoiserClamp).loss;
  const qLoss = injectedLoss(newAction, qTerm);
  // The official code uses a constant 0 when gamma is 0, skipping the likelihood entirely.
  const nll = weights.gamma !== 0 ? (tf.neg(tf.mean(agent.policy.logProb(out, batch.actions))) as tf.Scalar) : tf.scalar(0);
  const loss = tf.addN([tf.mul(weights.alpha, trLoss), tf.mul(weights.eta, qLoss), tf.mul(weights.gamma, nll)]) as tf.Scalar;
  return { loss, trLoss, qLoss, nll, newAction, logStdMean: tf.mean(out.logStd) as tf.Scalar };
}

/** Cosine annealing to 0 over `total` steps, as CosineAnnealingLR stepped once per training step. */
export function cosineLr(base: number, step: number, total: number): number {
  return (base * (1 + Math.cos((Math.PI * Math.min(step, total)) / total))) / 2;
}

/** Scalars of one step, for logging; names match the paper's losses. */
export const DTQL_METRICS = ['critic', 'value', 'q1', 'q2', 'bc', 'trustRegion', 'nll', 'policy', 'qMean', 'logStd'] as const;
export type DtqlMetric = (typeof DTQL_METRICS)[number];

export type CriticMetric = 'critic' | 'value' | 'q1' | 'q2';

/**
 * The critic with its target and optimizer: the IQL half of DTQL. It depends on nothing else of
 * the agent (no policy, no diffusion model), so it can also run on its own thread.
 */
export class CriticLearner {
  readonly critic: Critic;
  readonly target: Critic;
  readonly optimizer: Adam;

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
  }

  /** Critic update (notes 4.1); returns its loss parts as scalars owned by the caller. */
  step(batch: Batch): Record<CriticMetric, tf.Scalar> {
    const nextV = tf.tidy(() => this.critic.value(batch.nextStates));
    let parts: Record<'value' | 'q1' | 'q2', tf.Scalar> | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const p = criticLoss(this.critic, batch, nextV, this.config.expectile, this.config.discount);
      parts = { value: tf.keep(p.valueLoss), q1: tf.keep(p.q1Loss), q2: tf.keep(p.q2Loss) };
      return p.loss;
    }, this.critic.params.variables);
    this.optimizer.apply(grads);
    tf.dispose([grads, nextV]);
    return { critic: value, ...(parts as Record<'value' | 'q1' | 'q2', tf.Scalar>) };
  }

  /** critic_target <- tau * critic + (1 - tau) * critic_target, over Q1, Q2 and V. */
  softUpdateTarget(): void {
    const tau = this.config.tau;
    tf.tidy(() => {
      for (const [name, target] of this.target.params.byName) {
        target.assign(tf.add(tf.mul(this.critic.params.get(name), tau), tf.mul(target, 1 - tau)));
      }
    });
  }

  dispose(): void {
    this.critic.dispose();
    this.target.dispose();
    this.optimizer.dispose();
  }
}

export interface DtqlState {
  meta: { algo: 'dtql'; pretrainStepsDone: number; trainStepsDone: number; rng: RngState; dataRng: RngState };
  params: Record<string, Record<string, NamedArray>>;
  optimizers: Record<string, AdamState>;
}

export class DtqlAgent {
  readonly bcActor: ScoreNetwork;
  readonly criticLearner: CriticLearner;
  readonly policy: GaussianPolicy;
  readonly bcOptimizer: Adam;
  readonly policyOptimizer: Adam;
  /** Draws of the losses (sigma, noise) and initialisation. */
  readonly rng: Rng;
  /** Minibatch indices: a stream of its own, so batches can be drawn ahead of the noise. */
  readonly dataRng: Rng;
  readonly denoiserClamp: number | null;
  pretrainStepsDone = 0;
  trainStepsDone = 0;

  constructor(
    readonly problem: ProblemSpec,
    readonly config: TrainConfig,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    this.dataRng = new Rng([seed >>> 0, 0x9e3779b9, 0x6a09e667, 0xbb67ae85]);
    const hidden = problem.hidden ?? 256;
    this.bcActor = new ScoreNetwork(
      { actionDim: problem.actionDim, stateDim: problem.stateDim, hidden: config.scoreHidden, timeEmbedDim: config.timeEmbedDim },
      this.rng,
    );
    this.criticLearner = new CriticLearner(problem, config, this.rng);
    this.policy = new GaussianPolicy(problem.stateDim, problem.actionDim, hidden, problem.maxAction, this.rng);
    this.denoiserClamp = problem.clipDenoised ? problem.maxAction : null;
    this.bcOptimizer = new Adam(this.bcActor.params.variables, config.lr);
    this.policyOptimizer = new Adam(this.policy.params.variables, config.lr);
  }

  get critic(): Critic {
    return this.criticLearner.critic;
  }

  get criticTarget(): Critic {
    return this.criticLearner.target;
  }

  /** Behaviour-cloning update of the diffusion model (notes 4.2). */
  bcStep(batch: Batch, sigma: Float32Array, eps: Float32Array): tf.Scalar {
    const [b, a] = batch.actions.shape;
    const { value, grads } = tf.variableGrads(
      () => diffusionLoss(this.bcActor, batch.actions, batch.states, tf.tensor2d(sigma, [b, 1]), tf.tensor2d(eps, [b, a]), this.denoiserClamp).loss,
      this.bcActor.params.variables,
    );
    this.bcOptimizer.apply(grads);
    tf.dispose(grads);
    return value;
  }

  /** a_theta = policy(s) with the step's reparameterisation noise, as row-major values. */
  policyActions(states: tf.Tensor2D, xi: Float32Array): Float32Array {
    const action = tf.tidy(() => this.policy.sample(this.policy.forward(states), tf.tensor2d(xi, [states.shape[0], this.problem.actionDim])).action);
    const values = action.dataSync() as Float32Array;
    action.dispose();
    return values;
  }

  /** The Q term at a_theta from this agent's own critic (the single-thread order). */
  localQTerm(batch: Batch, noise: StepNoise): QTerm {
    const actions = this.policyActions(batch.states, noise.xiPolicy);
    const a = tf.tensor2d(actions, [batch.states.shape[0], this.problem.actionDim]);
    const term = criticActionTerm(this.critic, batch.states, a);
    a.dispose();
    return term;
  }

  /** Policy update (notes 4.4): gradients over the policy's variables only. */
  policyStep(batch: Batch, noise: StepNoise, qTerm: QTerm): Record<'policy' | 'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar> {
    let parts: Record<'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar> | undefined;
    const { alpha, eta, gamma } = this.config;
    const { value, grads } = tf.variableGrads(() => {
      const p = policyLoss(this, batch, noise, { alpha, eta, gamma }, qTerm);
      parts = { trustRegion: tf.keep(p.trLoss), nll: tf.keep(p.nll), qMean: tf.keep(tf.neg(p.qLoss)), logStd: tf.keep(p.logStdMean) };
      return p.loss;
    }, this.policy.params.variables);
    this.policyOptimizer.apply(grads);
    tf.dispose(grads);
    return { policy: value, ...(parts as Record<'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar>) };
  }

  /** Pretraining (notes 1): BC and critic only, no target update, no learning-rate schedule. */
  pretrainStep(batch: Batch): Partial<Record<DtqlMetric, tf.Scalar>> {
    const noise = drawStepNoise(this.rng, batch.actions.shape[0], this.problem.actionDim);
    const bc = this.bcStep(batch, noise.sigmaBc, noise.epsBc);
    const critic = this.criticLearner.step(batch);
    this.pretrainStepsDone += 1;
    return { bc, ...critic };
  }

  /** One joint step: critic, BC, policy (with the just-updated critic and diffusion model), target. */
  trainStep(batch: Batch, noise?: StepNoise): Record<DtqlMetric, tf.Scalar> {
    this.applySchedule();
    const draws = noise ?? drawStepNoise(this.rng, batch.actions.shape[0], this.problem.actionDim);
    const critic = this.criticLearner.step(batch);
    const bc = this.bcStep(batch, draws.sigmaBc, draws.epsBc);
    const policy = this.policyStep(batch, draws, this.localQTerm(batch, draws));
    this.criticLearner.softUpdateTarget();
    this.trainStepsDone += 1;
    return { ...critic, bc, ...policy };
  }

  /** Learning rates of the coming training step (cosine decay counts training steps only). */
  scheduledLr(): { lr: number; criticLr: number } {
    const { lr, criticLr, lrDecay, trainSteps } = this.config;
    const t = this.trainStepsDone;
    return lrDecay ? { lr: cosineLr(lr, t, trainSteps), criticLr: cosineLr(criticLr, t, trainSteps) } : { lr, criticLr };
  }

  applySchedule(): void {
    const { lr, criticLr } = this.scheduledLr();
    this.bcOptimizer.lr = lr;
    this.policyOptimizer.lr = lr;
    this.criticLearner.optimizer.lr = criticLr;
  }

  /**
   * The paper's action selection (notes 6): `samples` stochastic policy actions for the state, one
   * drawn by softmax over the target critic's min Q. `deterministic` returns tanh(mu) instead, a
   * cheap preview for the UI.
   */
  selectAction(state: Float32Array, samples: number, rng: Rng, deterministic = false): Float32Array {
    const { stateDim, actionDim } = this.problem;
    if (deterministic) {
      const mean = tf.tidy(() => {
        const out = this.policy.forward(tf.tensor2d(state, [1, stateDim]));
        return tf.mul(tf.tanh(out.mu), this.problem.maxAction);
      });
      const values = mean.dataSync() as Float32Array;
      mean.dispose();
      return values;
    }
    const xi = rng.fillNormal(new Float32Array(samples * actionDim));
    const [actions, probs] = tf.tidy(() => {
      const state1 = tf.tensor2d(state, [1, stateDim]);
      // The policy sees the same state for every sample: one forward row, broadcast to all samples.
      const out = this.policy.forward(state1);
      const action = this.policy.sample(out, tf.tensor2d(xi, [samples, actionDim])).action;
      const q = this.criticTarget.qMin(tf.tile(state1, [samples, 1]), action);
      return [action, tf.softmax(tf.reshape(q, [samples]))];
    });
    const p = probs.dataSync();
    const all = actions.dataSync() as Float32Array;
    tf.dispose([actions, probs]);
    let u = rng.uniform();
    let index = samples - 1;
    for (let i = 0; i < samples; i++) {
      u -= p[i] as number;
      if (u < 0) {
        index = i;
        break;
      }
    }
    return all.slice(index * actionDim, (index + 1) * actionDim);
  }

  /** Plain policy samples a ~ pi(.|s) for a batch of states (the bandit plots use 1,000 of them). */
  samplePolicy(states: Float32Array, count: number, rng: Rng): Float32Array {
    const { stateDim, actionDim } = this.problem;
    const xi = rng.fillNormal(new Float32Array(count * actionDim));
    const actions = tf.tidy(() => {
      const out = this.policy.forward(tf.tensor2d(states, [count, stateDim]));
      return this.policy.sample(out, tf.tensor2d(xi, [count, actionDim])).action;
    });
    const values = actions.dataSync() as Float32Array;
    actions.dispose();
    return values;
  }

  getState(): DtqlState {
    return {
      meta: { algo: 'dtql', pretrainStepsDone: this.pretrainStepsDone, trainStepsDone: this.trainStepsDone, rng: this.rng.state, dataRng: this.dataRng.state },
      params: {
        bcActor: this.bcActor.params.snapshot(),
        critic: this.critic.params.snapshot(),
        criticTarget: this.criticTarget.params.snapshot(),
        policy: this.policy.params.snapshot(),
      },
      optimizers: { bc: this.bcOptimizer.getState(), critic: this.criticLearner.optimizer.getState(), policy: this.policyOptimizer.getState() },
    };
  }

  setState(state: DtqlState): void {
    const { params, optimizers, meta } = state;
    if (meta.algo !== 'dtql') throw new Error(`checkpoint is for ${meta.algo}, not dtql`);
    this.bcActor.params.assign(required(params, 'bcActor'));
    this.critic.params.assign(required(params, 'critic'));
    this.criticTarget.params.assign(required(params, 'criticTarget'));
    this.policy.params.assign(required(params, 'policy'));
    this.bcOptimizer.setState(required(optimizers, 'bc'));
    this.criticLearner.optimizer.setState(required(optimizers, 'critic'));
    this.policyOptimizer.setState(required(optimizers, 'policy'));
    this.pretrainStepsDone = meta.pretrainStepsDone;
    this.trainStepsDone = meta.trainStepsDone;
    this.rng.state = meta.rng;
    this.dataRng.state = meta.dataRng;
  }

  dispose(): void {
    this.bcActor.dispose();
    this.criticLearner.dispose();
    this.policy.dispose();
    this.bcOptimizer.dispose();
    this.policyOptimizer.dispose();
  }
}

function required<T>(record: Record<string, T>, key: string): T {
  const value = record[key];
  if (value === undefined) throw new Error(`checkpoint has no ${key}`);
  return value;
}
