/**
 * What a training process says about its run, and the one place those words become rows. A
 * training process (a local child, an Electron utility process, a remote worker, or the CLI's
 * own process) never writes the store: it sends these events over its channel, and the process
 * that owns the store applies each one through `applyRunEvent`, in one transaction.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { progressSchema, runIdSchema } from '../../api/contract';
import { storageProblem } from '../../api/errors';
import { algoSchema, trainConfigSchema } from '../../common/config';
import { insertCheckpoint, pruneCheckpointRows } from '../../store/checkpoints';
import type { Db } from '../../store/db';
import { insertMetrics } from '../../store/metrics';
import { claimRun, finishRun, isCurrentAttempt, recordBackend, recordProgress, setRunStatus } from '../../store/runs';
import { saveSamples } from '../../store/samples';
import { KEEP_CHECKPOINTS, checkpointFile } from './checkpoint';

/** One training attempt of a run, with everything its process needs and nothing of the store. */
export const trainJobSchema = z.object({
  runId: runIdSchema,
  /** Names this attempt; the owner ignores events of any other. */
  token: z.string().min(1),
  /** The data folder its checkpoint files go to (a remote worker's scratch folder). */
  home: z.string().min(1),
  task: z.string(),
  algo: algoSchema,
  seed: z.number().int(),
  config: trainConfigSchema,
  /** Steps the run had done before this attempt (it keeps them if the attempt fails to start). */
  stepsDone: z.number().int().nonnegative(),
  /** The best score of earlier attempts, so the run's best stays the best. */
  bestScore: z.number().nullable(),
  /** The run's checkpoints, newest first, each proved by its SHA-256 before use. */
  checkpoints: z.array(z.object({ step: z.number().int().nonnegative(), path: z.string(), sha256: z.string() })),
  /** The imported dataset's file; null for tasks that make their own data. */
  datasetFile: z.string().nullable(),
  /** The remote worker training it; null for this machine's own processes. */
  worker: z.string().nullable(),
});
export type TrainJob = z.infer<typeof trainJobSchema>;

const metricRowSchema = z.object({ name: z.string().min(1), step: z.number().int().nonnegative(), wallTime: z.number(), value: z.number() });

const attempt = { runId: runIdSchema, token: z.string().min(1) };
/**
 * Metric rows logged since the last event, with the step count they reach: they land with the event.
 * So do the seconds trained since the last event (pauses excluded), which add up to the run's duration.
 */
const logged = { stepsDone: z.number().int().nonnegative(), rows: z.array(metricRowSchema), trainSeconds: z.number().nonnegative().default(0) };

export const runEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'),
    ...attempt,
    worker: z.string().nullable(),
    host: z.string(),
    pid: z.number().int(),
    backend: z.string(),
    backendReason: z.string(),
    versions: z.record(z.string(), z.string()),
  }),
  z.object({ type: z.literal('metrics'), ...attempt, ...logged }),
  z.object({ type: z.literal('progress'), ...attempt, progress: progressSchema }),
  /** A checkpoint file written (in the owner's data folder, or sent beside the event by a remote worker). */
  z.object({ type: z.literal('checkpoint'), ...attempt, ...logged, step: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive() }),
  /** One evaluation's policy actions (float32, little-endian, base64), landing with its outcome's rows. */
  z.object({ type: z.literal('samples'), ...attempt, ...logged, step: z.number().int().nonnegative(), actions: z.string().base64() }),
  z.object({ type: z.literal('status'), ...attempt, ...logged, status: z.enum(['running', 'paused']) }),
  z.object({
    type: z.literal('ended'),
    ...attempt,
    ...logged,
    status: z.enum(['completed', 'stopped', 'failed', 'diverged', 'interrupted']),
    error: z.string().nullable(),
    finalMetrics: z.record(z.string(), z.number()),
    bestScore: z.number().nullable(),
    finalScore: z.number().nullable(),
  }),
]);
export type RunEvent = z.infer<typeof runEventSchema>;
export type EndedEvent = Extract<RunEvent, { type: 'ended' }>;

export const encodeSamples = (actions: Float32Array): string => Buffer.from(actions.buffer, actions.byteOffset, actions.byteLength).toString('base64');
export const decodeSamples = (text: string): Float32Array => new Float32Array(new Uint8Array(Buffer.from(text, 'base64')).buffer);

/** Where a training process sends its events: IPC, a Redis stream, or straight into the store. */
export interface RunEventSink {
  /** Sends an event, in order. Throws when an earlier one could not be recorded: the run cannot go on. */
  send(event: RunEvent): void;
  /** Resolves once everything sent so far is recorded, or handed to the channel. */
  flushed(): Promise<void>;
  /** Sends the attempt's end; resolves once it is recorded or handed on, rejects where it could not be. */
  end(event: EndedEvent): Promise<void>;
}

