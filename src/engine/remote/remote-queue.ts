import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { badInput, messageOf, storageProblem } from '../../api/errors';
import { describeIssues } from '../../common/config';
import { requireTask } from '../../core/tasks';
import { listCheckpoints } from '../../store/checkpoints';
import type { Db } from '../../store/db';
import { getMeta, setMeta, storeId } from '../../store/meta';
import { finishRun, getRun, isCurrentAttempt, queuedRunIds, remotelyHeldRunIds, setRunStatus } from '../../store/runs';
import { readNewestCheckpoint, sha256, writeRunCheckpoint } from '../training/checkpoint';
import type { EventHub } from '../events';
import { RUN_QUEUE, connectRedis, jobIdOf, remoteKeys, type RunJob } from './remote-protocol';
import { applyRunEvent, runEventSchema, type RunEvent } from '../training/run-events';
import { cannotStop, controlElsewhere, requeueEndedRun, stopQueuedRun, type RunQueue } from '../local/run-manager';
import type { Progress } from '../training/trainer';

/** Stream position applied to this store, kept in `meta` in the same transaction as the data. */
const CURSOR_KEY = 'remote_cursor';
/** How often the queue re-checks its runs against Redis (lost jobs, failed jobs, new queued runs). */
const RECONCILE_MS = 3000;
const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
/**
 * Queued runs already sent that one pass checks again (two Redis round trips each), in rotation:
 * a small queue is re-checked whole every pass, a queue of 100,000 a slice at a time, so a pass
 * stays short instead of walking every run every 3 s.
 */
export const RECHECK_PER_PASS = 500;

/**
 * The distributed queue (issue 10): queued runs become BullMQ jobs that `dtql worker` processes on
 * any machine take; what they produce comes back on the store's Redis stream and is written here
 * exactly as a local run would write it. Redis is the transport; this store stays the record.
 */
export class RemoteQueue implements RunQueue {
  concurrency: number;
  scope: ((runId: number) => boolean) | null = null;
  private readonly keys;
  private readonly progress = new Map<number, Progress>();
  private closed = false;
  private reconciling: Promise<void> | null = null;
  /** Queued runs this queue has sent to Redis, and where the next re-check slice starts. */
  private readonly sent = new Set<number>();
  private recheckFrom = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly collecting: Promise<void>;

  private constructor(
    private readonly db: Db,
    private readonly home: string,
    private readonly events: EventHub,
    private readonly redis: Redis,
    private readonly reader: Redis,
    private readonly queue: Queue,
    private readonly queueConnection: Redis,
    private readonly id: string,
    reconcileMs: number,
  ) {
    this.keys = remoteKeys(id);
    // Workers decide their own concurrency; here it only scales the sweep time estimate.
    this.concurrency = 1;
    this.timer = setInterval(() => this.schedule(), reconcileMs);
    this.timer.unref();
    this.collecting = this.collect();
  }

  /**
   * Connects (a bad URL, an unreachable server or wrong credentials throw a clear error) and starts
   * collecting; it reconciles with Redis every `reconcileMs` (tests that count passes slow it down).
   */
  static async open(db: Db, home: string, events: EventHub, redisUrl: string, scope: ((runId: number) => boolean) | null = null, reconcileMs = RECONCILE_MS): Promise<RemoteQueue> {
    const redis = await connectRedis(redisUrl);
    const reader = await connectRedis(redisUrl, { blocking: true });
    const queueConnection = await connectRedis(redisUrl, { blocking: true });
    const queue = new Queue(RUN_QUEUE, { connection: queueConnection });
    const remote = new RemoteQueue(db, home, events, redis, reader, queue, queueConnection, storeId(db), reconcileMs);
    remote.scope = scope;
    remote.schedule();
    return remote;
  }

  get activeRunIds(): number[] {
    return [...this.progress.keys()];
  }

  liveProgress(): Progress[] {
    return [...this.progress.values()];
  }

  /** Makes Redis match the store; runs one pass at a time. */
  schedule(): void {
    if (this.closed || this.reconciling) return;
    this.reconciling = this.reconcile()
      .catch((err: unknown) => {
        process.stderr.write(`remote queue: ${messageOf(err)}\n`);
      })
      .finally(() => {
        this.reconciling = null;
      });
  }

