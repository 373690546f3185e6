/**
 * The KL-regularised baseline DQL-KL (paper Appendix D; OFFICIAL-CODE.md §8): an implicit one-step
 * generator distilled from the diffusion model with the DMD gradient, against which the paper
 * compares the trust region. Critic, behaviour cloning, presets and checkpoints are DTQL's
 * (common.ts); this variant has no gamma term.
 */
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../../common/config';
import { denoise, sampleSigma, type Denoisable, type Denoised } from '../edm';
import { ScoreNetwork } from '../nets/score';
import type { Rng } from '../rng';
import { Adam } from '../tf/adam';
import { stopGradient } from '../tf/kernels';
import { diffusionGradients, drawBcNoise, injectedLoss, OfflineAgent, statesForActions, type BaseNoise, type Batch, type CriticHolder, type ProblemSpec, type QTerm, type StepLosses } from './common';

/** The generator's input noise scale and its (raw, not ln/4) time input (OFFICIAL-CODE.md §3.4). */
export const GENERATION_SIGMA = 2.5;

export interface DmdLossParts {
  loss: tf.Scalar;
  real: Denoised;
  fake: Denoised;
  weightingFactor: tf.Tensor2D;
  grad: tf.Tensor2D;
}

/**
 * DMD distillation loss (OFFICIAL-CODE.md §8): with one sigma and one noise shared by both denoisers,
 * g = (D_fake - D_real) / mean_j |a - D_real|, and L = 0.5 mean(a - stopgrad(a - g))^2, so that
 * dL/da = g / (B A). The denoisers see a detached copy of the action, so only the final expression carries gradient.
 */
export function dmdLoss(
  real: Denoisable,
  fake: Denoisable,
  action: tf.Tensor2D,
  states: tf.Tensor,
  sigma: tf.Tensor,
  eps: tf.Tensor,
  clampTo: number | null,
): DmdLossParts {
  const a = stopGradient(action);
  const realParts = denoise(real, a, states, sigma, eps, clampTo);
  const fakeParts = denoise(fake, a, states, sigma, eps, clampTo);
  const weightingFactor = tf.mean(tf.abs(tf.sub(a, realParts.denoised)), 1, true) as tf.Tensor2D;
  const grad = stopGradient(tf.div(tf.sub(fakeParts.denoised, realParts.denoised), weightingFactor)) as tf.Tensor2D;
  const loss = tf.mul(0.5, tf.mean(tf.square(tf.sub(action, tf.sub(a, grad))))) as tf.Scalar;
  return { loss, real: realParts, fake: fakeParts, weightingFactor, grad };
}

/** The draws of one KL step: BC, then for `samples` generator actions per state its input z, the DMD sigma/noise, the fake score's sigma/noise. */
export interface KlNoise extends BaseNoise {
  z: Float32Array;
  sigmaDmd: Float32Array;
  epsDmd: Float32Array;
  sigmaFake: Float32Array;
  epsFake: Float32Array;
}

export function drawKlNoise(rng: Rng, batch: number, actionDim: number, samples: number): KlNoise {
  const { sigmaBc, epsBc } = drawBcNoise(rng, batch, actionDim);
  const rows = batch * samples;
  const z = rng.fillNormal(new Float32Array(rows * actionDim));
  const sigmaDmd = sampleSigma(rng, rows);
  const epsDmd = rng.fillNormal(new Float32Array(rows * actionDim));
  const sigmaFake = sampleSigma(rng, rows);
  const epsFake = rng.fillNormal(new Float32Array(rows * actionDim));
  return { sigmaBc, epsBc, z, sigmaDmd, epsDmd, sigmaFake, epsFake };
}

/**
 * DQL-KL: the implicit one-step generator a = G(z, s) with z ~ N(0, 2.5^2 I) and the raw time
 * input 2.5 (OFFICIAL-CODE.md §3.4), and a fake score network, both initialised from the pretrained
 * behaviour-cloning score network when joint training starts. Per step, after the shared critic
 * and BC updates: the generator minimises alpha * L_KL (DMD) - eta * min Q; then the fake score
 * learns the generator's actions (from before its update) with the standard diffusion loss.
 */
export class KlAgent extends OfflineAgent<KlNoise> {
  readonly algo = 'kl';
  readonly generator: ScoreNetwork;
  readonly fakeScore: ScoreNetwork;
  readonly generatorOptimizer: Adam;
  readonly fakeOptimizer: Adam;

