import os from 'node:os';
import { badInput, messageOf, storageProblem } from '../api/errors';
import type { RunSummary } from '../api/contract';
import type { Db } from '../store/db';
import { finishRun, getRun, queuedRunIds, runOwner, setRunStatus } from '../store/runs';
import { engineEntry } from './entries';
import type { EventHub } from './events';
import type { WorkerCommand, WorkerMessage } from './run-protocol';
import type { Progress } from './trainer';
import { forkTraining, type SpawnTraining, type TrainingProcess } from './training-process';

const WORKER_ENTRY = engineEntry('run-worker-entry.mjs');

/** Runs at once: each run already uses two threads on the CPU backends (critic worker). */
export function defaultConcurrency(): number {
  return Math.max(1, Math.floor(os.availableParallelism() / 2));
}

const SETTLE_RETRY_MS = 3000;

const ENDED = new Set(['stopped', 'interrupted', 'failed', 'diverged']);

/** A queued run that never started ends as stopped (the same for every queue). */
export function stopQueuedRun(db: Db, events: EventHub, run: RunSummary): void {
  finishRun(db, run.id, { status: 'stopped', error: null, stepsDone: run.stepsDone });
  events.publish({ type: 'runs-changed', runIds: [run.id] });
}

/** An ended run goes back in the queue and continues from its last checkpoint; any other state is refused. */
export function requeueEndedRun(db: Db, events: EventHub, run: RunSummary): void {
  if (!ENDED.has(run.status)) throw badInput(`run ${run.id} is ${run.status}; only paused, stopped, interrupted, failed or diverged runs can resume`);
  setRunStatus(db, run.id, 'queued');
  events.publish({ type: 'runs-changed', runIds: [run.id] });
}

/** Refuses to stop a run that is neither queued, running nor paused. */
export const cannotStop = (run: RunSummary) => badInput(`run ${run.id} is ${run.status}; only queued, running or paused runs can stop`);

/** What the back end asks of a queue, local (training processes here) or remote (workers through Redis). */
export interface RunQueue {
  concurrency: number;
  /** Which queued runs it may start (all unless set: a CLI sweep takes only its own). */
  scope: ((runId: number) => boolean) | null;
  schedule(): void;
  pause(runId: number): void;
  stop(runId: number): void;
  resume(runId: number): void;
  liveProgress(): Progress[];
  readonly activeRunIds: number[];
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * The queue: queued runs in the store, started oldest first in their own processes up to a
 * concurrency limit. A process that dies leaves its run interrupted (killed) or failed (crashed)
 * with a message; the app itself is never affected.
 */
export class RunManager implements RunQueue {
  private readonly active = new Map<number, { process: TrainingProcess; exited: Promise<void> }>();
  private readonly progress = new Map<number, Progress>();
  private closing = false;
  /** Which queued runs this manager may start (all of them unless set: a CLI sweep takes only its own). */
  scope: ((runId: number) => boolean) | null = null;

  constructor(
    private readonly db: Db,
    private readonly home: string,
    private readonly events: EventHub,
    public concurrency = defaultConcurrency(),
    /** How training processes start: a Node child here, an Electron utility process in the app. */
    private readonly spawnTraining: SpawnTraining = forkTraining,
  ) {}

  /** Starts queued runs while slots are free. */
  schedule(): void {
    if (this.closing) return;
    for (const id of queuedRunIds(this.db)) {
      if (this.active.size >= this.concurrency) return;
      if (this.scope && !this.scope(id)) continue;
      if (!this.active.has(id)) this.launch(id);
    }
  }

  private launch(runId: number): void {
    const child = this.spawnTraining(WORKER_ENTRY, [String(runId), this.home]);
    let stderr = '';
    child.onStderr((text) => {
      stderr = (stderr + text).slice(-2000);
    });
    child.onMessage((message: WorkerMessage) => {
      if (message.type === 'progress') {
        this.progress.set(runId, message.progress);
        this.events.publish({ type: 'run-progress', ...message.progress });
      } else {
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
      }
    });
    const exited = new Promise<void>((resolve) =>
      child.onExit((code, signal) => {
        this.active.delete(runId);
        this.progress.delete(runId);
        this.settleOrRetry(runId, child.pid, code, signal, stderr.trim().split('\n').pop() ?? '');
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
        this.schedule();
        resolve();
      }),
    );
    this.active.set(runId, { process: child, exited });
    this.events.publish({ type: 'runs-changed', runIds: [runId] });
  }

  /**
   * Settles an ended process's run; while the store cannot be written (locked, disk full) it tries
   * again every few seconds instead of taking the app down, as long as the manager is open.
   */
  private settleOrRetry(runId: number, pid: number | undefined, code: number | null, signal: string | null, lastError: string): void {
    try {
      this.settle(runId, pid, code, signal, lastError);
    } catch (err) {
      if (!storageProblem(err)) {
        process.stderr.write(`could not record how run ${runId} ended: ${messageOf(err)}\n`);
        return;
      }
      if (this.closing) return;
      setTimeout(() => {
        this.settleOrRetry(runId, pid, code, signal, lastError);
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
      }, SETTLE_RETRY_MS).unref();
    }
  }

  /** A process that ended without recording an end gets an honest one. */
  private settle(runId: number, pid: number | undefined, code: number | null, signal: string | null, lastError: string): void {
    const run = getRun(this.db, runId);
    if (run.status !== 'running' && run.status !== 'paused' && run.status !== 'queued') return;
    // A run held by another live process (it claimed the run first) is not this child's to settle.
    const owner = runOwner(this.db, runId);
    if (owner && owner.pid !== pid) return;
    if (signal || (code === null && !lastError)) {
      finishRun(this.db, runId, { status: 'interrupted', error: `the training process was killed (${signal ?? 'no exit code'}); resume continues from the last checkpoint`, stepsDone: run.stepsDone });
    } else {
      finishRun(this.db, runId, { status: 'failed', error: lastError || `the training process exited with code ${code}`, stepsDone: run.stepsDone });
    }
  }

  private send(runId: number, command: WorkerCommand['command']): boolean {
    return this.active.get(runId)?.process.send({ type: 'control', command } satisfies WorkerCommand) ?? false;
  }

  pause(runId: number): void {
    if (getRun(this.db, runId).status !== 'running' || !this.send(runId, 'pause')) throw badInput(`run ${runId} is not training, so it cannot pause`);
  }

  stop(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'queued' && !this.active.has(runId)) return stopQueuedRun(this.db, this.events, run);
    if (!this.send(runId, 'stop')) throw cannotStop(run);
  }

  /** A paused run continues; an ended run is queued again and continues from its last checkpoint. */
  resume(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'paused' && this.send(runId, 'resume')) return;
    requeueEndedRun(this.db, this.events, run);
    this.schedule();
  }

  liveProgress(): Progress[] {
    return [...this.progress.values()];
  }

  get activeRunIds(): number[] {
    return [...this.active.keys()];
  }

  /** Asks every training process to stop with a checkpoint, then waits for them (killing after `graceMs`). */
  async shutdown(graceMs = 15_000): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.active.entries()].map(async ([runId, { process: child, exited }]) => {
        const timer = setTimeout(() => child.kill(), graceMs);
        if (!this.send(runId, 'stop')) child.kill();
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
