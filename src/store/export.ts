import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { trainConfigSchema } from '../core/config';
import { neutraliseCell, type CsvValue } from '../api/csv';
import { badInput } from '../api/errors';
import type { Db } from './db';
import { getRun, listRuns } from './runs';

const SUMMARY_COLUMNS = ['run_id', 'name', 'task', 'algo', 'preset', 'seed', 'status', 'backend', 'created', 'started', 'finished', 'duration_s', 'steps_done', 'steps_total', 'best_score', 'final_score', 'tags', 'notes'];

/** The runs to export: the given ids (each must exist), else every run. */
function selectRuns(db: Db, ids: number[] | null): number[] {
  if (ids === null) return listRuns(db).map((r) => r.id).reverse();
  for (const id of ids) getRun(db, id);
  return ids;
}

function* summaryRows(db: Db, ids: number[]): Generator<CsvValue[]> {
  const configKeys = Object.keys(trainConfigSchema.shape);
  const metricKeys = new Set<string>();
  const runs = ids.map((id) => getRun(db, id));
  for (const r of runs) for (const k of Object.keys(r.finalMetrics)) metricKeys.add(k);
  const finals = [...metricKeys].sort();
  yield [...SUMMARY_COLUMNS, ...finals.map((k) => `final_${k}`), ...configKeys];
  for (const r of runs) {
    const duration = r.startedAt && r.finishedAt ? (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000 : null;
    yield [
      r.id, r.name, r.task, r.algo, r.preset, r.seed, r.status, r.backend, r.createdAt, r.startedAt, r.finishedAt, duration,
      r.stepsDone, r.stepsTotal, r.bestScore, r.finalScore, r.tags.join(';'), r.notes,
      ...finals.map((k) => r.finalMetrics[k] ?? null),
      ...configKeys.map((k) => r.config[k as keyof typeof r.config] as CsvValue),
    ].map(neutraliseCell);
  }
}

function* metricRows(db: Db, ids: number[]): Generator<CsvValue[]> {
  yield ['run_id', 'metric', 'step', 'wall_time', 'value'];
  const stmt = db.prepare('SELECT run_id, name, step, wall_time, value FROM metrics WHERE run_id = ? ORDER BY name, step').raw(true);
  for (const id of ids) yield* stmt.iterate(id) as IterableIterator<CsvValue[]>;
}

/**
 * Streams a CSV (RFC 4180, UTF-8, header row) to `out`: the run summary, or with `metrics` every
 * raw metric row, never held in memory at once. Written to a temporary file renamed into place,
 * so a failed export leaves nothing behind.
 */
export async function exportCsv(db: Db, out: string, options: { metrics: boolean; runIds: number[] | null }): Promise<{ rows: number; file: string }> {
  const file = path.resolve(out);
  if (!fs.existsSync(path.dirname(file)) || !fs.statSync(path.dirname(file)).isDirectory()) throw badInput(`cannot write ${file}: folder ${path.dirname(file)} does not exist`);
  const ids = selectRuns(db, options.runIds);
  if (ids.length === 0) throw badInput('nothing to export: there are no runs');
  const tmp = `${file}.partial-${process.pid}`;
  let rows = -1;
  const source = options.metrics ? metricRows(db, ids) : summaryRows(db, ids);
  const counted = (function* () {
    for (const row of source) {
      rows += 1;
      yield row;
    }
  })();
  try {
    await pipeline(Readable.from(counted), stringify({ record_delimiter: '\r\n' }), fs.createWriteStream(tmp, { flags: 'wx' }));
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'ENOENT' || code === 'EISDIR' || code === 'EEXIST') throw badInput(`cannot write ${file}: ${code}`);
    throw err;
  }
  return { rows, file };
}
