import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from '../../common/stats';
import { DB_FILE, openDatabase } from '../../store/db';
import { finishRun, insertRuns, type NewRun } from '../../store/runs';
import { planRuns } from '../../engine/plan';
import { DTQL_BIN, startServe, stopProcess } from './load';

export interface ScaleBenchResult {
  runs: number;
  buildSec: number;
  storeMB: number;
  /** Median of 5 loopback requests each, in ms. */
  firstPageMs: number;
  deepPageMs: number;
  sortedPageMs: number;
  filteredPageMs: number;
  infoMs: number;
  facetsMs: number;
  /** The server's peak resident set over all of the above and the runs CSV download. */
  serverPeakMB: number | null;
  exportRunsSec: number;
  exportRows: number;
  /** `dtql runs list --json` over the whole store. */
  listSec: number;
  listRows: number;
  listPeakMB: number | null;
}

/** A process's peak resident set so far (Linux; null elsewhere or once it has gone). */
function peakRssMB(pid: number | undefined): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * `count` runs in a fresh store, half of them ended with an outcome, every tenth tagged: built
 * through the store in transactions of 20,000 runs.
 */
function buildStore(home: string, count: number): void {
  const db = openDatabase(home);
  try {
    const [template] = planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [0], tags: [], overrides: {} }) as [NewRun];
    for (let start = 0; start < count; start += 20_000) {
      const batch = Array.from({ length: Math.min(20_000, count - start) }, (_, k): NewRun => {
        const i = start + k;
        return { ...template, name: `scale ${i}`, seed: i % 1000, algo: i % 3 ? 'dtql' : 'kl', tags: i % 10 ? [] : [`sweep-${i % 7}`] };
      });
      const ids = insertRuns(db, batch);
      db.transaction(() => ids.forEach((id, k) => (id % 2 ? undefined : finishRun(db, id, { status: 'completed', stepsDone: 100, finalMetrics: { meanReward: Math.sin(start + k) } }))))();
    }
  } finally {
    db.close();
  }
}

async function timed(call: () => Promise<unknown>, repeats = 5): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Streams a response body, counting its lines without holding it. */
async function countLines(response: Response): Promise<number> {
  if (!response.ok || !response.body) throw new Error(`${response.url} answered ${response.status}`);
  let lines = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) for (const byte of chunk) if (byte === 10) lines++;
  return lines;
}

/** `dtql runs list --json` on the store: its wall time, rows and peak resident set. */
async function benchRunsList(home: string): Promise<{ listSec: number; listRows: number; listPeakMB: number | null }> {
  const start = performance.now();
  const child = spawn(process.execPath, [DTQL_BIN, '--home', home, 'runs', 'list', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let peak: number | null = null;
  const poll = setInterval(() => (peak = peakRssMB(child.pid) ?? peak), 100);
  // One run per line, between the lines of the opening and closing brackets.
  let lines = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines++;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`dtql runs list exited with ${code}`);
  return { listSec: (performance.now() - start) / 1000, listRows: Math.max(0, lines - 2), listPeakMB: peak };
}

/**
 * History at a million runs (issue 25.1): builds a store of `count` runs, then times served mode's
 * list pages, info and facets over loopback, downloads the runs CSV, and streams `dtql runs list
 * --json`, recording the peak memory of the server and of the CLI.
 */
export async function benchScale(count: number): Promise<ScaleBenchResult> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-scale-'));
  try {
    const buildStart = performance.now();
    buildStore(home, count);
    const buildSec = (performance.now() - buildStart) / 1000;
    const storeMB = fs.statSync(path.join(home, DB_FILE)).size / 2 ** 20;
    const { server, base } = await startServe(home, ['--concurrency', '1']);
    try {
      const get = (url: string) => fetch(`${base}${url}`).then((r) => r.arrayBuffer());
      const q = (v: unknown) => encodeURIComponent(JSON.stringify(v));
      const firstPageMs = await timed(() => get('/api/runs'));
      const deepPageMs = await timed(() => get(`/api/runs?offset=${Math.floor(count / 2)}`));
      const sortedPageMs = await timed(() => get(`/api/runs?sort=${q('finalScore')}`));
      const filteredPageMs = await timed(() => get(`/api/runs?tag=${q('sweep-3')}&algo=${q('kl')}`));
      const infoMs = await timed(() => get('/api/info'));
      const facetsMs = await timed(() => get('/api/run-facets'));
      const exportStart = performance.now();
      const exportRows = (await countLines(await fetch(`${base}/api/export/runs`))) - 1;
      const exportRunsSec = (performance.now() - exportStart) / 1000;
      const serverPeakMB = peakRssMB(server.pid);
      const list = await benchRunsList(home);
      return { runs: count, buildSec, storeMB, firstPageMs, deepPageMs, sortedPageMs, filteredPageMs, infoMs, facetsMs, serverPeakMB, exportRunsSec, exportRows, ...list };
    } finally {
      await stopProcess(server);
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}
