import { z } from 'zod';
import { sweepSpecSchema, type RunSummary, type SweepDetail, type SweepDto, type SweepPoint, type SweepSpec, type SweepSummaryRow } from '../api/contract';
import { notFound } from '../api/errors';
import { mean, standardError } from '../core/stats';
import type { Db } from './db';
import { eachRun, insertRuns, type NewRun } from './runs';

const sweepRowSchema = z.object({ id: z.number().int(), name: z.string(), axes: z.string(), spec: z.string(), created_at: z.number() });

/** Records a sweep and queues all its runs in one transaction: all or none. */
export function insertSweep(db: Db, sweep: { name: string; spec: SweepSpec; axes: string[]; runs: (NewRun & { sweepPoint: SweepPoint })[] }, now = Date.now()): { sweepId: number; runIds: number[] } {
  return db.transaction(() => {
    const info = db.prepare('INSERT INTO sweeps (name, spec, axes, created_at) VALUES (?, ?, ?, ?)').run(sweep.name, JSON.stringify(sweep.spec), JSON.stringify(sweep.axes), now);
    const sweepId = Number(info.lastInsertRowid);
    const runIds = insertRuns(db, sweep.runs.map((r) => ({ ...r, sweepId })), now);
    return { sweepId, runIds };
  })();
}

function toDto(db: Db, raw: unknown): SweepDto & { spec: SweepSpec } {
  const row = sweepRowSchema.parse(raw);
  const statuses = Object.fromEntries(
    (db.prepare('SELECT status, count(*) AS n FROM runs WHERE sweep_id = ? GROUP BY status').all(row.id) as { status: string; n: number }[]).map((s) => [s.status, s.n]),
  );
  return {
    id: row.id,
    name: row.name,
    axes: z.array(z.string()).parse(JSON.parse(row.axes)),
    spec: sweepSpecSchema.parse(JSON.parse(row.spec)),
    createdAt: new Date(row.created_at).toISOString(),
    runs: Object.values(statuses).reduce((a, b) => a + b, 0),
    statuses,
  };
}

/** Sweeps, newest first, with their runs counted by status. */
export function listSweeps(db: Db): SweepDto[] {
  return db
    .prepare('SELECT * FROM sweeps ORDER BY id DESC')
    .all()
    .map((raw) => {
      const { spec: _spec, ...dto } = toDto(db, raw);
      return dto;
    });
}

export function getSweep(db: Db, id: number): SweepDetail {
  const raw = db.prepare('SELECT * FROM sweeps WHERE id = ?').get(id);
  if (!raw) throw notFound(`no sweep ${id}`);
  const runs = [...eachRun(db, { sweep: id, archived: 'include', sort: 'id', dir: 'asc' })];
  return { ...toDto(db, raw), runIds: runs.map((r) => r.id), summary: sweepSummary(runs) };
}

const meanSe = (values: (number | null | undefined)[]) => {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return present.length ? { mean: mean(present), se: standardError(present), n: present.length } : null;
};

/**
 * One row per grid point, in the order the sweep queued them: how many runs and how many
 * completed, and mean ± standard error over seeds of the best and final score (the task's own
 * outcome where it has no normalised score) and of every final outcome.
 */
export function sweepSummary(runs: RunSummary[]): SweepSummaryRow[] {
  const groups = new Map<string, RunSummary[]>();
  for (const run of runs) {
    const key = JSON.stringify(run.sweepPoint ?? {});
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.entries()].map(([key, members]) => {
    const ended = members.filter((r) => r.status === 'completed');
    const finalKeys = [...new Set(ended.flatMap((r) => Object.keys(r.finalMetrics)))].sort();
    const finals: SweepSummaryRow['finals'] = {};
    for (const k of finalKeys) {
      const stat = meanSe(ended.map((r) => r.finalMetrics[k]));
      if (stat) finals[k] = stat;
    }
    return {
      point: JSON.parse(key) as SweepPoint,
      runs: members.length,
      completed: ended.length,
      bestScore: meanSe(ended.map((r) => r.bestScore ?? r.bestReward)),
      finalScore: meanSe(ended.map((r) => r.finalScore ?? r.finalMetrics.meanReward)),
      finals,
    };
  });
}
