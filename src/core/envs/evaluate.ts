import type { Rng } from '../rng';
import type { Env } from './env';

export interface EpisodeStats {
  returns: number[];
  lengths: number[];
}

/**
 * Runs `episodes` episodes side by side, so the policy acts on all live states in one batch
 * (OFFICIAL-CODE.md §6 selects each action from 1024 samples; batching shares the overhead, not the
 * work). `act` maps k stacked observations to k stacked actions.
 */
export async function runEpisodes(makeEnv: () => Env | Promise<Env>, episodes: number, act: (observations: Float32Array, count: number) => Float32Array, rng: Rng): Promise<EpisodeStats> {
  const envs = await Promise.all(Array.from({ length: episodes }, () => makeEnv()));
  try {
    const observations = envs.map((env) => env.reset(rng));
    const returns = new Array<number>(episodes).fill(0);
    const lengths = new Array<number>(episodes).fill(0);
    let live = envs.map((_, i) => i);
    const width = envs[0]?.observationSize ?? 0;
    const actionSize = envs[0]?.actionSize ?? 0;
    while (live.length > 0) {
      const stacked = new Float32Array(live.length * width);
      live.forEach((i, row) => stacked.set(observations[i] as Float32Array, row * width));
      const actions = act(stacked, live.length);
      live = live.filter((i, row) => {
        const result = (envs[i] as Env).step(actions.subarray(row * actionSize, (row + 1) * actionSize));
        returns[i] = (returns[i] as number) + result.reward;
        lengths[i] = (lengths[i] as number) + 1;
        observations[i] = result.observation;
        return !result.terminated && !result.truncated;
      });
    }
    return { returns, lengths };
  } finally {
    for (const env of envs) env.dispose();
  }
}
