import fs from 'node:fs';
import path from 'node:path';
import h5wasm, { type Dataset, type Group } from 'h5wasm/node';
import { D4RL_ENVS, TASKS, type D4rlEnv } from '../tasks';
import type { Transitions } from './replay';

/**
 * Reading D4RL and Minari HDF5 files into transitions (OFFICIAL-CODE.md §12). Everything is checked
 * before anything is returned, and every problem names the file, the key and what is wrong.
 */

export class DatasetError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'DatasetError';
  }
}

export type DatasetFormat = 'd4rl' | 'minari';

export interface DatasetSummary {
  format: DatasetFormat;
  transitions: number;
  episodes: number;
  obsDim: number;
  actDim: number;
  rewardSum: number;
  rewardMin: number;
  rewardMean: number;
  rewardMax: number;
  returnMin: number;
  returnMean: number;
  returnMax: number;
  /** Transitions whose done flag (terminal) is set. */
  doneCount: number;
  /** The environment family recognised from the file (hopper, halfcheetah, ...), if any. */
  env: string | null;
  /** The catalog task this file most likely belongs to, if any. */
  suggestedTask: string | null;
  /** Problems training can live with, each with counts. */
  warnings: string[];
  /** Minari's `dataset_id` (every Minari file is called main_data.hdf5); null for D4RL files. */
  datasetId: string | null;
}

export interface OfflineDataset {
  summary: DatasetSummary;
  data: Transitions;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Checks the HDF5 signature (at 0 or a power-of-two user-block offset) and that the file is as
 * long as its superblock says, so empty, foreign and truncated files get a plain answer before
 * the HDF5 library sees them.
 */
function checkHdf5Header(file: string, label: string): void {
  const size = fs.statSync(file).size;
  if (size === 0) throw new DatasetError(label, 'the file is empty');
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(96);
    for (let base = 0; base === 0 || base + 8 <= size; base = base === 0 ? 512 : base * 2) {
      const n = fs.readSync(fd, head, 0, head.length, base);
      if (n < 8 || !head.subarray(0, 8).equals(HDF5_SIGNATURE)) continue;
      const version = head[8] as number;
      const offsetSize = version < 2 ? (head[13] as number) : (head[9] as number);
      const eofAt = version < 2 ? (version === 0 ? 24 : 28) + 2 * offsetSize : 12 + 2 * offsetSize;
      if (offsetSize === 8 && eofAt + 8 <= n) {
        const eof = Number(head.readBigUInt64LE(eofAt));
        if (base + eof > size) throw new DatasetError(label, `the file is truncated: its header says ${base + eof} bytes, it has ${size}`);
      }
      return;
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new DatasetError(label, 'not an HDF5 file (no HDF5 signature)');
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_ENUM = 8;

interface ArrayRead {
  values: ArrayLike<number>;
  shape: number[];
  type: number;
}

function readArray(file: string, group: Group, key: string, where: string): ArrayRead {
  const entity = group.get(key);
  if (entity === null) throw new DatasetError(file, `the required key ${where}${key} is missing`);
  if (!(entity instanceof h5wasm.Dataset)) throw new DatasetError(file, `${where}${key} is a group, expected an array (a dictionary observation space is not supported)`);
  const dataset = entity as Dataset;
  const meta = dataset.metadata;
  if (meta.type !== H5T_FLOAT && meta.type !== H5T_INTEGER && meta.type !== H5T_ENUM) {
    throw new DatasetError(file, `${where}${key} holds ${JSON.stringify(dataset.dtype)} values, expected numbers`);
  }
  const shape = dataset.shape ?? [];
  const total = shape.reduce((a, b) => a * b, 1);
  const value = total === 0 ? new Float32Array(0) : dataset.value;
  if (!value || typeof value !== 'object' || !('length' in value)) throw new DatasetError(file, `${where}${key} could not be read as an array`);
  return { values: value as ArrayLike<number>, shape, type: meta.type };
}

/** A per-row array: rank 1, or N x 1 squeezed (h5py writes both). */
function column(file: string, a: ArrayRead, name: string): ArrayLike<number> {
  if (a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1)) return a.values;
  throw new DatasetError(file, `${name} has shape [${a.shape.join(', ')}], expected [N] or [N, 1]`);
}

/** A row-major N x D float array; integer observations or actions are refused. */
function matrix(file: string, a: ArrayRead, name: string): { rows: number; width: number; values: ArrayLike<number> } {
  if (a.shape.length !== 2) throw new DatasetError(file, `${name} has rank ${a.shape.length} (shape [${a.shape.join(', ')}]), expected rank 2: [N, dim]`);
  if (a.type !== H5T_FLOAT) throw new DatasetError(file, `${name} holds integers, expected floating-point values`);
  return { rows: a.shape[0] as number, width: a.shape[1] as number, values: a.values };
}

function assertFinite(file: string, name: string, values: ArrayLike<number>, width: number): void {
  let bad = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i] as number)) {
      bad += 1;
      if (first < 0) first = i;
    }
  }
  if (bad > 0) {
    const at = width > 1 ? `row ${Math.floor(first / width)}, column ${first % width}` : `row ${first}`;
    throw new DatasetError(file, `${name} has ${bad} NaN or infinite value${bad === 1 ? '' : 's'} (first at ${at})`);
  }
}

