import { z } from 'zod';
import { algoSchema, validateConfig, type TrainConfig } from '../common/config';
import { runFilterSchema, runIdentitySchema, runPageRequestSchema, runStatusSchema, sweepPointSchema, type RunDetail, type RunIdentity, type RunFilter, type RunPage, type RunPageRequest, type RunSortKey, type RunSummary, type SweepPoint } from '../api/contract';
import { badInput, notFound } from '../api/errors';
import type { Db } from './db';
import { cachedStatement } from './statements';

/** A row of `runs` as SQLite returns it; parsed so a hand-edited or drifted database fails loudly. */
const runRowSchema = runIdentitySchema.extend({
  id: z.number().int(),
  config: z.string(),
  status: runStatusSchema,
  error: z.string().nullable(),
  backend: z.string().nullable(),
  backend_reason: z.string().nullable(),
  versions: z.string(),
  created_at: z.number(),
  started_at: z.number().nullable(),
  finished_at: z.number().nullable(),
  train_seconds: z.number(),
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

export interface NewRun extends RunIdentity {
  config: TrainConfig;
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
const BEST_REWARD_SQL = "(SELECT max(value) FROM metrics m WHERE m.run_id = r.id AND m.name = 'eval/meanReward')";
const SELECT_RUNS = `
  SELECT r.*, (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM run_tags t WHERE t.run_id = r.id ORDER BY tag)) AS tags,
    ${BEST_REWARD_SQL} AS best_reward
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
    durationSec: row.started_at !== null ? row.train_seconds : null,
    wallSec: row.started_at !== null && row.finished_at !== null ? (row.finished_at - row.started_at) / 1000 : null,
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
  durationSec: 'CASE WHEN r.started_at IS NULL THEN NULL ELSE r.train_seconds END',
  stepsDone: 'r.steps_done',
  bestScore: `coalesce(r.best_score, ${BEST_REWARD_SQL})`,
  finalScore: "coalesce(r.final_score, json_extract(r.final_metrics, '$.meanReward'))",
};
/** Sort keys whose column is never null: no "missing last" term, so SQLite can walk an index and stop early. */
const NOT_NULL_SORTS = new Set<RunSortKey>(['id', 'name', 'task', 'algo', 'seed', 'status', 'createdAt', 'stepsDone']);

/** The WHERE and ORDER BY of a filter, shared by the page, the count and the stream. */
function filterSql(filter: RunFilter): { where: string; order: string; args: Record<string, unknown> } {
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
  for (const key of ['task', 'algo'] as const) {
    if (f[key] === undefined) continue;
    where.push(`r.${key} = @${key}`);
    args[key] = f[key];
  }
  if (typeof f.status === 'string') {
    where.push('r.status = @status');
    args.status = f.status;
  } else if (f.status !== undefined) {
    where.push('r.status IN (SELECT value FROM json_each(@status))');
    args.status = JSON.stringify(f.status);
  }
  if (f.tag !== undefined) {
    // IN rather than EXISTS: SQLite then walks the tag's index entries, not every run.
    where.push('r.id IN (SELECT run_id FROM run_tags WHERE tag = @tag)');
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
  const key = SORT_SQL[f.sort];
  const dir = f.dir === 'asc' ? 'ASC' : 'DESC';
  const order = `${NOT_NULL_SORTS.has(f.sort) ? '' : `(${key}) IS NULL, `}${key} ${dir}${f.sort === 'id' ? '' : ', r.id DESC'}`;
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', order, args };
}

/** One page of the runs a filter selects, sorted as it asks (missing values last either way, then newest first), and how many it selects in all. */
export function listRuns(db: Db, filter: RunFilter = {}, page: RunPageRequest = {}): RunPage {
  const { limit, offset } = runPageRequestSchema.parse(page);
  const { where, order, args } = filterSql(filter);
  // One read transaction: the page, its rows and the total agree even while runs change status.
  return db.transaction(() => {
    // Sort and cut on the bare rows first; the per-run subqueries then run for one page only.
    const ids = db.prepare(`SELECT r.id FROM runs r ${where} ORDER BY ${order} LIMIT @limit OFFSET @offset`).pluck().all({ ...args, limit, offset }) as number[];
    const total = db.prepare(`SELECT count(*) FROM runs r ${where}`).pluck().get(args) as number;
    const byId = new Map(db.prepare(`${SELECT_RUNS} WHERE r.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)).map((raw) => {
      const run = toSummary(raw);
      return [run.id, run] as const;
    }));
    return { runs: ids.map((id) => byId.get(id) as RunSummary), total, offset };
  })();
}

/** Every run a filter selects, in its order, one row at a time: bounded memory for any number of runs. */
export function* eachRun(db: Db, filter: RunFilter = {}, limit?: number): Generator<RunSummary> {
  const { where, order, args } = filterSql(filter);
  const cap = limit === undefined ? '' : ' LIMIT @limit';
  for (const raw of db.prepare(`${SELECT_RUNS} ${where} ORDER BY ${order}${cap}`).iterate(limit === undefined ? args : { ...args, limit })) yield toSummary(raw);
}

