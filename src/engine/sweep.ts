import YAML from 'yaml';
import { createRunsSchema, formatSweepPoint, sweepSpecSchema, type SweepPoint, type SweepPreview, type SweepSpec, type SweepValue } from '../api/contract';
import { badInput, messageOf } from '../api/errors';
import { describeIssues, trainConfigSchema } from '../common/config';
import { median } from '../common/stats';
import { defaultPreset, findTask, presetSeed } from '../core/tasks';
import { trainingDevice } from '../core/tf/device';
import type { Db } from '../store/db';
import { completedRunSpeeds, type NewRun } from '../store/runs';
import { planRuns } from './plan';

/** Keys of a sweep besides the hyperparameters (which are named as `--set` names them). */
export const SWEEP_RUN_KEYS = ['task', 'algo', 'preset', 'seed', 'steps'] as const;

/** Runs one sweep may make unless the settings say otherwise. */
export const DEFAULT_MAX_SWEEP_RUNS = 500;
/** The highest limit a user may set: a sweep of more runs than this is a mistake, not a study. */
export const MAX_SWEEP_RUNS_CAP = 100_000;

/** Runs a preview sends to the Sweeps page, which shows the first 200 and counts the rest. */
export const SWEEP_PREVIEW_ROWS = 200;

export interface PlannedSweep {
  name: string;
  spec: SweepSpec;
  /** Keys with more than one value, seed excluded: what tells the grid points apart. */
  axes: string[];
  runs: (NewRun & { sweepPoint: SweepPoint })[];
}

