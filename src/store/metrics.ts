import type { Db } from './db';

export interface MetricRow {
  name: string;
  step: number;
  wallTime: number;
  value: number;
}

/**
 * Writes a batch of metric rows in one transaction. A step logged again after a resume replaces
 * the earlier row, so a run's curve never holds two values for one step.
 */
export function insertMetrics(db: Db, runId: number, rows: MetricRow[]): void {
  if (rows.length === 0) return;
  const insert = db.prepare('INSERT OR REPLACE INTO metrics (run_id, name, step, wall_time, value) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of rows) insert.run(runId, r.name, r.step, r.wallTime, r.value);
  })();
}

export function readMetric(db: Db, runId: number, name: string): { step: number; value: number }[] {
  return db.prepare('SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step').all(runId, name) as { step: number; value: number }[];
}
