import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { insertMetrics } from '../../src/store/metrics';
import { eachRun, finishRun, insertRuns, listRuns, queuedRunIds, runFacets, updateRun } from '../../src/store/runs';
import { planRuns } from '../../src/engine/plan';
import { tempHomes } from '../helpers';

const freshHome = tempHomes('each');
const DAY = 24 * 3600 * 1000;
const T0 = Date.UTC(2026, 10, 1);

/** Six runs over six days: two tasks, both algorithms, tags, notes, one archived, mixed outcomes. */
function seeded() {
  const db = openDatabase(freshHome());
  const plan = (task: string, algo: 'dtql' | 'kl', name: string, tags: string[]) => planRuns({ task, algo, preset: 'quick', seeds: [0], name, tags, overrides: {} });
  const specs = [
    plan('bandit-25g-far', 'dtql', 'Alpha far', ['sweep-a']),
    plan('bandit-25g-far', 'kl', 'beta far', ['sweep-a', 'kl']),
    plan('bandit-25g-near', 'dtql', 'gamma near', []),
    plan('bandit-25g-near', 'kl', 'delta near', ['kl']),
    plan('bandit-swiss-far', 'dtql', 'epsilon', []),
    plan('bandit-swiss-far', 'kl', 'zeta', []),
  ];
  const ids = specs.map((s, i) => insertRuns(db, s, T0 + i * DAY)[0] as number);
  const [a, b, c, d, e] = ids as [number, number, number, number, number, number];
  db.prepare('UPDATE runs SET started_at = created_at WHERE id IN (?, ?, ?)').run(a, b, c);
  finishRun(db, a, { status: 'completed', stepsDone: 100, finalMetrics: { meanReward: 12 } }, T0 + 50_000);
  finishRun(db, b, { status: 'completed', stepsDone: 100, finalMetrics: { meanReward: 9 } }, T0 + DAY + 10_000);
  finishRun(db, c, { status: 'diverged', stepsDone: 40, error: 'NaN' }, T0 + 2 * DAY + 90_000);
  // Training time as their events would have added it up: no pauses here.
  db.prepare('UPDATE runs SET train_seconds = (finished_at - started_at) / 1000.0 WHERE started_at IS NOT NULL').run();
  insertMetrics(db, a, [
    { name: 'eval/meanReward', step: 10, wallTime: 1, value: 13.5 },
    { name: 'eval/meanReward', step: 20, wallTime: 2, value: 12 },
  ]);
  updateRun(db, d, { notes: 'Looks WRONG, check the seed' });
  updateRun(db, e, { archived: true });
  return { db, ids };
}

const idsOf = (page: { runs: { id: number }[] }) => page.runs.map((r) => r.id);

