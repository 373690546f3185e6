import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { D4RL_DEFAULTS, type TrainConfig } from '../../common/config';
import { median } from '../../common/stats';
import { openDatabase, type Db } from '../../store/db';
import { downsampleMetric, insertMetrics, type MetricRow } from '../../store/metrics';
import { finishRun, getRun, insertRuns, listRuns, updateRun } from '../../store/runs';
import { presetOf, presetSeed, requireTask } from '../../core/tasks';
import { REPO_ROOT } from '../../core/repo-root';
import { EventHub } from '../../engine/events';
import { RunManager, defaultConcurrency } from '../../engine/local/run-manager';
import { planRuns } from '../../engine/plan';
import { DtqlAgent, type ProblemSpec } from '../../core/algos/dtql';
import { ReplaySampler, type Transitions } from '../../core/data/replay';
import { Rng } from '../../core/rng';
import type { BackendInfo } from '../../core/tf/backend';
import { nativeKernelsActive } from '../../core/tf/native-kernels';
import { SequentialStepper, type Stepper } from '../../engine/training/stepper';
import { startStepper } from '../../engine/training/trainer';

export interface BenchProblem {
  problem: string;
  stateDim: number;
  actionDim: number;
  /** The settings whose network sizes and batch it trains at; step counts are the bench's own. */
  config: TrainConfig;
}

/**
 * The problem sizes of the speed goal: D4RL hopper and halfcheetah (batch 256, hidden 256, time
 * embedding 16), and a step of the bandits' `quick` preset (2D actions, a state of 0, score network
 * hidden 128, time embedding 4).
 */
export const BENCH_PROBLEMS: BenchProblem[] = [
  { problem: 'hopper', stateDim: 11, actionDim: 3, config: { ...D4RL_DEFAULTS, batchSize: 256 } },
  { problem: 'halfcheetah', stateDim: 17, actionDim: 6, config: { ...D4RL_DEFAULTS, batchSize: 256 } },
  { problem: 'bandit (quick)', stateDim: 1, actionDim: 2, config: presetOf(requireTask('bandit-25g-hard'), 'quick').configs.dtql },
];

/** The problem a bench problem trains, as the agent sees it. */
export const benchProblemSpec = (p: BenchProblem): ProblemSpec => ({ stateDim: p.stateDim, actionDim: p.actionDim, maxAction: 1, clipDenoised: true });

/**
 * The matrix-product speed this backend reaches on one thread, in GFLOP/s: the fastest of a few
 * 1024 x 1024 x 1024 products (about 2.1 GFLOP each), read back as training reads its results.
 * A peak is what the hardware can do, and interference only ever slows a round, so the best counts.
 */
export function matMulPeakGflops(repeats = 10): number {
  const n = 1024;
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  const times: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const start = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    if (r > 0) times.push(performance.now() - start);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (Math.min(...times) / 1000) / 1e9;
}