/** The ids a filter selects, in its order. */
export function selectedRunIds(db: Db, filter: RunFilter = {}): number[] {
  const { where, order, args } = filterSql(filter);
  return db.prepare(`SELECT r.id FROM runs r ${where} ORDER BY ${order}`).pluck().all(args) as number[];
}

/**
 * The distinct values of an indexed column, sorted: one index seek per value (a "loose index
 * scan"), where DISTINCT would read all of a million runs' index entries.
 */
function distinctValues(db: Db, table: 'runs' | 'run_tags', column: 'task' | 'algo' | 'status' | 'tag'): string[] {
  const sql = `WITH RECURSIVE v(x) AS (SELECT min(${column}) FROM ${table} UNION ALL SELECT (SELECT min(${column}) FROM ${table} WHERE ${column} > v.x) FROM v WHERE v.x IS NOT NULL)
    SELECT x FROM v WHERE x IS NOT NULL`;
  return db.prepare(sql).pluck().all() as string[];
}

/** The values the run filters can take in this store. */
export function runFacets(db: Db): { runCount: number; tasks: string[]; algos: ('dtql' | 'kl')[]; statuses: RunDetail['status'][]; tags: string[] } {
  return {
    runCount: countRuns(db),
    tasks: distinctValues(db, 'runs', 'task'),
    algos: algoSchema.array().parse(distinctValues(db, 'runs', 'algo')),
    statuses: runStatusSchema.array().parse(distinctValues(db, 'runs', 'status')),
    tags: distinctValues(db, 'run_tags', 'tag'),
  };
}

export function getRun(db: Db, id: number): RunDetail {
  const row = cachedStatement(db, `${SELECT_RUNS} WHERE r.id = ?`).get(id);
  if (!row) throw notFound(`no run with id ${id}`);
  return toDetail(row);
}

