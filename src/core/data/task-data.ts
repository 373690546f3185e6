import type { ProblemSpec } from '../algos/dtql';
import type { TaskSpec } from '../tasks';
import { banditDataset, type BanditData } from './bandit';
import type { Transitions } from './replay';

export interface TaskData {
  transitions: Transitions;
  problem: ProblemSpec;
  /** For the 2D bandits: which data, and the reference of the `near` reward (the dataset's largest |a|). */
  bandit?: { data: BanditData; maxNorm: number };
}

/**
 * The dataset and problem sizes of a task. Bandits are generated here; D4RL tasks train on an
 * imported file, which this version cannot read yet.
 */
export function loadTaskData(task: TaskSpec): TaskData {
  if (task.dataset.kind === 'generated') {
    const data = banditDataset(task.dataset.generator === 'bandit-25g' ? '25g' : 'swiss', task.dataset.reward, task.dataset.size);
    return {
      transitions: data.transitions,
      // The toy scripts: the policy's bound is max |a_j| over the data, the denoiser unclamped.
      problem: { stateDim: 1, actionDim: 2, maxAction: data.maxAction, clipDenoised: false },
      bandit: { data: task.dataset.generator === 'bandit-25g' ? '25g' : 'swiss', maxNorm: data.maxNorm },
    };
  }
  throw new Error(`task ${task.id} trains on the D4RL file ${task.dataset.d4rlName}.hdf5, and importing D4RL files is not available in this version yet`);
}
