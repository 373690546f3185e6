import { z } from 'zod';

/**
 * The training hyperparameters of one run: one definition shared by the task presets, the
 * new-run form, the API, the CLI's `--set key=value` and the config JSON stored with each run.
 * Defaults are the official code's (docs/OFFICIAL-CODE.md §1, §5, §7).
 */
export const trainConfigSchema = z
  .object({
    /** Weight of the trust-region (DTQL) or KL (baseline) term in the policy loss. */
    alpha: z.number().finite().min(0, 'must be at least 0'),
    /** Weight of the NLL of dataset actions (the "gamma" term, not the discount). */
    gamma: z.number().finite().min(0, 'must be at least 0'),
    /** Weight of -min(Q1, Q2) in the policy loss (eta in the toy scripts; 1 on D4RL). */
    eta: z.number().finite().min(0, 'must be at least 0'),
    /** IQL expectile of the V loss, strictly between 0 and 1. */
    expectile: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1'),
    /** Adam learning rate of the diffusion model (and of the KL baseline's fake score network). */
    lr: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1'),
    /** Adam learning rate of the one-step policy (DTQL) or generator (KL); the official code uses lr. */
    policyLr: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1'),
    /**
     * Policy actions drawn per state for the policy loss, averaged (1 in the official code). More
     * samples lower the noise of the policy gradient at proportional cost; on the bandits, where every
     * state is the same, they stand in for the official full batch.
     */
    policyLossSamples: z.number().int('must be a whole number').min(1, 'must be at least 1').max(64, 'must be at most 64'),
    /**
     * Trust region: the one-step policy's log-std at initialisation (the bias of its log-std outputs;
     * 0 in the official code). A small start keeps tanh from squashing a wide spread onto the action
     * box's edges before the policy has found a mode.
     */
    policyInitLogStd: z.number().finite().min(-5, 'must be at least -5 (the log-std clamp)').max(2, 'must be at most 2 (the log-std clamp)'),
    /** Adam learning rate of the critic (hard-coded 3e-4 in the official code, toy: 3e-3). */
    criticLr: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1'),
    /** Cosine decay of all learning rates to 0 over the training steps. */
    lrDecay: z.boolean(),
    /** Transitions per minibatch, sampled with replacement; the dataset's size means the whole dataset every step. */
    batchSize: z.number().int('must be a whole number').min(1, 'must be at least 1').max(65536, 'must be at most 65536'),
    /** Steps of behaviour cloning (and, with pretrainCritic, critic training) before joint training starts. */
    pretrainSteps: z.number().int('must be a whole number').min(0, 'must be at least 0').max(1e8, 'must be at most 100000000'),
    /** Whether pretraining also trains the critic: main.py does; the toy script pretrains the diffusion model alone. */
    pretrainCritic: z.boolean(),
    /**
     * KL baseline: the fake score network starts as a copy of the pretrained diffusion model
     * (dql_kl.py) rather than from its own random initialisation (the toy script).
     */
    fakeScoreFromDiffusion: z.boolean(),
    /** Joint training steps (critic, behaviour cloning and policy per step). */
    trainSteps: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1e8, 'must be at most 100000000'),
    /** Evaluate the policy every this many training steps. */
    evalInterval: z.number().int('must be a whole number').min(1, 'must be at least 1'),
    /** Episodes per evaluation (10 for gym tasks in the paper). */
    evalEpisodes: z.number().int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000'),
    /** Policy samples per state for softmax-over-Q action selection (1024 in the paper). */
    actionSamples: z.number().int('must be a whole number').min(1, 'must be at least 1').max(65536, 'must be at most 65536'),
    /** Discount of the Q target r + discount * not_done * V(s'). */
    discount: z.number().min(0, 'must be at least 0').max(1, 'must be at most 1'),
    /** Soft target update rate of the critic target. */
    tau: z.number().gt(0, 'must be above 0').max(1, 'must be at most 1'),
    /** Width of the score network's hidden layers (256 on D4RL, 128 on the toys). */
    scoreHidden: z.number().int('must be a whole number').min(1, 'must be at least 1').max(4096, 'must be at most 4096'),
    /** Size of the score network's sinusoidal time embedding (16 on D4RL, 4 on the toys). */
    timeEmbedDim: z.number().int('must be a whole number').min(4, 'must be at least 4').max(256, 'must be at most 256').refine((n) => n % 2 === 0, 'must be even'),
    /** Write losses to the store every this many steps. */
    logInterval: z.number().int('must be a whole number').min(1, 'must be at least 1'),
    /** Save a checkpoint every this many steps (and always at the end). */
    checkpointInterval: z.number().int('must be a whole number').min(1, 'must be at least 1'),
  })
  .strict();

