import type { Db } from './db';

export interface PolicySamples {
  step: number;
  dims: number;
  actions: Float32Array;
}

/** Stores the policy actions of one evaluation (replacing a repeat of the same step after a resume). */
export function saveSamples(db: Db, runId: number, step: number, actions: Float32Array, dims = 2): void {
  const bytes = Buffer.from(actions.buffer, actions.byteOffset, actions.byteLength);
  db.prepare('INSERT OR REPLACE INTO policy_samples (run_id, step, dims, data) VALUES (?, ?, ?, ?)').run(runId, step, dims, bytes);
}

/** The samples at `step`, or the newest when no step is given; null when the run has none. */
export function readSamples(db: Db, runId: number, step?: number): PolicySamples | null {
  const row = (
    step === undefined
      ? db.prepare('SELECT step, dims, data FROM policy_samples WHERE run_id = ? ORDER BY step DESC LIMIT 1').get(runId)
      : db.prepare('SELECT step, dims, data FROM policy_samples WHERE run_id = ? AND step = ?').get(runId, step)
  ) as { step: number; dims: number; data: Buffer } | undefined;
  if (!row) return null;
  const copy = new Uint8Array(row.data); // aligned copy of the blob
  return { step: row.step, dims: row.dims, actions: new Float32Array(copy.buffer) };
}
