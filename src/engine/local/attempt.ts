/** A training attempt as the owner of the store starts it: the run claimed for it, and the job its training process gets. */
import crypto from 'node:crypto';
import os from 'node:os';
import { ApiError, badInput } from '../../api/errors';
import { listCheckpoints } from '../../store/checkpoints';
import { getDataset } from '../../store/datasets';
import type { Db } from '../../store/db';
import { claimRun, getRun } from '../../store/runs';
import { readNewestCheckpoint } from '../training/checkpoint';
import { datasetFile } from '../datasets/datasets';
import type { TrainJob } from '../training/run-events';

const RESUMABLE = new Set(['queued', 'stopped', 'interrupted', 'failed', 'diverged']);

/**
 * Claims a run for a new attempt owned by this process and returns the attempt's job. Refuses a
 * run that cannot train (bad input) or that another process claimed first (conflict); a dataset
 * whose file is gone is refused before anything changes.
 */
export function startAttempt(db: Db, home: string, runId: number): TrainJob {
  const run = getRun(db, runId);
  if (!RESUMABLE.has(run.status)) throw badInput(`run ${runId} is ${run.status}; only queued, stopped, interrupted, failed or diverged runs can train`);
  const file = run.datasetId === null ? null : datasetFile(getDataset(db, run.datasetId));
  const checkpoints = listCheckpoints(db, runId).map(({ step, path, sha256 }) => ({ step, path, sha256 }));
  refuseUnreadableCheckpoints(runId, checkpoints);
  const token = crypto.randomUUID();
  if (!claimRun(db, runId, { token, pid: process.pid, host: os.hostname(), worker: null })) throw new ApiError('conflict', `run ${runId} is already being trained by another process`);
  return {
    runId,
    token,
    home,
    task: run.task,
    algo: run.algo,
    seed: run.seed,
    config: run.config,
    stepsDone: run.stepsDone,
    bestScore: run.bestScore,
    checkpoints,
    datasetFile: file,
    worker: null,
  };
}

/**
 * A run with checkpoints none of which can be read would silently train again from step 0 and
 * write over its metrics: refused, naming why, before anything changes. `dtql resume --restart`
 * starts a new run with its settings instead.
 */
function refuseUnreadableCheckpoints(runId: number, checkpoints: TrainJob['checkpoints']): void {
  if (checkpoints.length === 0) return;
  const found = readNewestCheckpoint(checkpoints);
  if ('buffer' in found) return;
  throw badInput(
    `run ${runId} cannot resume: none of its ${checkpoints.length} checkpoints can be read (${found.problems.join('; ')}); resuming would train it again from step 0 over its metrics. ` +
      `\`dtql resume ${runId} --restart\` starts a new run with the same settings and leaves this one as it is`,
  );
}
