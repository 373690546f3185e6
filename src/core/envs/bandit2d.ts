import type { BanditReward } from '../tasks';
import { banditRewards } from '../data/bandit';

/** Policy actions per bandit evaluation, as the official toy plots draw them. */
export const BANDIT_EVAL_ACTIONS = 1000;

/** The mean reward of a set of 2D actions under the task's reward. */
export function meanBanditReward(actions: Float32Array, reward: BanditReward, maxNorm: number): number {
  const rewards = banditRewards(actions, reward, maxNorm);
  let sum = 0;
  for (const r of rewards) sum += r;
  return sum / rewards.length;
}
