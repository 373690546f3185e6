import type { ProblemSpec } from '../algos/dtql';
import type { TaskSpec } from '../tasks';
import { banditDataset, type BanditData } from './bandit';
import type { Transitions } from './replay';
import { readOfflineDataset } from './offline-dataset';
import { pendulumDataset } from '../envs/pendulum';
import { Rng } from '../rng';

export interface TaskData {
  transitions: Transitions;
  problem: ProblemSpec;
  /** For the 2D bandits: which data, and the reference of the `near` reward (the dataset's largest |a|). */
  bandit?: { data: BanditData; maxNorm: number };
}

/** The dataset and problem sizes of a task with a generated dataset (the bandits). */
export function loadTaskData(task: TaskSpec): TaskData {
  if (task.dataset.kind === 'generated' && task.dataset.generator === 'pendulum-mixture') {
    // A fixed data seed: every run of the task sees the same dataset, as with a file.
    const transitions = pendulumDataset(task.dataset.size, new Rng(0));
    return { transitions, problem: { stateDim: 3, actionDim: 1, maxAction: 1, clipDenoised: true } };
  }
  if (task.dataset.kind === 'generated') {
    const data = banditDataset(task.dataset.generator === 'bandit-25g' ? '25g' : 'swiss', task.dataset.reward, task.dataset.size);
    return {
      transitions: data.transitions,
      // The toy scripts: the policy's bound is max |a_j| over the data, the denoiser unclamped.
      problem: { stateDim: 1, actionDim: 2, maxAction: data.maxAction, clipDenoised: false },
      bandit: { data: task.dataset.generator === 'bandit-25g' ? '25g' : 'swiss', maxNorm: data.maxNorm },
    };
  }
  throw new Error(`task ${task.id} trains on an imported file (${task.dataset.d4rlName}.hdf5): import it first`);
}

/**
 * A D4RL task's data from an imported HDF5 file: actions in [-1, 1] with the denoiser clamped to
 * them (clip_denoised on D4RL), and the task's reward shift applied (antmaze: r - 1, OFFICIAL-CODE.md §1).
 */
export async function loadImportedData(task: TaskSpec, file: string): Promise<TaskData> {
  const { data } = await readOfflineDataset(file);
  if (data.stateDim !== task.obsDim || data.actionDim !== task.actDim) {
    throw new Error(`${file} has observation/action sizes ${data.stateDim}/${data.actionDim}, task ${task.id} needs ${task.obsDim}/${task.actDim}`);
  }
  if (task.rewardShift !== 0) for (let i = 0; i < data.rewards.length; i++) data.rewards[i] = (data.rewards[i] as number) + task.rewardShift;
  return { transitions: data, problem: { stateDim: data.stateDim, actionDim: data.actionDim, maxAction: 1, clipDenoised: true } };
}
