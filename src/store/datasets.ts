import { z } from 'zod';
import type { DatasetDto } from '../api/contract';
import { badInput, notFound } from '../api/errors';
import type { Db } from './db';

/** A row of `datasets` as SQLite returns it, parsed so a drifted database fails loudly. */
const datasetRowSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  format: z.enum(['d4rl', 'minari', 'generated']),
  source_path: z.string().nullable(),
  stored_path: z.string().nullable(),
  sha256: z.string(),
  bytes: z.number().int(),
  env: z.string().nullable(),
  suggested_task: z.string().nullable(),
  transitions: z.number().int(),
  episodes: z.number().int(),
  obs_dim: z.number().int(),
  act_dim: z.number().int(),
  stats: z.string(),
  warnings: z.string(),
  created_at: z.number(),
  runs: z.number().int(),
});

const SELECT = 'SELECT d.*, (SELECT count(*) FROM runs r WHERE r.dataset_id = d.id) AS runs FROM datasets d';

function toDto(raw: unknown): DatasetDto {
  const row = datasetRowSchema.parse(raw);
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    sourcePath: row.source_path,
    storedPath: row.stored_path,
    sha256: row.sha256,
    bytes: row.bytes,
    env: row.env,
    suggestedTask: row.suggested_task,
    transitions: row.transitions,
    episodes: row.episodes,
    obsDim: row.obs_dim,
    actDim: row.act_dim,
    stats: z.record(z.string(), z.number()).parse(JSON.parse(row.stats)),
    warnings: z.array(z.string()).parse(JSON.parse(row.warnings)),
    createdAt: new Date(row.created_at).toISOString(),
    runs: row.runs,
  };
}

export interface NewDataset {
  name: string;
  format: 'd4rl' | 'minari';
  sourcePath: string | null;
  storedPath: string | null;
  sha256: string;
  bytes: number;
  env: string | null;
  suggestedTask: string | null;
  transitions: number;
  episodes: number;
  obsDim: number;
  actDim: number;
  stats: Record<string, number>;
  warnings: string[];
}

export function insertDataset(db: Db, d: NewDataset, now = Date.now()): number {
  const info = db
    .prepare(
      `INSERT INTO datasets (name, format, source_path, stored_path, sha256, bytes, env, suggested_task, transitions, episodes, obs_dim, act_dim, stats, warnings, created_at)
       VALUES (@name, @format, @sourcePath, @storedPath, @sha256, @bytes, @env, @suggestedTask, @transitions, @episodes, @obsDim, @actDim, @stats, @warnings, @now)`,
    )
    .run({ ...d, stats: JSON.stringify(d.stats), warnings: JSON.stringify(d.warnings), now });
  return Number(info.lastInsertRowid);
}

export function listDatasets(db: Db): DatasetDto[] {
  return db.prepare(`${SELECT} ORDER BY d.id DESC`).all().map(toDto);
}

export function getDataset(db: Db, id: number): DatasetDto {
  const row = db.prepare(`${SELECT} WHERE d.id = ?`).get(id);
  if (!row) throw notFound(`no dataset with id ${id}`);
  return toDto(row);
}

export function findDataset(db: Db, by: { name?: string; sha256?: string }): DatasetDto | null {
  const row = by.name !== undefined ? db.prepare(`${SELECT} WHERE d.name = ?`).get(by.name) : db.prepare(`${SELECT} WHERE d.sha256 = ?`).get(by.sha256);
  return row ? toDto(row) : null;
}

/** The newest dataset imported for a task, which its runs train on unless told otherwise. */
export function latestDatasetFor(db: Db, task: string): DatasetDto | null {
  const row = db.prepare(`${SELECT} WHERE d.suggested_task = ? ORDER BY d.id DESC LIMIT 1`).get(task);
  return row ? toDto(row) : null;
}

/** Removes a dataset's row; refused while runs trained on it exist. Returns its stored copy, if any. */
export function deleteDataset(db: Db, id: number): string | null {
  const d = getDataset(db, id);
  if (d.runs > 0) throw badInput(`dataset ${id} (${d.name}) is used by ${d.runs} run${d.runs === 1 ? '' : 's'}: delete those first`);
  db.prepare('DELETE FROM datasets WHERE id = ?').run(id);
  return d.storedPath;
}