  /** Resolves once the current reconcile pass (if any) is done: tests and the CLI wait on it. */
  async settled(): Promise<void> {
    await this.reconciling;
  }

  private async reconcile(): Promise<void> {
    const queued = queuedRunIds(this.db).filter((runId) => !this.scope || this.scope(runId));
    const queuedSet = new Set(queued);
    for (const runId of this.sent) if (!queuedSet.has(runId)) this.sent.delete(runId);
    const fresh = queued.filter((runId) => !this.sent.has(runId));
    for (const runId of [...fresh, ...this.recheckSlice(queued.filter((id) => this.sent.has(id)))]) {
      await this.enqueue(runId);
      this.sent.add(runId);
    }
    // Runs a worker holds whose job Redis no longer knows (a restart without persistence) go back
    // in the queue; runs whose job failed without reporting an end get that end.
    for (const runId of remotelyHeldRunIds(this.db)) {
      const job = await this.queue.getJob(jobIdOf(this.id, runId));
      const state = job ? await job.getState() : 'missing';
      if (LIVE_JOB_STATES.has(state)) continue;
      if (state === 'failed') {
        const run = getRun(this.db, runId);
        finishRun(this.db, runId, { status: 'failed', error: `the worker's job failed: ${job?.failedReason ?? 'no reason given'}; resume continues from the last checkpoint`, stepsDone: run.stepsDone });
        this.events.publish({ type: 'runs-changed', runIds: [runId] });
      } else if (state === 'missing') {
        setRunStatus(this.db, runId, 'queued');
        await this.enqueue(runId);
      }
    }
  }

  /** The sent runs this pass checks again: all of them, or the next RECHECK_PER_PASS in rotation. */
  private recheckSlice(sent: number[]): number[] {
    if (sent.length <= RECHECK_PER_PASS) return sent;
    const from = this.recheckFrom % sent.length;
    this.recheckFrom = from + RECHECK_PER_PASS;
    const wrapped = Math.max(0, from + RECHECK_PER_PASS - sent.length);
    return [...sent.slice(from, from + RECHECK_PER_PASS), ...sent.slice(0, wrapped)];
  }

  private async enqueue(runId: number): Promise<void> {
    const run = getRun(this.db, runId);
    if (requireTask(run.task).dataset.kind !== 'generated') {
      finishRun(this.db, runId, { status: 'failed', error: `remote workers train tasks that make their own data; ${run.task} trains on an imported file: train it here (without Redis)`, stepsDone: run.stepsDone });
      this.events.publish({ type: 'runs-changed', runIds: [runId] });
      return;
    }
    const jobId = jobIdOf(this.id, runId);
    const existing = await this.queue.getJob(jobId);
    if (existing && LIVE_JOB_STATES.has(await existing.getState())) return;
    if (existing) await existing.remove();
    // The newest good checkpoint this store holds travels with a resumed run, in case Redis lost its copy.
    if (!(await this.redis.exists(this.keys.checkpoint(runId)))) {
      const newest = readNewestCheckpoint(listCheckpoints(this.db, runId));
      if ('buffer' in newest) await this.redis.set(this.keys.checkpoint(runId), newest.buffer);
    }
    await this.redis.del(this.keys.control(runId));
    const job: RunJob = { storeId: this.id, runId, name: run.name, task: run.task, algo: run.algo, preset: run.preset, seed: run.seed, config: run.config, stepsDone: run.stepsDone, bestScore: run.bestScore };
    await this.queue.add('train', job, { jobId, removeOnComplete: true, removeOnFail: 1000 });
  }

