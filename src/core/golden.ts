/**
 * Recomputes the quantities of a golden-numbers file (JSON: a config, weights, inputs and noise,
 * and the official code's float32 result for each quantity) with this
 * implementation and reports the absolute error of each against the official float32 results.
 * Works for any file in that format: sizes and hyperparameters are read from its `config`.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { D4RL_DEFAULTS, type TrainConfig } from '../common/config';
import { criticActionTerm, criticGradients, diffusionGradients, DtqlAgent, policyLoss, type Batch, type StepNoise } from './algos/dtql';
import { dmdLoss, GENERATION_SIGMA } from './algos/dql-kl';
import { diffusionLoss, edmCoefficients, sigmaFromUniform, SIGMA_CDF_MAX, SIGMA_CDF_MIN, type Denoised } from './edm';
import type { NamedArray, ParamSet } from './nets/params';
import { ScoreNetwork } from './nets/score';
import { Rng } from './rng';

const nested: z.ZodType<unknown> = z.lazy(() => z.union([z.number(), z.boolean(), z.array(nested)]));

const goldenConfigSchema = z.object({
  state_dim: z.number().int().positive(),
  action_dim: z.number().int().positive(),
  batch: z.number().int().positive(),
  hidden_dim: z.number().int().positive(),
  time_embed_dim: z.number().int().positive(),
  max_action: z.number().positive(),
  expectile: z.number(),
  discount: z.number(),
  tau: z.number(),
  lr: z.number(),
  kl_generation_sigma: z.number().optional(),
  policy_loss_configs: z.record(z.string(), z.object({ alpha: z.number(), gamma: z.number() })),
});

export const networksFileSchema = z.object({
  config: goldenConfigSchema,
  weights: z.record(z.string(), z.record(z.string(), z.object({ shape: z.array(z.number().int()), data: nested }))),
  inputs: z.record(z.string(), nested),
  results: z.object({ float32: z.record(z.string(), z.unknown()) }),
});
export type NetworksFile = z.infer<typeof networksFileSchema>;

export const trainStepFileSchema = z.object({
  config: goldenConfigSchema,
  runs: z.record(
    z.string(),
    z.object({
      alpha: z.number(),
      gamma: z.number(),
      float32: z.array(z.object({ metric: z.record(z.string(), z.number()), params_after: z.record(z.string(), z.record(z.string(), nested)) })),
    }),
  ),
});
export type TrainStepFile = z.infer<typeof trainStepFileSchema>;

export type GoldenKind = 'value' | 'gradient' | 'parameter';

/** Suggested float32 tolerances of the golden README. */
export function withinTolerance(kind: GoldenKind, absError: number, reference: number): boolean {
  if (kind === 'gradient') return absError <= 1e-5;
  if (kind === 'parameter') return absError <= 1e-6;
  return absError <= 1e-6 + 1e-5 * Math.abs(reference);
}

export interface QuantityResult {
  kind: GoldenKind;
  maxAbsError: number;
  pass: boolean;
}

export interface GoldenReport {
  precision: 'float32';
  maxAbsError: number;
  worst: string;
  quantities: Record<string, QuantityResult>;
  pass: boolean;
}

function flatten(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (typeof value === 'boolean') return [value ? 1 : 0];
  if (Array.isArray(value)) return value.flatMap(flatten);
  throw new Error('golden value is not numeric');
}

function shapeOf(value: unknown): number[] {
  return Array.isArray(value) ? [value.length, ...shapeOf(value[0])] : [];
}

function toNamed(value: unknown): NamedArray {
  return { shape: shapeOf(value), data: Float32Array.from(flatten(value)) };
}

function tensorOf(value: unknown): tf.Tensor {
  const named = toNamed(value);
  return tf.tensor(named.data, named.shape, 'float32');
}

function kindOf(path: string): GoldenKind {
  if (path.includes('params_after')) return 'parameter';
  if (/grads_|dloss_/.test(path)) return 'gradient';
  return 'value';
}

