import { spawn, type ChildProcess, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../store/db';
import { insertMetrics, type MetricRow } from '../../store/metrics';
import { finishRun, getRun, insertRuns } from '../../store/runs';
import { planRuns } from '../../engine/plan';
import { REPO_ROOT } from '../../core/repo-root';

/** The CLI entry the benchmarks start, as a user would. */
export const DTQL_BIN = path.join(REPO_ROOT, 'bin', 'dtql.js');

export interface LoadBenchOptions {
  clients: number;
  /** Points per big run (spread over four metric names, as a real run logs several losses). */
  points: number;
  /** Seconds of each measuring window. */
  windowSec: number;
  /** Pause of each client between its requests: 1 s is an open Live page; 0 saturates the server. */
  thinkMs: number;
}

export interface LoadBenchResult {
  clients: number;
  thinkMs: number;
  pointsPerRun: number;
  requests: number;
  failed: number;
  requestsPerSec: number;
  /** The first (uncached) fetch of one big run's curves. */
  coldFetchMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Training speed of the run served mode trains meanwhile, without and with the clients. */
  trainStepsPerSecIdle: number;
  trainStepsPerSecUnderLoad: number;
  /** Under load / idle: 0.8 or more meets the goal of a drop under 20%. */
  trainSpeedRatio: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two ended runs with `points` metric points each, and one queued bandit run for the server to train. */
function seedStore(home: string, points: number): { bigRuns: number[]; trainingRun: number } {
  const db = openDatabase(home);
  try {
    const bigRuns = insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [1, 2], tags: ['load'], overrides: {} }));
    const names = ['critic', 'bc', 'trustRegion', 'policy'];
    const perName = Math.floor(points / names.length);
    for (const runId of bigRuns) {
      for (const name of names) {
        const rows: MetricRow[] = Array.from({ length: perName }, (_, i) => ({ name, step: i + 1, wallTime: i / 50, value: Math.sin(i / 997) + runId }));
        insertMetrics(db, runId, rows);
      }
      finishRun(db, runId, { status: 'completed', stepsDone: perName });
    }
    const [trainingRun] = insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [3], tags: [], overrides: { trainSteps: 1_000_000 } }));
    return { bigRuns, trainingRun: trainingRun as number };
  } finally {
    db.close();
  }
}

/** `dtql serve` on a free loopback port of `home`, once it prints its address. */
export async function startServe(home: string, args: string[] = []): Promise<{ server: ChildProcessByStdio<null, Readable, null>; base: string }> {
  const server = spawn(process.execPath, [DTQL_BIN, '--home', home, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('http://'));
        if (line) resolve(new URL(line).origin);
      });
      server.once('exit', (code) => reject(new Error(`dtql serve exited with code ${code}`)));
    });
    return { server, base };
  } catch (err) {
    await stopProcess(server);
    throw err;
  }
}

/** SIGTERM, then wait for the exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
}

/** Steps the training run made over `windowSec`, read from the store it flushes to every second. */
async function trainingSpeed(home: string, runId: number, windowSec: number): Promise<number> {
  const reader = openDatabase(home);
  try {
    const steps = () => getRun(reader, runId).stepsDone;
    const start = { steps: steps(), time: performance.now() };
    await sleep(windowSec * 1000);
    return ((steps() - start.steps) * 1000) / (performance.now() - start.time);
  } finally {
    reader.close();
  }
}

/**
 * Served mode under many viewers (issue 9.2): `dtql serve` trains a bandit run while `clients`
 * loopback clients fetch the downsampled curves of two runs with a million points each. Training
 * speed is measured before, during and after the load; idle is the mean of before and after.
 */
export async function benchServedLoad(options: LoadBenchOptions): Promise<LoadBenchResult> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-load-'));
  const { bigRuns, trainingRun } = seedStore(home, options.points);
  const { server, base } = await startServe(home, ['--concurrency', '1']);
  try {
    const curvesOf = (runId: number) => `${base}/api/runs/${runId}/metrics?maxPoints=1000`;
    /** Fetches like a browser page: it revalidates what it holds with If-None-Match. */
    const fetchCurves = async (runId: number, held: Map<number, string> = new Map()): Promise<boolean> => {
      const etag = held.get(runId);
      const response = await fetch(curvesOf(runId), { headers: etag ? { 'if-none-match': etag } : {} });
      await response.arrayBuffer();
      const fresh = response.headers.get('etag');
      if (fresh) held.set(runId, fresh);
      return response.ok || response.status === 304;
    };
    // Warm up: the training process loads tfjs and its data before its speed means anything.
    await trainingSpeed(home, trainingRun, options.windowSec);
    const coldStart = performance.now();
    await fetchCurves(bigRuns[0] as number);
    const coldFetchMs = performance.now() - coldStart;
    for (const runId of bigRuns.slice(1)) await fetchCurves(runId);

    const before = await trainingSpeed(home, trainingRun, options.windowSec);
    const latencies: number[] = [];
    let failed = 0;
    let running = true;
    const client = async (index: number) => {
      const held = new Map<number, string>();
      for (let i = 0; running; i++) {
        const start = performance.now();
        try {
          if (!(await fetchCurves(bigRuns[(index + i) % bigRuns.length] as number, held))) failed++;
        } catch {
          failed++;
        }
        latencies.push(performance.now() - start);
        if (options.thinkMs > 0) await sleep(options.thinkMs);
      }
    };
    const loadStart = performance.now();
    const clients = Array.from({ length: options.clients }, (_, i) => client(i));
    const during = await trainingSpeed(home, trainingRun, options.windowSec);
    running = false;
    await Promise.all(clients);
    const loadSec = (performance.now() - loadStart) / 1000;
    const after = await trainingSpeed(home, trainingRun, options.windowSec);

    const sorted = [...latencies].sort((a, b) => a - b);
    const idle = (before + after) / 2;
    return {
      clients: options.clients,
      thinkMs: options.thinkMs,
      pointsPerRun: options.points,
      requests: latencies.length,
      failed,
      requestsPerSec: latencies.length / loadSec,
      coldFetchMs,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      trainStepsPerSecIdle: idle,
      trainStepsPerSecUnderLoad: during,
      trainSpeedRatio: during / idle,
    };
  } finally {
    await stopProcess(server);
    fs.rmSync(home, { recursive: true, force: true });
  }
}
