import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetError, readOfflineDataset } from '../../src/core/data/offline-dataset';
import { Rng } from '../../src/core/rng';
import { tempHome } from '../helpers';

const FIXTURES = path.resolve('test/fixtures/hdf5');
const fixture = (name: string) => path.join(FIXTURES, name);

describe('D4RL files', () => {
  it('builds transitions as qlearning_dataset does: next = obs[i+1], timed-out steps dropped, terminals kept as done', async () => {
    const { summary, data } = await readOfflineDataset(fixture('hopper-medium-v2.hdf5'));
    // 30 rows: the last row has no next observation and row 9 is a timeout.
    expect(summary).toMatchObject({ format: 'd4rl', transitions: 28, episodes: 3, obsDim: 11, actDim: 3, doneCount: 1, env: 'hopper', suggestedTask: 'hopper-medium-v2', warnings: [] });
    expect(data.size).toBe(28);
    // Transition 9 is row 10 (row 9 was dropped): its next state is row 11's observation, which is its state shifted by one row.
    expect(Array.from(data.nextStates.subarray(9 * 11, 10 * 11))).toEqual(Array.from(data.states.subarray(10 * 11, 11 * 11)));
    expect(data.notDone[18]).toBe(0); // row 19 is the terminal
    expect([...data.notDone].filter((v) => v === 0)).toHaveLength(1);
    expect(summary.rewardMin).toBeLessThanOrEqual(summary.rewardMean);
    expect(summary.returnMax).toBeGreaterThanOrEqual(summary.returnMin);
  });

  it('ends episodes at the step limit without timeouts, squeezes N x 1 rewards, and says so', async () => {
    const { summary, data } = await readOfflineDataset(fixture('hopper-plain-no-timeouts.hdf5'));
    expect(summary).toMatchObject({ transitions: 29, episodes: 2, env: 'hopper', suggestedTask: null });
    expect(summary.warnings).toEqual(['no timeouts key: episodes end at the hopper step limit of 1000 steps']);
    expect(data.rewards).toHaveLength(29);
  });

  it('reads Minari episodes: observations one row longer, every step a transition, terminations as done', async () => {
    const { summary, data } = await readOfflineDataset(fixture('minari-hopper-medium.hdf5'));
    expect(summary).toMatchObject({ format: 'minari', transitions: 15, episodes: 3, obsDim: 11, actDim: 3, doneCount: 1, env: 'hopper', suggestedTask: 'hopper-medium-v2' });
    expect(data.notDone[6 + 3]).toBe(0); // the last step of the terminated second episode
    expect(data.notDone[14]).toBe(1); // a truncated episode is not done
  });

  it('warns with counts about actions outside [-1, 1] and clips them', async () => {
    const { summary, data } = await readOfflineDataset(fixture('warn-actions-out-of-range.hdf5'));
    expect(summary.warnings).toEqual(['actions: 6 of 84 values lie outside [-1, 1] (largest |a| 1.500); they are clipped to [-1, 1] for training']);
    expect(Math.max(...data.actions)).toBeLessThanOrEqual(1);
  });
});