/** Compares computed against reference for every reference leaf under `prefix`. */
class Comparison {
  readonly quantities: Record<string, QuantityResult> = {};
  private readonly references = new Map<string, number[]>();

  constructor(reference: Record<string, unknown>, prefix = '') {
    this.collect(reference, prefix);
  }

  private collect(node: unknown, path: string): void {
    if (node && typeof node === 'object' && !Array.isArray(node)) {
      for (const [key, child] of Object.entries(node)) this.collect(child, path ? `${path}.${key}` : key);
    } else {
      this.references.set(path, flatten(node));
    }
  }

  /** Records the error of one quantity; `actual` may be a tensor (read here) or plain numbers. */
  record(path: string, actual: tf.Tensor | number | number[] | Float32Array): void {
    const reference = this.references.get(path);
    if (!reference) return;
    const values = actual instanceof tf.Tensor ? Array.from(actual.dataSync()) : typeof actual === 'number' ? [actual] : Array.from(actual);
    const kind = kindOf(path);
    if (values.length !== reference.length) {
      this.quantities[path] = { kind, maxAbsError: Number.POSITIVE_INFINITY, pass: false };
      return;
    }
    let worst = 0;
    let pass = true;
    values.forEach((v, i) => {
      const ref = reference[i] as number;
      const err = Math.abs(v - ref);
      if (!(err <= worst)) worst = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
      if (!withinTolerance(kind, err, ref)) pass = false;
    });
    this.quantities[path] = { kind, maxAbsError: worst, pass };
  }

  /** Records every variable of `params` under `prefix.<torch name>`, transposing Linear weights back. */
  recordParams(prefix: string, params: ParamSet): void {
    for (const [name, variable] of params.byName) this.recordTorch(`${prefix}.${name}`, variable);
  }

  /** Records the gradient of every variable of `params` (from tf.variableGrads) the same way. */
  recordGrads(prefix: string, params: ParamSet, grads: tf.NamedTensorMap): void {
    for (const [name, variable] of params.byName) {
      const g = grads[variable.name];
      if (g) this.recordTorch(`${prefix}.${name}`, g);
    }
  }

  private recordTorch(path: string, t: tf.Tensor): void {
    const data = t.dataSync() as Float32Array;
    this.record(path, t.shape.length === 2 ? transpose(data, t.shape as [number, number]) : data);
  }

  report(): GoldenReport {
    for (const path of this.references.keys()) {
      if (!(path in this.quantities)) this.quantities[path] = { kind: kindOf(path), maxAbsError: Number.POSITIVE_INFINITY, pass: false };
    }
    let worst = '';
    let maxAbsError = 0;
    for (const [path, q] of Object.entries(this.quantities)) {
      if (q.maxAbsError >= maxAbsError) {
        maxAbsError = q.maxAbsError;
        worst = path;
      }
    }
    return { precision: 'float32', maxAbsError, worst, quantities: this.quantities, pass: Object.values(this.quantities).every((q) => q.pass) };
  }
}

/** [in, out] storage back to torch's [out, in]. */
function transpose(data: Float32Array, [rows, cols]: [number, number]): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  return out;
}

type GoldenConfig = z.infer<typeof goldenConfigSchema>;

function agentFor(config: GoldenConfig, alpha: number, gamma: number): DtqlAgent {
  const train: TrainConfig = {
    ...D4RL_DEFAULTS,
    alpha,
    gamma,
    eta: 1,
    expectile: config.expectile,
    discount: config.discount,
    tau: config.tau,
    lr: config.lr,
    policyLr: config.lr,
    criticLr: config.lr,
    lrDecay: false,
    batchSize: config.batch,
    scoreHidden: config.hidden_dim,
    timeEmbedDim: config.time_embed_dim,
  };
  return new DtqlAgent(
    { stateDim: config.state_dim, actionDim: config.action_dim, maxAction: config.max_action, clipDenoised: true, hidden: config.hidden_dim },
    train,
    0,
  );
}

