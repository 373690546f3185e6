import { z } from 'zod';
import { algoSchema, validateConfig, type Algo, type TrainConfig } from '../core/config';
import { runStatusSchema, type RunDetail, type RunSummary } from '../api/contract';
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
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

// Tags are joined with the unit separator, which tag validation forbids inside a tag.
const TAG_SEPARATOR = '\u001f';
const SELECT_RUNS = `
  SELECT r.*, (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM run_tags t WHERE t.run_id = r.id ORDER BY tag)) AS tags
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
    tags: row.tags ? row.tags.split(TAG_SEPARATOR) : [],
    notes: row.notes,
    archived: row.archived !== 0,
    finalMetrics: z.record(z.string(), z.number()).parse(JSON.parse(row.final_metrics)),
  };
}

function toDetail(raw: unknown): RunDetail {
  const row: RunRow = runRowSchema.parse(raw);
  return {
    ...toSummary(row),
    config: validateConfig(JSON.parse(row.config)),
    backendReason: row.backend_reason,
    versions: z.record(z.string(), z.string()).parse(JSON.parse(row.versions)),
  };
}

/** Inserts queued runs and their tags in one transaction: all or none. */
export function insertRuns(db: Db, runs: NewRun[], now = Date.now()): number[] {
  const insertRun = db.prepare(
    `INSERT INTO runs (name, task, algo, preset, config, seed, status, created_at, steps_total)
     VALUES (@name, @task, @algo, @preset, @config, @seed, 'queued', @createdAt, @stepsTotal)`,
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
      });
      const id = Number(info.lastInsertRowid);
      for (const tag of run.tags) insertTag.run(id, tag);
      return id;
    }),
  )();
}

export function listRuns(db: Db): RunSummary[] {
  return db.prepare(`${SELECT_RUNS} ORDER BY r.id DESC`).all().map(toSummary);
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
export function markRunning(db: Db, id: number, owner: { pid: number; host: string; backend: string; backendReason: string; versions: Record<string, string> }, now = Date.now()): void {
  db.prepare(
    `UPDATE runs SET status = 'running', error = NULL, started_at = coalesce(started_at, @now), finished_at = NULL, owner_pid = @pid, owner_host = @host,
       heartbeat_at = @now, backend = @backend, backend_reason = @backendReason, versions = @versions WHERE id = @id`,
  ).run({ id, now, pid: owner.pid, host: owner.host, backend: owner.backend, backendReason: owner.backendReason, versions: JSON.stringify(owner.versions) });
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
  const rows = db.prepare("SELECT id, owner_pid AS pid, owner_host AS host, heartbeat_at AS heartbeat FROM runs WHERE status IN ('running', 'paused')").all() as {
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