/** A thread that multiplies 1024 x 1024 matrices in the native addon on request and answers with the milliseconds taken. */
const SGEMM_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const blas = require(workerData.addon);
const n = 1024;
const [a, b, c] = [new Float32Array(n * n).fill(0.5), new Float32Array(n * n).fill(0.25), new Float32Array(n * n)];
const product = () => blas.sgemm(a, b, c, 1, n, n, n, false, false, 1, 1);
product();
parentPort.on('message', (count) => {
  const start = performance.now();
  for (let i = 0; i < count; i++) product();
  parentPort.postMessage(performance.now() - start);
});
parentPort.postMessage(0);
`;

/**
 * The matMul speed of `threads` threads computing at once, in GFLOP/s in all: each multiplies
 * 1024 x 1024 matrices in the native addon at the same time, the fastest of `repeats` rounds. Two
 * vCPUs may be two hardware threads of one core, which share its vector units, so this can be well
 * under twice the one-thread speed. Null where the native kernels are not in use.
 */
export async function concurrentMatMulPeakGflops(threads: number, repeats = 10, productsPerRound = 4): Promise<number | null> {
  if (!nativeKernelsActive()) return null;
  const addon = createRequire(import.meta.url).resolve('dtql-native-blas');
  const workers = Array.from({ length: threads }, () => new Worker(SGEMM_THREAD, { eval: true, workerData: { addon } }));
  // The error listener goes with its answer: one left per round went over Node's limit of 10 and printed a leak warning.
  const next = (w: Worker) =>
    new Promise<number>((resolve, reject) => {
      w.once('error', reject);
      w.once('message', (ms: number) => {
        w.off('error', reject);
        resolve(ms);
      });
    });
  try {
    await Promise.all(workers.map(next));
    const rounds: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const times = await Promise.all(workers.map((w) => (w.postMessage(productsPerRound), next(w))));
      rounds.push((threads * productsPerRound * 2 * 1024 ** 3) / (Math.max(...times) / 1000) / 1e9);
    }
    return Math.max(...rounds);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export interface BenchResult {
  problem: string;
  /** As training runs them (critic on a second core for the CPU backends). */
  pretrainStepsPerSec: number;
  trainStepsPerSec: number;
  /** Everything on one thread, for the ratio. */
  trainStepsPerSecSingleThread: number;
  actLatencyMs: number;
}

function randomTransitions(rng: Rng, stateDim: number, actionDim: number, size: number): Transitions {
  const uniform = (n: number) => Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
  return {
    stateDim,
    actionDim,
    size,
    states: uniform(size * stateDim),
    actions: uniform(size * actionDim),
    rewards: uniform(size),
    nextStates: uniform(size * stateDim),
    notDone: new Float32Array(size).fill(1),
  };
}

/** Median milliseconds per call over `repeats` timed blocks of `steps` calls, after `warmup` calls. */
async function timeBlocks(run: () => unknown, warmup: number, steps: number, repeats: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await run();
    times.push((performance.now() - start) / steps);
  }
  return median(times);
}

export interface BenchOptions {
  steps: number;
  repeats: number;
  /** Untimed calls before each timed part: a fresh worker thread runs its first 30-50 steps slower while V8 compiles. */
  warmup: number;
}

/**
 * Training and inference speed at one problem's sizes: pretraining and joint steps/s as training
 * runs them, joint steps/s on one thread, and one evaluation action (1024 policy samples +
 * softmax over the target Q) in ms.
 * Losses are read back every step, as training does to catch NaN/Inf.
 */
export async function benchProblem(p: BenchProblem, backend: BackendInfo, options: BenchOptions): Promise<BenchResult> {
  const rng = new Rng(1);
  const data = randomTransitions(rng, p.stateDim, p.actionDim, 10_000);
  const blocks = options.warmup + options.steps * options.repeats;
  const config = { ...p.config, pretrainSteps: blocks, trainSteps: 2 * blocks };
  const make = () => new DtqlAgent(benchProblemSpec(p), config, 1);
  const timeSteps = async (stepper: Stepper) => timeBlocks(() => stepper.step(false), options.warmup, options.steps, options.repeats);

  const agent = make();
  const sampler = new ReplaySampler(data, config.batchSize);
  const stepper = await startStepper(agent, sampler, backend);
  let pretrainMs: number;
  let trainMs: number;
  try {
    pretrainMs = await timeSteps(stepper);
    trainMs = await timeSteps(stepper);
  } finally {
    await stepper.close();
  }
  const state = data.states.slice(0, p.stateDim);
  const actMs = await timeBlocks(() => agent.selectActions(state, 1024, rng), options.warmup, options.steps, options.repeats);
  agent.dispose();

  const single = make();
  single.pretrainStepsDone = config.pretrainSteps;
  const singleMs = await timeSteps(new SequentialStepper(single, new ReplaySampler(data, config.batchSize)));
  single.dispose();
  return {
    problem: p.problem,
    pretrainStepsPerSec: 1000 / pretrainMs,
    trainStepsPerSec: 1000 / trainMs,
    trainStepsPerSecSingleThread: 1000 / singleMs,
    actLatencyMs: actMs,
  };
}

export interface CurveBench {
  points: number;
  buckets: number;
  /** Median time to read one downsampled series from SQLite. */
  fetchMs: number;
}

/** Time to fetch a downsampled 1,000,000-point series, as the Live and Run pages do. */
export function benchCurveFetch(points = 1_000_000, buckets = 2000, repeats = 5): CurveBench {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-bench-'));
  const db = openDatabase(home);
  try {
    const [runId] = insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'paper', seeds: [0], tags: [], overrides: {} })) as [number];
    const rows: MetricRow[] = Array.from({ length: points }, (_, i) => ({ name: 'critic', step: i + 1, wallTime: i / 100, value: Math.sin(i / 1000) }));
    insertMetrics(db, runId, rows);
    const times: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const start = performance.now();
      downsampleMetric(db, runId, 'critic', buckets);
      times.push(performance.now() - start);
    }
    return { points, buckets, fetchMs: median(times) };
  } finally {
    db.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

export interface RunListBench {
  runs: number;
  /** The first page, newest first (the History page's first load). */
  listAllMs: number;
  /** A tag filter with text search, sorted by final score. */
  filteredSortedMs: number;
}

/** History-page queries over a store of `count` ended runs with tags, notes and outcomes. */
export function benchRunList(count = 5000, repeats = 5): RunListBench {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-bench-'));
  const db = openDatabase(home);
  try {
    const ids = insertRuns(
      db,
      Array.from({ length: count }, (_, i) => planRuns({ task: i % 2 ? 'bandit-25g-far' : 'bandit-swiss-near', algo: i % 3 ? 'dtql' : 'kl', preset: 'quick', seeds: [i], tags: [`sweep-${i % 10}`], overrides: {} })).flat(),
    );
    db.transaction(() =>
      ids.forEach((id, i) => {
        updateRun(db, id, { notes: `note ${i}` });
        finishRun(db, id, { status: 'completed', stepsDone: 0, finalMetrics: { meanReward: Math.sin(i) } });
      }),
    )();
    const time = (query: () => unknown) => {
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const start = performance.now();
        query();
        times.push(performance.now() - start);
      }
      return median(times);
    };
    return {
      runs: count,
      listAllMs: time(() => listRuns(db)),
      filteredSortedMs: time(() => listRuns(db, { tag: 'sweep-3', text: 'note 1', sort: 'finalScore' })),
    };
  } finally {
    db.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

export interface StartupBench {
  /** `dtql --version`: median wall time of a cold process, and its peak resident set. */
  cliVersionMs: number;
  cliVersionPeakMB: number;
  /** A training process: from its spawn to the store holding its first training step. */
  workerFirstStepMs: number;
}

/** Peak resident set of the process it is loaded into, written to stderr as it exits. */
const PEAK_RSS_HOOK = `data:text/javascript,${encodeURIComponent("process.on('exit', () => process.stderr.write(`\\npeak-rss-kb ${process.resourceUsage().maxRSS}\\n`));")}`;

/**
 * How fast the compiled entry points start: the CLI answering `--version`, and a training process
 * from spawn to its first recorded step (a small bandit run through the run queue, as the app
 * starts one). Medians over `repeats`.
 */
export async function benchStartup(repeats = 5): Promise<StartupBench> {
  const walls: number[] = [];
  const peaks: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const result = spawnSync(process.execPath, ['--import', PEAK_RSS_HOOK, path.join(REPO_ROOT, 'bin', 'dtql.js'), '--version'], { encoding: 'utf8' });
    walls.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`dtql --version failed: ${result.stderr}`);
    peaks.push(Number(/peak-rss-kb (\d+)/.exec(result.stderr)?.[1] ?? Number.NaN) / 1024);
  }
  const firstSteps: number[] = [];
  for (let r = 0; r < repeats; r++) firstSteps.push(await workerFirstStep());
  return { cliVersionMs: median(walls), cliVersionPeakMB: median(peaks), workerFirstStepMs: median(firstSteps) };
}

/** A run queue on a fresh temporary store, as the app runs one; removed with its store after `body`. */
async function withTempQueue<T>(concurrency: number, body: (q: { db: Db; events: EventHub; queue: RunManager }) => Promise<T>): Promise<T> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-bench-'));
  const db = openDatabase(home);
  const events = new EventHub();
  const queue = new RunManager(db, home, events, concurrency);
  try {
    return await body({ db, events, queue });
  } finally {
    await queue.shutdown(0);
    db.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function workerFirstStep(): Promise<number> {
  return withTempQueue(1, async ({ db, events, queue }) => {
    const [runId] = insertRuns(db, planRuns({ task: 'bandit-25g-near', algo: 'dtql', preset: 'quick', seeds: [0], tags: [], overrides: { trainSteps: 100_000 } })) as [number];
    // A training process reports its first step as soon as it is done (trainer.ts).
    const firstStep = new Promise<number>((resolve) => events.subscribe((e) => e.type === 'run-progress' && e.runId === runId && resolve(performance.now())));
    const start = performance.now();
    queue.schedule();
    return (await firstStep) - start;
  });
}

export interface PairBench {
  task: string;
  /** From queueing the pair to each run's end, and to both (the pair side by side at the default concurrency). */
  trustRegionSec: number;
  klSec: number;
  pairSec: number;
  concurrency: number;
}

/**
 * The Compare page's one click: the trust region and KL `quick` runs of `task` at its official
 * seed, queued together in the run queue as the app queues them, timed to both ended.
 */
export function benchPair(task = 'bandit-25g-hard', concurrency = defaultConcurrency()): Promise<PairBench> {
  return withTempQueue(concurrency, async ({ db, events, queue }) => {
    const seed = presetSeed(task, 'quick');
    const ids = insertRuns(db, [...planRuns({ task, algo: 'dtql', preset: 'quick', seeds: [seed], tags: [], overrides: {} }), ...planRuns({ task, algo: 'kl', preset: 'quick', seeds: [seed], tags: [], overrides: {} })]);
    const start = performance.now();
    const ended = new Map<number, number>();
    const done = new Promise<void>((resolve) =>
      events.subscribe((e) => {
        if (e.type !== 'runs-changed') return;
        for (const id of ids) if (!ended.has(id) && ['completed', 'failed', 'diverged', 'stopped', 'interrupted'].includes(getRun(db, id).status)) ended.set(id, performance.now());
        if (ended.size === ids.length) resolve();
      }),
    );
    queue.schedule();
    await done;
    const seconds = (id: number) => ((ended.get(id) ?? start) - start) / 1000;
    const [tr, kl] = ids as [number, number];
    return { task, trustRegionSec: seconds(tr), klSec: seconds(kl), pairSec: Math.max(seconds(tr), seconds(kl)), concurrency: queue.concurrency };
  });
}
