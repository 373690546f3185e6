/**
 * Hostile input (issue 9.3): seeded, bounded fuzzing of every API route, the static files, the
 * upload and export routes, every CLI command, and HDF5 files with random byte mutations. Never a
 * crash, never a 500 for bad input (a 4xx with a message), never a file read or written outside
 * the data folder (or the export path a user chose), never a half-imported dataset.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiMethods, EXPORT_ROUTE, METHOD_NAMES, UPLOAD_ROUTE } from '../../src/api/contract';
import { ApiError } from '../../src/api/errors';
import { Rng } from '../../src/core/rng';
import { datasetDir, importDataset } from '../../src/engine/datasets/datasets';
import { planRuns } from '../../src/engine/plan';
import { startServer } from '../../src/server/index';
import { openDatabase, type Db } from '../../src/store/db';
import { listDatasets } from '../../src/store/datasets';
import { insertRuns } from '../../src/store/runs';
import { REPO_ROOT, tempHome } from '../helpers';

const SECRET = `TOP-SECRET-${process.pid}-sentinel`;

/** Values that have broken servers before: wrong types, extremes, traversal, NUL, odd unicode. */
const HOSTILE_STRINGS = [
  '',
  ' ',
  '0',
  '-1',
  '1e309',
  'NaN',
  'Infinity',
  '99999999999999999999999',
  'true',
  'null',
  '[]',
  '{}',
  '../../secret.txt',
  '..\\..\\secret.txt',
  '/etc/passwd',
  'C:\\Windows\\win.ini',
  'a\u0000b',
  '%00',
  '%2e%2e%2fsecret.txt',
  '\u202e\u0301\ud83d\ude00',
  '\ud800',
  '"><script>alert(1)</script>',
  "'; DROP TABLE runs; --",
  '=cmd|"/c calc"!A1',
  'x'.repeat(10_000),
  'é'.repeat(300),
];
const HOSTILE_NUMBERS = [0, -1, 1.5, -0, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE];

function pick<T>(rng: Rng, values: readonly T[]): T {
  return values[rng.int(values.length)] as T;
}

