import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'csv-parse/sync';
import { openDatabase, type Db } from '../../src/store/db';
import { listRuns } from '../../src/store/runs';
import { insertMetrics } from '../../src/store/metrics';
import { checkpointDir, encodeCheckpoint, sha256, writeRunCheckpoint } from '../../src/engine/training/checkpoint';
import { insertCheckpoint } from '../../src/store/checkpoints';
import { readSafetensors, smallAgentState } from '../checkpoints';
import { startServer } from '../../src/server/index';
import { tempHome } from '../helpers';

interface Running {
  url: string;
  base: string;
  db: Db;
  home: string;
  close: () => Promise<void>;
}
const started: Running[] = [];

async function serve(options: { token?: string; host?: string; staticDir?: string; allowHosts?: string[]; maxUploadBytes?: number } = {}): Promise<Running> {
  const home = tempHome();
  const db = openDatabase(home);
  // Concurrency 0 holds the queue: these tests are about the API, not training.
  const server = await startServer({ db, home, host: options.host ?? '127.0.0.1', port: 0, token: options.token ?? null, allowHosts: options.allowHosts, staticDir: options.staticDir, concurrency: 0, maxUploadBytes: options.maxUploadBytes });
  const base = new URL(server.url).origin;
  const running = { url: server.url, base, db, home, close: server.close };
  started.push(running);
  return running;
}

afterEach(async () => {
  for (const s of started.splice(0)) {
    await s.close();
    s.db.close();
    fs.rmSync(s.home, { recursive: true, force: true });
  }
});

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const request = { task: 'bandit-25g-hard', algo: 'dtql', seeds: [1, 2], tags: ['paper'] };

