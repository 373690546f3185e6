import type { Db } from '../store/db';
import { activeRuns, dataVersion, queueState } from '../store/runs';
import type { EventHub } from './events';
import type { Progress } from './training/trainer';

/**
 * Runs that other processes of this data folder train (a `dtql train` beside the app, a CLI
 * sweep) show live: once a second, when another connection has committed to the store, the
 * running and paused runs are read again and the queue counted, every change is announced, and
 * the runs this process does not own get their progress from what their owner recorded.
 */
export class StoreWatcher {
  private version: number | null = null;
  private queue: string | null = null;
  private readonly seen = new Map<number, string>();
  private readonly foreign = new Map<number, Progress>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly events: EventHub,
    /** Whether this process trains the run itself (its progress then comes from its own process). */
    private readonly isOwn: (runId: number) => boolean,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Progress of the runs other processes train, as last recorded. */
  progress(): Progress[] {
    return [...this.foreign.values()];
  }

  poll(): void {
    let rows;
    try {
      const version = dataVersion(this.db);
      if (version === this.version) return;
      this.version = version;
      rows = activeRuns(this.db);
      const queue = queueState(this.db);
      // Runs queued or unqueued elsewhere: the lists reload (which runs is not worth reading 100,000 rows for).
      if (this.queue !== null && queue !== this.queue) this.events.publish({ type: 'runs-changed', runIds: [] });
      this.queue = queue;
    } catch {
      // A locked or busy store: the next tick reads it.
      return;
    }
    const changed: number[] = [];
    const current = new Set<number>();
    for (const run of rows) {
      current.add(run.id);
      const state = `${run.status}:${run.stepsDone}`;
      const moved = this.seen.get(run.id) !== state;
      if (moved) changed.push(run.id);
      this.seen.set(run.id, state);
      if (run.status !== 'running' || this.isOwn(run.id)) {
        this.foreign.delete(run.id);
        continue;
      }
      const stepsPerSec = run.stepsPerSec ?? 0;
      const progress: Progress = {
        runId: run.id,
        step: run.stepsDone,
        total: run.stepsTotal,
        phase: run.stepsDone < run.pretrainSteps ? 'pretrain' : 'train',
        stepsPerSec,
        etaSec: stepsPerSec > 0 ? (run.stepsTotal - run.stepsDone) / stepsPerSec : null,
        metrics: {},
      };
      this.foreign.set(run.id, progress);
      if (moved) this.events.publish({ type: 'run-progress', ...progress });
    }
    // Runs that ended (or were deleted) since the last look.
    for (const id of [...this.seen.keys()]) {
      if (current.has(id)) continue;
      this.seen.delete(id);
      this.foreign.delete(id);
      changed.push(id);
    }
    if (changed.length) this.events.publish({ type: 'runs-changed', runIds: changed });
  }

  close(): void {
    clearInterval(this.timer);
  }
}