export function countRuns(db: Db): number {
  return (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
}

/** Who trains an attempt: the owner of its record (pid, host) and, for a remote worker, its name. */
export interface RunClaim {
  token: string;
  pid: number;
  host: string;
  worker: string | null;
}

/**
 * Claims a run for a new training attempt, in one statement so two processes (an app and a CLI
 * sweep) never train the same run: only a run that is not running, paused or completed can be
 * claimed. A remote worker's attempt `takesOver`: it supersedes whichever attempt held the run
 * (a worker that died), since Redis gives each job to one worker at a time.
 * Returns whether the claim took.
 */
export function claimRun(db: Db, id: number, claim: RunClaim, options: { takeOver?: boolean } = {}, now = Date.now()): boolean {
  const info = db
    .prepare(
      `UPDATE runs SET status = 'running', error = NULL, started_at = coalesce(started_at, @now), finished_at = NULL, owner_pid = @pid, owner_host = @host,
         heartbeat_at = @now, worker = @worker, attempt_token = @token, control_request = NULL
       WHERE id = @id AND (@takeOver OR status NOT IN ('running', 'paused', 'completed'))`,
    )
    .run({ id, now, pid: claim.pid, host: claim.host, worker: claim.worker, token: claim.token, takeOver: options.takeOver ? 1 : 0 });
  return info.changes === 1;
}

/** Records the backend an attempt trains on, as its training process reports it. */
export function recordBackend(db: Db, id: number, backend: { backend: string; backendReason: string; versions: Record<string, string> }): void {
  db.prepare('UPDATE runs SET backend = ?, backend_reason = ?, versions = ? WHERE id = ?').run(backend.backend, backend.backendReason, JSON.stringify(backend.versions), id);
}

/** Whether `token` names the run's current training attempt (a superseded attempt's events are ignored). */
export function isCurrentAttempt(db: Db, id: number, token: string): boolean {
  return db.prepare('SELECT attempt_token FROM runs WHERE id = ?').pluck().get(id) === token;
}

/** The process that holds a run (running or paused), if any. */
export function runOwner(db: Db, id: number): { pid: number; host: string } | null {
  const row = db.prepare('SELECT owner_pid AS pid, owner_host AS host FROM runs WHERE id = ?').get(id) as { pid: number | null; host: string | null } | undefined;
  return row && row.pid !== null && row.host !== null ? { pid: row.pid, host: row.host } : null;
}

/** Steps done so far, and the seconds trained since the last report (pauses excluded) added to the run's training time. */
export function recordProgress(db: Db, id: number, stepsDone: number, trainSeconds = 0, now = Date.now()): void {
  db.prepare('UPDATE runs SET steps_done = ?, heartbeat_at = ?, train_seconds = train_seconds + ? WHERE id = ?').run(stepsDone, now, trainSeconds, id);
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
    `UPDATE runs SET status = @status, error = @error, steps_done = @stepsDone, finished_at = @now, owner_pid = NULL, owner_host = NULL, control_request = NULL,
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

/** A run held by a process of this store (not a remote worker), as crash recovery judges it. */
export interface HeldRun {
  id: number;
  pid: number | null;
  host: string | null;
  heartbeat: number | null;
}

/** Runs running or paused in a process of this store; runs on remote workers are the remote queue's. */
export function locallyHeldRuns(db: Db): HeldRun[] {
  return db.prepare("SELECT id, owner_pid AS pid, owner_host AS host, heartbeat_at AS heartbeat FROM runs WHERE status IN ('running', 'paused') AND worker IS NULL").all() as HeldRun[];
}

/** Runs a remote worker holds (running or paused). */
export function remotelyHeldRunIds(db: Db): number[] {
  return db.prepare("SELECT id FROM runs WHERE status IN ('running', 'paused') AND worker IS NOT NULL").pluck().all() as number[];
}

/** Turns runs whose owner is gone into `interrupted`, each with its reason, in one transaction; a run that ended meanwhile is left alone. */
export function interruptRuns(db: Db, runs: { id: number; error: string }[], now = Date.now()): void {
  const mark = db.prepare(
    "UPDATE runs SET status = 'interrupted', error = @error, owner_pid = NULL, owner_host = NULL, finished_at = @now, control_request = NULL WHERE id = @id AND status IN ('running', 'paused')",
  );
  db.transaction(() => {
    for (const r of runs) mark.run({ id: r.id, now, error: r.error });
  })();
}

/** Moves a run between the states the queue controls (paused <-> running, ended -> queued). */
export function setRunStatus(db: Db, id: number, status: 'queued' | 'paused' | 'running'): void {
  db.prepare('UPDATE runs SET status = ?, error = NULL, heartbeat_at = ? WHERE id = ?').run(status, Date.now(), id);
}

export type ControlRequest = 'pause' | 'resume' | 'stop';

/** Asks the process that owns a run to pause, resume or stop it (it polls for this). */
export function requestControl(db: Db, id: number, request: ControlRequest): void {
  db.prepare('UPDATE runs SET control_request = ? WHERE id = ?').run(request, id);
}

/** Takes (reads and clears) the control requests waiting for these runs. */
export function takeControlRequests(db: Db, ids: number[]): Map<number, ControlRequest> {
  if (ids.length === 0) return new Map();
  return db.transaction(() => {
    const rows = db.prepare('SELECT id, control_request AS request FROM runs WHERE id IN (SELECT value FROM json_each(?)) AND control_request IS NOT NULL').all(JSON.stringify(ids)) as { id: number; request: ControlRequest }[];
    if (rows.length) db.prepare('UPDATE runs SET control_request = NULL WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(rows.map((r) => r.id)));
    return new Map(rows.map((r) => [r.id, r.request]));
  })();
}

/** What a live view needs of the runs that are queued, running or paused, by whichever process. */
export interface ActiveRunRow {
  id: number;
  status: 'queued' | 'running' | 'paused';
  stepsDone: number;
  stepsTotal: number;
  pretrainSteps: number;
  ownerPid: number | null;
  ownerHost: string | null;
  worker: string | null;
  /** The newest logged training speed. */
  stepsPerSec: number | null;
}

export function activeRuns(db: Db): ActiveRunRow[] {
  return db
    .prepare(
      `SELECT r.id, r.status, r.steps_done AS stepsDone, r.steps_total AS stepsTotal, json_extract(r.config, '$.pretrainSteps') AS pretrainSteps,
         r.owner_pid AS ownerPid, r.owner_host AS ownerHost, r.worker,
         (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'stepsPerSec' ORDER BY step DESC LIMIT 1) AS stepsPerSec
       FROM runs r WHERE r.status IN ('running', 'paused') ORDER BY r.id`,
    )
    .all() as ActiveRunRow[];
}

/** How many runs are queued and the newest of them: a sweep may queue 100,000, so they are counted, not read. */
export function queueState(db: Db): string {
  const row = cachedStatement(db, "SELECT count(*) AS n, max(id) AS newest FROM runs WHERE status = 'queued'").get() as { n: number; newest: number | null };
  return `${row.n}:${row.newest}`;
}

/** Changes whenever another connection commits to the store (SQLite's data_version). */
export function dataVersion(db: Db): number {
  return db.pragma('data_version', { simple: true }) as number;
}

/** Training speeds (steps/s) of the newest completed runs of a task and algorithm, optionally of one batch size. */
export function completedRunSpeeds(db: Db, task: string, algo: string, batchSize: number | null, limit = 20): number[] {
  return db
    .prepare(
      `SELECT steps_done * 1000.0 / (finished_at - started_at) FROM runs
       WHERE task = ? AND algo = ? AND status = 'completed' AND finished_at > started_at AND steps_done > 0
         AND (? IS NULL OR json_extract(config, '$.batchSize') = ?)
       ORDER BY id DESC LIMIT ?`,
    )
    .pluck()
    .all(task, algo, batchSize, batchSize, limit) as number[];
}

/** Queued runs, oldest first (at most `limit`); an index walk, so the first few cost the same in a queue of 100,000. */
export function queuedRunIds(db: Db, limit = -1): number[] {
  return cachedStatement(db, "SELECT id FROM runs WHERE status = 'queued' ORDER BY created_at, id LIMIT ?").pluck().all(limit) as number[];
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
