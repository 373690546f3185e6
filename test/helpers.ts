import { afterAll, afterEach } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../src/store/db';
import { readMetric } from '../src/store/metrics';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = path.resolve(REPO_ROOT, '..', 'shared');
const DTQL_BIN = path.join(REPO_ROOT, 'bin', 'dtql.js');

/** A fresh data folder under the OS temp dir, removed by the caller's cleanup. */
export function tempHome(prefix = 'dtql-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `dtql` binary, as a user would. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): CliResult {
  const result = spawnSync(process.execPath, [DTQL_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Fresh data folders for one test file, removed after each test (`after: 'each'`) or after the
 * whole file (`after: 'all'`, for folders shared across tests).
 */
export function tempHomes(after: 'each' | 'all' = 'each'): () => string {
  const made: string[] = [];
  const cleanup = () => {
    for (const h of made.splice(0)) fs.rmSync(h, { recursive: true, force: true });
  };
  if (after === 'each') afterEach(cleanup);
  else afterAll(cleanup);
  return () => {
    const h = tempHome();
    made.push(h);
    return h;
  };
}

/** Polls `probe` until `ok` holds (or fails after `timeoutMs`, naming what it waited for). */
export async function waitFor<T>(probe: () => Promise<T> | T, ok: (v: T) => boolean, what: string, timeoutMs = 90_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A real `dtql` process in the background (serve, train...), killed by the caller's cleanup. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [DTQL_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
}

/** Starts `dtql serve --port 0` on `home` and resolves with its origin once it prints its URL. */
export async function startServe(home: string, extra: string[] = []): Promise<{ base: string; child: ChildProcess }> {
  const child = spawnCli(['--home', home, 'serve', '--port', '0', ...extra]);
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('http://'));
      if (line) resolve(new URL(line).origin);
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err.trim()}`)));
  });
  return { base, child };
}

/** A JSON request to a served-mode API; returns status and parsed body. */
export async function apiRequest(base: string, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}${url}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Whether Debian's redis-server is on this machine (`.ci/run` installs it). */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A throwaway redis-server on a free loopback port (no persistence unless asked), started by the
 * test itself: never a system service. `stop()` kills it; `start()` brings it back on the same port.
 */
export async function startRedis(options: { password?: string; tls?: { cert: string; key: string } } = {}): Promise<{ url: string; port: number; stop: () => Promise<void>; start: () => Promise<void> }> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const listen = options.tls ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-auth-clients', 'no'] : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(options.password ? ['--requirepass', options.password] : [])];
  const start = async () => {
    child = spawn('redis-server', args, { stdio: 'ignore' });
    const { connect } = await import('node:net');
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        }),
      (ok) => ok,
      'redis-server to listen',
      10_000,
    );
  };
  const stop = async () => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  const host = options.tls ? 'localhost' : '127.0.0.1';
  return { url: `${options.tls ? 'rediss' : 'redis'}://${options.password ? `:${options.password}@` : ''}${host}:${port}`, port, stop, start };
}

/** A throwaway CA and a server certificate for localhost signed by it (openssl), for TLS tests. */
export function makeTestCertificates(dir: string): { ca: string; cert: string; key: string } | null {
  const run = (args: string[]) => spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' }).status === 0;
  fs.writeFileSync(path.join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const ok =
    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=dtql-test-ca']) &&
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']) &&
    run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf']);
  return ok ? { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server.key') } : null;
}

/** Distinct steps with a critic loss: exactly the steps trained when logInterval is 1. */
export function criticSteps(db: Db, runId: number): number {
  return new Set(readMetric(db, runId, 'critic').map((m) => m.step)).size;
}