/**
 * Applies one event in one transaction; returns the runs whose row changed (for the UI). An event
 * of a superseded attempt, or of a deleted run, changes nothing. Checkpoints beyond the newest
 * KEEP_CHECKPOINTS lose their rows in the same transaction and their files after it.
 */
export function applyRunEvent(db: Db, home: string, event: RunEvent): number[] {
  if (event.type === 'progress') return [];
  const { runId, token } = event;
  const unused: string[] = [];
  const changed = db.transaction((): number[] => {
    if (event.type === 'started') {
      // A remote worker's attempt takes the run over; a local one was claimed before its process started.
      const current = event.worker !== null ? claimRun(db, runId, { token, pid: event.pid, host: event.host, worker: event.worker }, { takeOver: true }) : isCurrentAttempt(db, runId, token);
      if (!current) return [];
      recordBackend(db, runId, event);
      return [runId];
    }
    if (!isCurrentAttempt(db, runId, token)) return [];
    if ('rows' in event) {
      insertMetrics(db, runId, event.rows);
      recordProgress(db, runId, event.stepsDone, event.trainSeconds);
    }
    switch (event.type) {
      case 'metrics':
        return [];
      case 'checkpoint':
        insertCheckpoint(db, { runId, step: event.step, path: checkpointFile(home, runId, event.step), sha256: event.sha256, bytes: event.bytes });
        unused.push(...pruneCheckpointRows(db, runId, KEEP_CHECKPOINTS));
        return [];
      case 'samples':
        saveSamples(db, runId, event.step, decodeSamples(event.actions));
        return [];
      case 'status':
        setRunStatus(db, runId, event.status);
        return [runId];
      case 'ended':
        finishRun(db, runId, { status: event.status, error: event.error, stepsDone: event.stepsDone, finalMetrics: event.finalMetrics, bestScore: event.bestScore, finalScore: event.finalScore });
        return [runId];
    }
  })();
  for (const file of unused) fs.rmSync(file, { force: true });
  return changed;
}

/** How long events wait for another process to release the store's write lock before their run fails. */
export const MAX_STORE_BUSY_MS = 120_000;
const BUSY_RETRY_MS = 250;

export interface ApplierHandlers {
  /** After an event landed; `changed` as applyRunEvent returns it. */
  applied?: (event: RunEvent, changed: number[]) => void;
  /** An event could not be recorded (a full disk, a lock held too long): the run's later events are dropped. */
  failed: (event: RunEvent, err: unknown) => void;
}

/**
 * The owner's queue of events, applied in arrival order. While another process holds the write
 * lock, events wait here (the owner's event loop never waits on the lock) and training goes on;
 * they land once it is free. An end that does not fit with its metric rows lands without them.
 */
export class RunEventApplier {
  private readonly queue: RunEvent[] = [];
  private busySince: number | null = null;
  private retry: NodeJS.Timeout | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly home: string,
    private readonly handlers: ApplierHandlers,
  ) {}

  push(event: RunEvent): void {
    this.queue.push(event);
    this.drain();
  }

  /** Whether events of this run (or any run) still wait. */
  pending(runId?: number): boolean {
    return runId === undefined ? this.queue.length > 0 : this.queue.some((e) => e.runId === runId);
  }

  /** Resolves once every event pushed so far is applied or dropped. */
  drained(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  close(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }

  private drain(): void {
    if (this.retry) return;
    while (this.queue.length) {
      const event = this.queue[0] as RunEvent;
      let changed: number[];
      try {
        changed = this.applyOrShorten(event);
      } catch (err) {
        const now = Date.now();
        if (storageProblem(err)?.code === 'busy' && now - (this.busySince ??= now) < MAX_STORE_BUSY_MS) {
          this.retry = setTimeout(() => {
            this.retry = null;
            this.drain();
          }, BUSY_RETRY_MS);
          this.retry.unref();
          return;
        }
        this.busySince = null;
        this.queue.splice(0, this.queue.length, ...this.queue.filter((e) => e.runId !== event.runId));
        this.handlers.failed(event, err);
        continue;
      }
      this.busySince = null;
      this.queue.shift();
      this.handlers.applied?.(event, changed);
    }
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  private applyOrShorten(event: RunEvent): number[] {
    try {
      return applyRunEvent(this.db, this.home, event);
    } catch (err) {
      // The ending alone is a small update of an existing row; the rows with it may not fit.
      if (event.type !== 'ended' || event.rows.length === 0 || storageProblem(err)?.code === 'busy') throw err;
      return applyRunEvent(this.db, this.home, { ...event, rows: [] });
    }
  }
}