describe('bad files get a clear reason naming the file, key and problem', () => {
  it.each([
    ['bad-missing-rewards.hdf5', /bad-missing-rewards.hdf5: the required key rewards is missing/],
    ['bad-rows-disagree.hdf5', /row counts disagree: observations 30, actions 27, rewards 30, terminals 30, timeouts 30/],
    ['bad-zero-rows.hdf5', /the dataset has zero rows/],
    ['bad-rank.hdf5', /observations has rank 1 \(shape \[330\]\), expected rank 2/],
    ['bad-int-observations.hdf5', /observations holds integers, expected floating-point values/],
    ['bad-nan-observations.hdf5', /observations has 1 NaN or infinite value \(first at row 3, column 7\)/],
    ['bad-inf-rewards.hdf5', /rewards has 1 NaN or infinite value \(first at row 3\)/],
  ])('%s', async (name, message) => {
    await expect(readOfflineDataset(fixture(name))).rejects.toThrow(message);
  });

  it('refuses empty, foreign, truncated and missing files before the HDF5 library sees them', async () => {
    const dir = tempHome();
    const write = (name: string, bytes: Uint8Array | string) => {
      fs.writeFileSync(path.join(dir, name), bytes);
      return path.join(dir, name);
    };
    const valid = fs.readFileSync(fixture('hopper-medium-v2.hdf5'));
    await expect(readOfflineDataset(write('empty.hdf5', ''))).rejects.toThrow('empty.hdf5: the file is empty');
    await expect(readOfflineDataset(write('notes.hdf5', 'observations,actions\n1,2\n'))).rejects.toThrow('notes.hdf5: not an HDF5 file');
    await expect(readOfflineDataset(write('half.hdf5', valid.subarray(0, valid.length >> 1)))).rejects.toThrow(/half.hdf5: the file is truncated: its header says \d+ bytes, it has \d+/);
    await expect(readOfflineDataset(path.join(dir, 'absent.hdf5'))).rejects.toThrow('absent.hdf5: no such file');
    await expect(readOfflineDataset(dir)).rejects.toThrow('not a file');
  });
});

describe('files the tests write themselves with h5wasm', () => {
  type Layout = Record<string, { data: Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array; shape: number[]; gzip?: boolean }>;

  async function writeFile(name: string, layout: Layout, groups: Record<string, Layout> = {}, attrs: Record<string, string> = {}): Promise<string> {
    const h5wasm = (await import('h5wasm/node')).default;
    await h5wasm.ready;
    const file = path.join(tempHome(), name);
    const h5 = new h5wasm.File(file, 'w');
    const put = (group: { create_dataset: (typeof h5)['create_dataset'] }, entries: Layout) => {
      for (const [key, v] of Object.entries(entries)) group.create_dataset({ name: key, data: v.data, shape: v.shape, ...(v.gzip ? { compression: 'gzip' as const, compression_opts: 6, chunks: v.shape } : {}) });
    };
    put(h5, layout);
    for (const [g, entries] of Object.entries(groups)) put(h5.create_group(g), entries);
    for (const [k, v] of Object.entries(attrs)) h5.create_attribute(k, v);
    h5.close();
    return file;
  }

  const n = 12;
  const d4rl = (over: Partial<Layout> = {}): Layout => {
    const base: Layout = {
      observations: { data: new Float32Array(n * 11).map((_, i) => Math.sin(i)), shape: [n, 11] },
      actions: { data: new Float32Array(n * 3).map((_, i) => Math.cos(i) * 0.9), shape: [n, 3] },
      rewards: { data: new Float32Array(n).fill(1), shape: [n, 1] },
      terminals: { data: new Uint8Array(n).map((_, i) => (i === 7 ? 1 : 0)), shape: [n] },
      timeouts: { data: new Int8Array(n).map((_, i) => (i === 3 ? 1 : 0)), shape: [n] },
    };
    const merged: Layout = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    return merged;
  };

  it('reads plain and gzip D4RL layouts with N x 1 rewards and integer flags', async () => {
    const plain = await readOfflineDataset(await writeFile('walker-plain.hdf5', d4rl()));
    const gzip = await readOfflineDataset(await writeFile('walker-gzip.hdf5', Object.fromEntries(Object.entries(d4rl()).map(([k, v]) => [k, { ...v, gzip: true }]))));
    for (const { summary } of [plain, gzip]) {
      // 12 rows: the last has no next, row 3 timed out; the reward statistics describe the 10 kept, as the count does.
      expect(summary).toMatchObject({ format: 'd4rl', transitions: 10, episodes: 3, doneCount: 1, obsDim: 11, actDim: 3, rewardSum: 10, rewardMean: 1, datasetId: null });
    }
    expect(gzip.data.states).toEqual(plain.data.states);
  });

  it('reads a Minari layout written here, and names the episode and key of a bad one', async () => {
    const episode = (steps: number, end: number): Layout => ({
      observations: { data: new Float64Array((steps + 1) * 11).fill(0.5), shape: [steps + 1, 11] },
      actions: { data: new Float32Array(steps * 3), shape: [steps, 3] },
      rewards: { data: new Float64Array(steps).fill(2), shape: [steps] },
      terminations: { data: new Int8Array(steps).map((_, i) => (i === steps - 1 ? end : 0)), shape: [steps] },
      truncations: { data: new Int8Array(steps), shape: [steps] },
    });
    const ok = await readOfflineDataset(await writeFile('mini.hdf5', {}, { episode_0: episode(4, 1), episode_1: episode(3, 0) }, { dataset_id: 'mujoco/hopper/medium-expert-v0' }));
    expect(ok.summary).toMatchObject({ format: 'minari', transitions: 7, episodes: 2, doneCount: 1, returnMax: 8, rewardSum: 14, env: 'hopper', suggestedTask: 'hopper-medium-expert-v2', datasetId: 'mujoco/hopper/medium-expert-v0' });
    const broken = episode(3, 0);
    broken.observations = { data: new Float64Array(3 * 11), shape: [3, 11] };
    await expect(readOfflineDataset(await writeFile('mini-bad.hdf5', {}, { episode_0: episode(2, 0), episode_1: broken }))).rejects.toThrow(
      'mini-bad.hdf5: episode_1/observations has 3 rows, expected one more than the 3 actions',
    );
  });

  it('summarises a file of 300,000 one-step episodes (past the argument limit of Math.min(...))', async () => {
    const rows = 300_000;
    const file = await writeFile('many-episodes.hdf5', {
      observations: { data: new Float32Array(rows * 2).map((_, i) => i % 7), shape: [rows, 2] },
      actions: { data: new Float32Array(rows), shape: [rows, 1] },
      rewards: { data: new Float32Array(rows).map((_, i) => i % 5), shape: [rows] },
      terminals: { data: new Uint8Array(rows).fill(1), shape: [rows] },
    });
    const { summary } = await readOfflineDataset(file);
    expect(summary).toMatchObject({ episodes: rows, transitions: rows - 1, returnMin: 0, returnMax: 4, returnMean: 2 });
  });

  it.each([
    ['no terminals', { terminals: undefined }, /the required key terminals is missing/],
    ['integer actions', { actions: { data: new Int32Array(n * 3), shape: [n, 3] } }, /actions holds integers/],
    ['short rewards', { rewards: { data: new Float32Array(n - 2), shape: [n - 2] } }, /row counts disagree: observations 12, actions 12, rewards 10/],
    ['3-D observations', { observations: { data: new Float32Array(n * 22), shape: [n, 11, 2] } }, /observations has rank 3/],
  ])('refuses %s', async (_name, over, message) => {
    await expect(readOfflineDataset(await writeFile('bad.hdf5', d4rl(over as Partial<Layout>)))).rejects.toThrow(message);
  });
});

