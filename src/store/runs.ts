import { z } from 'zod';
import { algoSchema, validateConfig, type Algo, type TrainConfig } from '../core/config';
import { runFilterSchema, runStatusSchema, sweepPointSchema, type RunDetail, type RunFilter, type RunSortKey, type RunSummary, type SweepPoint } from '../api/contract';
import { badInput, notFound } from '../api/errors';
import type { Db } from './db';

/** A row of `runs` as SQLite returns it; parsed so a hand-edited or drifted database fails loudly. */
const runRowSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  task: z.string(),
  algo: algoSchema,
  preset: z.string(),
  config: z.string(),
  seed: z.number().int(),
  status: runStatusSchema,
  error: z.string().nullable(),
  backend: z.string().nullable(),
  backend_reason: z.string().nullable(),
  versions: z.string(),
  created_at: z.number(),
  started_at: z.number().nullable(),
  finished_at: z.number().nullable(),
  steps_done: z.number().int(),
  steps_total: z.number().int(),
  best_score: z.number().nullable(),
  final_score: z.number().nullable(),
  final_metrics: z.string(),
  notes: z.string(),
  archived: z.number().int(),
  tags: z.string().nullable(),
  dataset_id: z.number().int().nullable(),
  best_reward: z.number().nullable(),
  sweep_id: z.number().int().nullable(),
  sweep_point: z.string().nullable(),
  worker: z.string().nullable(),
});
type RunRow = z.infer<typeof runRowSchema>;

