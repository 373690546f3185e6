import os from 'node:os';
import { openDatabase, setBusyTimeout, type Db } from '../../store/db';
import { interruptRuns, locallyHeldRuns } from '../../store/runs';

/** Whether a process id is alive on this machine (EPERM: alive, owned by someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run owned on another machine whose heartbeat is older than this is taken as lost. */
export const STALE_HEARTBEAT_MS = 10 * 60 * 1000;

/**
 * Turns runs left running or paused by an owner that no longer exists into `interrupted`: on this
 * host when the owning pid is gone, elsewhere when the heartbeat went stale. A run whose owner
 * lives is never touched; runs on remote workers are the remote queue's to settle. Returns the ids
 * it changed.
 */
export function recoverOrphanedRuns(db: Db, host = os.hostname(), now = Date.now()): number[] {
  const orphaned = locallyHeldRuns(db).filter((r) => {
    if (r.pid === null || r.host === null) return true;
    if (r.host === host) return !processAlive(r.pid);
    return r.heartbeat === null || now - r.heartbeat > STALE_HEARTBEAT_MS;
  });
  interruptRuns(
    db,
    orphaned.map((r) => ({ id: r.id, error: `interrupted: ${r.pid === null ? 'no process' : `process ${r.pid} on ${r.host}`} stopped training it without finishing; resume continues from the last checkpoint` })),
    now,
  );
  return orphaned.map((r) => r.id);
}

/**
 * The engine's start-up, for every adapter (desktop app, served mode, CLI): opens the data
 * folder's store and settles the runs whose owner died. An app that serves a UI passes
 * `busyTimeoutMs: 0` (see setBusyTimeout); the start-up itself waits for a lock as commands do.
 */
export function openStore(home: string, options: { busyTimeoutMs?: number } = {}): Db {
  const db = openDatabase(home);
  try {
    recoverOrphanedRuns(db);
    if (options.busyTimeoutMs !== undefined) setBusyTimeout(db, options.busyTimeoutMs);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
