import type { Db } from './db';

export interface CheckpointRow {
  id: number;
  runId: number;
  step: number;
  path: string;
  sha256: string;
  bytes: number;
  createdAt: number;
}

export function insertCheckpoint(db: Db, row: Omit<CheckpointRow, 'id' | 'createdAt'>, now = Date.now()): void {
  db.prepare(
    `INSERT INTO checkpoints (run_id, step, path, sha256, bytes, created_at) VALUES (@runId, @step, @path, @sha256, @bytes, @now)
     ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, bytes = excluded.bytes, created_at = excluded.created_at`,
  ).run({ ...row, now });
}

/** Checkpoints of a run, newest first. */
export function listCheckpoints(db: Db, runId: number): CheckpointRow[] {
  return db
    .prepare('SELECT id, run_id AS runId, step, path, sha256, bytes, created_at AS createdAt FROM checkpoints WHERE run_id = ? ORDER BY step DESC')
    .all(runId) as CheckpointRow[];
}

/** Removes the rows of all but a run's newest `keep` checkpoints; returns the files they named. */
export function pruneCheckpointRows(db: Db, runId: number, keep: number): string[] {
  const old = listCheckpoints(db, runId).slice(keep);
  const remove = db.prepare('DELETE FROM checkpoints WHERE id = ?');
  for (const row of old) remove.run(row.id);
  return old.map((row) => row.path);
}
