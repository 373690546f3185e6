/**
 * Diffusion Trusted Q-Learning (DTQL), as the official PyTorch code implements it
 * (TianyuCodings/Diffusion_Trusted_Q_Learning@9a29cea; what it does where the paper is silent:
 * docs/OFFICIAL-CODE.md): the one-step Gaussian policy and its loss (Eq. 5). The step that orders
 * critic, behaviour cloning and this policy (OfflineAgent.trainStep), pretraining, the critic and
 * the diffusion loss live in common.ts, shared with the KL baseline.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../../common/config';
import { denoisedGradient, diffusionLoss, sampleSigma, unclampedGradient } from '../edm';
import { mlpRunsNatively, type KeptForward } from '../nets/params';
import { GaussianPolicy, type PolicyOutput } from '../nets/policy';
import type { Rng } from '../rng';
import { Adam } from '../tf/adam';
import { diffusionLossWithPasses, drawBcNoise, injectedLoss, OfflineAgent, repeatRows, statesForActions, type BaseNoise, type Batch, type ProblemSpec, type QTerm } from './common';
import type { ScoreNetwork } from '../nets/score';

export * from './common';

/** The random draws of one training step, in the official draw order; the policy's for `samples` actions per state. */
export interface StepNoise extends BaseNoise {
  xiPolicy: Float32Array;
  sigmaTr: Float32Array;
  epsTr: Float32Array;
}

export function drawStepNoise(rng: Rng, batch: number, actionDim: number, samples: number): StepNoise {
  const { sigmaBc, epsBc } = drawBcNoise(rng, batch, actionDim);
  const rows = batch * samples;
  const xiPolicy = rng.fillNormal(new Float32Array(rows * actionDim));
  const sigmaTr = sampleSigma(rng, rows);
  const epsTr = rng.fillNormal(new Float32Array(rows * actionDim));
  return { sigmaBc, epsBc, xiPolicy, sigmaTr, epsTr };
}

/** Reparameterised actions, xi's rows / out's rows per state (state-major), from one forward row per state. */
function sampleEachState(policy: GaussianPolicy, out: PolicyOutput, xi: tf.Tensor2D): tf.Tensor2D {
  const count = xi.shape[0] / out.mu.shape[0];
  const repeated = count === 1 ? out : { ...out, mu: repeatRows(out.mu, count), std: repeatRows(out.std, count) };
  return policy.sample(repeated, xi).action;
}

/**
 * The trust-region loss (paper Eq. 4) at the policy's actions, for the policy's tape, where the
 * diffusion model runs natively: one tape node whose forward runs the loss unrecorded (so none of
 * its ops' inputs are cloned for the tape) and whose gradient at the actions is written out as the
 * tape would compute it. The actions are its input twice, so that the tape adds the gradient's two
 * parts where the ops it replaces would have, in their order: through the regression target (the
 * Sub's -dL/dD), then through x_sigma (the c_skip product's part plus the network's input gradient
 * times c_in). The same bits (tested). Null where the network does not run natively.
 */
function trustRegionNode(actor: ScoreNetwork, actions: tf.Tensor2D, states: tf.Tensor, sigma: tf.Tensor, eps: tf.Tensor, clampTo: number | null): tf.Scalar | null {
  if (!mlpRunsNatively(actions)) return null;
  const node = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [target, , save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const { loss, parts, error, passes } = diffusionLossWithPasses(actor, target, states, sigma, eps, clampTo);
    const { cOut, cSkip, cIn } = parts.coefficients;
    save([error, cOut, cSkip, cIn, parts.unclamped, passes.layers.input, passes.layers.workspace]);
    return {
      value: loss,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedError, savedCOut, savedCSkip, savedCIn, unclamped, input, workspace] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const dDenoised = denoisedGradient(savedError, savedCOut, dy as tf.Tensor);
        const dUnclamped = unclampedGradient(dDenoised, unclamped, clampTo);
        const dNetInput = actor.inputGradient({ input, workspace }, tf.mul(dUnclamped, savedCOut));
        return [tf.neg(dDenoised), tf.add(tf.mul(dUnclamped, savedCSkip), tf.mul(dNetInput, savedCIn))];
      },
    };
  });
  return node(actions, actions) as tf.Scalar;
}

/** The policy loss and its parts, named as they are logged (the Q part is logged as qMean = -qLoss). */
export interface PolicyLossParts {
  loss: tf.Scalar;
  /** L_TR, paper Eq. 4. */
  trustRegion: tf.Scalar;
  /** -mean min(Q1, Q2)(s, a_theta). */
  qLoss: tf.Scalar;
  nll: tf.Scalar;
  newAction: tf.Tensor2D;
  /** Mean of the policy's log-std outputs. */
  logStd: tf.Scalar;
}

export interface PolicyWeights {
  alpha: number;
  eta: number;
  gamma: number;
}

/**
 * Policy loss (paper Eq. 5; OFFICIAL-CODE.md §4.4): alpha * L_TR + eta * (-mean min Q(s, a_theta)) + gamma * NLL of dataset
 * actions. The Q term enters through `qTerm` (its value and action gradient at a_theta), which is
 * exactly the gradient the critic would pass back, computed by whichever thread holds the critic.
 * With several policy samples per state (the noise's rows), L_TR and the Q term average over all of them.
 * `kept` is the policy's pass on these states from policyActions, when the weights have not changed since.
 * The trust region's gradient is written out where the diffusion model runs natively (trustRegionNode),
 * unless `byTape`: the same bits.
 */
