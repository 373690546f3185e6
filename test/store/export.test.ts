import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db';
import { exportCsv } from '../../src/store/export';
import { insertMetrics, type MetricRow } from '../../src/store/metrics';
import { insertDataset } from '../../src/store/datasets';
import { insertRuns } from '../../src/store/runs';
import { planRuns } from '../../src/engine/plan';
import { runCli, tempHomes } from '../helpers';

const freshHome = tempHomes('each');
const hostileName = 'run, "with" quotes\nand a newline =1+1';

function seeded() {
  const home = freshHome();
  const db = openDatabase(home);
  const ids = insertRuns(db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [1, 2], name: hostileName, tags: ['=HYPERLINK("x")', 'ünï, code'], overrides: { alpha: 2.5 } }));
  db.prepare('UPDATE runs SET notes = ? WHERE id = ?').run('@evil note, "quoted"', ids[0]);
  return { home, db, ids };
}

describe('CSV export', () => {
  it('writes one summary row per run with config columns, surviving a round trip through a CSV parser', async () => {
    const { home, db, ids } = seeded();
    const out = path.join(home, 'runs.csv');
    const result = await exportCsv(db, out, 'runs', {});
    expect(result.rows).toBe(2);
    const rows = parse(fs.readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => Number(r.run_id))).toEqual(ids);
    expect(rows[0]?.name).toBe(`${hostileName} s1`);
    expect(rows[0]?.tags).toBe(`'=HYPERLINK("x");ünï, code`);
    expect(rows[0]?.notes).toBe(`'@evil note, "quoted"`);
    expect(rows[0]?.alpha).toBe('2.5');
    expect(rows[1]?.seed).toBe('2');
    expect(rows[0]).toHaveProperty('batchSize', '256');
    // Booleans read as words: false is not an empty (missing-looking) cell.
    expect([rows[0]?.lrDecay, rows[0]?.pretrainCritic, rows[0]?.fakeScoreFromDiffusion]).toEqual(['false', 'false', 'false']);
    expect([rows[0]?.dataset_id, rows[0]?.dataset_name, rows[0]?.dataset_sha256]).toEqual(['', '', '']);
    db.close();
  });

  it("names each run's imported dataset: id, name and SHA-256", async () => {
    const { home, db } = seeded();
    const sha256 = 'ab'.repeat(32);
    const datasetId = insertDataset(db, {
      name: 'hopper-medium-v2',
      format: 'd4rl',
      sourcePath: null,
      storedPath: null,
      sha256,
      bytes: 1,
      env: 'Hopper-v3',
      suggestedTask: 'hopper-medium-v2',
      transitions: 10,
      episodes: 1,
      obsDim: 11,
      actDim: 3,
      stats: {},
      warnings: [],
    });
    // The export only reads the run's dataset id; which task the run is does not matter here.
    const [planned] = planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [0], tags: [], overrides: { lrDecay: true } });
    const [runId] = insertRuns(db, [{ ...(planned as NonNullable<typeof planned>), datasetId }]);
    const out = path.join(home, 'runs.csv');
    await exportCsv(db, out, 'runs', { ids: [runId as number] });
    const [row] = parse(fs.readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
    expect([row?.dataset_id, row?.dataset_name, row?.dataset_sha256]).toEqual([String(datasetId), 'hopper-medium-v2', sha256]);
    expect(row?.lrDecay).toBe('true');
    db.close();
  });

  it('streams 1,000,000 raw metric rows without holding them in memory', async () => {
    const { home, db, ids } = seeded();
    const rows: MetricRow[] = Array.from({ length: 1_000_000 }, (_, i) => ({ name: 'critic', step: i + 1, wallTime: i / 10, value: Math.sin(i) }));
    insertMetrics(db, ids[0] as number, rows);
    rows.length = 0;
    const out = path.join(home, 'metrics.csv');
    // Live heap (after a full collection) while the export runs: the rows as arrays would take
    // well over 100 MB; streamed, only a window of them is alive at any time.
    const liveHeap = () => {
      (global.gc as () => void)();
      return process.memoryUsage().heapUsed;
    };
    const before = liveHeap();
    let peak = before;
    let samples = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, liveHeap());
      samples += 1;
    }, 100);
    const result = await exportCsv(db, out, 'metrics', { ids: [ids[0] as number] });
    clearInterval(timer);
    expect(result.rows).toBe(1_000_000);
    expect(samples).toBeGreaterThan(5);
    expect(peak - before).toBeLessThan(40 * 1024 * 1024);
    const text = fs.readFileSync(out, 'utf8');
    const lines = text.split('\r\n');
    expect(lines[0]).toBe('run_id,metric,step,wall_time,value');
    expect(lines.length).toBe(1_000_002); // header, rows, and the final empty string after the last CRLF
    expect(lines[1]).toBe(`${ids[0]},critic,1,0,0`);
    db.close();
  }, 120_000);

  it('refuses an unwritable path, an unknown run and an empty store, writing nothing', async () => {
    const { home, db } = seeded();
    await expect(exportCsv(db, path.join(home, 'missing', 'x.csv'), 'runs', {})).rejects.toThrow(/does not exist/);
    await expect(exportCsv(db, path.join(home, 'x.csv'), 'runs', { ids: [99] })).rejects.toThrow(/no run with id 99/);
    expect(fs.existsSync(path.join(home, 'x.csv'))).toBe(false);
    const empty = openDatabase(freshHome());
    await expect(exportCsv(empty, path.join(home, 'y.csv'), 'metrics', {})).rejects.toThrow(/nothing to export/);
    empty.close();
    db.close();
  });

  it('dtql export writes the files and exits 2 on bad input', () => {
    const { home, db } = seeded();
    db.close();
    const out = path.join(home, 'cli.csv');
    expect(runCli(['--home', home, 'export', '--out', out, '--runs', '1,2']).status).toBe(0);
    expect(parse(fs.readFileSync(out, 'utf8'))).toHaveLength(3);
    const bad = runCli(['--home', home, 'export', '--out', path.join(home, 'nope', 'x.csv')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/does not exist/);
    expect(runCli(['--home', home, 'export', '--out', out, '--runs', 'a,b']).status).toBe(2);
    const filtered = path.join(home, 'filtered.csv');
    expect(runCli(['--home', home, 'export', '--out', filtered, '--search', 'S2']).status).toBe(0);
    expect((parse(fs.readFileSync(filtered, 'utf8'), { columns: true }) as Record<string, string>[]).map((r) => r.seed)).toEqual(['2']);
    const none = runCli(['--home', home, 'export', '--out', filtered, '--task', 'hopper-medium-v2']);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/no run matches/);
    const listed = runCli(['--home', home, 'runs', 'list', '--search', 'S2', '--json']);
    expect((JSON.parse(listed.stdout) as { seed: number }[]).map((r) => r.seed)).toEqual([2]);
    expect(runCli(['--home', home, 'runs', 'list', '--status', 'done']).status).toBe(2);
  }, 120_000);
});