describe('run list filters and sort', () => {
  it('hides archived runs unless asked, newest first by default', () => {
    const { db, ids } = seeded();
    const [a, b, c, d, e, f] = ids;
    expect(idsOf(listRuns(db))).toEqual([f, d, c, b, a]);
    expect(idsOf(listRuns(db, { archived: 'only' }))).toEqual([e]);
    expect(listRuns(db, { archived: 'include' }).runs).toHaveLength(6);
    db.close();
  });

  it('filters by task, algorithm, status, tag, text in name or notes, date range and ids, combined with AND', () => {
    const { db, ids } = seeded();
    const [a, b, c, d, , f] = ids;
    expect(idsOf(listRuns(db, { task: 'bandit-25g-far' }))).toEqual([b, a]);
    expect(idsOf(listRuns(db, { algo: 'kl' }))).toEqual([f, d, b]);
    expect(idsOf(listRuns(db, { status: 'diverged' }))).toEqual([c]);
    expect(idsOf(listRuns(db, { status: ['diverged', 'completed'], sort: 'id', dir: 'asc' }))).toEqual([a, b, c]);
    expect(idsOf(listRuns(db, { tag: 'kl' }))).toEqual([d, b]);
    expect(idsOf(listRuns(db, { tag: 'kl', task: 'bandit-25g-far' }))).toEqual([b]);
    expect(idsOf(listRuns(db, { text: 'alpha' }))).toEqual([a]);
    expect(idsOf(listRuns(db, { text: 'wrong' }))).toEqual([d]);
    expect(idsOf(listRuns(db, { from: T0 + DAY, to: T0 + 3 * DAY }))).toEqual([d, c, b]);
    expect(idsOf(listRuns(db, { ids: [a as number, f as number, 999] }))).toEqual([f, a]);
    expect(listRuns(db, { text: 'nothing like this' })).toEqual({ runs: [], total: 0, offset: 0 });
    db.close();
  });

  it('sorts by any column with missing values last in both directions', () => {
    const { db, ids } = seeded();
    const [a, b, c, d, , f] = ids;
    expect(idsOf(listRuns(db, { sort: 'name', dir: 'asc' }))).toEqual([a, b, d, c, f]);
    expect(idsOf(listRuns(db, { sort: 'finalScore', dir: 'desc' })).slice(0, 2)).toEqual([a, b]);
    expect(idsOf(listRuns(db, { sort: 'finalScore', dir: 'asc' })).slice(0, 2)).toEqual([b, a]);
    expect(idsOf(listRuns(db, { sort: 'durationSec', dir: 'desc' })).slice(0, 3)).toEqual([c, a, b]);
    expect(idsOf(listRuns(db, { sort: 'durationSec', dir: 'asc' })).slice(0, 3)).toEqual([b, a, c]);
    expect(idsOf(listRuns(db, { sort: 'stepsDone', dir: 'asc' })).slice(-2)).toEqual([b, a]);
    const best = listRuns(db, { sort: 'bestScore' }).runs[0];
    expect(best?.id).toBe(a);
    expect(best?.bestReward).toBe(13.5);
    expect(best?.durationSec).toBe(50);
    expect(idsOf(listRuns(db, { sort: 'task', dir: 'asc' })).slice(0, 2).sort()).toEqual([a, b].sort());
    expect(d).toBeDefined();
    db.close();
  });

  it('pages through the same sorted selection, with its total, and streams it whole', () => {
    const { db, ids } = seeded();
    for (const sort of ['id', 'name', 'finalScore', 'bestScore', 'durationSec'] as const) {
      for (const dir of ['asc', 'desc'] as const) {
        const whole = idsOf(listRuns(db, { sort, dir, archived: 'include' }));
        const pages = [0, 2, 4].map((offset) => listRuns(db, { sort, dir, archived: 'include' }, { limit: 2, offset }));
        expect(pages.flatMap((p) => idsOf(p))).toEqual(whole);
        expect(pages.map((p) => p.total)).toEqual([6, 6, 6]);
        expect([...eachRun(db, { sort, dir, archived: 'include' })].map((r) => r.id)).toEqual(whole);
        expect([...eachRun(db, { sort, dir, archived: 'include' }, 3)].map((r) => r.id)).toEqual(whole.slice(0, 3));
      }
    }
    expect(listRuns(db, { task: 'bandit-25g-far' }, { limit: 1, offset: 5 })).toEqual({ runs: [], total: 2, offset: 5 });
    expect(ids).toHaveLength(6);
    expect(() => listRuns(db, {}, { limit: 5000 })).toThrow(/at most 1000/);
    expect(() => listRuns(db, {}, { offset: -1 })).toThrow(/negative/);
    db.close();
  });

  it('gives the run queue its oldest queued runs, only as many as it asks for', () => {
    const { db, ids } = seeded();
    const [, , , d, e, f] = ids;
    // a, b and c have started; d, e and f are queued, oldest first.
    expect(queuedRunIds(db)).toEqual([d, e, f]);
    expect(queuedRunIds(db, 2)).toEqual([d, e]);
    db.close();
  });

  it('rejects a malformed filter instead of guessing', () => {
    const { db } = seeded();
    expect(() => listRuns(db, { sort: 'password' as never })).toThrow();
    expect(() => listRuns(db, { from: 10, to: 5 })).toThrow(/ends before it starts/);
    expect(() => listRuns(db, { status: 'done' as never })).toThrow();
    expect(() => listRuns(db, { status: ['completed', 'done' as never] })).toThrow();
    expect(() => listRuns(db, { status: [] })).toThrow(/at least one status/);
    db.close();
  });

  it('lists the values each filter can take', () => {
    const { db } = seeded();
    expect(runFacets(db)).toEqual({
      runCount: 6,
      tasks: ['bandit-25g-far', 'bandit-25g-near', 'bandit-swiss-far'],
      algos: ['dtql', 'kl'],
      statuses: ['completed', 'diverged', 'queued'],
      tags: ['kl', 'sweep-a'],
    });
    db.close();
  });
});