/** Builds transitions row by row into preallocated arrays; one builder serves both formats. */
class TransitionBuilder {
  private size = 0;
  private readonly states: Float32Array;
  private readonly nextStates: Float32Array;
  private readonly actions: Float32Array;
  private readonly rewards: Float32Array;
  private readonly notDone: Float32Array;

  constructor(
    readonly obsDim: number,
    readonly actDim: number,
    capacity: number,
  ) {
    this.states = new Float32Array(capacity * obsDim);
    this.nextStates = new Float32Array(capacity * obsDim);
    this.actions = new Float32Array(capacity * actDim);
    this.rewards = new Float32Array(capacity);
    this.notDone = new Float32Array(capacity);
  }

  add(obs: ArrayLike<number>, row: number, nextRow: number, act: ArrayLike<number>, actRow: number, reward: number, done: boolean): void {
    const k = this.size;
    for (let j = 0; j < this.obsDim; j++) {
      this.states[k * this.obsDim + j] = obs[row * this.obsDim + j] as number;
      this.nextStates[k * this.obsDim + j] = obs[nextRow * this.obsDim + j] as number;
    }
    for (let j = 0; j < this.actDim; j++) this.actions[k * this.actDim + j] = act[actRow * this.actDim + j] as number;
    this.rewards[k] = reward;
    this.notDone[k] = done ? 0 : 1;
    this.size += 1;
  }

  /** Views of the filled rows (no copy: the few dropped rows' space stays unused). */
  build(): Transitions {
    const n = this.size;
    return {
      size: n,
      stateDim: this.obsDim,
      actionDim: this.actDim,
      states: this.states.subarray(0, n * this.obsDim),
      nextStates: this.nextStates.subarray(0, n * this.obsDim),
      actions: this.actions.subarray(0, n * this.actDim),
      rewards: this.rewards.subarray(0, n),
      notDone: this.notDone.subarray(0, n),
    };
  }
}

interface Parsed {
  format: DatasetFormat;
  data: Transitions;
  returns: number[];
  /** Minari's `dataset_id` (such as mujoco/hopper/medium-v0); null for D4RL files. */
  datasetId: string | null;
  env: D4rlEnv | null;
  quality: string | null;
  warnings: string[];
}

const QUALITIES = ['medium-expert', 'medium-replay', 'medium-play', 'medium-diverse', 'large-play', 'large-diverse', 'umaze-diverse', 'umaze', 'medium', 'expert', 'random', 'human', 'cloned', 'complete', 'partial', 'mixed'];

/** The environment and data quality a text names (Minari's env_spec/dataset_id, or a file name). */
function envNamed(text: string): { env: D4rlEnv | null; quality: string | null } {
  const lower = text.toLowerCase().replace(/_/g, '-');
  const word = (w: string) => new RegExp(`(^|[^a-z0-9])${w}($|[^a-z])`).test(lower);
  const env = D4RL_ENVS.find((e) => word(e.family) || e.aliases.some(word)) ?? null;
  const quality = QUALITIES.find((q) => lower.includes(q)) ?? null;
  return { env, quality };
}

