import { D4RL_DEFAULTS, type Algo, type TrainConfig } from '../common/config';

/** How a task's dataset comes to exist. */
export type DatasetSource =
  | { kind: 'generated'; generator: 'bandit-25g' | 'bandit-swiss'; reward: BanditReward; size: number }
  | { kind: 'generated'; generator: 'pendulum-mixture'; size: number }
  | { kind: 'import'; d4rlName: string };

export type TaskFamily = 'bandit' | 'builtin' | 'd4rl';

/** A named set of hyperparameters for each algorithm, plus the seed the official script used. */
export interface Preset {
  id: string;
  description: string;
  configs: Record<Algo, TrainConfig>;
  defaultSeed: number;
}

export interface TaskSpec {
  id: string;
  title: string;
  family: TaskFamily;
  description: string;
  obsDim: number;
  actDim: number;
  dataset: DatasetSource;
  /** D4RL reference returns for the 0-100 normalised score; null where the task has none. */
  score: { refMin: number; refMax: number } | null;
  /** Reward transform applied to the dataset (antmaze: r - 1, OFFICIAL-CODE.md §7). */
  rewardShift: number;
  /** Whether a simulator is available here to evaluate policies on this task. */
  evaluation: 'bandit-reward' | 'mujoco' | 'pendulum' | 'unavailable';
  presets: Preset[];
  /** The preset a run gets unless one is named, by the device that trains it (one default everywhere). */
  defaultPresets: Record<Device, string>;
}

/** What trains: a CPU backend (wasm, tfjs-node) or a GPU one (tfjs-node-gpu). */
export type Device = 'cpu' | 'gpu';

export type BanditReward = 'near' | 'far' | 'hard';

const BANDIT_SIZE = 10_000;
/** Minibatch of the `quick` bandit preset, sampled with replacement like every other task. */
const QUICK_BATCH = 256;
/**
 * On minibatches the official Q weight lets Q outweigh the trust region just outside the data (the
 * policy settles on the action box's corner or, on swiss-near, at the origin; docs/BANDITS.md). Two
 * fifths of it keeps the policy on a mode on 25G-near, 25G-hard and swiss-far (a fifth was too weak
 * to pick the best mode on the near tasks), and the policy then needs about twice the official 3,500
 * steps.
 */
const QUICK_ETA_SCALE = 0.4;
const QUICK_TRUST_REGION_STEPS = 7000;
/**
 * The policy starts with its mean at the origin and, at the official log-std of 0, its actions
 * spread over most of the action box. Where nothing near the origin tells the mean which way to go,
 * 256 actions per step give its gradient mostly noise, while Q (convex in |a|) widens the spread at
 * once; the spread then reaches the tanh's flat ends, actions pile up on the action box's edges,
 * and there neither the trust region nor Q moves them any more. A narrower start keeps the actions
 * in the tanh's linear range while the mean finds its way, and the policy settles within the
 * official 3,500 steps (docs/BANDITS.md has the runs).
 * - 25G-far: the origin is the centre of four equal corners; from log-std -1.5 noise breaks the
 *   tie before the spread grows (4 of seeds 0-4 on a corner; 2 of 5 before, also with 8 policy
 *   samples per state).
 * - Swiss-near: the best reward is at the origin, in the roll's hole; from log-std -3 (actions
 *   within about 1 of the origin) the trust region pulls every action the same way, to the nearest
 *   data, which is the roll's inner end, its best part. With a fifth of the official Q weight:
 *   at two fifths Q drew the policy back into the hole on 1 of seeds 0-4.
 */
const QUICK_FAR_START: Partial<TrainConfig> = { policyInitLogStd: -1.5, trainSteps: 3500 };
/**
 * 25G-hard's one best mode is 14 away from the origin; its slowest seeds (1 and 3 of 0-4) reach it
 * at about step 5,000 and every seed holds it from there, so 6,000 steps leave a margin and keep
 * the one-click pair near 5 minutes (docs/BANDITS.md).
 */
const QUICK_HARD_STEPS: Partial<TrainConfig> = { trainSteps: 6000 };
const QUICK_HOLE_START: Partial<TrainConfig> = { policyInitLogStd: -3, eta: 0.2, trainSteps: 3500 };
/**
 * On minibatches the KL generator at the official lr (3e-3) outruns its fake score network and
 * diverges within 50 steps; a tenth of it lets the fake score keep up (the two-timescale rule of DMD2).
 * The critic keeps the toy's lr: a slower one (3e-4, 1e-3) keeps swiss-near spread but lets
 * 25G-near run away, because its Q then no longer holds the generator (docs/BANDITS.md).
 */
