import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOfflineDataset } from '../../src/core/data/offline-dataset';
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