export type TrainConfig = z.infer<typeof trainConfigSchema>;
export type TrainConfigKey = keyof TrainConfig;

export const algoSchema = z.enum(['dtql', 'kl']);
export type Algo = z.infer<typeof algoSchema>;
export const ALGO_LABELS: Record<Algo, string> = { dtql: 'Trust region (DTQL)', kl: 'KL (DQL-KL baseline)' };

/** Values every D4RL preset shares (OFFICIAL-CODE.md §7). */
export const D4RL_DEFAULTS: TrainConfig = {
  alpha: 1,
  gamma: 0,
  eta: 1,
  expectile: 0.7,
  lr: 3e-4,
  policyLr: 3e-4,
  policyLossSamples: 1,
  policyInitLogStd: 0,
  criticLr: 3e-4,
  lrDecay: false,
  batchSize: 256,
  pretrainSteps: 50_000,
  pretrainCritic: true,
  fakeScoreFromDiffusion: true,
  trainSteps: 1_000_000,
  evalInterval: 50_000,
  evalEpisodes: 10,
  actionSamples: 1024,
  discount: 0.99,
  tau: 0.005,
  scoreHidden: 256,
  timeEmbedDim: 16,
  logInterval: 100,
  checkpointInterval: 10_000,
};

/**
 * Parses `key=value` overrides (CLI `--set`, form text) against the schema: numbers for numeric
 * keys, true/false for booleans. Unknown keys and bad values name the key.
 */
export function parseConfigOverride(text: string): [TrainConfigKey, number | boolean] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--set expects key=value, got "${text}"`);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1).trim();
  const shape = trainConfigSchema.shape as Record<string, z.ZodType>;
  if (!(key in shape)) throw new Error(`unknown hyperparameter "${key}" (known: ${Object.keys(shape).join(', ')})`);
  const typedKey = key as TrainConfigKey;
  if (typeof D4RL_DEFAULTS[typedKey] === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new Error(`${key} must be true or false, got "${raw}"`);
    return [typedKey, raw === 'true'];
  }
  const value = parseDecimal(raw);
  if (typeof value === 'string') throw new Error(`${key} ${value}, got "${raw}"`);
  return [typedKey, value];
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number written in decimal notation (12, -0.5, 3e-4), or why not: Number() alone would also take
 * hex, binary and octal (0x10 as 16), blanks as 0, and turn 1e400 into Infinity.
 */
export function parseDecimal(text: string): number | string {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return 'must be a number in decimal notation (e.g. 0.5 or 3e-4)';
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : 'is too large';
}

/** Validates a full config; the error lists every bad field as "field: reason". */
export function validateConfig(candidate: unknown): TrainConfig {
  const parsed = trainConfigSchema.safeParse(candidate);
  if (!parsed.success) throw new Error(describeIssues(parsed.error));
  return parsed.data;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/** The keys whose values differ between two configs, in schema order. */
export function configDiff(a: TrainConfig, b: TrainConfig): TrainConfigKey[] {
  return (Object.keys(trainConfigSchema.shape) as TrainConfigKey[]).filter((k) => a[k] !== b[k]);
}
