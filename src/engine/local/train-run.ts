/**
 * The owner of the store training a run in its own process (the CLI's `train` and `resume`): the
 * same trainer as a training process, its events applied to the store as they come.
 */
import type { RunDetail } from '../../api/contract';
import type { BackendInfo } from '../../core/tf/backend';
import type { Db } from '../../store/db';
import { getRun, insertRuns, takeControlRequests, type NewRun } from '../../store/runs';
import { startAttempt } from './attempt';
import { RunEventApplier, type EndedEvent, type RunEvent, type RunEventSink } from '../training/run-events';
import { trainJob, type TrainHooks } from '../training/trainer';

/** Events of a run trained in this process, applied to the store as they come (waiting out another process's lock). */
class StoreSink implements RunEventSink {
  private failure: unknown = null;
  private endFailure: unknown = null;
  private readonly applier: RunEventApplier;

  constructor(db: Db, home: string) {
    this.applier = new RunEventApplier(db, home, {
      failed: (event, err) => {
        if (event.type === 'ended') this.endFailure = err;
        else this.failure ??= err;
      },
    });
  }

  send(event: RunEvent): void {
    if (this.failure) throw this.failure;
    this.applier.push(event);
    if (this.failure) throw this.failure;
  }

  async flushed(): Promise<void> {
    await this.applier.drained();
    if (this.failure) throw this.failure;
  }

  async end(event: EndedEvent): Promise<void> {
    // After a failure the end is still worth recording: it says why.
    this.applier.push(event);
    await this.applier.drained();
    this.applier.close();
    if (this.endFailure) throw this.endFailure;
  }
}

/** How often a run trained here looks for a pause, resume or stop asked by another process (the app). */
const CONTROL_POLL_MS = 500;

export interface TrainResult {
  run: RunDetail;
  backend: BackendInfo;
  stepsPerSec: number;
}

/**
 * Trains a stored run in this process, which owns the store: claims it, trains it, and records
 * everything through the same event path as a training process would. The app may pause, resume
 * or stop it meanwhile (through the store); `hooks.control` is asked as well. `run` is a stored
 * run's id, or a new run: stored and claimed in one transaction, so no app on the same data folder
 * ever sees it queued and starts it itself.
 */
export async function trainRun(db: Db, home: string, run: number | NewRun, hooks: TrainHooks = {}): Promise<TrainResult> {
  const job = db.transaction(() => startAttempt(db, home, typeof run === 'number' ? run : (insertRuns(db, [run])[0] as number)))();
  const { runId } = job;
  let requested: 'pause' | 'stop' | null = null;
  const poll = setInterval(() => {
    try {
      const request = takeControlRequests(db, [runId]).get(runId);
      if (request) requested = request === 'resume' ? null : request;
    } catch {
      // A locked store delays the request to the next poll.
    }
  }, CONTROL_POLL_MS);
  poll.unref();
  try {
    const outcome = await trainJob(job, new StoreSink(db, home), { ...hooks, control: () => hooks.control?.() ?? requested });
    return { run: getRun(db, runId), backend: outcome.backend, stepsPerSec: outcome.stepsPerSec };
  } finally {
    clearInterval(poll);
  }
}