function weightsOf(file: NetworksFile, module: string): Record<string, NamedArray> {
  const entries = file.weights[module];
  if (!entries) throw new Error(`golden file has no weights for ${module}`);
  return Object.fromEntries(Object.entries(entries).map(([name, w]) => [name, { shape: w.shape, data: Float32Array.from(flatten(w.data)) }]));
}

function loadAgentWeights(agent: DtqlAgent, file: NetworksFile): void {
  agent.bcActor.params.assignTorch(weightsOf(file, 'bc_actor'));
  agent.critic.params.assignTorch(weightsOf(file, 'critic'));
  agent.criticTarget.params.assignTorch(weightsOf(file, 'critic'));
  agent.policy.params.assignTorch(weightsOf(file, 'policy'));
}

function batchOf(file: NetworksFile): Batch {
  const i = file.inputs;
  return {
    states: tensorOf(i.states) as tf.Tensor2D,
    actions: tensorOf(i.actions) as tf.Tensor2D,
    rewards: tensorOf(i.rewards) as tf.Tensor2D,
    nextStates: tensorOf(i.next_states) as tf.Tensor2D,
    notDone: tensorOf(i.not_done) as tf.Tensor2D,
  };
}

const sigmasOf = (u: unknown): Float32Array => Float32Array.from(flatten(u).map(sigmaFromUniform));

function noiseOf(file: NetworksFile, prefix: '' | 'step2_'): StepNoise {
  const i = file.inputs;
  const get = (key: string) => {
    const value = i[`${prefix}${key}`];
    if (value === undefined) throw new Error(`golden inputs lack ${prefix}${key}`);
    return value;
  };
  return {
    sigmaBc: sigmasOf(get('u_bc')),
    epsBc: Float32Array.from(flatten(get('eps_bc'))),
    xiPolicy: Float32Array.from(flatten(get('xi_policy'))),
    sigmaTr: sigmasOf(get('u_tr')),
    epsTr: Float32Array.from(flatten(get('eps_tr'))),
  };
}

