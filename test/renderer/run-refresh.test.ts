import { describe, expect, it } from 'vitest';
import { concernsRuns } from '../../src/renderer/selection';

describe('concernsRuns', () => {
  const ids = new Set([3, 7]);
  it('takes the progress and row changes of the watched runs only', () => {
    expect(concernsRuns({ type: 'runs-changed', runIds: [1, 7] }, ids)).toBe(true);
    expect(concernsRuns({ type: 'runs-changed', runIds: [1, 2] }, ids)).toBe(false);
    expect(concernsRuns({ type: 'datasets-changed' }, ids)).toBe(false);
    const progress = { runId: 3, step: 10, total: 100, phase: 'train' as const, stepsPerSec: 5, etaSec: 18, metrics: {} };
    expect(concernsRuns({ type: 'run-progress', ...progress }, ids)).toBe(true);
    expect(concernsRuns({ type: 'run-progress', ...progress, runId: 4 }, ids)).toBe(false);
  });
});
