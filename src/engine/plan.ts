import { badInput } from '../api/errors';
import type { ParsedParamsOf } from '../api/contract';
import { validateConfig, type TrainConfig } from '../common/config';
import { defaultPreset, presetOf, requireTask, type TaskSpec } from '../core/tasks';
import { trainingDevice } from '../core/tf/device';
import type { Db } from '../store/db';
import { getDataset, latestDatasetFor } from '../store/datasets';
import type { NewRun } from '../store/runs';

/** Resolves a start request into one queued run per seed; any bad field rejects the whole request. */
export function planRuns(request: ParsedParamsOf<'createRuns'>, db?: Db): NewRun[] {
  let task;
  let preset;
  try {
    task = requireTask(request.task);
    preset = presetOf(task, request.preset ?? defaultPreset(task, trainingDevice()));
  } catch (err) {
    throw badInput((err as Error).message);
  }
  let config: TrainConfig;
  try {
    config = validateConfig({ ...preset.configs[request.algo], ...request.overrides });
  } catch (err) {
    throw badInput(`invalid hyperparameters: ${(err as Error).message}`);
  }
  const datasetId = resolveDataset(db, task, request.dataset);
  const seeds = [...new Set(request.seeds)];
  const baseName = request.name ?? `${task.id} ${request.algo}`;
  const tags = [...new Set(request.tags)];
  return seeds.map((seed) => ({
    name: seeds.length > 1 ? `${baseName} s${seed}` : baseName,
    task: task.id,
    algo: request.algo,
    preset: preset.id,
    config,
    seed,
    tags,
    datasetId,
  }));
}

/**
 * The dataset a run of `task` trains on: none for generated tasks; for D4RL tasks the one asked
 * for (its sizes must fit the task) or the newest imported for the task.
 */
function resolveDataset(db: Db | undefined, task: TaskSpec, requested: number | undefined): number | null {
  if (task.dataset.kind === 'generated') {
    if (requested !== undefined) throw badInput(`task ${task.id} generates its own data; it takes no dataset`);
    return null;
  }
  const how = `import ${task.dataset.d4rlName}.hdf5 first (dtql dataset import FILE, or Import on the Tasks page)`;
  if (!db) throw badInput(`task ${task.id} trains on an imported dataset: ${how}`);
  if (requested === undefined) {
    const latest = latestDatasetFor(db, task.id);
    if (!latest) throw badInput(`no dataset is imported for task ${task.id}: ${how}`);
    return latest.id;
  }
  const chosen = getDataset(db, requested);
  if (chosen.obsDim !== task.obsDim || chosen.actDim !== task.actDim) {
    throw badInput(`dataset ${chosen.id} (${chosen.name}) has observation/action sizes ${chosen.obsDim}/${chosen.actDim}; task ${task.id} needs ${task.obsDim}/${task.actDim}`);
  }
  return chosen.id;
}