/** D4RL's qlearning_dataset: next = obs[i+1], a timed-out step ends its episode and is dropped. */
function readD4rl(file: string, root: Group): Parsed {
  const obs = matrix(file, readArray(file, root, 'observations', ''), 'observations');
  const act = matrix(file, readArray(file, root, 'actions', ''), 'actions');
  const rewards = column(file, readArray(file, root, 'rewards', ''), 'rewards');
  const terminals = column(file, readArray(file, root, 'terminals', ''), 'terminals');
  const timeouts = root.keys().includes('timeouts') ? column(file, readArray(file, root, 'timeouts', ''), 'timeouts') : null;
  const counts: [string, number][] = [
    ['observations', obs.rows],
    ['actions', act.rows],
    ['rewards', rewards.length],
    ['terminals', terminals.length],
    ...(timeouts ? [['timeouts', timeouts.length] as [string, number]] : []),
  ];
  if (counts.some(([, n]) => n !== obs.rows)) throw new DatasetError(file, `row counts disagree: ${counts.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (obs.rows === 0) throw new DatasetError(file, 'the dataset has zero rows');
  if (obs.rows < 2) throw new DatasetError(file, 'the dataset has one row: a transition needs the next observation');
  assertFinite(file, 'observations', obs.values, obs.width);
  assertFinite(file, 'actions', act.values, act.width);
  assertFinite(file, 'rewards', rewards, 1);

  const named = envNamed(path.basename(file));
  const env = named.env ?? D4RL_ENVS.find((e) => e.obsDim === obs.width && e.actDim === act.width && !D4RL_ENVS.some((o) => o !== e && o.obsDim === e.obsDim && o.actDim === e.actDim)) ?? null;
  const warnings: string[] = [];
  const horizon = env?.horizon ?? 1000;
  if (!timeouts) warnings.push(`no timeouts key: episodes end at the ${env ? `${env.family} ` : ''}step limit of ${horizon} steps${env ? '' : ' (environment not recognised)'}`);

  const builder = new TransitionBuilder(obs.width, act.width, obs.rows - 1);
  const returns: number[] = [];
  let episodeReturn = 0;
  let episodeStep = 0;
  let open = false;
  for (let i = 0; i < obs.rows; i++) {
    const reward = rewards[i] as number;
    const done = (terminals[i] as number) !== 0;
    const final = timeouts ? (timeouts[i] as number) !== 0 : episodeStep === horizon - 1;
    episodeReturn += reward;
    open = true;
    if (done || final) {
      returns.push(episodeReturn);
      episodeReturn = 0;
      open = false;
    }
    if (i === obs.rows - 1) break;
    if (final) {
      episodeStep = 0;
      continue;
    }
    builder.add(obs.values, i, i + 1, act.values, i, reward, done);
    episodeStep = done ? 0 : episodeStep + 1;
  }
  if (open) returns.push(episodeReturn);
  return { format: 'd4rl', data: builder.build(), returns, datasetId: null, env, quality: named.quality, warnings };
}

/** Minari: one group per episode, observations one row longer than actions; every step is a transition. */
function readMinari(file: string, root: Group, episodes: string[]): Parsed {
  const capacity = episodes.reduce((n, name) => {
    const actions = (root.get(name) as Group | null)?.get?.('actions');
    return n + (actions instanceof h5wasm.Dataset ? (actions.shape?.[0] ?? 0) : 0);
  }, 0);
  let builder: TransitionBuilder | null = null;
  const returns: number[] = [];
  for (const name of episodes) {
    const group = root.get(name);
    if (!(group instanceof h5wasm.Group)) throw new DatasetError(file, `${name} is not a group`);
    const where = `${name}/`;
    const obs = matrix(file, readArray(file, group, 'observations', where), `${where}observations`);
    const act = matrix(file, readArray(file, group, 'actions', where), `${where}actions`);
    const rewards = column(file, readArray(file, group, 'rewards', where), `${where}rewards`);
    const terminations = column(file, readArray(file, group, 'terminations', where), `${where}terminations`);
    const truncations = column(file, readArray(file, group, 'truncations', where), `${where}truncations`);
    const steps = act.rows;
    if (obs.rows !== steps + 1) throw new DatasetError(file, `${where}observations has ${obs.rows} rows, expected one more than the ${steps} actions`);
    for (const [k, n] of [['rewards', rewards.length], ['terminations', terminations.length], ['truncations', truncations.length]] as const) {
      if (n !== steps) throw new DatasetError(file, `row counts disagree in ${name}: ${k} ${n}, actions ${steps}`);
    }
    builder ??= new TransitionBuilder(obs.width, act.width, capacity);
    if (obs.width !== builder.obsDim || act.width !== builder.actDim) {
      throw new DatasetError(file, `${name} has observation/action sizes ${obs.width}/${act.width}, the first episode ${builder.obsDim}/${builder.actDim}`);
    }
    assertFinite(file, `${where}observations`, obs.values, obs.width);
    assertFinite(file, `${where}actions`, act.values, act.width);
    assertFinite(file, `${where}rewards`, rewards, 1);
    let total = 0;
    for (let t = 0; t < steps; t++) {
      total += rewards[t] as number;
      builder.add(obs.values, t, t + 1, act.values, t, rewards[t] as number, (terminations[t] as number) !== 0);
    }
    returns.push(total);
  }
  const data = builder?.build();
  if (!data || data.size === 0) throw new DatasetError(file, 'the dataset has zero rows');
  const attrs = Object.keys(root.attrs);
  const text = ['env_spec', 'dataset_id'].filter((k) => attrs.includes(k)).map((k) => String(root.get_attribute(k, true))).join(' ');
  const named = envNamed(text || path.basename(file));
  const datasetId = attrs.includes('dataset_id') ? String(root.get_attribute('dataset_id', true)) : null;
  return { format: 'minari', data, returns, datasetId, env: named.env, quality: named.quality, warnings: [] };
}

/** Counts action values outside [-1, 1] (the policy's range on D4RL) and clips them, with a warning. */
function clipActions(data: Transitions, warnings: string[]): void {
  let outside = 0;
  let largest = 0;
  for (let i = 0; i < data.actions.length; i++) {
    const a = data.actions[i] as number;
    if (a < -1 || a > 1) {
      outside += 1;
      largest = Math.max(largest, Math.abs(a));
      data.actions[i] = Math.max(-1, Math.min(1, a));
    }
  }
  if (outside > 0) warnings.push(`actions: ${outside} of ${data.actions.length} values lie outside [-1, 1] (largest |a| ${largest.toFixed(3)}); they are clipped to [-1, 1] for training`);
}

function summarise(p: Parsed): DatasetSummary {
  // Over the kept transitions, the rows `transitions` counts (qlearning_dataset drops timeouts' last steps).
  const rewards = p.data.rewards;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < rewards.length; i++) {
    const r = rewards[i] as number;
    sum += r;
    min = Math.min(min, r);
    max = Math.max(max, r);
  }
  let done = 0;
  for (const nd of p.data.notDone) if (nd === 0) done += 1;
  const suggestedId = p.env && p.quality ? `${p.env.family}-${p.quality}-${p.env.version}` : null;
  const suggested = TASKS.find((t) => t.id === suggestedId && t.obsDim === p.data.stateDim && t.actDim === p.data.actionDim) ?? null;
  const warnings = [...p.warnings];
  if (p.env && (p.env.obsDim !== p.data.stateDim || p.env.actDim !== p.data.actionDim)) {
    warnings.push(`the file looks like ${p.env.family} by its name, but its sizes ${p.data.stateDim}/${p.data.actionDim} are not ${p.env.family}'s ${p.env.obsDim}/${p.env.actDim}`);
  }
  const envMatches = p.env && p.env.obsDim === p.data.stateDim && p.env.actDim === p.data.actionDim;
  return {
    format: p.format,
    transitions: p.data.size,
    episodes: p.returns.length,
    obsDim: p.data.stateDim,
    actDim: p.data.actionDim,
    rewardSum: sum,
    rewardMin: min,
    rewardMean: sum / rewards.length,
    rewardMax: max,
    // A reduce, not Math.min(...): a 10M-row random dataset has ~450,000 episodes, beyond the argument limit.
    returnMin: p.returns.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY),
    returnMean: p.returns.reduce((a, b) => a + b, 0) / p.returns.length,
    returnMax: p.returns.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
    doneCount: done,
    env: envMatches ? (p.env as D4rlEnv).family : null,
    suggestedTask: suggested?.id ?? null,
    warnings,
    datasetId: p.datasetId,
  };
}

