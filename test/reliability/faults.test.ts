/**
 * Faults (issue 9.1): a killed CLI, a corrupt checkpoint, a full or read-only disk, a store locked
 * by another process and a second app on the same data folder. After each the store passes
 * `PRAGMA integrity_check`, no run is lost, its status and message say what happened, and
 * resuming finishes it where a checkpoint exists.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readCheckpoint } from '../../src/engine/training/checkpoint';
import { planRuns } from '../../src/engine/plan';
import { trainRun } from '../../src/engine/local/train-run';
import { listCheckpoints } from '../../src/store/checkpoints';
import { DB_FILE, type Db } from '../../src/store/db';
import { openStore } from '../../src/engine/local/recovery';
import { readMetric } from '../../src/store/metrics';
import { getRun, insertRuns } from '../../src/store/runs';
import { apiRequest, criticSteps, runCli, sha256File, spawnCli, startServe, tempHomes, waitFor } from '../helpers';

const freshHome = tempHomes();
const children: ChildProcess[] = [];
const openDbs: Db[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const db of openDbs.splice(0)) if (db.open) db.close();
});

const SMALL = { batchSize: 32, scoreHidden: 32, logInterval: 1, checkpointInterval: 25, evalInterval: 100 };
const SMALL_FLAGS = Object.entries(SMALL).flatMap(([k, v]) => ['--set', `${k}=${v}`]);

/** The store as the next command or app finds it: opened by the engine's start-up, which settles orphaned runs. */
function store(home: string): Db {
  const db = openStore(home);
  openDbs.push(db);
  return db;
}

function queueRun(db: Db, trainSteps: number): number {
  return insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [5], tags: [], overrides: { ...SMALL, trainSteps } }))[0] as number;
}


/** Rows flushed so far, read without touching the store (no recovery, no migrations). */
function flushedRows(home: string): number {
  const file = path.join(home, DB_FILE);
  if (!fs.existsSync(file)) return 0;
  const reader = new Database(file, { readonly: true });
  try {
    return reader.prepare("SELECT count(*) FROM metrics WHERE name = 'critic'").pluck().get() as number;
  } catch {
    return 0;
  } finally {
    reader.close();
  }
}

const integrity = (db: Db) => db.pragma('integrity_check', { simple: true });