const QUICK_KL_POLICY_LR = 3e-4;

/** The official toy settings (OFFICIAL-CODE.md §9): full batch, lr 3e-3 everywhere, hidden 128. */
function banditPaperConfig(overrides: Partial<TrainConfig>): TrainConfig {
  return {
    alpha: 1,
    gamma: 0,
    eta: 1,
    expectile: 0.95,
    lr: 3e-3,
    policyLr: 3e-3,
    policyLossSamples: 1,
    policyInitLogStd: 0,
    criticLr: 3e-3,
    lrDecay: false,
    batchSize: BANDIT_SIZE,
    pretrainSteps: 0,
    // toy_main.py pretrains only the diffusion model, and its fake score keeps a random init.
    pretrainCritic: false,
    fakeScoreFromDiffusion: false,
    trainSteps: 3500,
    evalInterval: 250,
    evalEpisodes: 1,
    actionSamples: 1024,
    discount: 0.99,
    tau: 0.005,
    scoreHidden: 128,
    timeEmbedDim: 4,
    logInterval: 10,
    checkpointInterval: 500,
    ...overrides,
  };
}

interface BanditDef {
  id: string;
  data: '25g' | 'swiss';
  reward: BanditReward;
  tr: Partial<TrainConfig>;
  kl: Partial<TrainConfig>;
  /** What the trust region's `quick` preset changes beyond the shared minibatch settings. */
  quickTr?: Partial<TrainConfig>;
  seed: number;
}

/** run_toy.sh of the official repository: step counts, eta and seeds per configuration. */
const BANDITS: BanditDef[] = [
  { id: 'bandit-25g-near', data: '25g', reward: 'near', tr: {}, kl: {}, seed: 0 },
  { id: 'bandit-25g-far', data: '25g', reward: 'far', tr: {}, kl: { trainSteps: 2000 }, quickTr: QUICK_FAR_START, seed: 0 },
  { id: 'bandit-25g-hard', data: '25g', reward: 'hard', tr: {}, kl: { trainSteps: 2500 }, quickTr: QUICK_HARD_STEPS, seed: 2 },
  { id: 'bandit-swiss-near', data: 'swiss', reward: 'near', tr: {}, kl: { trainSteps: 1500 }, quickTr: QUICK_HOLE_START, seed: 2 },
  { id: 'bandit-swiss-far', data: 'swiss', reward: 'far', tr: { eta: 5 }, kl: {}, seed: 2 },
];

const REWARD_TEXT: Record<BanditReward, string> = {
  near: 'reward max(|a|) - |a|: best near the origin',
  far: 'reward |a|: best far from the origin',
  hard: 'reward |a|, doubled in the top-left mode',
};

function banditTask(def: BanditDef): TaskSpec {
  const dataText = def.data === '25g' ? '25 Gaussians on a 5 x 5 grid' : 'Swiss roll';
  // KL pretrains its diffusion model for 500 steps before distilling (--pretrain_diffusion).
  const paper = { dtql: banditPaperConfig(def.tr), kl: banditPaperConfig({ pretrainSteps: 500, ...def.kl }) };
  return {
    id: def.id,
    title: `2D bandit: ${dataText}, ${def.reward}`,
    family: 'bandit',
    description: `${BANDIT_SIZE.toLocaleString('en-US')} actions from ${dataText}; ${REWARD_TEXT[def.reward]}. Constant state 0.`,
    obsDim: 1,
    actDim: 2,
    dataset: { kind: 'generated', generator: def.data === '25g' ? 'bandit-25g' : 'bandit-swiss', reward: def.reward, size: BANDIT_SIZE },
    score: null,
    rewardShift: 0,
    evaluation: 'bandit-reward',
    presets: [
      {
        id: 'quick',
        description:
          'Minibatches of 256 from the 10,000 actions, minutes on a CPU. Trust region: two fifths of the official Q weight for 7,000 steps (6,000 on 25G-hard); on 25G-far and swiss-near, where the mean has no clear way out of the origin, a narrow initial policy spread (log-std -1.5 and -3; swiss-near with a fifth of the Q weight) and the official 3,500 steps. KL: its generator at lr 3e-4, a tenth of its fake score network\'s. Reproduces the figure on most tasks and seeds, not all (README table): the KL generator still runs away on far, hard and swiss-far, and ends at the origin on swiss-near.',
        configs: {
          dtql: {
            ...paper.dtql,
            eta: paper.dtql.eta * QUICK_ETA_SCALE,
            trainSteps: QUICK_TRUST_REGION_STEPS,
            batchSize: QUICK_BATCH,
            ...def.quickTr,
          },
          kl: { ...paper.kl, policyLr: QUICK_KL_POLICY_LR, batchSize: QUICK_BATCH },
        },
        defaultSeed: def.seed,
      },
      {
        id: 'paper',
        description: 'The official toy script: full batch of 10,000, lr 3e-3, its step counts (about an hour per run on a 2-core CPU with OpenBLAS, longer without).',
        configs: paper,
        defaultSeed: def.seed,
      },
    ],
    // Minutes on a CPU; the official toy script where a GPU makes its full batch affordable.
    defaultPresets: { cpu: 'quick', gpu: 'paper' },
  };
}

