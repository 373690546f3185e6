/** What the pages pick when the user has not: pure functions over the runs and datasets listed. */
import type { ApiEvent, DatasetDto, RunSummary } from '../api/contract';

/**
 * The dataset a new run of `taskId` starts with, among those of fitting sizes: one made for the
 * task without warnings, else any without warnings, else one made for the task, else the newest.
 * A file just imported with warnings (clipped actions, wrong sizes for its name) is never the default
 * over a clean one.
 */
export function defaultDataset(fitting: DatasetDto[], taskId: string): DatasetDto | null {
  const clean = fitting.filter((d) => d.warnings.length === 0);
  const forTask = (list: DatasetDto[]) => list.find((d) => d.suggestedTask === taskId);
  return forTask(clean) ?? clean[0] ?? forTask(fitting) ?? fitting[0] ?? null;
}

/**
 * With nothing chosen, the paper's comparison: every completed run of the most recent task that has
 * completed runs of both trust region and KL (a stopped or failed run would sit as a partial result
 * beside finished ones).
 */
export function defaultSelection(runs: RunSummary[]): number[] {
  const ended = runs.filter((r) => !r.archived && r.status === 'completed');
  for (const r of ended) {
    const same = ended.filter((x) => x.task === r.task);
    if (same.some((x) => x.algo === 'dtql') && same.some((x) => x.algo === 'kl')) return same.map((x) => x.id).sort((a, b) => a - b);
  }
  return [];
}

/** The tag the one-click pair's runs carry. */
export const PAIR_TAG = 'tr-vs-kl';

/** The newest one-click pair (newest first in `runs`): a KL run and the trust-region run of its task and seed started just before it. */
export function latestPair(runs: RunSummary[]): { task: string; tr: number; kl: number } | null {
  for (const kl of runs) {
    if (kl.algo !== 'kl') continue;
    const tr = runs.find((r) => r.algo === 'dtql' && r.id < kl.id && r.task === kl.task && r.seed === kl.seed);
    if (tr) return { task: kl.task, tr: tr.id, kl: kl.id };
  }
  return null;
}

/** Whether a live event concerns one of the runs: its progress, or a change of its row. */
export function concernsRuns(event: ApiEvent, runIds: ReadonlySet<number>): boolean {
  if (event.type === 'run-progress') return runIds.has(event.runId);
  if (event.type === 'runs-changed') return event.runIds.some((id) => runIds.has(id));
  return false;
}