describe('served mode API', () => {
  it('creates queued runs and lists them', async () => {
    const s = await serve();
    const created = await fetch(`${s.base}/api/runs`, json(request));
    expect(created.status).toBe(200);
    const { runIds } = (await created.json()) as { runIds: number[] };
    expect(runIds).toHaveLength(2);
    const { runs, total } = (await (await fetch(`${s.base}/api/runs`)).json()) as { runs: { id: number; status: string }[]; total: number };
    expect(runs.map((r) => r.status)).toEqual(['queued', 'queued']);
    expect(total).toBe(2);
    // One page at a time: the newest run first, the total of the whole selection beside it.
    const second = (await (await fetch(`${s.base}/api/runs?limit=1&offset=1`)).json()) as { runs: { id: number }[]; total: number; offset: number };
    expect(second).toMatchObject({ runs: [{ id: runIds[0] }], total: 2, offset: 1 });
    // No preset named: the task's default on this machine's device (a CPU here), as in the form and the CLI.
    const one = (await (await fetch(`${s.base}/api/runs/${runIds[0]}`)).json()) as { preset: string; config: { batchSize: number } };
    expect(one).toMatchObject({ preset: 'quick', config: { batchSize: 256 } });
    const info = (await (await fetch(`${s.base}/api/info`)).json()) as { mode: string; runCount: number };
    expect(info).toMatchObject({ mode: 'served', runCount: 2, device: 'cpu' });
    const paper = (await (await fetch(`${s.base}/api/runs`, json({ ...request, preset: 'paper' }))).json()) as { runIds: number[] };
    expect(((await (await fetch(`${s.base}/api/runs/${paper.runIds[0]}`)).json()) as { config: { batchSize: number } }).config.batchSize).toBe(10_000);
  });

  it.each([
    [{ ...request, task: 'nope' }, /unknown task "nope"/],
    [{ ...request, seeds: [] }, /seeds: give at least one seed/],
    [{ ...request, seeds: [1.5] }, /seeds.0: a seed must be a whole number/],
    [{ ...request, overrides: { lr: -1 } }, /overrides.lr: must be above 0/],
    [{ ...request, overrides: { batchSize: 0 } }, /overrides.batchSize: must be at least 1/],
    [{ ...request, overrides: { alpha: 'high' } }, /overrides.alpha/],
    [{ ...request, algo: 'ppo' }, /algo/],
    [{ ...request, extra: 1 }, /extra/],
  ])('rejects a bad start request with 400 and stores nothing (%#)', async (body, message) => {
    const s = await serve();
    const response = await fetch(`${s.base}/api/runs`, json(body));
    expect(response.status).toBe(400);
    const payload = (await response.json()) as { error: { message: string } };
    expect(payload.error.message).toMatch(message);
    expect(listRuns(s.db).total).toBe(0);
  });

  it('answers malformed requests with 400 or 404, never 500', async () => {
    const s = await serve();
    const malformed = await fetch(`${s.base}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(malformed.status).toBe(400);
    expect((await fetch(`${s.base}/api/runs/abc`)).status).toBe(400);
    expect((await fetch(`${s.base}/api/runs/999`)).status).toBe(404);
    expect((await fetch(`${s.base}/api/nothing`)).status).toBe(404);
    expect((await fetch(`${s.base}/api/runs/${'9'.repeat(400)}`)).status).toBeLessThan(500);
  });

  it('pushes a runs-changed event over the WebSocket when runs are created', async () => {
    const s = await serve();
    const socket = new WebSocket(`${s.base.replace('http', 'ws')}/api/events`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const message = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    await fetch(`${s.base}/api/runs`, json(request));
    expect(JSON.parse(await message)).toMatchObject({ type: 'runs-changed', runIds: [1, 2] });
    socket.close();
  });

  it('serves the built UI and never a file outside it', async () => {
    const staticDir = tempHome('dtql-static-');
    fs.writeFileSync(path.join(staticDir, 'index.html'), '<html>ui</html>');
    const s = await serve({ staticDir });
    const page = await fetch(`${s.base}/`);
    expect(await page.text()).toContain('ui');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    for (const probe of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd']) {
      const response = await fetch(`${s.base}${probe}`);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(await response.text()).not.toContain('root:');
    }
    fs.rmSync(staticDir, { recursive: true, force: true });
  });
});

describe('editing and deleting runs', () => {
  const patch = (body: unknown) => ({ method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('edits notes and tags in place, archives, and deletes a run with its metrics and checkpoints', async () => {
    const s = await serve();
    const { runIds } = (await (await fetch(`${s.base}/api/runs`, json(request))).json()) as { runIds: number[] };
    const id = runIds[0] as number;
    const notes = 'a note, "quoted"\nwith a newline ✓ =1+1';
    expect((await fetch(`${s.base}/api/runs/${id}`, patch({ notes, tags: ['x, y', 'ünï'], archived: true }))).status).toBe(200);
    const run = (await (await fetch(`${s.base}/api/runs/${id}`)).json()) as { notes: string; tags: string[]; archived: boolean };
    expect(run).toMatchObject({ notes, tags: ['x, y', 'ünï'], archived: true });
    expect((await fetch(`${s.base}/api/runs/${id}`, patch({ tags: ['bad\u0001tag'] }))).status).toBe(400);
    expect((await fetch(`${s.base}/api/runs/${id}`, patch({ nope: 1 }))).status).toBe(400);

    insertMetrics(s.db, id, [{ name: 'critic', step: 1, wallTime: 0, value: 1 }]);
    const dir = checkpointDir(s.home, id);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'step-1.ckpt'), 'x');
    expect((await fetch(`${s.base}/api/runs/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${s.base}/api/runs/${id}`)).status).toBe(404);
    expect(s.db.prepare('SELECT count(*) FROM metrics WHERE run_id = ?').pluck().get(id)).toBe(0);
    expect(fs.existsSync(dir)).toBe(false);
    expect((await fetch(`${s.base}/api/runs/${id}`, { method: 'DELETE' })).status).toBe(404);
    expect(listRuns(s.db).runs.map((r) => r.id)).toEqual([runIds[1]]);
  });
});

describe('filtered lists and CSV downloads', () => {
  it('filters the run list by query and streams both CSVs of a selection', async () => {
    const s = await serve();
    const made = (await (await fetch(`${s.base}/api/runs`, json({ ...request, tags: ['keep, "this"'] }))).json()) as { runIds: number[] };
    await fetch(`${s.base}/api/runs`, json({ ...request, algo: 'kl', seeds: [3], tags: ['other'] }));
    const [first] = made.runIds as [number];
    insertMetrics(s.db, first, [1, 2, 3].map((step) => ({ name: 'critic', step, wallTime: step, value: step / 2 })));
    const q = encodeURIComponent(JSON.stringify('keep, "this"'));
    const filtered = (await (await fetch(`${s.base}/api/runs?tag=${q}&sort=%22seed%22&dir=%22asc%22`)).json()) as { runs: { seed: number }[] };
    expect(filtered.runs.map((r) => r.seed)).toEqual([1, 2]);
    const facets = (await (await fetch(`${s.base}/api/run-facets`)).json()) as { tags: string[]; algos: string[] };
    expect(facets).toMatchObject({ tags: ['keep, "this"', 'other'], algos: ['dtql', 'kl'] });

    const summary = await fetch(`${s.base}/api/export/runs?tag=${q}`);
    expect(summary.status).toBe(200);
    expect(summary.headers.get('content-type')).toMatch(/text\/csv/);
    expect(summary.headers.get('content-disposition')).toMatch(/attachment; filename="dtql-runs.csv"/);
    const rows = parse(await summary.text(), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.seed, r.tags])).toEqual([['1', 'keep, "this"'], ['2', 'keep, "this"']]);

    const metrics = await fetch(`${s.base}/api/export/metrics?ids=${encodeURIComponent(JSON.stringify([first]))}`);
    expect(parse(await metrics.text())).toEqual([['run_id', 'metric', 'step', 'wall_time', 'value'], ...[1, 2, 3].map((k) => [String(first), 'critic', String(k), String(k), String(k / 2)])]);
  });

  it.each([
    ['/api/export/pictures', 400, /unknown export "pictures"/],
    ['/api/export/runs?ids=%5B999%5D', 404, /no run with id 999/],
    ['/api/export/runs?task=%22hopper-medium-v2%22', 400, /no run matches/],
    ['/api/export/runs?sort=%22secret%22', 400, /sort/],
    ['/api/runs?from=5&to=1', 400, /ends before it starts/],
    ['/api/runs?limit=100000', 400, /limit is at most 1000/],
  ])('answers %s with %i and a reason', async (url, status, message) => {
    const s = await serve();
    await fetch(`${s.base}/api/runs`, json(request));
    const res = await fetch(`${s.base}${url}`);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });
});

describe('dataset upload', () => {
  const upload = (base: string, file: string, query: string) =>
    fetch(`${base}/api/datasets/upload?${query}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: fs.readFileSync(file) });

  it('imports an uploaded file into the data folder, lists it, trains refs to it, and deletes it', async () => {
    const s = await serve();
    const res = await upload(s.base, path.resolve('test/fixtures/hdf5/minari-hopper-medium.hdf5'), `filename=${encodeURIComponent('"minari-hopper-medium.hdf5"')}`);
    expect(res.status).toBe(200);
    const dataset = (await res.json()) as { id: number; name: string; storedPath: string; sourcePath: string; transitions: number };
    // Named by its Minari dataset id, not by the file (every Minari file is main_data.hdf5).
    expect(dataset).toMatchObject({ name: 'mujoco-hopper-medium-v0', sourcePath: 'minari-hopper-medium.hdf5', transitions: 15 });
    expect(path.dirname(dataset.storedPath)).toBe(path.join(s.home, 'datasets'));
    expect(fs.readdirSync(path.join(s.home, 'uploads'))).toEqual([]);
    const listed = (await (await fetch(`${s.base}/api/datasets`)).json()) as { id: number }[];
    expect(listed.map((d) => d.id)).toEqual([dataset.id]);
    const runs = await fetch(`${s.base}/api/runs`, json({ task: 'hopper-medium-v2', algo: 'dtql', seeds: [0] }));
    expect(runs.status).toBe(200);
    const refused = await fetch(`${s.base}/api/datasets/${dataset.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/is used by 1 run/);
  });

  it.each([
    ['bad-rank.hdf5', 'filename=%22bad-rank.hdf5%22', /bad-rank.hdf5: observations has rank 1/],
    ['hopper-medium-v2.hdf5', 'name=%22x%22', /filename/],
    ['hopper-medium-v2.hdf5', 'filename=%22a.hdf5%22&name=%22..%2Fescape%22', /slashes/],
  ])('refuses %s (%s) with a reason and keeps nothing', async (name, query, message) => {
    const s = await serve();
    const res = await upload(s.base, path.resolve('test/fixtures/hdf5', name), query);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    expect(await (await fetch(`${s.base}/api/datasets`)).json()).toEqual([]);
    expect(fs.existsSync(path.join(s.home, 'datasets'))).toBe(false);
    expect(fs.existsSync(path.join(s.home, 'uploads')) ? fs.readdirSync(path.join(s.home, 'uploads')) : []).toEqual([]);
  });
});

describe('checkpoint download', () => {
  it("streams a run's newest readable checkpoint as safetensors (or as is), and says why when there is none", async () => {
    const s = await serve();
    const { runIds } = (await (await fetch(`${s.base}/api/runs`, json(request))).json()) as { runIds: number[] };
    const id = runIds[0] as number;
    const none = await fetch(`${s.base}/api/runs/${id}/checkpoint`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(`run ${id} has no checkpoint yet`);
    const bytes = encodeCheckpoint(smallAgentState());
    insertCheckpoint(s.db, { runId: id, step: 10, path: writeRunCheckpoint(s.home, id, 10, Buffer.from('damaged')), sha256: sha256(Buffer.from('damaged!')), bytes: 7 });
    insertCheckpoint(s.db, { runId: id, step: 20, path: writeRunCheckpoint(s.home, id, 20, bytes), sha256: sha256(bytes), bytes: bytes.length });
    const file = await fetch(`${s.base}/api/runs/${id}/checkpoint?format=safetensors`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="dtql-run-${id}-step-20.safetensors"`);
    expect(readSafetensors(Buffer.from(await file.arrayBuffer())).tensors.get('params/critic/q1/weight')?.shape).toEqual([5, 1]);
    expect(Buffer.from(await (await fetch(`${s.base}/api/runs/${id}/checkpoint?format=dtql`)).arrayBuffer())).toEqual(bytes);
    // The newest file damaged: the one before it is served, if it is sound, else the reason.
    fs.writeFileSync(path.join(checkpointDir(s.home, id), 'step-20.ckpt'), 'flipped');
    const fallback = await fetch(`${s.base}/api/runs/${id}/checkpoint`);
    expect(fallback.status).toBe(404);
    expect(((await fallback.json()) as { error: { message: string } }).error.message).toMatch(/has no readable checkpoint \(checkpoint .*step-20.ckpt is corrupt/);
    expect((await fetch(`${s.base}/api/runs/${id}/checkpoint?format=exe`)).status).toBe(400);
    expect((await fetch(`${s.base}/api/runs/999/checkpoint`)).status).toBe(404);
  });
});

describe('upload size limit', () => {
  const MIB = 2 ** 20;
  const leftovers = (home: string) => (fs.existsSync(path.join(home, 'uploads')) ? fs.readdirSync(path.join(home, 'uploads')) : []);

  /** A raw chunked upload (no declared length), written a MiB at a time until `chunks` or the server stops it. */
  function chunkedUpload(base: string, chunks: number, abortAfter?: number): Promise<{ status: number; body: string } | 'aborted'> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${base}/api/datasets/upload?filename=%22big.hdf5%22`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', (err) => (abortAfter !== undefined ? resolve('aborted') : reject(err)));
      let sent = 0;
      const next = () => {
        if (abortAfter !== undefined && sent === abortAfter) return req.destroy();
        if (sent === chunks) return req.end();
        sent++;
        if (req.write(Buffer.alloc(MIB, sent))) setImmediate(next);
        else req.once('drain', next);
      };
      next();
    });
  }

  it('refuses a declared length past the limit with 413 before writing anything', async () => {
    const s = await serve({ maxUploadBytes: MIB });
    const res = await fetch(`${s.base}/api/datasets/upload?filename=%22big.hdf5%22`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(2 * MIB) });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/\(2 MiB\) is larger than the limit of 1 MiB \(serve --max-upload-mb raises it\); nothing was imported/);
    expect(leftovers(s.home)).toEqual([]);
  });

  it('stops a body without a length once it outgrows the limit, and keeps no part of it', async () => {
    const s = await serve({ maxUploadBytes: 2 * MIB });
    const reply = await chunkedUpload(s.base, 5);
    // The server may close the connection on the rest of the body; when it answers, it answers 413.
    if (reply !== 'aborted') {
      expect(reply.status).toBe(413);
      expect(reply.body).toMatch(/larger than the limit of 2 MiB/);
    }
    await expect.poll(() => leftovers(s.home)).toEqual([]);
    expect(await (await fetch(`${s.base}/api/datasets`)).json()).toEqual([]);
  });

  it('removes the partial file of an upload the client gives up on', async () => {
    const s = await serve();
    expect(await chunkedUpload(s.base, 10, 3)).toBe('aborted');
    await expect.poll(() => leftovers(s.home)).toEqual([]);
    expect(await (await fetch(`${s.base}/api/datasets`)).json()).toEqual([]);
  });
});

describe('served mode security', () => {
  it('refuses a non-loopback host without a token', async () => {
    await expect(serve({ host: '0.0.0.0' })).rejects.toThrow(/without --token/);
  });

  it('requires the token on every request when one is set', async () => {
    const token = 'secret-token-123';
    const staticDir = tempHome('dtql-static-');
    fs.writeFileSync(path.join(staticDir, 'index.html'), '<html>ui</html>');
    const s = await serve({ token, staticDir });
    expect((await fetch(`${s.base}/api/info`)).status).toBe(401);
    expect((await fetch(`${s.base}/api/info`, { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
    expect((await fetch(`${s.base}/`)).status).toBe(401);
    expect((await fetch(`${s.base}/api/info`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const page = await fetch(`${s.base}/?token=${token}`);
    expect(page.status).toBe(200);
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    expect((await fetch(`${s.base}/api/info`, { headers: { cookie: cookie.split(';')[0] as string } })).status).toBe(200);
    expect((await fetch(`${s.base}/api/info?token=${token}`)).status).toBe(401);
    fs.rmSync(staticDir, { recursive: true, force: true });
  });

  it('refuses other origins and foreign Host headers', async () => {
    const s = await serve();
    expect((await fetch(`${s.base}/api/info`, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
    expect((await fetch(`${s.base}/api/info`, { headers: { origin: s.base } })).status).toBe(200);
    // No CORS: a preflight from another origin is refused and nothing grants cross-origin reads.
    const preflight = await fetch(`${s.base}/api/runs`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect((await fetch(`${s.base}/api/info`)).headers.get('access-control-allow-origin')).toBeNull();
    const socket = new WebSocket(`${s.base.replace('http', 'ws')}/api/events`, { origin: 'http://evil.example' });
    const outcome = await new Promise<string>((resolve) => {
      socket.once('open', () => resolve('open'));
      socket.once('unexpected-response', (_req, res) => {
        res.resume();
        socket.terminate();
        resolve(`status ${res.statusCode}`);
      });
      socket.once('error', () => resolve('error'));
    });
    expect(outcome).toBe('status 403');
  });

  it('refuses a foreign Host header with a token too, and answers the names --allow-host adds and, bound to every interface, the machine\'s own', async () => {
    /** GET /api/info with a given Host header (fetch cannot set one). */
    const statusFor = (base: string, hostHeader: string, token?: string) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL('/api/info', base);
        const req = http.request({ host: '127.0.0.1', port: url.port, path: url.pathname, headers: { host: hostHeader, ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    const token = 'a-long-enough-token';
    const withToken = await serve({ token, allowHosts: ['gpu-box.example'] });
    const port = new URL(withToken.base).port;
    expect(await statusFor(withToken.base, `127.0.0.1:${port}`, token)).toBe(200);
    expect(await statusFor(withToken.base, 'evil.example', token)).toBe(403);
    expect(await statusFor(withToken.base, `evil.example:${port}`, token)).toBe(403);
    expect(await statusFor(withToken.base, 'gpu-box.example', token)).toBe(200);
    expect(await statusFor(withToken.base, 'gpu-box.example:443', token)).toBe(200);
    expect(await statusFor(withToken.base, 'gpu-box.example')).toBe(401);
    const everywhere = await serve({ token, host: '0.0.0.0' });
    const everywherePort = new URL(everywhere.base.replace('0.0.0.0', '127.0.0.1')).port;
    expect(await statusFor(everywhere.base.replace('0.0.0.0', '127.0.0.1'), `${os.hostname()}:${everywherePort}`, token)).toBe(200);
    expect(await statusFor(everywhere.base.replace('0.0.0.0', '127.0.0.1'), `evil.example:${everywherePort}`, token)).toBe(403);
  });

  it('compares tokens of any length without throwing, and only equal tokens match', async () => {
    const { tokenMatches } = await import('../../src/server/security');
    const token = 'a-long-enough-token';
    expect(tokenMatches(token, token)).toBe(true);
    for (const other of ['', 'a', `${token}x`, token.slice(0, -1), token.toUpperCase(), 'x'.repeat(10_000), null, undefined]) expect(tokenMatches(token, other)).toBe(false);
  });
});