interface D4rlDef {
  name: string;
  /** For tasks outside the paper's Table 4: the task whose settings they borrow. */
  settingsOf?: string;
  lr: number;
  alpha: number;
  gamma: number;
  lrDecay: boolean;
  epochs: number;
  batch: number;
  expectile: number;
}

/** Table 4 of the paper as the official code sets it (OFFICIAL-CODE.md §7). */
const D4RL_TABLE: D4rlDef[] = [
  { name: 'halfcheetah-medium-v2', lr: 3e-4, alpha: 1, gamma: 0, lrDecay: false, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'halfcheetah-medium-replay-v2', lr: 3e-4, alpha: 5, gamma: 0, lrDecay: false, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'halfcheetah-medium-expert-v2', lr: 3e-4, alpha: 50, gamma: 0, lrDecay: false, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'hopper-medium-v2', lr: 1e-4, alpha: 5, gamma: 0, lrDecay: true, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'hopper-medium-replay-v2', lr: 3e-4, alpha: 5, gamma: 0, lrDecay: false, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'hopper-medium-expert-v2', lr: 3e-4, alpha: 20, gamma: 0, lrDecay: false, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'walker2d-medium-v2', lr: 3e-4, alpha: 5, gamma: 0, lrDecay: true, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'walker2d-medium-replay-v2', lr: 3e-4, alpha: 5, gamma: 0, lrDecay: true, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'walker2d-medium-expert-v2', lr: 3e-4, alpha: 5, gamma: 0, lrDecay: true, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'antmaze-umaze-v2', lr: 3e-4, alpha: 1, gamma: 1, lrDecay: false, epochs: 500, batch: 2048, expectile: 0.9 },
  { name: 'antmaze-umaze-diverse-v2', lr: 3e-5, alpha: 1, gamma: 1, lrDecay: true, epochs: 500, batch: 2048, expectile: 0.9 },
  { name: 'antmaze-medium-play-v2', lr: 3e-4, alpha: 1, gamma: 1, lrDecay: false, epochs: 400, batch: 2048, expectile: 0.9 },
  { name: 'antmaze-medium-diverse-v2', lr: 3e-4, alpha: 1, gamma: 1, lrDecay: false, epochs: 400, batch: 2048, expectile: 0.9 },
  { name: 'antmaze-large-play-v2', lr: 3e-4, alpha: 1, gamma: 1, lrDecay: false, epochs: 350, batch: 2048, expectile: 0.9 },
  { name: 'antmaze-large-diverse-v2', lr: 3e-4, alpha: 0.5, gamma: 1, lrDecay: false, epochs: 300, batch: 2048, expectile: 0.9 },
  { name: 'pen-human-v1', lr: 3e-5, alpha: 1500, gamma: 0, lrDecay: true, epochs: 300, batch: 256, expectile: 0.9 },
  { name: 'pen-cloned-v1', lr: 1e-5, alpha: 1500, gamma: 0, lrDecay: false, epochs: 200, batch: 256, expectile: 0.7 },
  { name: 'kitchen-complete-v0', lr: 1e-4, alpha: 200, gamma: 0, lrDecay: true, epochs: 500, batch: 256, expectile: 0.7 },
  { name: 'kitchen-partial-v0', lr: 1e-4, alpha: 100, gamma: 0, lrDecay: true, epochs: 1000, batch: 256, expectile: 0.7 },
  { name: 'kitchen-mixed-v0', lr: 3e-4, alpha: 200, gamma: 0, lrDecay: true, epochs: 500, batch: 256, expectile: 0.7 },
];

/** The D4RL environment families: sizes, episode step limit (OFFICIAL-CODE.md §12) and dataset version. */
export interface D4rlEnv {
  family: string;
  /** Other names a file may use for it (Minari's env ids). */
  aliases: string[];
  obsDim: number;
  actDim: number;
  horizon: number;
  version: string;
}

