import { describe, expect, it } from 'vitest';
import type { DatasetDto, RunSummary } from '../../src/api/contract';
import { defaultDataset, defaultSelection, latestPair } from '../../src/renderer/selection';

/** A run as the list gives it, with only what the selections read filled in. */
const run = (id: number, algo: 'dtql' | 'kl', status: RunSummary['status'], task = 'bandit-25g-hard', seed = 2): RunSummary =>
  ({ id, algo, status, task, seed, archived: false }) as RunSummary;

describe("Compare's selections when the address names none", () => {
  it('compares only completed runs: a stopped partial run stays out of the default group', () => {
    const runs = [run(5, 'dtql', 'stopped'), run(4, 'kl', 'completed'), run(3, 'dtql', 'completed'), run(2, 'dtql', 'running')];
    expect(defaultSelection(runs)).toEqual([3, 4]);
    expect(defaultSelection([run(2, 'dtql', 'completed'), run(1, 'kl', 'failed')])).toEqual([]);
  });

  it('shows the newest one-click pair, running or ended: the KL run and the trust-region run of its task and seed before it', () => {
    const runs = [run(9, 'kl', 'running', 'bandit-swiss-far', 0), run(8, 'dtql', 'running', 'bandit-swiss-far', 0), run(7, 'kl', 'completed'), run(6, 'dtql', 'completed')];
    expect(latestPair(runs)).toEqual({ task: 'bandit-swiss-far', tr: 8, kl: 9 });
    expect(latestPair(runs.slice(2))).toEqual({ task: 'bandit-25g-hard', tr: 6, kl: 7 });
    expect(latestPair([run(3, 'dtql', 'completed')])).toBeNull();
  });
});

describe("the New run form's dataset", () => {
  const dataset = (id: number, suggestedTask: string | null, warnings: string[] = []): DatasetDto => ({ id, suggestedTask, warnings }) as DatasetDto;

  it('starts with a clean dataset over one just imported with warnings, and with one made for the task over another', () => {
    // Newest first, as the list comes.
    const flawed = dataset(3, 'hopper-medium-v2', ['actions: 6 of 84 values lie outside [-1, 1]']);
    expect(defaultDataset([flawed, dataset(2, null), dataset(1, 'hopper-medium-v2')], 'hopper-medium-v2')?.id).toBe(1);
    expect(defaultDataset([flawed, dataset(2, null)], 'hopper-medium-v2')?.id).toBe(2);
    expect(defaultDataset([dataset(4, null, ['x']), flawed], 'hopper-medium-v2')?.id).toBe(3);
    expect(defaultDataset([], 'hopper-medium-v2')).toBeNull();
  });
});
