import h5wasm from 'h5wasm/node';
import { LocomotionEnv, type LocomotionFamily } from '../envs/locomotion';
import type { Rng } from '../rng';

/** Rows in D4RL's layout: what `<env>-random` files hold. */
export interface D4rlArrays {
  rows: number;
  obsDim: number;
  actDim: number;
  observations: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  terminals: Uint8Array;
  timeouts: Uint8Array;
}

/**
 * A D4RL-style `-random` dataset made here: uniform random actions in [-1, 1] in the MuJoCo
 * environment, episodes ending on termination or at the 1000-step limit (flagged in `timeouts`).
 * `onProgress` hears the fraction done now and then.
 */
export async function generateRandomDataset(family: LocomotionFamily, rows: number, rng: Rng, onProgress?: (fraction: number) => void): Promise<D4rlArrays> {
  const env = await LocomotionEnv.create(family);
  try {
    const obsDim = env.observationSize;
    const actDim = env.actionSize;
    const out: D4rlArrays = {
      rows,
      obsDim,
      actDim,
      observations: new Float32Array(rows * obsDim),
      actions: new Float32Array(rows * actDim),
      rewards: new Float32Array(rows),
      terminals: new Uint8Array(rows),
      timeouts: new Uint8Array(rows),
    };
    let observation = env.reset(rng);
    const action = new Float32Array(actDim);
    const every = Math.max(1, Math.floor(rows / 100));
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < actDim; j++) action[j] = 2 * rng.uniform() - 1;
      out.observations.set(observation, i * obsDim);
      out.actions.set(action, i * actDim);
      const result = env.step(action);
      out.rewards[i] = result.reward;
      out.terminals[i] = result.terminated ? 1 : 0;
      // The last row of the file also ends its episode, as a D4RL file's does.
      out.timeouts[i] = result.truncated || (i === rows - 1 && !result.terminated) ? 1 : 0;
      observation = result.terminated || result.truncated ? env.reset(rng) : result.observation;
      if (i % every === 0) onProgress?.(i / rows);
    }
    return out;
  } finally {
    env.dispose();
  }
}

/** Writes rows as a D4RL HDF5 file (gzip, bool flags as uint8), the layout `readOfflineDataset` reads. */
export async function writeD4rlFile(file: string, data: D4rlArrays, attributes: Record<string, string> = {}): Promise<void> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  try {
    const put = (name: string, values: Float32Array | Uint8Array, width: number | null) =>
      h5.create_dataset({ name, data: values, shape: width === null ? [data.rows] : [data.rows, width], compression: 'gzip', compression_opts: 4, chunks: width === null ? [Math.min(data.rows, 65536)] : [Math.min(data.rows, 65536), width] });
    put('observations', data.observations, data.obsDim);
    put('actions', data.actions, data.actDim);
    put('rewards', data.rewards, null);
    put('terminals', data.terminals, null);
    put('timeouts', data.timeouts, null);
    for (const [k, v] of Object.entries(attributes)) h5.create_attribute(k, v);
  } finally {
    h5.close();
  }
}
