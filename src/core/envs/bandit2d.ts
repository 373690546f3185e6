import type { BanditReward } from '../tasks';
import { banditRewards, type BanditData } from '../data/bandit';

/** Policy actions per bandit evaluation, as the official toy plots draw them. */
export const BANDIT_EVAL_ACTIONS = 1000;

/** The 25 mode centres of the 25-Gaussians data. */
const GRID = [-10, -5, 0, 5, 10];
export const GAUSSIAN_CENTRES: [number, number][] = GRID.flatMap((x) => GRID.map((y) => [x, y] as [number, number]));

/** The best mode(s) of each 25-Gaussians reward: corners for far, the centre for near, top-left for hard. */
export function topModes(reward: BanditReward): [number, number][] {
  if (reward === 'near') return [[0, 0]];
  if (reward === 'hard') return [[-10, 10]];
  return [
    [-10, -10],
    [-10, 10],
    [10, -10],
    [10, 10],
  ];
}

/** In support of 25 Gaussians: within 0.9 (3 std) of a centre. Of the Swiss roll: within 0.5 of a dataset action. */
export const GAUSSIAN_SUPPORT_RADIUS = 0.9;
export const SWISS_SUPPORT_RADIUS = 0.5;
/** A Swiss-roll action counts as in the best part of the roll when its nearest data point is in the top 10% by reward. */
export const SWISS_TOP_QUANTILE = 0.9;

export interface BanditOutcome {
  meanReward: number;
  inSupportFraction: number;
  topModeFraction: number;
}

const near = (x: number, y: number, centres: [number, number][], radius: number) => centres.some(([cx, cy]) => Math.hypot(x - cx, y - cy) <= radius);

/** Index of the nearest dataset action (brute force: 1,000 x 10,000 distances take a few ms). */
function nearest(x: number, y: number, data: Float32Array): { index: number; distance: number } {
  let best = Number.POSITIVE_INFINITY;
  let index = 0;
  for (let j = 0; j < data.length; j += 2) {
    const d = ((data[j] as number) - x) ** 2 + ((data[j + 1] as number) - y) ** 2;
    if (d < best) {
      best = d;
      index = j / 2;
    }
  }
  return { index, distance: Math.sqrt(best) };
}

/**
 * The measured outcome of a bandit policy (issue 5): the mean reward of its actions, the share
 * inside the data's support, and the share in the highest-reward mode(s).
 */
export function banditOutcome(actions: Float32Array, data: BanditData, reward: BanditReward, dataset: { actions: Float32Array; rewards: Float32Array; maxNorm: number }): BanditOutcome {
  const n = actions.length / 2;
  const rewards = banditRewards(actions, reward, dataset.maxNorm);
  let sum = 0;
  let inSupport = 0;
  let inTop = 0;
  const tops = topModes(reward);
  const sorted = Float32Array.from(dataset.rewards).sort();
  const topThreshold = sorted[Math.floor(SWISS_TOP_QUANTILE * (sorted.length - 1))] as number;
  for (let i = 0; i < n; i++) {
    const x = actions[2 * i] as number;
    const y = actions[2 * i + 1] as number;
    sum += rewards[i] as number;
    if (data === '25g') {
      if (near(x, y, GAUSSIAN_CENTRES, GAUSSIAN_SUPPORT_RADIUS)) inSupport += 1;
      if (near(x, y, tops, GAUSSIAN_SUPPORT_RADIUS)) inTop += 1;
    } else {
      const { index, distance } = nearest(x, y, dataset.actions);
      if (distance <= SWISS_SUPPORT_RADIUS) {
        inSupport += 1;
        if ((dataset.rewards[index] as number) >= topThreshold) inTop += 1;
      }
    }
  }
  return { meanReward: sum / n, inSupportFraction: inSupport / n, topModeFraction: inTop / n };
}
