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