/** Checks a networks.json-format file: forward passes, sigma, EDM, every loss and gradient. */
export function checkNetworksFile(file: NetworksFile): GoldenReport {
  const cmp = new Comparison(file.results.float32);
  const { config } = file;
  const [firstConfig] = Object.values(config.policy_loss_configs);
  const agent = agentFor(config, firstConfig?.alpha ?? 1, firstConfig?.gamma ?? 0);
  loadAgentWeights(agent, file);
  const extra: ScoreNetwork[] = [];
  try {
    tf.tidy(() => {
      const batch = batchOf(file);
      const i = file.inputs;
      const { state_dim: S, action_dim: A, batch: B } = config;
      const clampTo = config.max_action;

      // Forward passes.
      const cNoise = tf.reshape(tensorOf(i.score_c_noise), [B, 1]);
      cmp.record('forward.score_net.sinusoidal', agent.bcActor.sinusoidal(cNoise));
      cmp.record('forward.score_net.time_embedding', agent.bcActor.timeEmbedding(cNoise));
      cmp.record('forward.score_net.F', agent.bcActor.forward(tensorOf(i.score_x), batch.states, cNoise));
      const [q1, q2] = agent.critic.q(batch.states, batch.actions);
      cmp.record('forward.critic.q1', q1);
      cmp.record('forward.critic.q2', q2);
      cmp.record('forward.critic.q_min', tf.minimum(q1, q2));
      cmp.record('forward.critic.v_states', agent.critic.value(batch.states));
      cmp.record('forward.critic.v_next_states', agent.critic.value(batch.nextStates));
      const out = agent.policy.forward(batch.states);
      const xi = tf.tensor2d(noiseOf(file, '').xiPolicy, [B, A]);
      const sample = agent.policy.sample(out, xi);
      cmp.record('forward.policy.mu', out.mu);
      cmp.record('forward.policy.log_std_raw', out.logStdRaw);
      cmp.record('forward.policy.log_std', out.logStd);
      cmp.record('forward.policy.std', out.std);
      cmp.record('forward.policy.pre_tanh', sample.preTanh);
      cmp.record('forward.policy.action', sample.action);
      cmp.record('forward.policy.log_prob_dataset_actions', agent.policy.logProb(out, batch.actions));
      cmp.record('forward.policy.atanh_dataset_actions', tf.atanh(tf.div(batch.actions, config.max_action + 1e-3)));
      const big = agent.policy.forward(tensorOf(i.policy_big_states));
      cmp.record('forward.policy_big_states.mu', big.mu);
      cmp.record('forward.policy_big_states.log_std_raw', big.logStdRaw);
      cmp.record('forward.policy_big_states.log_std', big.logStd);

      // Sigma sampler and EDM coefficients.
      cmp.record('sigma.min_cdf', Math.fround(SIGMA_CDF_MIN));
      cmp.record('sigma.max_cdf', Math.fround(SIGMA_CDF_MAX));
      const sigmas: Record<string, Float32Array> = { bc: sigmasOf(i.u_bc), tr: sigmasOf(i.u_tr), dmd: sigmasOf(i.u_dmd) };
      for (const [key, sigma] of Object.entries(sigmas)) {
        cmp.record(`sigma.${key}`, sigma);
        const c = edmCoefficients(tf.tensor2d(sigma, [B, 1]));
        cmp.record(`edm.${key}.c_skip`, c.cSkip);
        cmp.record(`edm.${key}.c_out`, c.cOut);
        cmp.record(`edm.${key}.c_in`, c.cIn);
        cmp.record(`edm.${key}.c_noise`, c.cNoise);
      }
      const sigmaCol = (key: string) => tf.tensor2d(sigmas[key] as Float32Array, [B, 1]);
      const recordDenoised = (prefix: string, parts: Denoised) => {
        cmp.record(`${prefix}.x_noisy`, parts.xNoisy);
        cmp.record(`${prefix}.net_input`, parts.netInput);
        cmp.record(`${prefix}.F`, parts.F);
        cmp.record(`${prefix}.denoised_unclamped`, parts.unclamped);
        cmp.record(`${prefix}.denoised`, parts.denoised);
        cmp.record(`${prefix}.clamped`, tf.cast(tf.greater(tf.abs(parts.unclamped), clampTo), 'float32'));
      };

      // Behaviour-cloning loss and its gradient over the score network, as training computes them
      // (written out where the network runs natively).
      recordDenoised('bc_loss', diffusionLoss(agent.bcActor, batch.actions, batch.states, sigmaCol('bc'), tensorOf(i.eps_bc), clampTo).parts);
      const bc = diffusionGradients(agent.bcActor, batch.actions, batch.states, sigmaCol('bc'), tensorOf(i.eps_bc), clampTo);
      cmp.record('bc_loss.loss', bc.loss);
      cmp.recordGrads('bc_loss.grads_bc_actor', agent.bcActor.params, bc.grads);

      // Trust-region loss: gradient w.r.t. the policy action and the policy's parameters.
      const newAction = sample.action;
      const dAction = tf.grad((a: tf.Tensor) => diffusionLoss(agent.bcActor, a, batch.states, sigmaCol('tr'), tensorOf(i.eps_tr), clampTo).loss)(newAction);
      cmp.record('tr_loss.dloss_dnew_action', dAction);
      const tr = tf.variableGrads(() => {
        const action = agent.policy.sample(agent.policy.forward(batch.states), xi).action;
        const { loss, parts } = diffusionLoss(agent.bcActor, action, batch.states, sigmaCol('tr'), tensorOf(i.eps_tr), clampTo);
        cmp.record('tr_loss.new_action', action);
        recordDenoised('tr_loss', parts);
        return loss;
      }, agent.policy.params.variables);
      cmp.record('tr_loss.loss', tr.value);
      cmp.recordGrads('tr_loss.grads_policy', agent.policy.params, tr.grads);

      // Critic loss, and its gradients as training computes them (written out where the networks run natively).
      const nextV = agent.critic.value(batch.nextStates);
      const critic = criticGradients(agent.critic, batch, nextV, config.expectile, config.discount);
      const p = critic.parts;
      cmp.record('critic_loss.q1', p.q1);
      cmp.record('critic_loss.q2', p.q2);
      cmp.record('critic_loss.q_min', tf.minimum(p.q1, p.q2));
      cmp.record('critic_loss.v', p.v);
      cmp.record('critic_loss.diff', p.valueDiff);
      cmp.record('critic_loss.weight', p.valueWeight);
      cmp.record('critic_loss.next_v', nextV);
      cmp.record('critic_loss.target_q', p.targetQ);
      cmp.record('critic_loss.value_loss', p.valueLoss);
      cmp.record('critic_loss.q1_mse', p.q1Loss);
      cmp.record('critic_loss.q2_mse', p.q2Loss);
      cmp.record('critic_loss.loss', p.loss);
      cmp.recordGrads('critic_loss.grads_critic', agent.critic.params, critic.grads);

      // Policy loss for each (alpha, gamma) setting.
      const noise = noiseOf(file, '');
      const qTerm = criticActionTerm(agent.critic, batch.states, newAction);
      for (const [name, w] of Object.entries(config.policy_loss_configs)) {
        const policy = tf.variableGrads(() => {
          const p = policyLoss(agent, batch, noise, { alpha: w.alpha, eta: 1, gamma: w.gamma }, qTerm);
          cmp.record(`policy_loss.${name}.alpha`, w.alpha);
          cmp.record(`policy_loss.${name}.gamma`, w.gamma);
          cmp.record(`policy_loss.${name}.tr_loss`, p.trustRegion);
          cmp.record(`policy_loss.${name}.alpha_times_tr`, tf.mul(w.alpha, p.trustRegion));
          cmp.record(`policy_loss.${name}.q_loss`, p.qLoss);
          // The official code skips the NLL when gamma = 0; the file still lists its value.
          cmp.record(`policy_loss.${name}.nll`, tf.neg(tf.mean(agent.policy.logProb(agent.policy.forward(batch.states), batch.actions))));
          cmp.record(`policy_loss.${name}.gamma_times_nll`, tf.mul(w.gamma, p.nll));
          return p.loss;
        }, agent.policy.params.variables);
        cmp.record(`policy_loss.${name}.loss`, policy.value);
        cmp.recordGrads(`policy_loss.${name}.grads_policy`, agent.policy.params, policy.grads);
      }

      // KL baseline: DMD loss for the implicit generator and for the Gaussian policy.
      if (file.weights.fake_score && file.weights.kl_generator) {
        const size = { actionDim: A, stateDim: S, hidden: config.hidden_dim, timeEmbedDim: config.time_embed_dim };
        const fake = new ScoreNetwork(size, new Rng(0));
        const generator = new ScoreNetwork(size, new Rng(0));
        extra.push(fake, generator);
        fake.params.assignTorch(weightsOf(file, 'fake_score'));
        generator.params.assignTorch(weightsOf(file, 'kl_generator'));
        const genSigma = config.kl_generation_sigma ?? GENERATION_SIGMA;
        const eps = tensorOf(i.eps_dmd);
        const recordDmd = (prefix: string, p: ReturnType<typeof dmdLoss>, action: tf.Tensor) => {
          cmp.record(`${prefix}.fake_action`, action);
          cmp.record(`${prefix}.pred_real`, p.real.denoised);
          cmp.record(`${prefix}.pred_fake`, p.fake.denoised);
          cmp.record(`${prefix}.pred_real_unclamped`, p.real.unclamped);
          cmp.record(`${prefix}.pred_fake_unclamped`, p.fake.unclamped);
          cmp.record(`${prefix}.weighting_factor`, p.weightingFactor);
          cmp.record(`${prefix}.grad`, p.grad);
          cmp.record(`${prefix}.loss`, p.loss);
          cmp.record(`${prefix}.official_loss`, p.loss);
        };
        const genInput = tf.mul(tensorOf(i.z_generator), genSigma);
        cmp.record('dmd.kl_generator.generator_input', genInput);
        const genTime = tf.fill([B, 1], genSigma);
        const genGrads = tf.variableGrads(() => {
          const action = generator.forward(genInput, batch.states, genTime);
          const p = dmdLoss(agent.bcActor, fake, action, batch.states, sigmaCol('dmd'), eps, clampTo);
          recordDmd('dmd.kl_generator', p, action);
          return p.loss;
        }, generator.params.variables);
        cmp.recordGrads('dmd.kl_generator.grads_kl_generator', generator.params, genGrads.grads);
        const genAction = generator.forward(genInput, batch.states, genTime);
        cmp.record('dmd.kl_generator.dloss_dfake_action', tf.grad((a: tf.Tensor) => dmdLoss(agent.bcActor, fake, a as tf.Tensor2D, batch.states, sigmaCol('dmd'), eps, clampTo).loss)(genAction));
        const polGrads = tf.variableGrads(() => {
          const action = agent.policy.sample(agent.policy.forward(batch.states), xi).action;
          const p = dmdLoss(agent.bcActor, fake, action, batch.states, sigmaCol('dmd'), eps, clampTo);
          recordDmd('dmd.gaussian_policy', p, action);
          return p.loss;
        }, agent.policy.params.variables);
        cmp.recordGrads('dmd.gaussian_policy.grads_policy', agent.policy.params, polGrads.grads);
        cmp.record('dmd.gaussian_policy.dloss_dfake_action', tf.grad((a: tf.Tensor) => dmdLoss(agent.bcActor, fake, a as tf.Tensor2D, batch.states, sigmaCol('dmd'), eps, clampTo).loss)(newAction));
      }
    });
  } finally {
    agent.dispose();
    for (const n of extra) n.dispose();
  }
  return cmp.report();
}