/**
 * Reads and checks a D4RL or Minari HDF5 file: the transitions to train on and what the file
 * holds. Messages name the file as `label` (default: its base name; an upload's original name).
 */
export async function readOfflineDataset(file: string, label = path.basename(file)): Promise<OfflineDataset> {
  if (!fs.existsSync(file)) throw new DatasetError(label, 'no such file');
  if (!fs.statSync(file).isFile()) throw new DatasetError(label, 'not a file');
  checkHdf5Header(file, label);
  await h5wasm.ready;
  let h5: InstanceType<typeof h5wasm.File>;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch (err) {
    throw new DatasetError(label, `cannot be read as HDF5 (${String((err as Error).message).split('\n')[0]})`);
  }
  try {
    const keys = h5.keys();
    const episodes = keys.filter((k) => /^episode_\d+$/.test(k)).sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
    let parsed: Parsed;
    if (keys.includes('observations') || keys.includes('actions')) parsed = readD4rl(label, h5);
    else if (episodes.length > 0) parsed = readMinari(label, h5, episodes);
    else throw new DatasetError(label, `neither a D4RL file (keys observations, actions, rewards, terminals) nor a Minari file (episode_N groups); it has: ${keys.join(', ') || 'no keys'}`);
    clipActions(parsed.data, parsed.warnings);
    return { summary: summarise(parsed), data: parsed.data };
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError(label, `cannot be read (${String((err as Error).message).split('\n')[0]})`);
  } finally {
    h5.close();
  }
}
