/**
 * Remote workers through BullMQ on a real redis-server this test starts on a free loopback port:
 * a sweep across two worker processes, a worker killed mid-run, remote = local results, Redis
 * restarting, the app closed while workers train, and bad Redis URLs.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DB_FILE, loadMigrations, openDatabase, schemaVersion } from '../../src/store/db';
import { readMetric } from '../../src/store/metrics';
import { getRun, insertRuns, listRuns, type NewRun } from '../../src/store/runs';
import { planRuns } from '../../src/engine/plan';
import { EventHub } from '../../src/engine/events';
import { RECHECK_PER_PASS, RemoteQueue } from '../../src/engine/remote/remote-queue';
import { Queue } from 'bullmq';
import { apiRequest, criticSteps, hasRedisServer, makeTestCertificates, runCli, spawnCli, startRedis, startServe, tempHomes, waitFor } from '../helpers';

const freshHome = tempHomes();
const children: ChildProcess[] = [];
const redises: { stop: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const r of redises.splice(0)) await r.stop();
});

const SMALL = 'preset: quick\nalgo: dtql\nbatchSize: 32\nscoreHidden: 32\nevalInterval: 20\nlogInterval: 1\ncheckpointInterval: 10\n';
/** Short locks so a dead worker's run moves on within seconds. */
const WORKER_ENV = { DTQL_WORKER_LOCK_MS: '3000' };

async function redis(options: Parameters<typeof startRedis>[0] = {}) {
  const server = await startRedis(options);
  redises.push(server);
  return server;
}

function worker(url: string, name: string): ChildProcess {
  const child = spawnCli(['worker', '--redis', url, '--concurrency', '1', '--name', name], WORKER_ENV);
  children.push(child);
  return child;
}

function sweepFile(home: string, body: string): string {
  const file = path.join(home, 'sweep.yaml');
  fs.writeFileSync(file, body);
  return file;
}

