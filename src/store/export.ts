import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { trainConfigSchema } from '../common/config';
import type { ExportKind, RunFilter } from '../api/contract';
import { CSV_OPTIONS, neutraliseCell, type CsvValue } from '../api/csv';
import { badInput } from '../api/errors';
import type { Db } from './db';
import { getDataset } from './datasets';
import { getRun, selectedRunIds } from './runs';
import { getSweep } from './sweeps';

const SUMMARY_COLUMNS = ['run_id', 'name', 'task', 'algo', 'preset', 'seed', 'status', 'backend', 'created', 'started', 'finished', 'duration_s', 'wall_s', 'steps_done', 'steps_total', 'best_score', 'final_score', 'best_reward', 'tags', 'notes', 'dataset_id', 'dataset_name', 'dataset_sha256'];
export const METRIC_COLUMNS = ['run_id', 'metric', 'step', 'wall_time', 'value'];

/** The ids a filter selects, oldest first; an unknown id or an empty selection is bad input. */
export function selectRunIds(db: Db, filter: RunFilter): number[] {
  const ids = selectedRunIds(db, { ...filter, sort: 'id', dir: 'asc' });
  if (filter.ids) {
    const found = new Set(ids);
    const missing = filter.ids.filter((id) => !found.has(id));
    // An id that exists but is filtered out (archived, other task) is not an error; an unknown one is.
    for (const id of missing) getRun(db, id);
  }
  if (ids.length === 0) throw badInput('nothing to export: no run matches the selection');
  return ids;
}

function* summaryRows(db: Db, ids: number[]): Generator<CsvValue[]> {
  const configKeys = Object.keys(trainConfigSchema.shape);
  // The final-metric columns come from SQL, so the runs themselves are read one at a time.
  const finals = db
    .prepare('SELECT DISTINCT k.key FROM runs r, json_each(r.final_metrics) k WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY k.key')
    .pluck()
    .all(JSON.stringify(ids)) as string[];
  yield [...SUMMARY_COLUMNS, ...finals.map((k) => `final_${k}`), ...configKeys];
  const datasets = new Map<number, { name: string; sha256: string }>();
  const datasetOf = (id: number) => datasets.get(id) ?? datasets.set(id, getDataset(db, id)).get(id);
  for (const id of ids) {
    const r = getRun(db, id);
    const dataset = r.datasetId === null ? null : datasetOf(r.datasetId);
    yield [
      r.id, r.name, r.task, r.algo, r.preset, r.seed, r.status, r.backend, r.createdAt, r.startedAt, r.finishedAt, r.durationSec, r.wallSec,
      r.stepsDone, r.stepsTotal, r.bestScore, r.finalScore, r.bestReward, r.tags.join(';'), r.notes,
      r.datasetId, dataset?.name ?? null, dataset?.sha256 ?? null,
      ...finals.map((k) => r.finalMetrics[k] ?? null),
      ...configKeys.map((k) => r.config[k as keyof typeof r.config] as CsvValue),
    ].map(neutraliseCell);
  }
}

function* metricRows(db: Db, ids: number[]): Generator<CsvValue[]> {
  yield METRIC_COLUMNS;
  const stmt = db.prepare('SELECT run_id, name, step, wall_time, value FROM metrics WHERE run_id = ? ORDER BY name, step').raw(true);
  for (const id of ids) {
    for (const row of stmt.iterate(id) as IterableIterator<CsvValue[]>) {
      row[1] = neutraliseCell(row[1]);
      yield row;
    }
  }
}

/** A sweep's summary: one row per grid point, its axis values, then mean and standard error over seeds. */
function sweepRows(db: Db, filter: RunFilter): Generator<CsvValue[]> {
  // Checked now, not when the first row is pulled: a bad request must fail before anything is sent.
  if (filter.sweep === undefined) throw badInput('a sweep summary needs the sweep: sweep=ID');
  const sweep = getSweep(db, filter.sweep);
  const finals = [...new Set(sweep.summary.flatMap((row) => Object.keys(row.finals)))].sort();
  const pair = (name: string) => [`${name}_mean`, `${name}_se`];
  const cells = (stat: { mean: number; se: number } | null | undefined) => [stat?.mean ?? null, stat?.se ?? null];
  return (function* () {
    yield [...sweep.axes, 'runs', 'completed', 'n', ...pair('best_score'), ...pair('final_score'), ...finals.flatMap((k) => pair(`final_${k}`))];
    for (const row of sweep.summary) {
      yield [
        ...sweep.axes.map((k) => row.point[k] ?? null),
        row.runs,
        row.completed,
        row.finalScore?.n ?? 0,
        ...cells(row.bestScore),
        ...cells(row.finalScore),
        ...finals.flatMap((k) => cells(row.finals[k])),
      ].map(neutraliseCell);
    }
  })();
}

/**
 * The CSV of a selection as a stream (RFC 4180, UTF-8, CRLF, header row): the run summary with
 * the config keys as columns, or every raw metric row, produced row by row so a million rows
 * never sit in memory. The selection is checked before the stream starts. The metric rows hold
 * a read cursor open on `db`: give it a connection of its own where others share the store.
 */
export function exportStream(db: Db, kind: ExportKind, filter: RunFilter, onRow?: () => void): Readable {
  const rows = kind === 'sweep' ? sweepRows(db, filter) : kind === 'metrics' ? metricRows(db, selectRunIds(db, filter)) : summaryRows(db, selectRunIds(db, filter));
  const counted = onRow
    ? (function* () {
        for (const row of rows) {
          onRow();
          yield row;
        }
      })()
    : rows;
  return Readable.from(counted).pipe(stringify(CSV_OPTIONS));
}

/**
 * Writes the CSV to `out` through a temporary file renamed into place, so a failed export leaves
 * nothing behind. Returns the number of data rows.
 */
export async function exportCsv(db: Db, out: string, kind: ExportKind, filter: RunFilter): Promise<{ rows: number; file: string }> {
  const file = path.resolve(out);
  const folder = path.dirname(file);
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw badInput(`cannot write ${file}: folder ${folder} does not exist`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw badInput(`cannot write ${file}: it is a folder`);
  let rows = -1;
  const stream = exportStream(db, kind, filter, () => (rows += 1));
  const tmp = `${file}.partial-${process.pid}`;
  try {
    await pipeline(stream, fs.createWriteStream(tmp, { flags: 'wx' }));
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'ENOENT' || code === 'EISDIR' || code === 'EEXIST' || code === 'ENOSPC') throw badInput(`cannot write ${file}: ${code}`);
    throw err;
  }
  return { rows, file };
}