export const D4RL_ENVS: readonly D4rlEnv[] = [
  { family: 'hopper', aliases: [], obsDim: 11, actDim: 3, horizon: 1000, version: 'v2' },
  { family: 'halfcheetah', aliases: [], obsDim: 17, actDim: 6, horizon: 1000, version: 'v2' },
  { family: 'walker2d', aliases: ['walker'], obsDim: 17, actDim: 6, horizon: 1000, version: 'v2' },
  { family: 'antmaze', aliases: ['ant'], obsDim: 29, actDim: 8, horizon: 1000, version: 'v2' },
  { family: 'pen', aliases: [], obsDim: 45, actDim: 24, horizon: 100, version: 'v1' },
  { family: 'kitchen', aliases: [], obsDim: 60, actDim: 9, horizon: 280, version: 'v0' },
];

/**
 * D4RL's `-random` locomotion datasets: not in the paper, but a file the app can also generate
 * itself (uniform random actions in MuJoCo), so these tasks train without any download.
 */
const RANDOM_TASKS: D4rlDef[] = ['hopper', 'halfcheetah', 'walker2d'].map((env) => {
  const medium = D4RL_TABLE.find((d) => d.name === `${env}-medium-v2`) as D4rlDef;
  return { ...medium, name: `${env}-random-v2`, settingsOf: medium.name };
});

interface DomainFacts {
  refMin: number;
  refMax: number;
  env: D4rlEnv;
  evalEpisodes: number;
  evaluation: TaskSpec['evaluation'];
}

/** D4RL reference scores (OFFICIAL-CODE.md §12); episodes per evaluation (OFFICIAL-CODE.md §6). */
function domainFacts(name: string): DomainFacts {
  const env = D4RL_ENVS.find((e) => name.startsWith(e.family));
  const ref: Record<string, [number, number]> = {
    hopper: [-20.272305, 3234.3],
    halfcheetah: [-280.178953, 12135.0],
    walker2d: [1.629008, 4592.3],
    antmaze: [0, 1],
    pen: [96.262799, 3076.8331017826877],
    kitchen: [0, 4],
  };
  if (!env) throw new Error(`no D4RL facts for ${name}`);
  const [refMin, refMax] = ref[env.family] as [number, number];
  const mujoco = ['hopper', 'halfcheetah', 'walker2d'].includes(env.family);
  // Notes section 6: 10 episodes for the gym v2 tasks, 100 for antmaze, pen and kitchen.
  return { refMin, refMax, env, evalEpisodes: mujoco ? 10 : 100, evaluation: mujoco ? 'mujoco' : 'unavailable' };
}

function d4rlTask(def: D4rlDef): TaskSpec {
  const facts = domainFacts(def.name);
  const config: TrainConfig = {
    ...D4RL_DEFAULTS,
    alpha: def.alpha,
    gamma: def.gamma,
    lr: def.lr,
    policyLr: def.lr,
    lrDecay: def.lrDecay,
    batchSize: def.batch,
    expectile: def.expectile,
    trainSteps: def.epochs * 1000,
    evalEpisodes: facts.evalEpisodes,
  };
  const antmaze = def.name.startsWith('antmaze');
  const presetId = def.settingsOf ? 'medium-settings' : 'paper';
  return {
    id: def.name,
    title: `D4RL ${def.name}`,
    family: 'd4rl',
    description:
      `Import the D4RL file ${def.name}.hdf5 to train.` +
      (def.settingsOf ? ` Or generate its data here: uniform random actions in MuJoCo (dtql dataset generate ${facts.env.family}).` : '') +
      (facts.evaluation === 'unavailable' ? ' Its simulator is not available here, so runs train without evaluation.' : ''),
    obsDim: facts.env.obsDim,
    actDim: facts.env.actDim,
    dataset: { kind: 'import', d4rlName: def.name },
    score: { refMin: facts.refMin, refMax: facts.refMax },
    rewardShift: antmaze ? -1 : 0,
    evaluation: facts.evaluation,
    presets: [
      {
        id: presetId,
        description: def.settingsOf
          ? `Not in the paper's Table 4: the settings of ${def.settingsOf}.`
          : "The paper's Table 4 (official main.py): 50k pretraining steps, then the listed epochs x 1000 steps.",
        // The KL baseline shares the critic, pretraining and hyperparameter table (OFFICIAL-CODE.md §8), without the gamma term.
        configs: { dtql: config, kl: { ...config, gamma: 0 } },
        defaultSeed: 0,
      },
    ],
    // Its one preset, the paper's settings (or those of the task it borrows them from).
    defaultPresets: { cpu: presetId, gpu: presetId },
  };
}