describe('faults', () => {
  it('dtql train killed with SIGKILL: the run is interrupted with a message, the store is intact, resume finishes it', async () => {
    const home = freshHome();
    const child = spawnCli(['--home', home, 'train', '--task', 'bandit-25g-far', '--preset', 'quick', '--steps', '300', ...SMALL_FLAGS]);
    children.push(child);
    await waitFor(() => flushedRows(home), (n) => n >= 40, 'the CLI run to flush metrics');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const db = store(home);
    expect(integrity(db)).toBe('ok');
    const run = getRun(db, 1);
    expect(run.status).toBe('interrupted');
    expect(run.error).toMatch(/process \d+ on .* stopped training it without finishing; resume continues from the last checkpoint/);
    expect(criticSteps(db, 1)).toBeGreaterThanOrEqual(40);
    db.close();

    const resumed = runCli(['--home', home, 'resume', '1', '--json'], {}, 180_000);
    expect(resumed.status, resumed.stderr).toBe(0);
    const after = store(home);
    expect(getRun(after, 1)).toMatchObject({ status: 'completed', stepsDone: 300 });
    expect(criticSteps(after, 1)).toBe(300);
    expect(readMetric(after, 1, 'event/resume')[0]?.step).toBeGreaterThanOrEqual(25);
  }, 240_000);

  it('a corrupt newest checkpoint is caught by its checksum and resume falls back to the one before', async () => {
    const home = freshHome();
    const db = store(home);
    const id = queueRun(db, 200);
    await trainRun(db, home, id, { control: () => (getRun(db, id).stepsDone >= 60 ? 'stop' : null), flushSeconds: 0 });
    const [newest, previous] = listCheckpoints(db, id);
    expect(getRun(db, id).status).toBe('stopped');
    expect(newest && previous).toBeTruthy();
    // One flipped byte in the middle: same size, so only the checksum can tell.
    const bytes = fs.readFileSync(newest!.path);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    fs.writeFileSync(newest!.path, bytes);

    await trainRun(db, home, id, { flushSeconds: 0 });
    const run = getRun(db, id);
    expect(run).toMatchObject({ status: 'completed', stepsDone: 200 });
    expect(run.error).toContain(`skipping checkpoint at step ${newest!.step}`);
    expect(run.error).toMatch(/corrupt \(SHA-256/);
    expect(readMetric(db, id, 'event/resume').map((m) => m.step)).toEqual([previous!.step]);
    expect(criticSteps(db, id)).toBe(200);
    expect(integrity(db)).toBe('ok');
  }, 120_000);

  it('a run whose checkpoints are all unreadable is not resumed from step 0 over its metrics: refused with the reason, and --restart trains a new run', async () => {
    const home = freshHome();
    const db = store(home);
    const id = queueRun(db, 200);
    await trainRun(db, home, id, { control: () => (getRun(db, id).stepsDone >= 60 ? 'stop' : null), flushSeconds: 0 });
    const before = getRun(db, id);
    const metricsBefore = criticSteps(db, id);
    const [newest, previous] = listCheckpoints(db, id);
    fs.rmSync(newest!.path);
    const bytes = fs.readFileSync(previous!.path);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 0xff, 10);
    fs.writeFileSync(previous!.path, bytes);
    db.close();

    const refused = runCli(['--home', home, 'resume', String(id)]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(`run ${id} cannot resume: none of its 2 checkpoints can be read`);
    expect(refused.stderr).toContain('is missing');
    expect(refused.stderr).toMatch(/corrupt \(SHA-256/);
    expect(refused.stderr).toContain(`dtql resume ${id} --restart`);
    const after = store(home);
    expect(getRun(after, id)).toMatchObject({ status: before.status, stepsDone: before.stepsDone });
    expect(criticSteps(after, id)).toBe(metricsBefore);
    after.close();

    const restarted = runCli(['--home', home, 'resume', String(id), '--restart', '--json'], {}, 120_000);
    expect(restarted.status, restarted.stderr).toBe(0);
    const summary = JSON.parse(restarted.stdout) as { runId: number; status: string };
    expect(summary).toMatchObject({ status: 'completed' });
    expect(summary.runId).not.toBe(id);
    const last = store(home);
    expect(getRun(last, summary.runId)).toMatchObject({ name: `${before.name} (restart of run ${id})`, seed: before.seed, config: before.config, stepsDone: 200 });
    expect(getRun(last, id)).toMatchObject({ status: before.status, stepsDone: before.stepsDone });
    expect(criticSteps(last, id)).toBe(metricsBefore);
  }, 240_000);

  it.each([
    ['its first page (bytes 100-4096)', 100, 4096],
    ['every page after the first', 4096, Infinity],
  ])('a database with %s overwritten: every command exits 2 naming the file and what to do, and serve leaves no instance file', async (_what, from, to) => {
    const home = freshHome();
    const db = store(home);
    insertRuns(db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: Array.from({ length: 200 }, (_, i) => i), tags: ['filler'], name: 'x'.repeat(150), overrides: {} }));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const file = path.join(home, DB_FILE);
    const bytes = fs.readFileSync(file);
    expect(bytes.length).toBeGreaterThan(4096 * 4);
    bytes.fill(0x5a, from, Math.min(to, bytes.length));
    fs.writeFileSync(file, bytes);
    for (const args of [['runs', 'list'], ['export', '--out', path.join(home, 'x.csv')], ['serve', '--port', '0']]) {
      const result = runCli(['--home', home, ...args], {}, 30_000);
      expect(result.status, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(`the database ${file} is damaged`);
      expect(result.stderr).toContain('Backup and restore');
    }
    expect(fs.existsSync(path.join(home, 'instance.json'))).toBe(false);
  }, 120_000);

  it('a checkpoint lands in the store only together with every metric before it', async () => {
    const home = freshHome();
    const db = store(home);
    const id = queueRun(db, 80);
    const seen: { checkpoint: number; metricSteps: number }[] = [];
    // With time-based flushes out of the way, only the checkpoint itself can have written the metrics.
    await trainRun(db, home, id, { flushSeconds: 3600, onCheckpoint: ({ step }) => seen.push({ checkpoint: step, metricSteps: criticSteps(db, id) }) });
    expect(seen.map((s) => s.checkpoint)).toEqual([25, 50, 75, 80]);
    for (const { checkpoint, metricSteps } of seen) expect(metricSteps).toBe(checkpoint);
  }, 120_000);

  it.each([
    ['ENOSPC', 'no space left on device', /disk holding the data folder is full/],
    ['EROFS', 'read-only file system', /data folder is read-only/],
  ])('%s while writing a checkpoint fails the run with that reason, leaves no partial file, and resume finishes it', async (code, text, reason) => {
    const home = freshHome();
    const db = store(home);
    const id = queueRun(db, 120);
    const realWrite = fs.writeSync;
    let checkpointWrites = 0;
    // The file-system boundary: the second checkpoint write fails as the kernel would.
    vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, buffer: Buffer, ...rest: never[]) => {
      if (Buffer.isBuffer(buffer) && buffer.toString('latin1', 0, 8) === 'DTQLCKPT' && ++checkpointWrites === 2) {
        throw Object.assign(new Error(`${code}: ${text}, write`), { code });
      }
      return realWrite(fd, buffer, ...rest);
    }) as typeof fs.writeSync);
    await expect(trainRun(db, home, id, { flushSeconds: 0 })).rejects.toThrow(/at step 50; the checkpoint at step 25 is kept; resume continues from it/);
    vi.restoreAllMocks();

    const failed = getRun(db, id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(reason);
    const [kept] = listCheckpoints(db, id);
    expect(fs.readdirSync(path.dirname(kept!.path))).toEqual(['step-25.ckpt']);
    expect(() => readCheckpoint(kept!.path, kept!.sha256)).not.toThrow();
    expect(integrity(db)).toBe('ok');

    await trainRun(db, home, id, { flushSeconds: 0 });
    expect(getRun(db, id)).toMatchObject({ status: 'completed', stepsDone: 120 });
    expect(criticSteps(db, id)).toBe(120);
  }, 120_000);

  it('SQLite reporting a full database while flushing metrics fails the run honestly; nothing flushed is lost', async () => {
    const home = freshHome();
    const db = store(home);
    const id = queueRun(db, 400);
    let capped = false;
    await expect(
      trainRun(db, home, id, {
        flushSeconds: 0,
        control: () => {
          if (!capped && getRun(db, id).stepsDone >= 40) {
            // SQLite's own size cap: the next page the metrics need cannot be allocated (SQLITE_FULL).
            db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
            capped = true;
          }
          return null;
        },
      }),
    ).rejects.toThrow(/full/);
    const before = criticSteps(db, id);
    expect(before).toBeGreaterThanOrEqual(40);
    expect(getRun(db, id).status).toBe('failed');
    expect(getRun(db, id).error).toMatch(/disk holding the data folder is full .*database or disk is full/);
    db.pragma('max_page_count = 1073741823');
    expect(integrity(db)).toBe('ok');

    await trainRun(db, home, id, { flushSeconds: 0 });
    expect(getRun(db, id)).toMatchObject({ status: 'completed', stepsDone: 400 });
    expect(criticSteps(db, id)).toBe(400);
  }, 180_000);

  it('a store locked by another process: training keeps its metrics until the lock is gone, the API answers 503, nothing is lost', async () => {
    const home = freshHome();
    const served = await startServe(home, ['--concurrency', '1']);
    children.push(served.child);
    const created = await apiRequest(served.base, 'POST', '/api/runs', { task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [2], overrides: { ...SMALL, trainSteps: 300 } });
    const id = (created.body.runIds as number[])[0] as number;
    await waitFor(() => flushedRows(home), (n) => n >= 20, 'the run to flush metrics');

    // Another process takes the write lock and holds it for 8 s (longer than the 5 s busy timeout).
    const locker = spawn(
      process.execPath,
      ['-e', `const D=require('better-sqlite3');const d=new D(process.argv[1]);d.exec('BEGIN IMMEDIATE');console.log('locked');setTimeout(()=>{d.exec('COMMIT');d.close()},8000)`, path.join(home, DB_FILE)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(locker);
    await new Promise<void>((resolve) => locker.stdout.once('data', () => resolve()));
    const lockedAt = flushedRows(home);

    const read = await apiRequest(served.base, 'GET', `/api/runs/${id}`);
    expect(read.status).toBe(200);
    const write = await apiRequest(served.base, 'PATCH', `/api/runs/${id}`, { notes: 'written while locked' });
    expect(write.status).toBe(503);
    expect((write.body.error as { message: string }).message).toMatch(/locked by another process.*nothing was changed, try again/);
    await new Promise((r) => locker.once('exit', r));

    const done = await waitFor(() => apiRequest(served.base, 'GET', `/api/runs/${id}`), (r) => r.body.status === 'completed', 'the run to complete after the lock', 180_000);
    expect(done.body.stepsDone).toBe(300);
    expect(done.body.notes).toBe('');
    const db = store(home);
    expect(lockedAt).toBeLessThan(300);
    expect(criticSteps(db, id)).toBe(300);
    expect(integrity(db)).toBe('ok');
  }, 240_000);

  it('while another process holds the write lock for 5 s, reads answer within 100 ms and a write answers 503 at once', async () => {
    const home = freshHome();
    const served = await startServe(home, ['--concurrency', '0']);
    children.push(served.child);
    const created = await apiRequest(served.base, 'POST', '/api/runs', { task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [1, 2], overrides: SMALL });
    const [id] = created.body.runIds as number[];
    const timed = async (method: string, url: string, body?: unknown) => {
      const start = performance.now();
      const reply = await apiRequest(served.base, method, url, body);
      return { ...reply, ms: performance.now() - start };
    };
    // Warm the routes (first calls compile their handlers).
    for (const url of ['/api/info', '/api/runs']) await timed('GET', url);
    const locker = spawn(
      process.execPath,
      ['-e', `const D=require('better-sqlite3');const d=new D(process.argv[1]);d.exec('BEGIN IMMEDIATE');console.log('locked');setTimeout(()=>{d.exec('COMMIT');d.close()},5000)`, path.join(home, DB_FILE)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(locker);
    await new Promise<void>((resolve) => locker.stdout.once('data', () => resolve()));
    const lockedAt = performance.now();
    const times: number[] = [];
    while (performance.now() - lockedAt < 4000) {
      const [write, info, runs] = await Promise.all([timed('PATCH', `/api/runs/${id}`, { notes: 'x' }), timed('GET', '/api/info'), timed('GET', '/api/runs')]);
      expect(write.status).toBe(503);
      expect(info.status).toBe(200);
      expect(runs.status).toBe(200);
      times.push(write.ms, info.ms, runs.ms);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(times.length).toBeGreaterThanOrEqual(30);
    expect(Math.max(...times)).toBeLessThan(100);
    await new Promise((r) => locker.once('exit', r));
    expect((await timed('PATCH', `/api/runs/${id}`, { notes: 'after' })).status).toBe(200);
  }, 60_000);

  it('a second app on the same data folder is refused with a message naming the first; after the first dies it opens', async () => {
    const home = freshHome();
    const first = await startServe(home, ['--concurrency', '0']);
    children.push(first.child);
    await expect(startServe(home)).rejects.toThrow(new RegExp(`already open in dtql serve \\(pid ${first.child.pid} on .*${first.base.replace(/[.]/g, '\\.')}`));
    // The CLI still shares the store beside the running app.
    expect(runCli(['--home', home, 'runs', 'list', '--json']).status).toBe(0);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const second = await startServe(home, ['--concurrency', '0']);
    children.push(second.child);
    expect((await apiRequest(second.base, 'GET', '/api/info')).status).toBe(200);
  }, 60_000);
});

/** A real small file system for the data folder, where this machine lets us mount one (root, tmpfs). */
function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const probeDir = fs.mkdtempSync('/tmp/dtql-tmpfs-probe-');
const canMount = mountTmpfs(probeDir, '1m');
if (canMount) execFileSync('umount', [probeDir]);
fs.rmSync(probeDir, { recursive: true, force: true });

describe.skipIf(!canMount)('faults on a real tmpfs data folder', () => {
  const mounted: string[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const db of openDbs.splice(0)) if (db.open) db.close();
    for (const dir of mounted.splice(0)) execFileSync('umount', ['-l', dir]);
  });

  function tmpfsHome(size: string): string {
    const home = freshHome();
    expect(mountTmpfs(home, size)).toBe(true);
    mounted.push(home);
    return home;
  }

  async function trainUntilFault(home: string, fault: () => void): Promise<{ code: number | null; stderr: string }> {
    const child = spawnCli(['--home', home, 'train', '--task', 'bandit-25g-far', '--preset', 'quick', '--steps', '400', ...SMALL_FLAGS]);
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await waitFor(() => flushedRows(home), (n) => n >= 40, 'metrics on the tmpfs');
    fault();
    return { code: await exited, stderr };
  }

  it('the disk fills up mid-run: the CLI exits 1 naming the full disk; after freeing space the store is intact and resume finishes', async () => {
    const home = tmpfsHome('48m');
    const filler = path.join(home, 'filler.bin');
    const result = await trainUntilFault(home, () => {
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/disk holding the data folder is full/);
    fs.rmSync(filler);
    const db = store(home);
    expect(integrity(db)).toBe('ok');
    const run = getRun(db, 1);
    expect(['failed', 'interrupted']).toContain(run.status);
    expect(run.error).toMatch(/full|stopped training it without finishing/);
    db.close();
    const resumed = runCli(['--home', home, 'resume', '1'], {}, 180_000);
    expect(resumed.status, resumed.stderr).toBe(0);
    const after = store(home);
    expect(getRun(after, 1)).toMatchObject({ status: 'completed', stepsDone: 400 });
    expect(criticSteps(after, 1)).toBe(400);
  }, 300_000);

  it('a data folder that turned read-only: resume and serve refuse with the reason and change nothing; once writable resume finishes', async () => {
    const home = tmpfsHome('48m');
    const child = spawnCli(['--home', home, 'train', '--task', 'bandit-25g-far', '--preset', 'quick', '--steps', '400', ...SMALL_FLAGS]);
    children.push(child);
    await waitFor(() => flushedRows(home), (n) => n >= 40, 'metrics on the tmpfs');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // A mount can only turn read-only once nothing writes to it (the kernel refuses otherwise).
    execFileSync('mount', ['-o', 'remount,ro', home]);
    try {
      const before = sha256File(path.join(home, DB_FILE));
      for (const args of [['resume', '1'], ['serve', '--port', '0']]) {
        const refused = runCli(['--home', home, ...args]);
        expect(refused.status).toBe(2);
        expect(refused.stderr).toMatch(/data folder .* is not readable and writable/);
      }
      expect(sha256File(path.join(home, DB_FILE))).toBe(before);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', home]);
    }
    const resumed = runCli(['--home', home, 'resume', '1'], {}, 180_000);
    expect(resumed.status, resumed.stderr).toBe(0);
    const after = store(home);
    expect(integrity(after)).toBe('ok');
    expect(getRun(after, 1)).toMatchObject({ status: 'completed', stepsDone: 400 });
    expect(criticSteps(after, 1)).toBe(400);
  }, 300_000);
});
