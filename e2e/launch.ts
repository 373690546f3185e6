import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { electronBinary, systemChromium } from '../scripts/local-tools.mjs';

export { electronBinary };

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The system Chromium (Debian's on these machines, where Playwright's download is not possible;
 * DTQL_CHROMIUM names another), or undefined where there is none: then Playwright's own, which
 * `npm test`'s first step installs (scripts/test-preflight.mjs).
 */
export const CHROMIUM = systemChromium() ?? undefined;
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function tempHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-e2e-'));
}

/** Starts `dtql serve` on a free port and resolves with the URL it prints. */
export async function startServed(home: string, extraArgs: string[] = []): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'dtql.js'), '--home', home, 'serve', '--port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`dtql serve did not start: ${stderr}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('http://'));
      if (line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dtql serve exited with ${code}: ${stderr}`));
    });
  });
  return { url, process: child };
}
