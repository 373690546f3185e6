import { afterAll, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