  pause(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status !== 'running') throw badInput(`run ${runId} is not training, so it cannot pause`);
    if (run.worker === null) return controlElsewhere(this.db, this.events, run, 'pause');
    void this.redis.set(this.keys.control(runId), 'pause');
  }

  stop(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'queued') {
      void this.queue.remove(jobIdOf(this.id, runId));
      return stopQueuedRun(this.db, this.events, run);
    }
    if (run.status !== 'running' && run.status !== 'paused') throw cannotStop(run);
    if (run.worker === null) return controlElsewhere(this.db, this.events, run, 'stop');
    void this.redis.set(this.keys.control(runId), 'stop');
  }

  resume(runId: number): void {
    const run = getRun(this.db, runId);
    if (run.status === 'paused' && run.worker === null) return controlElsewhere(this.db, this.events, run, 'resume');
    if (run.status === 'paused') {
      void this.redis.del(this.keys.control(runId));
      return;
    }
    requeueEndedRun(this.db, this.events, run);
    this.schedule();
  }

  /** Reads the store's stream from the saved position and applies each event with the new position. */
  private async collect(): Promise<void> {
    while (!this.closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader.xread('COUNT', 200, 'BLOCK', 1000, 'STREAMS', this.keys.events, getMeta(this.db, CURSOR_KEY) ?? '0')) as typeof reply;
      } catch (err) {
        if (this.closed) return;
        process.stderr.write(`remote queue: reading the event stream failed (${messageOf(err)}); retrying\n`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      let last: string | null = null;
      for (const [entryId, fields] of reply?.[0]?.[1] ?? []) {
        const event = await this.receive(fields[1] ?? 'null');
        // While another process holds the write lock the entry waits (and the cursor with it).
        let changed: number[] | null = null;
        while (changed === null && !this.closed) {
          try {
            changed = this.db.transaction(() => {
              const runIds = event ? applyRunEvent(this.db, this.home, event) : [];
              setMeta(this.db, CURSOR_KEY, entryId);
              return runIds;
            })();
          } catch (err) {
            if (storageProblem(err)?.code !== 'busy') throw err;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
        if (changed === null) return;
        if (event?.type === 'progress' && isCurrentAttempt(this.db, event.runId, event.token)) {
          this.progress.set(event.runId, event.progress);
          this.events.publish({ type: 'run-progress', ...event.progress });
        }
        if (event?.type === 'ended') {
          this.progress.delete(event.runId);
          void this.redis.del(this.keys.control(event.runId));
        }
        if (changed.length) this.events.publish({ type: 'runs-changed', runIds: changed });
        last = entryId;
      }
      // Applied entries are no longer needed in Redis.
      if (last) await this.redis.xtrim(this.keys.events, 'MINID', last).catch(() => undefined);
    }
  }

  /**
   * One stream entry as an event to apply, or null. A malformed event applies nothing of itself
   * and fails its run (when it names the run's current attempt). A checkpoint's bytes are written
   * into the data folder first; when the key holds a newer one already, the event keeps only its rows.
   */
  private async receive(text: string): Promise<RunEvent | null> {
    let raw: unknown = null;
    try {
      raw = JSON.parse(text);
    } catch {
      // Reported below like any malformed event.
    }
    const parsed = runEventSchema.safeParse(raw);
    if (!parsed.success) {
      const { runId, token } = (raw ?? {}) as { runId?: unknown; token?: unknown };
      try {
        if (typeof runId === 'number' && typeof token === 'string' && isCurrentAttempt(this.db, runId, token)) {
          finishRun(this.db, runId, { status: 'failed', error: `the worker sent a malformed event (${describeIssues(parsed.error)}); nothing of it was applied`, stepsDone: getRun(this.db, runId).stepsDone });
          this.events.publish({ type: 'runs-changed', runIds: [runId] });
        }
      } catch (err) {
        process.stderr.write(`remote queue: could not record a malformed event of run ${String(runId)}: ${messageOf(err)}\n`);
      }
      return null;
    }
    const event = parsed.data;
    if (event.type !== 'checkpoint' || !isCurrentAttempt(this.db, event.runId, event.token)) return event;
    const blob = await this.redis.getBuffer(this.keys.checkpoint(event.runId));
    if (!blob || sha256(blob) !== event.sha256) return { type: 'metrics', runId: event.runId, token: event.token, stepsDone: event.stepsDone, rows: event.rows, trainSeconds: event.trainSeconds };
    writeRunCheckpoint(this.home, event.runId, event.step, blob);
    return event;
  }

  /** Stops collecting and disconnects; remote runs go on training and are caught up on next open. */
  async shutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.reconciling;
    this.reader.disconnect();
    await this.collecting.catch(() => undefined);
    await this.queue.close();
    this.queueConnection.disconnect();
    this.redis.disconnect();
  }
}
