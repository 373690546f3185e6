import { describe, expect, it } from 'vitest';
import { banditDataset } from '../../src/core/data/bandit';
import { ReplaySampler } from '../../src/core/data/replay';
import { Rng } from '../../src/core/rng';

describe('replay sampler', () => {
  const data = banditDataset('25g', 'hard', 500).transitions;

  it('samples minibatches with replacement from the random stream', () => {
    const rng = new Rng(3);
    const batch = new ReplaySampler(data, 499).sampleArrays(rng);
    expect(batch.size).toBe(499);
    expect(rng.state).not.toEqual(new Rng(3).state);
    const rows = new Set<string>();
    for (let i = 0; i < batch.size; i++) rows.add(`${batch.actions[2 * i]},${batch.actions[2 * i + 1]}`);
    // 499 draws with replacement from 500 leave about 37% out; a permutation would leave one.
    expect(rows.size).toBeLessThan(400);
  });

  it('uses the whole dataset, each transition once and in order, when the batch is its size (the toy script\'s full batch)', () => {
    const rng = new Rng(3);
    const batch = new ReplaySampler(data, data.size).sampleArrays(rng);
    expect(batch.size).toBe(data.size);
    expect(batch.actions).toEqual(data.actions);
    expect(batch.rewards).toEqual(data.rewards);
    expect(batch.states).toEqual(data.states);
    expect(rng.state).toEqual(new Rng(3).state);
  });
});