/** A random JSON value, biased towards the keys a schema expects so validation goes deep. */
function randomValue(rng: Rng, keys: string[], depth = 0): unknown {
  const kind = rng.int(depth > 2 ? 4 : 7);
  if (kind === 0) return pick(rng, HOSTILE_STRINGS);
  if (kind === 1) return pick(rng, HOSTILE_NUMBERS);
  if (kind === 2) return pick(rng, [null, true, false]);
  if (kind === 3) return rng.int(100);
  if (kind === 4) return Array.from({ length: rng.int(4) }, () => randomValue(rng, keys, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = 0; i < 1 + rng.int(4); i++) {
    const key = rng.uniform() < 0.8 && keys.length ? pick(rng, keys) : pick(rng, ['__proto__', 'constructor', 'x', 'a'.repeat(500)]);
    // An own "__proto__" key, as JSON.parse makes it, not a prototype change.
    Object.defineProperty(object, key, { value: randomValue(rng, keys, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return object;
}

/** Every UTF-8 byte as %XX (a lone surrogate becomes U+FFFD, as a browser would send it). */
const percentEncoded = (text: string): string => [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** How a value travels in a query string: strings as they are, anything else as JSON. */
const queryText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

const schemaKeys = (schema: unknown): string[] => {
  const shape = (schema as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
};

const MALFORMED_BODIES = ['{', '{"a":', 'null', '[]', '"text"', '1e999999', '{"id": 1,}', '\u0000', '['.repeat(5000), `{"notes": "${'n'.repeat(2 * 1024 * 1024)}"}`];

/** Every file under `dir` with its size and mtime, to prove nothing outside the data folder changed. */
function snapshot(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    if (full === skip || full.startsWith(`${skip}${path.sep}`)) continue;
    const stat = fs.statSync(full);
    out.set(full, `${stat.size}:${stat.mtimeMs}`);
  }
  return out;
}

interface RawReply {
  status: number;
  body: string;
}

/** A request whose path is sent exactly as written (fetch would normalise `..` away). */
function rawRequest(base: string, method: string, rawPath: string, body?: string | Buffer, contentType?: string): Promise<RawReply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers: contentType ? { 'content-type': contentType } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let sandbox: string;
let home: string;
let db: Db;
let server: { url: string; close: () => Promise<void> };
let base: string;
let before: Map<string, string>;

beforeAll(async () => {
  sandbox = tempHome('dtql-fuzz-');
  home = path.join(sandbox, 'home');
  const staticDir = path.join(sandbox, 'static');
  fs.mkdirSync(staticDir);
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<html>ui</html>');
  fs.writeFileSync(path.join(sandbox, 'secret.txt'), SECRET);
  db = openDatabase(home);
  insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [1, 2], tags: ['fuzz'], overrides: {} }));
  server = await startServer({ db, home, host: '127.0.0.1', port: 0, token: null, staticDir, concurrency: 0 });
  base = new URL(server.url).origin;
  before = snapshot(sandbox, home);
});

afterAll(async () => {
  await server.close();
  db.close();
  fs.rmSync(sandbox, { recursive: true, force: true });
});

/** A reply to bad input: a 4xx with a JSON error message, never a 500, never the secret. */
function expectClean(reply: RawReply, what: string): void {
  expect(reply.status, `${what} -> ${reply.status} ${reply.body.slice(0, 200)}`).toBeLessThan(500);
  expect(reply.body, what).not.toContain(SECRET);
  if (reply.status >= 400 && reply.body) {
    const parsed = JSON.parse(reply.body) as { error?: { message?: unknown } };
    expect(typeof parsed.error?.message, what).toBe('string');
    expect((parsed.error?.message as string).length, what).toBeGreaterThan(0);
  }
}

describe('fuzzing served mode', () => {
  it('every API route: random, malformed and hostile requests get a 2xx or a 4xx with a message, never a 500', async () => {
    const rng = new Rng(9001);
    let requests = 0;
    for (const name of METHOD_NAMES) {
      const [verb, route] = apiMethods[name].http;
      const keys = schemaKeys(apiMethods[name].params);
      for (let i = 0; i < 40; i++) {
        const pathValue = () => percentEncoded(String(rng.uniform() < 0.5 ? pick(rng, HOSTILE_STRINGS) : pick(rng, HOSTILE_NUMBERS))).slice(0, 3000);
        let url = route.replace(/:[a-z]+/g, () => (rng.uniform() < 0.3 ? '1' : pathValue()));
        const query = new URLSearchParams();
        for (let q = 0; q < rng.int(4); q++) query.append(rng.uniform() < 0.8 && keys.length ? pick(rng, keys) : pick(rng, ['x', 'token', '__proto__']), queryText(randomValue(rng, keys)));
        if ([...query].length) url += `?${query.toString()}`;
        let body: string | undefined;
        let type: string | undefined;
        if (verb !== 'GET' && verb !== 'DELETE') {
          body = rng.uniform() < 0.25 ? pick(rng, MALFORMED_BODIES) : JSON.stringify(randomValue(rng, keys));
          type = pick(rng, ['application/json', 'application/json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded']);
        }
        const reply = await rawRequest(base, verb, url, body, type);
        expectClean(reply, `${name} ${verb} ${url.slice(0, 120)} ${body?.slice(0, 80) ?? ''}`);
        requests++;
      }
    }
    expect(requests).toBe(METHOD_NAMES.length * 40);
    expect((await rawRequest(base, 'GET', '/api/info')).status).toBe(200);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  }, 120_000);

  it('static files, uploads and exports: traversal, NUL and absolute paths never reach outside', async () => {
    const secretPath = path.join(sandbox, 'secret.txt');
    const staticAttempts = [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/....//secret.txt',
      '/assets/../../secret.txt',
      '/%c0%ae%c0%ae/secret.txt',
      '/%252e%252e%252fsecret.txt',
      `/${secretPath}`,
      `//${secretPath}`,
      `/..${secretPath}`,
      '/index.html%00.txt',
      '/%00',
      '/.env',
      '/static/../secret.txt',
      `/${'../'.repeat(20)}etc/passwd`,
    ];
    for (const attempt of staticAttempts) {
      const reply = await rawRequest(base, 'GET', attempt);
      expect(reply.body, attempt).not.toContain(SECRET);
      expect(reply.body, attempt).not.toMatch(/root:.*:0:0:/);
      expect([200, 400, 403, 404], attempt).toContain(reply.status);
      if (reply.status === 200) expect(reply.body, attempt).toBe('<html>ui</html>');
    }
    const rng = new Rng(77);
    for (const filename of ['../../evil.hdf5', '/tmp/evil.hdf5', 'a\u0000b.hdf5', '..\\..\\evil.hdf5', `${'x'.repeat(5000)}.hdf5`, 'évil😀.hdf5']) {
      const junk = Buffer.from(Array.from({ length: 4096 }, () => rng.int(256)));
      const query = new URLSearchParams({ filename, name: pick(rng, HOSTILE_STRINGS) });
      expectClean(await rawRequest(base, 'POST', `${UPLOAD_ROUTE}?${query.toString()}`, junk, 'application/octet-stream'), `upload ${filename.slice(0, 40)}`);
    }
    for (const kind of ['runs', 'metrics', '../secret', '%00', 'x'.repeat(300)]) {
      const query = new URLSearchParams({ runs: pick(rng, HOSTILE_STRINGS), sort: pick(rng, HOSTILE_STRINGS) });
      const reply = await rawRequest(base, 'GET', `${EXPORT_ROUTE.replace(':kind', percentEncoded(kind))}?${query.toString()}`);
      expectClean(reply, `export ${kind.slice(0, 20)}`);
    }
    expect(listDatasets(db)).toHaveLength(0);
    expect(fs.existsSync(path.join(home, 'uploads')) ? fs.readdirSync(path.join(home, 'uploads')) : []).toEqual([]);
    expect(snapshot(sandbox, home)).toEqual(before);
  }, 60_000);
});

/** Runs the real CLI asynchronously (two at a time keeps the fuzz inside its time box on two cores). */
function cli(args: string[], cwd: string): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dtql.js'), ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DTQL_HOME: home } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('fuzzing the CLI', () => {
  it('every command with hostile flags and arguments exits 0, 1 or 2 with a message, never a stack trace, never writing outside', async () => {
    const rng = new Rng(4242);
    const cwd = path.join(sandbox, 'cwd');
    fs.mkdirSync(cwd, { recursive: true });
    const exportOut = path.join(sandbox, 'chosen', 'export.csv');
    const hostile = () => pick(rng, [...HOSTILE_STRINGS.filter((s) => !s.includes('\u0000') && s.length < 5000), ...HOSTILE_NUMBERS.map(String)]);
    const templates: (() => string[])[] = [
      () => ['runs', 'list', '--task', hostile(), '--sort', hostile(), '--status', hostile()],
      () => ['runs', 'list', '--runs', hostile(), '--from', hostile(), '--to', hostile(), '--json'],
      () => ['runs', 'show', hostile()],
      () => ['train', '--task', hostile(), '--steps', hostile()],
      () => ['train', '--task', 'bandit-25g-far', '--set', `${hostile()}=${hostile()}`, '--seed', hostile()],
      () => ['train', '--task', 'bandit-25g-far', '--preset', hostile(), '--dataset', hostile()],
      () => ['resume', hostile()],
      () => ['dataset', 'inspect', hostile()],
      () => ['dataset', 'import', hostile(), '--name', hostile()],
      () => ['dataset', 'generate', hostile(), '--size', hostile(), '--seed', hostile()],
      () => ['export', '--out', exportOut, '--runs', hostile(), '--task', hostile()],
      () => ['golden', hostile(), '--json'],
      () => ['serve', '--port', hostile(), '--host', hostile()],
      () => ['bench', '--steps', hostile(), '--clients', hostile()],
      () => ['tasks', hostile()],
      () => [hostile(), hostile()],
    ];
    const calls = Array.from({ length: 40 }, (_, i) => (templates[i % templates.length] as () => string[])());
    for (let i = 0; i < calls.length; i += 2) {
      const results = await Promise.all(calls.slice(i, i + 2).map((args) => cli(args, cwd)));
      results.forEach((r, j) => {
        const what = `dtql ${JSON.stringify(calls[i + j]).slice(0, 200)}`;
        expect(r.signal, what).toBeNull();
        expect([0, 1, 2], `${what}: ${r.stderr.slice(0, 300)}`).toContain(r.code);
        expect(r.stderr, what).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
        if (r.code !== 0) expect(r.stderr.trim().length, what).toBeGreaterThan(0);
      });
    }
    const allowed = new Set([exportOut]);
    const changed = [...snapshot(sandbox, home)].filter(([file, stamp]) => before.get(file) !== stamp && !allowed.has(file) && file !== cwd && file !== path.dirname(exportOut));
    expect(changed).toEqual([]);
    expect(fs.readdirSync(cwd)).toEqual([]);
  }, 240_000);
});

describe('fuzzing HDF5 import', () => {
  it('random byte mutations of a valid file: each imports whole or is refused with a message, in a time limit, never partly', async () => {
    const valid = fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'hdf5', 'hopper-medium-v2.hdf5'));
    const rng = new Rng(31337);
    const work = path.join(sandbox, 'mutants');
    fs.mkdirSync(work, { recursive: true });
    let refused = 0;
    let imported = 0;
    for (let i = 0; i < 30; i++) {
      const bytes = Buffer.from(valid);
      const mode = i % 3;
      if (mode === 0) for (let k = 0; k < 1 + rng.int(16); k++) bytes[rng.int(bytes.length)] = rng.int(256);
      else if (mode === 1) bytes.fill(rng.int(256), rng.int(2048), rng.int(2048) + 64);
      const mutant = mode === 2 ? bytes.subarray(0, 512 + rng.int(bytes.length - 512)) : bytes;
      const file = path.join(work, `mutant-${i}.hdf5`);
      fs.writeFileSync(file, mutant);
      const datasetsBefore = listDatasets(db).length;
      const copiesBefore = fs.existsSync(datasetDir(home)) ? fs.readdirSync(datasetDir(home)).length : 0;
      try {
        await importDataset(db, home, file, { keep: 'copy', name: `mutant ${i}`, timeLimitMs: 30_000 });
        imported++;
        expect(listDatasets(db)).toHaveLength(datasetsBefore + 1);
      } catch (err) {
        refused++;
        expect(err, `mutant ${i}: ${(err as Error).message}`).toBeInstanceOf(ApiError);
        expect((err as ApiError).code).toBe('bad_input');
        expect((err as Error).message).toMatch(/mutant-\d+\.hdf5|mutant \d+/);
        expect(listDatasets(db)).toHaveLength(datasetsBefore);
        expect(fs.existsSync(datasetDir(home)) ? fs.readdirSync(datasetDir(home)).length : 0).toBe(copiesBefore);
      }
    }
    console.info(`HDF5 mutants: ${refused} refused with a message, ${imported} imported whole`);
    expect(refused + imported).toBe(30);
    expect(refused).toBeGreaterThan(0);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  }, 600_000);
});