export function policyLoss(
  agent: Pick<DtqlAgent, 'policy' | 'bcActor' | 'denoiserClamp'>,
  batch: Batch,
  noise: Pick<StepNoise, 'xiPolicy' | 'sigmaTr' | 'epsTr'>,
  weights: PolicyWeights,
  qTerm: QTerm,
  kept: KeptForward | null = null,
  byTape = false,
): PolicyLossParts {
  const a = batch.actions.shape[1];
  const rows = noise.sigmaTr.length;
  const out = agent.policy.forward(batch.states, kept);
  const newAction = sampleEachState(agent.policy, out, tf.tensor2d(noise.xiPolicy, [rows, a]));
  const sigma = tf.tensor2d(noise.sigmaTr, [rows, 1]);
  const states = statesForActions(batch.states, rows);
  const eps = tf.tensor2d(noise.epsTr, [rows, a]);
  const trustRegion = (byTape ? null : trustRegionNode(agent.bcActor, newAction, states, sigma, eps, agent.denoiserClamp)) ?? diffusionLoss(agent.bcActor, newAction, states, sigma, eps, agent.denoiserClamp).loss;
  const qLoss = injectedLoss(newAction, qTerm);
  // The official code uses a constant 0 when gamma is 0, skipping the likelihood entirely.
  const nll = weights.gamma !== 0 ? (tf.neg(tf.mean(agent.policy.logProb(out, batch.actions))) as tf.Scalar) : tf.scalar(0);
  const loss = tf.addN([tf.mul(weights.alpha, trustRegion), tf.mul(weights.eta, qLoss), tf.mul(weights.gamma, nll)]) as tf.Scalar;
  return { loss, trustRegion, qLoss, nll, newAction, logStd: tf.mean(out.logStd) as tf.Scalar };
}

export class DtqlAgent extends OfflineAgent<StepNoise> {
  readonly algo = 'dtql';
  readonly policy: GaussianPolicy;
  readonly policyOptimizer: Adam;
  /** The policy's pass on the step's states that policyActions ran, for policyStep to differentiate instead of running it again. */
  private keptForward: KeptForward | null = null;

  constructor(problem: ProblemSpec, config: TrainConfig, seed: number) {
    super(problem, config, seed);
    this.policy = new GaussianPolicy(problem.stateDim, problem.actionDim, problem.hidden ?? 256, problem.maxAction, this.rng, config.policyInitLogStd);
    this.policyOptimizer = new Adam(this.policy.params.variables, config.policyLr);
  }

  protected policyOptimizers(): Record<string, Adam> {
    return { policy: this.policyOptimizer };
  }

  protected policyNetworks(): Record<string, GaussianPolicy> {
    return { policy: this.policy };
  }

  drawNoise(batch: number): StepNoise {
    return drawStepNoise(this.rng, batch, this.problem.actionDim, this.config.policyLossSamples);
  }

  /**
   * a_theta = policy(s) with the step's reparameterisation noise, as row-major values. The policy's
   * pass is kept for this step's policyStep: nothing changes the policy in between (the critic and
   * behaviour cloning train other networks), so it need not run twice.
   */
  policyActions(states: tf.Tensor2D, noise: StepNoise): Float32Array {
    this.disposeKeptForward();
    const kept = this.policy.keepForward(states);
    this.keptForward = kept;
    const action = tf.tidy(() => sampleEachState(this.policy, this.policy.forward(states, kept), tf.tensor2d(noise.xiPolicy, [noise.sigmaTr.length, this.problem.actionDim])));
    const values = action.dataSync() as Float32Array;
    action.dispose();
    return values;
  }

  /** Policy update (OFFICIAL-CODE.md §4.4): gradients over the policy's variables only. */
  policyStep(batch: Batch, noise: StepNoise, qTerm: QTerm): Record<'policy' | 'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar> {
    let parts: Record<'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar> | undefined;
    const { alpha, eta, gamma } = this.config;
    const kept = this.keptForward;
    const { value, grads } = tf.variableGrads(() => {
      const p = policyLoss(this, batch, noise, { alpha, eta, gamma }, qTerm, kept);
      parts = { trustRegion: tf.keep(p.trustRegion), nll: tf.keep(p.nll), qMean: tf.keep(tf.neg(p.qLoss)), logStd: tf.keep(p.logStd) };
      return p.loss;
    }, this.policy.params.variables);
    this.disposeKeptForward();
    this.policyOptimizer.apply(grads);
    tf.dispose(grads);
    return { policy: value, ...(parts as Record<'trustRegion' | 'nll' | 'qMean' | 'logStd', tf.Scalar>) };
  }

  private disposeKeptForward(): void {
    if (this.keptForward) tf.dispose([this.keptForward.output, this.keptForward.workspace]);
    this.keptForward = null;
  }

  override dispose(): void {
    this.disposeKeptForward();
    super.dispose();
  }

  /** One policy forward row per state, its mean and std repeated for every sample of that state. */
  samplePolicyAt(states: Float32Array, count: number, rng: Rng): Float32Array {
    const { stateDim, actionDim } = this.problem;
    const k = states.length / stateDim;
    const xi = rng.fillNormal(new Float32Array(k * count * actionDim));
    const actions = tf.tidy(() => sampleEachState(this.policy, this.policy.forward(tf.tensor2d(states, [k, stateDim])), tf.tensor2d(xi, [k * count, actionDim])));
    const values = actions.dataSync() as Float32Array;
    actions.dispose();
    return values;
  }

  /** A cheap deterministic action for the UI: tanh(mu) * maxAction, no sampling and no critic. */
  meanAction(state: Float32Array): Float32Array {
    const mean = tf.tidy(() => tf.mul(tf.tanh(this.policy.forward(tf.tensor2d(state, [1, this.problem.stateDim])).mu), this.problem.maxAction));
    const values = mean.dataSync() as Float32Array;
    mean.dispose();
    return values;
  }
}