/** Checks a train_step.json-format file: two official training iterations per (alpha, gamma) run. */
export async function checkTrainStepFile(file: TrainStepFile, networks: NetworksFile): Promise<GoldenReport> {
  const reference: Record<string, unknown> = {};
  for (const [name, run] of Object.entries(file.runs)) {
    run.float32.forEach((it, k) => {
      reference[`runs.${name}.step${k + 1}`] = { metric: it.metric, params_after: it.params_after };
    });
  }
  const cmp = new Comparison(reference);
  for (const [name, run] of Object.entries(file.runs)) {
    const agent = agentFor(file.config, run.alpha, run.gamma);
    try {
      loadAgentWeights(agent, networks);
      const batch = batchOf(networks);
      for (let k = 0; k < run.float32.length; k++) {
        const prefix = `runs.${name}.step${k + 1}`;
        const metrics = await agent.trainStep(batch, agent.criticLearner, noiseOf(networks, k === 0 ? '' : 'step2_'));
        const metric = (name: string): tf.Scalar => {
          const value = metrics[name];
          if (!(value instanceof tf.Tensor)) throw new Error(`a training step reported no ${name} tensor`);
          return value as tf.Scalar;
        };
        const official: Record<string, tf.Scalar> = {
          critic_loss: metric('critic'),
          bc_loss: metric('bc'),
          distill_loss: metric('trustRegion'),
          ql_loss: tf.neg(metric('qMean')),
          gamma_loss: metric('nll'),
          actor_loss: metric('policy'),
        };
        for (const [metric, value] of Object.entries(official)) cmp.record(`${prefix}.metric.${metric}`, value);
        cmp.recordParams(`${prefix}.params_after.critic`, agent.critic.params);
        cmp.recordParams(`${prefix}.params_after.critic_target`, agent.criticTarget.params);
        cmp.recordParams(`${prefix}.params_after.bc_actor`, agent.bcActor.params);
        cmp.recordParams(`${prefix}.params_after.policy`, agent.policy.params);
        tf.dispose([...Object.values(metrics).filter((m): m is tf.Scalar => m instanceof tf.Tensor), official.ql_loss as tf.Scalar]);
      }
      tf.dispose(Object.values(batch));
    } finally {
      agent.dispose();
    }
  }
  return cmp.report();
}