describe('random byte mutations of a valid file (bounded, fixed seed)', () => {
  it('either read as finite data or are refused with a DatasetError, each within a time limit', async () => {
    const valid = fs.readFileSync(fixture('hopper-medium-v2.hdf5'));
    const rng = new Rng(7);
    const dir = tempHome();
    let refused = 0;
    for (let k = 0; k < 60; k++) {
      const bytes = Buffer.from(valid);
      const flips = 1 + Math.floor(rng.uniform() * 8);
      for (let f = 0; f < flips; f++) bytes[Math.floor(rng.uniform() * bytes.length)] = Math.floor(rng.uniform() * 256);
      const file = path.join(dir, `mutant-${k}.hdf5`);
      fs.writeFileSync(file, bytes);
      const started = performance.now();
      try {
        const { data } = await readOfflineDataset(file);
        expect(data.states.every(Number.isFinite) && data.actions.every((a) => a >= -1 && a <= 1)).toBe(true);
      } catch (err) {
        expect(err).toBeInstanceOf(DatasetError);
        expect((err as Error).message).toMatch(new RegExp(`^mutant-${k}.hdf5: `));
        refused += 1;
      }
      expect(performance.now() - started).toBeLessThan(5000);
    }
    expect(refused).toBeGreaterThan(0);
  }, 120_000);
});