/** Reads a sweep file (JSON is YAML too); a bad file is bad input naming it. */
export function parseSweepText(text: string, source: string): SweepSpec {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw badInput(`${source}: not valid JSON or YAML (${messageOf(err).split('\n')[0]})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw badInput(`${source}: a sweep is an object of keys (task, algo, seed, steps or a hyperparameter) to one value or a list of values`);
  }
  const parsed = sweepSpecSchema.safeParse(raw);
  if (!parsed.success) throw badInput(`${source}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Every combination of the axes' values, the first key varying slowest. */
function gridPoints(axes: [string, SweepValue[]][]): Record<string, SweepValue>[] {
  return axes.reduce<Record<string, SweepValue>[]>((points, [key, values]) => points.flatMap((p) => values.map((v) => ({ ...p, [key]: v }))), [{}]);
}

/**
 * Expands a sweep into its runs, checking everything first: unknown keys, empty or repeated axis
 * values, the run limit (before expanding), and each grid point as a run request. All or nothing.
 */
export function planSweep(spec: SweepSpec, options: { name?: string; maxRuns: number; db?: Db }): PlannedSweep {
  const configKeys = Object.keys(trainConfigSchema.shape);
  const known = new Set<string>([...SWEEP_RUN_KEYS, ...configKeys]);
  const unknown = Object.keys(spec).filter((k) => !known.has(k));
  if (unknown.length) {
    throw badInput(`unknown key${unknown.length > 1 ? 's' : ''} in the sweep: ${unknown.join(', ')}; use ${SWEEP_RUN_KEYS.join(', ')} or a hyperparameter (${configKeys.join(', ')})`);
  }
  if (spec.task === undefined) throw badInput('the sweep needs a task (or a list of tasks)');
  const lists = Object.entries(spec).map(([k, v]): [string, SweepValue[]] => [k, Array.isArray(v) ? v : [v]]);
  const empty = lists.filter(([, v]) => v.length === 0).map(([k]) => k);
  if (empty.length) throw badInput(`empty grid axis: ${empty.join(', ')}; give at least one value`);
  const repeated = lists.filter(([, v]) => new Set(v.map((x) => JSON.stringify(x))).size < v.length).map(([k]) => k);
  if (repeated.length) throw badInput(`a value repeats on the grid axis ${repeated.join(', ')}`);
  const count = lists.reduce((n, [, v]) => n * v.length, 1);
  if (count > options.maxRuns) {
    throw badInput(`this sweep makes ${count.toLocaleString('en-US')} runs, more than the limit of ${options.maxRuns.toLocaleString('en-US')}; narrow the grid or raise the limit`);
  }
  const axes = lists.filter(([k, v]) => v.length > 1 && k !== 'seed').map(([k]) => k);
  const name = options.name?.trim() || `sweep over ${axes.length ? axes.join(' x ') : 'one point'}`;
  const runs = gridPoints(lists).map((values) => {
    const { task, algo = 'dtql', preset, seed, steps, ...hyperparameters } = values;
    // No preset named: the task's default for this machine, as for a single run.
    const known = findTask(String(task));
    const presetId = preset === undefined ? (known && defaultPreset(known, trainingDevice())) : String(preset);
    const sweepPoint: SweepPoint = Object.fromEntries(axes.map((k) => [k, values[k] as SweepValue]));
    const where = `grid point ${formatSweepPoint(sweepPoint, ' ') || '(the only one)'}`;
    const request = createRunsSchema.safeParse({
      task,
      algo,
      preset: presetId,
      seeds: [seed ?? presetSeed(String(task), presetId ?? '')],
      // A sweep without axes names its runs by itself alone, not "name: ".
      name: (axes.length ? `${name}: ${formatSweepPoint(sweepPoint, ' ')}` : name).slice(0, 190),
      overrides: { ...hyperparameters, ...(steps === undefined ? {} : { trainSteps: steps }) },
    });
    if (!request.success) throw badInput(`${where}: ${describeIssues(request.error)}`);
    try {
      const [run] = planRuns(request.data, options.db);
      return { ...(run as NewRun), sweepPoint };
    } catch (err) {
      throw badInput(`${where}: ${messageOf(err)}`);
    }
  });
  return { name, spec, axes, runs };
}

/**
 * Wall-clock seconds the sweep's runs will take at `concurrency` runs at once, from the measured
 * speed of finished runs of the same task and algorithm here (same batch size where there are
 * some). Runs with nothing to go by are counted in `unmeasured`, not guessed.
 */
export function estimateSweep(db: Db, runs: NewRun[], concurrency: number): { seconds: number | null; measuredRuns: number; unmeasured: number } {
  const speed = new Map<string, number | null>();
  const measured = (run: NewRun): number | null => {
    const key = `${run.task}|${run.algo}|${run.config.batchSize}`;
    if (!speed.has(key)) {
      const rates = (batch: number | null) => completedRunSpeeds(db, run.task, run.algo, batch);
      const same = rates(run.config.batchSize);
      const any = same.length ? same : rates(null);
      speed.set(key, any.length ? median(any) : null);
    }
    return speed.get(key) ?? null;
  };
  let seconds = 0;
  let measuredRuns = 0;
  for (const run of runs) {
    const stepsPerSec = measured(run);
    if (stepsPerSec === null) continue;
    seconds += (run.config.pretrainSteps + run.config.trainSteps) / stepsPerSec;
    measuredRuns++;
  }
  return { seconds: measuredRuns ? seconds / Math.max(1, concurrency) : null, measuredRuns, unmeasured: runs.length - measuredRuns };
}

/**
 * What a preview shows of a planned sweep: its first SWEEP_PREVIEW_ROWS runs, how many there are,
 * and the time they take at `concurrency` runs at once (no estimate without a store to measure from).
 */
export function sweepPreview(planned: PlannedSweep, options: { maxRuns: number; concurrency: number; db?: Db }): SweepPreview {
  const concurrency = Math.max(1, options.concurrency);
  const estimate = options.db ? estimateSweep(options.db, planned.runs, concurrency) : { seconds: null, measuredRuns: 0, unmeasured: planned.runs.length };
  return {
    name: planned.name,
    axes: planned.axes,
    count: planned.runs.length,
    maxRuns: options.maxRuns,
    runs: planned.runs.slice(0, SWEEP_PREVIEW_ROWS).map((r) => ({ name: r.name, task: r.task, algo: r.algo, seed: r.seed, steps: r.config.pretrainSteps + r.config.trainSteps, point: r.sweepPoint })),
    estimate: { ...estimate, concurrency },
  };
}
