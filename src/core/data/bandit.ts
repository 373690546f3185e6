import type { BanditReward } from '../tasks';
import { Rng } from '../rng';
import type { Transitions } from './replay';

export type BanditData = '25g' | 'swiss';

/** 25 Gaussians: means on linspace(-10, 10, 5)^2, isotropic std 0.3, equal counts per mode (OFFICIAL-CODE.md §9). */
export function gaussians25(rng: Rng, n: number): Float32Array {
  const grid = [-10, -5, 0, 5, 10];
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const mode = i % 25;
    out[2 * i] = (grid[Math.floor(mode / 5)] as number) + 0.3 * rng.normal();
    out[2 * i + 1] = (grid[mode % 5] as number) + 0.3 * rng.normal();
  }
  return out;
}

/** sklearn's make_swiss_roll(n, noise=0.1) keeping columns [0, 2]: (t cos t, t sin t) + noise, t = 1.5 pi (1 + 2u). */
export function swissRoll(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const t = 1.5 * Math.PI * (1 + 2 * rng.uniform());
    out[2 * i] = t * Math.cos(t) + 0.1 * rng.normal();
    out[2 * i + 1] = t * Math.sin(t) + 0.1 * rng.normal();
  }
  return out;
}

/**
 * The toy rewards with r = |a|: far = r; near = max r - r (max over the dataset); hard = r,
 * doubled in the top-left mode (a0 < -7.5 and a1 > 7.5).
 */
export function banditRewards(actions: Float32Array, reward: BanditReward, maxNorm?: number): Float32Array {
  const n = actions.length / 2;
  const norms = new Float32Array(n);
  for (let i = 0; i < n; i++) norms[i] = Math.hypot(actions[2 * i] as number, actions[2 * i + 1] as number);
  const top = maxNorm ?? norms.reduce((m, v) => Math.max(m, v), 0);
  return norms.map((r, i) => {
    if (reward === 'near') return top - r;
    if (reward === 'hard' && (actions[2 * i] as number) < -7.5 && (actions[2 * i + 1] as number) > 7.5) return 2 * r;
    return r;
  });
}

/** Dataset seed: every run of a bandit task sees the same 10,000 actions, whatever its own seed. */
export const BANDIT_DATA_SEED = 0;

export interface BanditDataset {
  transitions: Transitions;
  /** Largest |a_j| over the dataset: the policy's action bound on the toys (OFFICIAL-CODE.md §9). */
  maxAction: number;
  /** Largest |a| over the dataset, the reference of the `near` reward. */
  maxNorm: number;
}

/** A bandit as offline-RL transitions: state constant 0, next state 0, not_done 1. */
export function banditDataset(data: BanditData, reward: BanditReward, size: number): BanditDataset {
  const rng = new Rng(BANDIT_DATA_SEED);
  const actions = data === '25g' ? gaussians25(rng, size) : swissRoll(rng, size);
  let maxAction = 0;
  for (const v of actions) maxAction = Math.max(maxAction, Math.abs(v));
  let maxNorm = 0;
  for (let i = 0; i < size; i++) maxNorm = Math.max(maxNorm, Math.hypot(actions[2 * i] as number, actions[2 * i + 1] as number));
  return {
    transitions: {
      stateDim: 1,
      actionDim: 2,
      size,
      states: new Float32Array(size),
      actions,
      rewards: banditRewards(actions, reward, maxNorm),
      nextStates: new Float32Array(size),
      notDone: new Float32Array(size).fill(1),
    },
    maxAction,
    maxNorm,
  };
}
