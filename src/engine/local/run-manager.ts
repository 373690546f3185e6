import os from 'node:os';
import { ApiError, badInput, messageOf, storageProblem } from '../../api/errors';
import { describeIssues } from '../../common/config';
import type { RunSummary } from '../../api/contract';
import type { Db } from '../../store/db';
import { finishRun, getRun, isCurrentAttempt, queuedRunIds, requestControl, runOwner, setRunStatus, takeControlRequests, type ControlRequest } from '../../store/runs';
import { startAttempt } from './attempt';
import { engineEntry } from '../entries';
import type { EventHub } from '../events';
import { RunEventApplier, runEventSchema, type RunEvent } from '../training/run-events';
import type { WorkerCommand } from './run-protocol';
import type { Progress } from '../training/trainer';
import { forkTraining, type SpawnTraining, type TrainingProcess } from './training-process';

const WORKER_ENTRY = engineEntry('run-worker');

/**
 * Runs at once: one per core. A run on a CPU backend uses two threads (the critic's worker) but
 * keeps neither busy all the time: measured on 2 cores, two runs side by side train at 0.64x and
 * 0.82x of their speed alone, 1.46 runs' worth of steps together (README, Speed).
 */
export function defaultConcurrency(): number {
  return Math.max(1, os.availableParallelism());
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

/**
 * Asks another process of this store (a CLI's `dtql train`, a CLI sweep) to pause, resume or stop
 * a run it owns; that owner polls for the request. Refuses what the run's state does not allow.
 */
export function controlElsewhere(db: Db, events: EventHub, run: RunSummary, request: ControlRequest): void {
  const allowed = request === 'pause' ? run.status === 'running' : request === 'resume' ? run.status === 'paused' : run.status === 'running' || run.status === 'paused';
  if (!allowed) throw request === 'stop' ? cannotStop(run) : badInput(`run ${run.id} is ${run.status}, so it cannot ${request}`);
  requestControl(db, run.id, request);
  events.publish({ type: 'runs-changed', runIds: [run.id] });
}

/** How often a queue looks for control requests other processes left for its runs. */
const CONTROL_POLL_MS = 500;

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
  /** Resolves once what it was handed is safely passed on (remote: the jobs are in Redis); a local queue has nothing pending. */
  settled(): Promise<void>;
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
  private readonly applier: RunEventApplier;
  private readonly controlPoll: NodeJS.Timeout;
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
  ) {
    this.applier = new RunEventApplier(db, home, {
      applied: (_event, changed) => {
        if (changed.length) this.events.publish({ type: 'runs-changed', runIds: changed });
      },
      failed: (event, err) => this.failAttempt(event.runId, `${storageProblem(err)?.message ?? messageOf(err)}; the run's last recorded checkpoint is kept`),
    });
    this.controlPoll = setInterval(() => this.poll(), CONTROL_POLL_MS);
    this.controlPoll.unref();
  }

  async settled(): Promise<void> {
    // Nothing is handed on: runs stay in the store until a training process of this queue takes them.
  }

  /** Starts queued runs while slots are free. */
  schedule(): void {
    // Runs twice a second: with every slot taken (or none, at concurrency 0) it reads nothing.
    if (this.closing || this.active.size >= this.concurrency) return;
    // A sweep of its own (scope) may sit behind others in the queue; otherwise the oldest few are enough.
    for (const id of queuedRunIds(this.db, this.scope ? undefined : this.concurrency - this.active.size)) {
      if (this.active.size >= this.concurrency) return;
      if (this.scope && !this.scope(id)) continue;
      if (!this.active.has(id)) this.launch(id);
    }
  }

  private launch(runId: number): void {
    let job;
    try {
      job = startAttempt(this.db, this.home, runId);
    } catch (err) {
      // Another process claimed it first: it is that process's run. A locked store: the next pass
      // tries again. Anything else ends the run with the reason.
      if ((err instanceof ApiError && err.code === 'conflict') || storageProblem(err)?.code === 'busy') return;
      try {
        finishRun(this.db, runId, { status: 'failed', error: messageOf(err), stepsDone: getRun(this.db, runId).stepsDone });
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
      } catch (recordErr) {
        // A store that cannot take the end now: the run stays queued and the next pass tries again.
        if (!storageProblem(recordErr)) throw recordErr;
      }
      return;
    }
    const child = this.spawnTraining(WORKER_ENTRY, [Buffer.from(JSON.stringify(job)).toString('base64')]);
    let stderr = '';
    child.onStderr((text) => {
      stderr = (stderr + text).slice(-2000);
    });
    child.onMessage((message) => this.receive(runId, job.token, child, message));
    const exited = new Promise<void>((resolve) =>
      child.onExit((code, signal) => {
        this.active.delete(runId);
        this.progress.delete(runId);
        // Its events that still wait for the store land first; the end it reported wins.
        void this.applier.drained().then(() => {
          this.settleOrRetry(runId, job.token, code, signal, stderr.trim().split('\n').pop() ?? '');
          this.events.publish({ type: 'runs-changed', runIds: [runId] });
          this.schedule();
          resolve();
        });
      }),
    );
    this.active.set(runId, { process: child, exited });
    this.events.publish({ type: 'runs-changed', runIds: [runId] });
  }

  /** One message of a training process: checked against the event schema, then applied in order. */
  private receive(runId: number, token: string, child: TrainingProcess, message: unknown): void {
    const parsed = runEventSchema.safeParse(message);
    const event: RunEvent | null = parsed.success && parsed.data.runId === runId && parsed.data.token === token ? parsed.data : null;
    if (!event) {
      const why = parsed.success ? `an event of ${parsed.data.runId === runId ? 'another attempt' : `run ${parsed.data.runId}`}` : describeIssues(parsed.error);
      this.failAttempt(runId, `the training process sent a malformed event (${why}); nothing of it was applied`);
      child.kill();
      return;
    }
    if (event.type === 'progress') {
      this.progress.set(runId, event.progress);
      this.events.publish({ type: 'run-progress', ...event.progress });
      return;
    }
    this.applier.push(event);
  }

  /** Ends an attempt that cannot go on as failed (its process is killed), unless the run already ended. */
  private failAttempt(runId: number, error: string): void {
    try {
      const run = getRun(this.db, runId);
      if (run.status === 'running' || run.status === 'paused') finishRun(this.db, runId, { status: 'failed', error, stepsDone: run.stepsDone });
    } catch (err) {
      process.stderr.write(`could not record that run ${runId} failed (${error}): ${messageOf(err)}\n`);
    }
    this.active.get(runId)?.process.kill();
    this.events.publish({ type: 'runs-changed', runIds: [runId] });
  }

  /**
   * Every half second: pause, resume or stop asked of this manager's runs by another process
   * (through the store), and queued runs a locked store kept from starting.
   */
  private poll(): void {
    try {
      if (this.active.size) for (const [runId, request] of takeControlRequests(this.db, [...this.active.keys()])) this.send(runId, request);
      this.schedule();
    } catch (err) {
      if (!storageProblem(err)) process.stderr.write(`run queue: ${messageOf(err)}\n`);
    }
  }

  /**
   * Settles an ended process's run; while the store cannot be written (locked, disk full) it tries
   * again every few seconds instead of taking the app down, as long as the manager is open.
   */
  private settleOrRetry(runId: number, token: string, code: number | null, signal: string | null, lastError: string): void {
    try {
      this.settle(runId, token, code, signal, lastError);
    } catch (err) {
      if (!storageProblem(err)) {
        process.stderr.write(`could not record how run ${runId} ended: ${messageOf(err)}\n`);
        return;
      }
      if (this.closing) return;
      setTimeout(() => {
        this.settleOrRetry(runId, token, code, signal, lastError);
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
      }, SETTLE_RETRY_MS).unref();
    }
  }

  /** A process that ended without its end recorded gets an honest one. */
  private settle(runId: number, token: string, code: number | null, signal: string | null, lastError: string): void {
    const run = getRun(this.db, runId);
    if (run.status !== 'running' && run.status !== 'paused') return;
    // A run another attempt holds now is not this process's to settle.
    const owner = runOwner(this.db, runId);
    if (!owner || owner.pid !== process.pid || !isCurrentAttempt(this.db, runId, token)) return;
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
    const run = getRun(this.db, runId);
    if (!this.active.has(runId) && run.status === 'running') return controlElsewhere(this.db, this.events, run, 'pause');
    if (run.status !== 'running' || !this.send(runId, 'pause')) throw badInput(`run ${runId} is not training, so it cannot pause`);
  }

  stop(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'queued' && !this.active.has(runId)) return stopQueuedRun(this.db, this.events, run);
    if (!this.active.has(runId) && (run.status === 'running' || run.status === 'paused')) return controlElsewhere(this.db, this.events, run, 'stop');
    if (!this.send(runId, 'stop')) throw cannotStop(run);
  }

  /** A paused run continues; an ended run is queued again and continues from its last checkpoint. */
  resume(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'paused' && !this.active.has(runId)) return controlElsewhere(this.db, this.events, run, 'resume');
    if (run.status === 'paused' && this.send(runId, 'resume')) return;
    requeueEndedRun(this.db, this.events, run);
    this.schedule();
  }

  /** The process id of a run's training process while it has one. */
  trainingPid(runId: number): number | undefined {
    return this.active.get(runId)?.process.pid;
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
    clearInterval(this.controlPoll);
    await Promise.all(
      [...this.active.entries()].map(async ([runId, { process: child, exited }]) => {
        const timer = setTimeout(() => child.kill(), graceMs);
        if (!this.send(runId, 'stop')) child.kill();
        await exited;
        clearTimeout(timer);
      }),
    );
    this.applier.close();
  }
}