export interface NewRun {
  name: string;
  task: string;
  algo: Algo;
  preset: string;
  config: TrainConfig;
  seed: number;
  tags: string[];
  /** The imported dataset a D4RL run trains on; null for generated data. */
  datasetId: number | null;
  /** The sweep that made it and its values on the sweep's axes. */
  sweepId?: number;
  sweepPoint?: SweepPoint;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

// Tags are joined with the unit separator, which tag validation forbids inside a tag.
const TAG_SEPARATOR = '\u001f';
// The best evaluation reward stands in for a best score on tasks without a normalised score.
const SELECT_RUNS = `
  SELECT r.*, (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM run_tags t WHERE t.run_id = r.id ORDER BY tag)) AS tags,
    (SELECT max(value) FROM metrics m WHERE m.run_id = r.id AND m.name = 'eval/meanReward') AS best_reward
  FROM runs r`;

function toSummary(raw: unknown): RunSummary {
  const row = runRowSchema.parse(raw);
  return {
    id: row.id,
    name: row.name,
    task: row.task,
    algo: row.algo,
    preset: row.preset,
    seed: row.seed,
    status: row.status,
    error: row.error,
    stepsDone: row.steps_done,
    stepsTotal: row.steps_total,
    backend: row.backend,
    bestScore: row.best_score,
    finalScore: row.final_score,
    createdAt: iso(row.created_at) as string,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    durationSec: row.started_at !== null && row.finished_at !== null ? (row.finished_at - row.started_at) / 1000 : null,
    bestReward: row.best_reward,
    tags: row.tags ? row.tags.split(TAG_SEPARATOR) : [],
    notes: row.notes,
    archived: row.archived !== 0,
    finalMetrics: z.record(z.string(), z.number()).parse(JSON.parse(row.final_metrics)),
    sweepId: row.sweep_id,
    sweepPoint: row.sweep_point === null ? null : sweepPointSchema.parse(JSON.parse(row.sweep_point)),
    worker: row.worker,
  };
}

function toDetail(raw: unknown): RunDetail {
  const row: RunRow = runRowSchema.parse(raw);
  return {
    ...toSummary(row),
    config: validateConfig(JSON.parse(row.config)),
    datasetId: row.dataset_id,
    backendReason: row.backend_reason,
    versions: z.record(z.string(), z.string()).parse(JSON.parse(row.versions)),
  };
}

/** Inserts queued runs and their tags in one transaction: all or none. */
export function insertRuns(db: Db, runs: NewRun[], now = Date.now()): number[] {
  const insertRun = db.prepare(
    `INSERT INTO runs (name, task, algo, preset, config, seed, status, created_at, steps_total, dataset_id, sweep_id, sweep_point)
     VALUES (@name, @task, @algo, @preset, @config, @seed, 'queued', @createdAt, @stepsTotal, @datasetId, @sweepId, @sweepPoint)`,
  );
  const insertTag = db.prepare('INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)');
  return db.transaction(() =>
    runs.map((run) => {
      const info = insertRun.run({
        name: run.name,
        task: run.task,
        algo: run.algo,
        preset: run.preset,
        config: JSON.stringify(run.config),
        seed: run.seed,
        createdAt: now,
        stepsTotal: run.config.pretrainSteps + run.config.trainSteps,
        datasetId: run.datasetId,
        sweepId: run.sweepId ?? null,
        sweepPoint: run.sweepPoint ? JSON.stringify(run.sweepPoint) : null,
      });
      const id = Number(info.lastInsertRowid);
      for (const tag of run.tags) insertTag.run(id, tag);
      return id;
    }),
  )();
}

/** SQL for each sort key; scores fall back to the task's own outcome so bandit runs sort too. */
const SORT_SQL: Record<RunSortKey, string> = {
  id: 'r.id',
  name: 'r.name COLLATE NOCASE',
  task: 'r.task',
  algo: 'r.algo',
  seed: 'r.seed',
  status: 'r.status',
  backend: 'r.backend',
  createdAt: 'r.created_at',
  startedAt: 'r.started_at',
  durationSec: 'r.finished_at - r.started_at',
  stepsDone: 'r.steps_done',
  bestScore: 'coalesce(r.best_score, best_reward)',
  finalScore: "coalesce(r.final_score, json_extract(r.final_metrics, '$.meanReward'))",
};

/** The runs a filter selects, sorted as it asks (missing values last either way, then newest first). */
export function listRuns(db: Db, filter: RunFilter = {}): RunSummary[] {
  const f = runFilterSchema.parse(filter);
  const where: string[] = [];
  const args: Record<string, unknown> = {};
  if (f.ids !== undefined) {
    where.push('r.id IN (SELECT value FROM json_each(@ids))');
    args.ids = JSON.stringify(f.ids);
  }
  if (f.sweep !== undefined) {
    where.push('r.sweep_id = @sweep');
    args.sweep = f.sweep;
  }
  for (const key of ['task', 'algo', 'status'] as const) {
    if (f[key] === undefined) continue;
    where.push(`r.${key} = @${key}`);
    args[key] = f[key];
  }
  if (f.tag !== undefined) {
    where.push('EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.tag = @tag)');
    args.tag = f.tag;
  }
  if (f.text !== undefined) {
    where.push('(instr(lower(r.name), lower(@text)) > 0 OR instr(lower(r.notes), lower(@text)) > 0)');
    args.text = f.text;
  }
  if (f.from !== undefined) {
    where.push('r.created_at >= @from');
    args.from = f.from;
  }
  if (f.to !== undefined) {
    where.push('r.created_at <= @to');
    args.to = f.to;
  }
  if (f.archived !== 'include') where.push(f.archived === 'only' ? 'r.archived = 1' : 'r.archived = 0');
  const order = SORT_SQL[f.sort];
  const sql = `${SELECT_RUNS} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY (${order}) IS NULL, ${order} ${f.dir === 'asc' ? 'ASC' : 'DESC'}, r.id DESC`;
  return db.prepare(sql).all(args).map(toSummary);
}

/** The values the run filters can take in this store. */
export function runFacets(db: Db): { runCount: number; tasks: string[]; algos: ('dtql' | 'kl')[]; statuses: RunDetail['status'][]; tags: string[] } {
  const distinct = (sql: string) => db.prepare(sql).pluck().all() as string[];
  return {
    runCount: countRuns(db),
    tasks: distinct('SELECT DISTINCT task FROM runs ORDER BY task'),
    algos: algoSchema.array().parse(distinct('SELECT DISTINCT algo FROM runs ORDER BY algo')),
    statuses: runStatusSchema.array().parse(distinct('SELECT DISTINCT status FROM runs ORDER BY status')),
    tags: distinct('SELECT DISTINCT tag FROM run_tags ORDER BY tag'),
  };
}

export function getRun(db: Db, id: number): RunDetail {
  const row = db.prepare(`${SELECT_RUNS} WHERE r.id = ?`).get(id);
  if (!row) throw notFound(`no run with id ${id}`);
  return toDetail(row);
}

export function countRuns(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
}

/** Claims a run for this process: running, with the owner and a heartbeat for crash recovery. */
/**
 * Claims a run for this process: only a run that is not already running or paused can be
 * claimed, in one statement, so two processes (an app and a CLI sweep) never train the same run.
 * Returns whether this process got it.
 */
export function markRunning(db: Db, id: number, owner: { pid: number; host: string; backend: string; backendReason: string; versions: Record<string, string>; worker?: string | null }, now = Date.now()): boolean {
  const info = db
    .prepare(
      `UPDATE runs SET status = 'running', error = NULL, started_at = coalesce(started_at, @now), finished_at = NULL, owner_pid = @pid, owner_host = @host,
         heartbeat_at = @now, backend = @backend, backend_reason = @backendReason, versions = @versions, worker = @worker
       WHERE id = @id AND status NOT IN ('running', 'paused', 'completed')`,
    )
    .run({ id, now, pid: owner.pid, host: owner.host, backend: owner.backend, backendReason: owner.backendReason, versions: JSON.stringify(owner.versions), worker: owner.worker ?? null });
  return info.changes === 1;
}

/** The process that holds a run (running or paused), if any. */
export function runOwner(db: Db, id: number): { pid: number; host: string } | null {
  const row = db.prepare('SELECT owner_pid AS pid, owner_host AS host FROM runs WHERE id = ?').get(id) as { pid: number | null; host: string | null } | undefined;
  return row && row.pid !== null && row.host !== null ? { pid: row.pid, host: row.host } : null;
}

export function recordProgress(db: Db, id: number, stepsDone: number, now = Date.now()): void {
  db.prepare('UPDATE runs SET steps_done = ?, heartbeat_at = ? WHERE id = ?').run(stepsDone, now, id);
}

export interface RunOutcome {
  status: 'completed' | 'stopped' | 'failed' | 'diverged' | 'interrupted';
  error?: string | null;
  stepsDone: number;
  finalMetrics?: Record<string, number>;
  bestScore?: number | null;
  finalScore?: number | null;
}

/** Ends a run with an honest status; the owner is cleared so recovery leaves it alone. */
export function finishRun(db: Db, id: number, outcome: RunOutcome, now = Date.now()): void {
  db.prepare(
    `UPDATE runs SET status = @status, error = @error, steps_done = @stepsDone, finished_at = @now, owner_pid = NULL, owner_host = NULL,
       final_metrics = coalesce(@finalMetrics, final_metrics), best_score = coalesce(@bestScore, best_score), final_score = coalesce(@finalScore, final_score)
     WHERE id = @id`,
  ).run({
    id,
    now,
    status: outcome.status,
    error: outcome.error ?? null,
    stepsDone: outcome.stepsDone,
    finalMetrics: outcome.finalMetrics ? JSON.stringify(outcome.finalMetrics) : null,
    bestScore: outcome.bestScore ?? null,
    finalScore: outcome.finalScore ?? null,
  });
}

/** Whether a process id is alive on this machine (EPERM: alive, owned by someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run on another machine whose heartbeat is older than this is taken as lost. */
export const STALE_HEARTBEAT_MS = 10 * 60 * 1000;

/**
 * Turns runs left running or paused by a process that no longer exists into `interrupted`: on
 * this host when the owning pid is gone, elsewhere when the heartbeat went stale. A live run in
 * another process is never touched. Returns the ids it changed.
 */
export function recoverOrphanedRuns(db: Db, host: string, now = Date.now()): number[] {
  // Runs on remote workers are settled by the remote queue from what the workers report.
  const rows = db.prepare("SELECT id, owner_pid AS pid, owner_host AS host, heartbeat_at AS heartbeat FROM runs WHERE status IN ('running', 'paused') AND worker IS NULL").all() as {
    id: number;
    pid: number | null;
    host: string | null;
    heartbeat: number | null;
  }[];
  const orphaned = rows.filter((r) => {
    if (r.pid === null || r.host === null) return true;
    if (r.host === host) return !processAlive(r.pid);
    return r.heartbeat === null || now - r.heartbeat > STALE_HEARTBEAT_MS;
  });
  const mark = db.prepare(
    "UPDATE runs SET status = 'interrupted', error = @error, owner_pid = NULL, owner_host = NULL, finished_at = @now WHERE id = @id AND status IN ('running', 'paused')",
  );
  db.transaction(() => {
    for (const r of orphaned) {
      const who = r.pid === null ? 'no process' : `process ${r.pid} on ${r.host}`;
      mark.run({ id: r.id, now, error: `interrupted: ${who} stopped training it without finishing; resume continues from the last checkpoint` });
    }
  })();
  return orphaned.map((r) => r.id);
}

/** Moves a run between the states the queue controls (paused <-> running, ended -> queued). */
export function setRunStatus(db: Db, id: number, status: 'queued' | 'paused' | 'running'): void {
  db.prepare('UPDATE runs SET status = ?, error = NULL, heartbeat_at = ? WHERE id = ?').run(status, Date.now(), id);
}

/** Queued runs in the order they were queued. */
export function queuedRunIds(db: Db): number[] {
  return db.prepare("SELECT id FROM runs WHERE status = 'queued' ORDER BY created_at, id").pluck().all() as number[];
}

/** Replaces a run's notes, tags or archived flag (whichever are given) in one transaction. */
export function updateRun(db: Db, id: number, changes: { notes?: string; tags?: string[]; archived?: boolean }): void {
  getRun(db, id);
  db.transaction(() => {
    if (changes.notes !== undefined) db.prepare('UPDATE runs SET notes = ? WHERE id = ?').run(changes.notes, id);
    if (changes.archived !== undefined) db.prepare('UPDATE runs SET archived = ? WHERE id = ?').run(changes.archived ? 1 : 0, id);
    if (changes.tags !== undefined) {
      db.prepare('DELETE FROM run_tags WHERE run_id = ?').run(id);
      const insert = db.prepare('INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)');
      for (const tag of changes.tags) insert.run(id, tag);
    }
  })();
}

/** Deletes a run with its tags, metrics, samples and checkpoint rows (cascade); returns its checkpoint files. */
export function deleteRun(db: Db, id: number): string[] {
  const run = getRun(db, id);
  if (run.status === 'running' || run.status === 'paused') throw badInput(`run ${id} is ${run.status}: stop it before deleting it`);
  const files = db.prepare('SELECT path FROM checkpoints WHERE run_id = ?').pluck().all(id) as string[];
  db.prepare('DELETE FROM runs WHERE id = ?').run(id);
  return files;
}
