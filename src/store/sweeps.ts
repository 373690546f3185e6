import { z } from 'zod';
import { sweepSpecSchema, type RunSummary, type SweepDetail, type SweepDto, type SweepPoint, type SweepSpec, type SweepSummaryRow } from '../api/contract';
import { notFound } from '../api/errors';
import { mean, standardError } from '../common/stats';
import type { Db } from './db';
import { eachRun, insertRuns, type NewRun } from './runs';

const sweepRowSchema = z.object({ id: z.number().int(), name: z.string(), axes: z.string(), spec: z.string(), created_at: z.number() });

/** A sweep's runs queued per transaction: about 0.1 s of work, so a served app answers between them. */
export const SWEEP_BATCH = 2000;

/**
 * Records a sweep and queues its runs, a batch per transaction with a turn of the event loop
 * between them, so 100,000 runs never hold the store or the server for seconds. If a batch fails,
 * the runs already queued are taken back (any a queue started meanwhile are kept and counted in
 * the error) and the sweep record goes with them when none is left.
 */
export async function insertSweep(db: Db, sweep: { name: string; spec: SweepSpec; axes: string[]; runs: (NewRun & { sweepPoint: SweepPoint })[] }, now = Date.now()): Promise<{ sweepId: number; runIds: number[] }> {
  const info = db.prepare('INSERT INTO sweeps (name, spec, axes, created_at) VALUES (?, ?, ?, ?)').run(sweep.name, JSON.stringify(sweep.spec), JSON.stringify(sweep.axes), now);
  const sweepId = Number(info.lastInsertRowid);
  const runIds: number[] = [];
  try {
    for (let start = 0; start < sweep.runs.length; start += SWEEP_BATCH) {
      for (const id of insertRuns(db, sweep.runs.slice(start, start + SWEEP_BATCH).map((r) => ({ ...r, sweepId })), now)) runIds.push(id);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { sweepId, runIds };
  } catch (err) {
    const kept = db.transaction(() => {
      db.prepare("DELETE FROM runs WHERE sweep_id = ? AND status = 'queued'").run(sweepId);
      const left = db.prepare('SELECT count(*) FROM runs WHERE sweep_id = ?').pluck().get(sweepId) as number;
      if (left === 0) db.prepare('DELETE FROM sweeps WHERE id = ?').run(sweepId);
      return left;
    })();
    if (kept > 0 && err instanceof Error) err.message += `; the sweep's queued runs were taken back, ${kept} that had started are kept in sweep ${sweepId}`;
    throw err;
  }
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