/** Reads the store without opening it as an app would (no recovery, no migrations). */
function peek<T>(home: string, read: (db: Database.Database) => T): T {
  const db = new Database(path.join(home, DB_FILE), { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** Steps done by the worker's running run; undefined until the sweep has created the store and its whole schema. */
function runningSteps(home: string, workerName: string): number | undefined {
  if (!fs.existsSync(path.join(home, DB_FILE))) return undefined;
  return peek(home, (db) => {
    // Each migration commits on its own: wait for the last one (the worker column comes late).
    if (schemaVersion(db) < (loadMigrations().at(-1)?.version ?? 0)) return undefined;
    return db.prepare("SELECT steps_done FROM runs WHERE worker = ? AND status = 'running'").pluck().get(workerName) as number | undefined;
  });
}

describe.skipIf(!hasRedisServer())('remote workers (BullMQ on Redis)', () => {
  it('a sweep of 6 runs completes across two workers, each run whole, and a remote run equals the same seed trained here', async () => {
    const { url } = await redis();
    worker(url, 'worker-a');
    worker(url, 'worker-b');
    const home = freshHome();
    const file = sweepFile(home, `task: bandit-25g-near\nseed: [1, 2, 3, 4, 5, 6]\nsteps: 40\n${SMALL}`);
    const result = runCli(['--home', home, 'sweep', file, '--redis', url, '--json'], {}, 300_000);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { runIds: number[]; statuses: Record<string, number> };
    expect(out.statuses).toEqual({ completed: 6 });
    const db = openDatabase(home);
    const { runs } = listRuns(db, { sweep: 1 });
    expect(new Set(runs.map((r) => r.worker))).toEqual(new Set(['worker-a', 'worker-b']));
    for (const run of runs) expect(criticSteps(db, run.id)).toBe(40);
    const remote = readMetric(db, out.runIds[0] as number, 'critic');
    db.close();

    // The same run trained here, on the same backend: the same losses, step for step.
    const local = freshHome();
    const trained = runCli(['--home', local, 'train', '--task', 'bandit-25g-near', '--preset', 'quick', '--seed', '1', '--steps', '40', ...['batchSize=32', 'scoreHidden=32', 'evalInterval=20', 'logInterval=1', 'checkpointInterval=10'].flatMap((s) => ['--set', s])], {}, 120_000);
    expect(trained.status, trained.stderr).toBe(0);
    const localDb = openDatabase(local);
    expect(readMetric(localDb, 1, 'critic')).toEqual(remote);
    localDb.close();
  }, 300_000);

  it('a worker killed mid-run: another worker continues the run from its checkpoint; every run finishes with all its steps', async () => {
    const { url } = await redis();
    const doomed = worker(url, 'doomed');
    const home = freshHome();
    const file = sweepFile(home, `task: bandit-25g-far\nseed: [1, 2]\nsteps: 200\n${SMALL}`);
    const sweep = spawnCli(['--home', home, 'sweep', file, '--redis', url, '--json']);
    children.push(sweep);
    let out = '';
    sweep.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((resolve) => sweep.once('exit', resolve));
    await waitFor(
      () => runningSteps(home, 'doomed'),
      (steps) => (steps ?? 0) >= 40,
      'the doomed worker to pass a checkpoint',
      120_000,
    );
    doomed.kill('SIGKILL');
    worker(url, 'heir');
    expect(await done, out).toBe(0);
    const db = openDatabase(home);
    const { runs } = listRuns(db, { sweep: 1 });
    expect(runs.map((r) => [r.status, r.stepsDone])).toEqual([
      ['completed', 200],
      ['completed', 200],
    ]);
    const handedOver = runs.filter((r) => readMetric(db, r.id, 'event/resume').length > 0);
    expect(handedOver).toHaveLength(1);
    expect(handedOver[0]?.worker).toBe('heir');
    // The curve marks where the heir picked up, at a checkpoint of the dead worker.
    expect((readMetric(db, handedOver[0]!.id, 'event/resume')[0]?.step ?? 0) % 10).toBe(0);
    for (const run of runs) expect(criticSteps(db, run.id)).toBe(200);
    db.close();
  }, 300_000);

  it('Redis restarting without persistence loses no queued run, and the app closed while a worker trains catches up when it opens', async () => {
    const server = await redis();
    const home = freshHome();
    const first = await startServe(home, ['--redis', server.url]);
    children.push(first.child);
    const created = await apiRequest(first.base, 'POST', '/api/sweeps', { spec: { task: 'bandit-25g-near', preset: 'quick', seed: [1, 2], steps: 60, batchSize: 32, scoreHidden: 32, logInterval: 1, checkpointInterval: 20, evalInterval: 30 } });
    expect(created.status).toBe(200);
    const runIds = created.body.runIds as number[];
    // Redis loses everything before any worker ran; the app puts its queued runs back.
    await server.stop();
    await server.start();
    worker(server.url, 'only');
    await waitFor(() => apiRequest(first.base, 'GET', `/api/runs/${runIds[0]}`), (r) => r.body.status === 'running' && (r.body.stepsDone as number) >= 10, 'the first run to train', 120_000);
    // The app goes away while the worker trains both runs.
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.once('exit', r));
    await waitFor(
      async () => {
        const { Queue } = await import('bullmq');
        const queue = new Queue('dtql-runs', { connection: { host: '127.0.0.1', port: server.port } });
        const counts = await queue.getJobCounts('active', 'waiting');
        await queue.close();
        return counts;
      },
      (c) => c.active === 0 && c.waiting === 0,
      'the worker to finish both runs while the app is closed',
      180_000,
    );
    const behind = peek(home, (db) => db.prepare('SELECT count(*) FROM metrics').pluck().get() as number);
    const second = await startServe(home, ['--redis', server.url]);
    children.push(second.child);
    for (const id of runIds) await waitFor(() => apiRequest(second.base, 'GET', `/api/runs/${id}`), (r) => r.body.status === 'completed', `run ${id} to be caught up`, 60_000);
    expect(peek(home, (db) => db.prepare('SELECT count(*) FROM metrics').pluck().get() as number)).toBeGreaterThan(behind);
    const db = openDatabase(home);
    for (const id of runIds) expect(criticSteps(db, id)).toBe(60);
    expect(getRun(db, runIds[1] as number)).toMatchObject({ worker: 'only', stepsDone: 60 });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  }, 300_000);

  it(`a long queue is re-checked against Redis ${RECHECK_PER_PASS} runs a pass, in rotation, and jobs Redis lost come back`, async () => {
    const server = await redis();
    const home = freshHome();
    const db = openDatabase(home);
    const n = RECHECK_PER_PASS + 100;
    const [run] = planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [0], tags: [], overrides: {} }, db);
    insertRuns(db, Array.from({ length: n }, (_, seed) => ({ ...(run as NewRun), seed })));
    // No timed passes: the test counts the passes it asks for.
    const queue = await RemoteQueue.open(db, home, new EventHub(), server.url, null, 3_600_000);
    try {
      const jobs = new Queue('dtql-runs', { connection: { host: '127.0.0.1', port: server.port } });
      const waiting = () => jobs.getJobCounts('waiting').then((c) => c.waiting);
      await queue.settled();
      expect(await waiting()).toBe(n);
      // Redis loses every job: each pass sends back the next slice of the runs it had sent.
      await jobs.obliterate({ force: true });
      queue.schedule();
      await queue.settled();
      expect(await waiting()).toBe(RECHECK_PER_PASS);
      queue.schedule();
      await queue.settled();
      expect(await waiting()).toBe(n);
      await jobs.close();
    } finally {
      await queue.shutdown();
      db.close();
    }
  }, 120_000);

  it('an unreachable Redis or a wrong password is a clear error and queues nothing', async () => {
    const guarded = await redis({ password: 'sesame-1234' });
    const home = freshHome();
    const file = sweepFile(home, `task: bandit-25g-near\nseed: [1, 2]\nsteps: 10\n${SMALL}`);
    const cases: [string, RegExp][] = [
      [`redis://127.0.0.1:${guarded.port}`, /Redis at redis:\/\/127\.0\.0\.1:\d+: it refused the credentials \(NOAUTH/],
      [`redis://:wrong-pass@127.0.0.1:${guarded.port}`, /it refused the credentials \(WRONGPASS/],
      ['redis://127.0.0.1:1', /Redis at redis:\/\/127\.0\.0\.1:1: it cannot be reached/],
      ['http://example.com', /not a Redis URL: http:/],
    ];
    for (const [url, message] of cases) {
      const refused = runCli(['--home', home, 'sweep', file, '--redis', url]);
      expect(refused.status, url).toBe(2);
      expect(refused.stderr, url).toMatch(message);
      expect(refused.stderr).not.toContain('wrong-pass');
    }
    const db = openDatabase(home);
    expect(listRuns(db).total).toBe(0);
    db.close();
    // The right password works.
    const ok = runCli(['--home', home, 'sweep', file, '--redis', guarded.url, '--detach', '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'queued' });
  }, 120_000);

  it.skipIf(spawnSync('openssl', ['version']).status !== 0)('a rediss:// (TLS) URL works once the CA is trusted, and an untrusted certificate is named as the problem', async () => {
    const certs = makeTestCertificates(freshHome());
    if (!certs) throw new Error('openssl could not make the test certificates');
    const { url } = await redis({ tls: { cert: certs.cert, key: certs.key } });
    const home = freshHome();
    const file = sweepFile(home, `task: bandit-25g-near\nseed: [1, 2]\nsteps: 20\n${SMALL}`);
    const untrusted = runCli(['--home', home, 'sweep', file, '--redis', url]);
    expect(untrusted.status).toBe(2);
    expect(untrusted.stderr).toMatch(/its TLS certificate is not trusted here .*NODE_EXTRA_CA_CERTS/);
    const trust = { NODE_EXTRA_CA_CERTS: certs.ca };
    const tlsWorker = spawnCli(['worker', '--redis', url, '--concurrency', '1', '--name', 'tls-worker'], { ...WORKER_ENV, ...trust });
    children.push(tlsWorker);
    const result = runCli(['--home', home, 'sweep', file, '--redis', url, '--json'], trust, 180_000);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ statuses: { completed: 2 } });
  }, 240_000);

  it('runs on an imported dataset are refused when runs go to remote workers, which never see the file', async () => {
    const { url } = await redis();
    const home = freshHome();
    const imported = runCli(['--home', home, 'dataset', 'import', path.join('test', 'fixtures', 'hdf5', 'hopper-medium-v2.hdf5')]);
    expect(imported.status, imported.stderr).toBe(0);
    const served = await startServe(home, ['--redis', url]);
    children.push(served.child);
    const refused = await apiRequest(served.base, 'POST', '/api/runs', { task: 'hopper-medium-v2', algo: 'dtql', seeds: [1] });
    expect(refused.status).toBe(400);
    expect((refused.body.error as { message: string }).message).toMatch(/remote workers, which cannot reach imported datasets: hopper-medium-v2 must train on this machine/);
    expect((await apiRequest(served.base, 'GET', '/api/runs')).body).toMatchObject({ runs: [], total: 0 });
  }, 120_000);
});