  constructor(problem: ProblemSpec, config: TrainConfig, seed: number) {
    super(problem, config, seed);
    const size = { actionDim: problem.actionDim, stateDim: problem.stateDim, hidden: config.scoreHidden, timeEmbedDim: config.timeEmbedDim };
    this.generator = new ScoreNetwork(size, this.rng);
    this.fakeScore = new ScoreNetwork(size, this.rng);
    this.generatorOptimizer = new Adam(this.generator.params.variables, config.policyLr);
    this.fakeOptimizer = new Adam(this.fakeScore.params.variables, config.lr);
  }

  protected policyOptimizers(): Record<string, Adam> {
    return { generator: this.generatorOptimizer, fake: this.fakeOptimizer };
  }

  protected override scoreOptimizers(): Adam[] {
    return [this.fakeOptimizer];
  }

  protected policyNetworks(): Record<string, ScoreNetwork> {
    return { generator: this.generator, fakeScore: this.fakeScore };
  }

  /**
   * Joint training starts the generator from the pretrained diffusion model, and the fake score too
   * (DTQL:agents/dql_kl.py) unless fakeScoreFromDiffusion is off (the toy script keeps its random init).
   */
  startFromDiffusion(): void {
    this.generator.params.copyFrom(this.bcActor.params);
    if (this.config.fakeScoreFromDiffusion) this.fakeScore.params.copyFrom(this.bcActor.params);
  }

  drawNoise(batch: number): KlNoise {
    return drawKlNoise(this.rng, batch, this.problem.actionDim, this.config.policyLossSamples);
  }

  /** The shared joint step (common.ts), with the generator and fake score started from the diffusion model before the first. */
  override trainStep(batch: Batch, critic?: CriticHolder, noise?: KlNoise): Promise<StepLosses> {
    if (this.trainStepsDone === 0) this.startFromDiffusion();
    return super.trainStep(batch, critic, noise);
  }

  /** G(z * 2.5, s, 2.5) for standard-normal z, z's rows / the states' rows actions per state (state-major). */
  private generate(states: tf.Tensor2D, z: Float32Array): tf.Tensor2D {
    const rows = z.length / this.problem.actionDim;
    const input = tf.mul(tf.tensor2d(z, [rows, this.problem.actionDim]), GENERATION_SIGMA);
    return this.generator.forward(input, statesForActions(states, rows), tf.fill([rows, 1], GENERATION_SIGMA));
  }

  policyActions(states: tf.Tensor2D, noise: KlNoise): Float32Array {
    const actions = tf.tidy(() => this.generate(states, noise.z));
    const values = actions.dataSync() as Float32Array;
    actions.dispose();
    return values;
  }

  /** Generator step (OFFICIAL-CODE.md §8) with the injected Q term, then the fake-score step (OFFICIAL-CODE.md §8). */
  policyStep(batch: Batch, noise: KlNoise, qTerm: QTerm): Record<'policy' | 'kl' | 'qMean' | 'fake', tf.Scalar> {
    const a = batch.actions.shape[1];
    const rows = noise.sigmaDmd.length;
    const { alpha, eta } = this.config;
    const before = tf.tensor2d(this.policyActions(batch.states, noise), [rows, a]);
    let kl: tf.Scalar | undefined;
    const generatorStep = tf.variableGrads(() => {
      const states = statesForActions(batch.states, rows);
      const action = this.generate(states, noise.z);
      const dmd = dmdLoss(this.bcActor, this.fakeScore, action, states, tf.tensor2d(noise.sigmaDmd, [rows, 1]), tf.tensor2d(noise.epsDmd, [rows, a]), this.denoiserClamp);
      kl = tf.keep(dmd.loss);
      return tf.add(tf.mul(alpha, dmd.loss), tf.mul(eta, injectedLoss(action, qTerm))) as tf.Scalar;
    }, this.generator.params.variables);
    this.generatorOptimizer.apply(generatorStep.grads);
    tf.dispose(generatorStep.grads);
    const fakeStep = tf.tidy(() =>
      diffusionGradients(this.fakeScore, before, statesForActions(batch.states, rows), tf.tensor2d(noise.sigmaFake, [rows, 1]), tf.tensor2d(noise.epsFake, [rows, a]), this.denoiserClamp),
    );
    this.fakeOptimizer.apply(fakeStep.grads);
    tf.dispose([fakeStep.grads, before]);
    return { policy: generatorStep.value, kl: kl as tf.Scalar, qMean: tf.scalar(-qTerm.loss), fake: fakeStep.loss };
  }

  samplePolicyAt(states: Float32Array, count: number, rng: Rng): Float32Array {
    const k = states.length / this.problem.stateDim;
    const z = rng.fillNormal(new Float32Array(k * count * this.problem.actionDim));
    const actions = tf.tidy(() => this.generate(tf.tensor2d(states, [k, this.problem.stateDim]), z));
    const values = actions.dataSync() as Float32Array;
    actions.dispose();
    return values;
  }
}