/**
 * Returns of the pendulum's reference policies over 1,000 episodes (seed 0), for the 0-100 score:
 * uniform random actions = 0, the scripted expert = 100. A test recomputes them.
 */
export const PENDULUM_REFERENCE = { random: -1242.54, expert: -146.51 };

const PENDULUM_CONFIG: TrainConfig = {
  ...D4RL_DEFAULTS,
  // Rewards reach -16 per step (hopper's are about +3), so Q's action gradient is that much larger:
  // alpha 1 let it swamp the trust region (score 5.7), alpha 20 (as hopper-medium-expert) did not (71.7).
  alpha: 20,
  pretrainSteps: 1000,
  trainSteps: 8000,
  evalInterval: 2000,
  logInterval: 20,
  checkpointInterval: 2000,
};

/** The built-in swing-up: data from a noisy scripted expert and random actions, generated here. */
const PENDULUM_TASK: TaskSpec = {
  id: 'pendulum-swingup',
  title: 'Pendulum swing-up (built in)',
  family: 'builtin',
  description:
    "Gym's Pendulum-v1 swing-up. 100,000 transitions generated here: half the episodes a scripted expert (energy pumping, then PD at the top) with action noise, half uniform random actions. Score: random 0, the scripted expert 100.",
  obsDim: 3,
  actDim: 1,
  dataset: { kind: 'generated', generator: 'pendulum-mixture', size: 100_000 },
  score: { refMin: PENDULUM_REFERENCE.random, refMax: PENDULUM_REFERENCE.expert },
  rewardShift: 0,
  evaluation: 'pendulum',
  presets: [
    {
      id: 'default',
      description: 'D4RL-style settings with alpha 20 (lr 3e-4, batch 256), 1,000 pretraining and 8,000 joint steps: about 15 minutes on a CPU.',
      configs: { dtql: PENDULUM_CONFIG, kl: PENDULUM_CONFIG },
      defaultSeed: 0,
    },
    {
      id: 'bc',
      description:
        'Behaviour cloning of the same data for comparison: the one-step policy fitted by maximum likelihood only (alpha 0, eta 0, gamma 1), acting with one sample of itself (actionSamples 1, so the critic plays no part).',
      configs: { dtql: { ...PENDULUM_CONFIG, alpha: 0, eta: 0, gamma: 1, actionSamples: 1 }, kl: PENDULUM_CONFIG },
      defaultSeed: 0,
    },
  ],
  defaultPresets: { cpu: 'default', gpu: 'default' },
};

export const TASKS: readonly TaskSpec[] = [...BANDITS.map(banditTask), PENDULUM_TASK, ...D4RL_TABLE.map(d4rlTask), ...RANDOM_TASKS.map(d4rlTask)];

export function findTask(id: string): TaskSpec | undefined {
  return TASKS.find((t) => t.id === id);
}

/** Looks a task up or throws a message that lists a few valid ids. */
export function requireTask(id: string): TaskSpec {
  const task = findTask(id);
  if (!task) {
    const known = TASKS.slice(0, 6).map((t) => t.id).join(', ');
    throw new Error(`unknown task "${id}" (known tasks include ${known}; see \`dtql tasks\`)`);
  }
  return task;
}

/** The seed a preset starts from unless told otherwise (0 for an unknown task or preset). */
export function presetSeed(taskId: string, presetId: string): number {
  return findTask(taskId)?.presets.find((p) => p.id === presetId)?.defaultSeed ?? 0;
}

/** The preset a run of `task` gets on `device` unless one is named. */
export function defaultPreset(task: TaskSpec, device: Device): string {
  return task.defaultPresets[device];
}

export function presetOf(task: TaskSpec, presetId = 'paper'): Preset {
  const preset = task.presets.find((p) => p.id === presetId);
  if (!preset) throw new Error(`task ${task.id} has no preset "${presetId}" (has: ${task.presets.map((p) => p.id).join(', ')})`);
  return preset;
}

/** The D4RL normalised score on the 0-100 scale, or null for a task without reference returns. */
export function normalisedScore(task: TaskSpec, rawReturn: number): number | null {
  if (!task.score) return null;
  return (100 * (rawReturn - task.score.refMin)) / (task.score.refMax - task.score.refMin);
}
