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

/** One downsampled series: per bucket the last point's step and wall time, and min, max and last value. */
export interface DownsampledSeries {
  step: number[];
  wallTime: number[];
  min: number[];
  max: number[];
  last: number[];
  /** Raw points behind the buckets. */
  points: number;
}

export function metricNames(db: Db, runId: number): string[] {
  return db.prepare('SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name').pluck().all(runId) as string[];
}

/**
 * Reduces a series to at most `buckets` points in SQL, so a million logged points never cross
 * IPC or HTTP: steps are split into equal-width buckets, each keeping the true min and max (so
 * spikes survive) and the last value with its step and wall time.
 */
export function downsampleMetric(db: Db, runId: number, name: string, buckets: number): DownsampledSeries {
  const range = db.prepare('SELECT min(step) AS lo, max(step) AS hi, count(*) AS n FROM metrics WHERE run_id = ? AND name = ?').get(runId, name) as {
    lo: number | null;
    hi: number | null;
    n: number;
  };
  const out: DownsampledSeries = { step: [], wallTime: [], min: [], max: [], last: [], points: range.n };
  if (range.lo === null || range.hi === null) return out;
  const width = Math.max(1, Math.ceil((range.hi - range.lo + 1) / Math.max(1, buckets)));
  const rows = db
    .prepare(
      `SELECT b.step AS step, b.lo AS min, b.hi AS max, m.value AS last, m.wall_time AS wallTime FROM (
         SELECT (step - CAST(@origin AS INTEGER)) / CAST(@width AS INTEGER) AS bucket, min(value) AS lo, max(value) AS hi, max(step) AS step
         FROM metrics WHERE run_id = @runId AND name = @name GROUP BY bucket
       ) b JOIN metrics m ON m.run_id = @runId AND m.name = @name AND m.step = b.step
       ORDER BY b.step`,
    )
    .all({ runId, name, origin: range.lo, width }) as { step: number; min: number; max: number; last: number; wallTime: number }[];
  for (const r of rows) {
    out.step.push(r.step);
    out.wallTime.push(r.wallTime);
    out.min.push(r.min);
    out.max.push(r.max);
    out.last.push(r.last);
  }
  return out;
}

/** Every metric of a run at one step whose name starts with `prefix`, without the prefix. */
export function metricsAtStep(db: Db, runId: number, step: number, prefix: string): Record<string, number> {
  const rows = db.prepare('SELECT name, value FROM metrics WHERE run_id = ? AND step = ? AND substr(name, 1, ?) = ?').all(runId, step, prefix.length, prefix) as {
    name: string;
    value: number;
  }[];
  return Object.fromEntries(rows.map((r) => [r.name.slice(prefix.length), r.value]));
}
