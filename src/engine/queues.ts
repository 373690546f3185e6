import type { Db } from '../store/db';
import type { EventHub } from './events';
import { RunManager, defaultConcurrency, type RunQueue } from './local/run-manager';
import type { SpawnTraining } from './local/training-process';

export interface QueueOptions {
  /** Runs go to remote `dtql worker`s through this Redis; without one, training processes here take them. */
  redisUrl?: string | null;
  /** Runs trained at once here (default: one per core); 0 holds the queue. */
  concurrency?: number;
  /** Only these runs (a CLI sweep's own); default every queued run. */
  scope?: ((runId: number) => boolean) | null;
  /** How a training process starts here: an Electron utility process in the app, a Node child elsewhere. */
  spawnTraining?: SpawnTraining;
}

/**
 * The one place that picks where runs train: the Redis queue of remote workers when a URL is
 * given (connecting first, so a bad URL or unreachable server throws a clear error), else this
 * machine's queue of training processes. The desktop app, served mode and CLI sweeps all ask here.
 */
export async function openRunQueue(db: Db, home: string, events: EventHub, options: QueueOptions = {}): Promise<RunQueue> {
  if (options.redisUrl) {
    // Loaded only when asked for: Redis's client is a large part of a process's start-up.
    const { RemoteQueue } = await import('./remote/remote-queue');
    return RemoteQueue.open(db, home, events, options.redisUrl, options.scope ?? null);
  }
  const manager = new RunManager(db, home, events, options.concurrency ?? defaultConcurrency(), options.spawnTraining);
  manager.scope = options.scope ?? null;
  return manager;
}
