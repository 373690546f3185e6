import fs from 'node:fs';
import os from 'node:os';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import type { BaseNoise, OfflineAgent } from '../core/algos/common';
import { createAgent } from '../core/algos/agents';
import { ReplaySampler } from '../core/data/replay';
import { loadImportedData, loadTaskData, type TaskData } from '../core/data/task-data';
import type { TrainConfig } from '../core/config';
import { runEpisodes } from '../core/envs/evaluate';
import { LocomotionEnv, isLocomotion } from '../core/envs/locomotion';
import { PendulumEnv } from '../core/envs/pendulum';
import { getDataset } from '../store/datasets';
import { datasetFile } from './datasets';
import { BANDIT_EVAL_ACTIONS, banditOutcome } from '../core/envs/bandit2d';
import { Rng } from '../core/rng';
import { mean } from '../core/stats';
import { requireTask, type TaskSpec } from '../core/tasks';
import { initBackend, type BackendInfo } from '../core/tf/backend';
import { ApiError, badInput, messageOf, storageProblem } from '../api/errors';
import type { RunDetail } from '../api/contract';
import type { Db } from '../store/db';
import { insertCheckpoint, listCheckpoints } from '../store/checkpoints';
import { insertMetrics, type MetricRow } from '../store/metrics';
import { saveSamples } from '../store/samples';
import { finishRun, getRun, markRunning, recordProgress, setRunStatus, type RunOutcome } from '../store/runs';
import { encodeCheckpoint, pruneCheckpoints, readCheckpoint, sha256, writeRunCheckpoint } from './checkpoint';
import { PipelinedStepper, SequentialStepper, type Stepper } from './stepper';
import { APP_VERSION } from './version';

export interface Progress {
  runId: number;
  step: number;
  total: number;
  phase: 'pretrain' | 'train';
  stepsPerSec: number;
  etaSec: number | null;
  metrics: Record<string, number>;
}

export interface TrainHooks {
  onProgress?: (p: Progress) => void;
  /**
   * Polled between steps: 'stop' ends the run gracefully after the step in progress, with a final
   * checkpoint; 'pause' holds it (status paused) until the answer is no longer 'pause'.
   */
  control?: () => 'stop' | 'pause' | null;
  /** Told when the run's status changes while it trains (paused, running). */
  onStatus?: (status: 'running' | 'paused') => void;
  /** Seconds between progress reports and store flushes (default 1). */
  flushSeconds?: number;
  /** The remote worker training it, recorded on the run; absent for this machine's own processes. */
  worker?: string;
  /** Told what each store write held, after it landed: a remote worker streams these back. */
  onFlush?: (rows: MetricRow[], stepsDone: number) => void;
  onCheckpoint?: (checkpoint: { step: number; sha256: string; buffer: Buffer }) => void;
  onSamples?: (step: number, actions: Float32Array) => void;
}

export interface TrainResult {
  run: RunDetail;
  backend: BackendInfo;
  stepsPerSec: number;
}

/** How often a paused run checks for resume (and refreshes its heartbeat). */
const PAUSE_POLL_MS = 200;

/** How long a run waits for another process to release the store's write lock before it fails. */
const MAX_STORE_BUSY_MS = 120_000;

const storeBusy = (err: unknown): boolean => storageProblem(err)?.code === 'busy';

/** Runs a store write, retrying while another process holds the write lock (each try already waits busy_timeout). */
async function whenStoreFree<T>(write: () => T): Promise<T> {
  const start = Date.now();
  for (;;) {
    try {
      return write();
    } catch (err) {
      if (!storeBusy(err) || Date.now() - start > MAX_STORE_BUSY_MS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

const RESUMABLE = new Set(['queued', 'stopped', 'interrupted', 'failed', 'diverged']);


/**
 * Evaluation outcomes of a run, logged as `eval/<name>` metrics: for bandits the outcome of 1,000
 * policy actions (kept to redraw the plot), for MuJoCo tasks `evalEpisodes` episodes with the
 * paper's action selection, as raw return and D4RL-normalised score (0-100).
 */
async function evaluate(agent: OfflineAgent, task: TaskSpec, data: TaskData, config: TrainConfig, seed: number, step: number): Promise<{ outcome: Record<string, number>; actions: Float32Array | null }> {
  // A fresh stream per evaluation keeps training's random numbers the same with or without it.
  const rng = new Rng(seed * 1_000_003 + step);
  if (data.bandit && task.dataset.kind === 'generated' && task.dataset.generator !== 'pendulum-mixture') {
    // Every bandit state is the constant 0.
    const actions = agent.samplePolicyAt(new Float32Array(1), BANDIT_EVAL_ACTIONS, rng);
    const { transitions } = data;
    const outcome = banditOutcome(actions, data.bandit.data, task.dataset.reward, { actions: transitions.actions, rewards: transitions.rewards, maxNorm: data.bandit.maxNorm });
    return { outcome: { ...outcome }, actions };
  }
  const family = task.id.split('-')[0] ?? '';
  const makeEnv = task.evaluation === 'pendulum' ? () => new PendulumEnv() : task.evaluation === 'mujoco' && isLocomotion(family) ? () => LocomotionEnv.create(family) : null;
  if (!makeEnv || !task.score) return { outcome: {}, actions: null };
  const { refMin, refMax } = task.score;
  const stats = await runEpisodes(makeEnv, config.evalEpisodes, (observations) => agent.selectActions(observations, config.actionSamples, rng), rng);
  const normalised = stats.returns.map((r) => (100 * (r - refMin)) / (refMax - refMin));
  // Spread over the episodes: the population standard deviation.
  const spread = (values: number[]) => {
    const centre = mean(values);
    return Math.sqrt(mean(values.map((v) => (v - centre) ** 2)));
  };
  return {
    outcome: {
      return: mean(stats.returns),
      returnStd: spread(stats.returns),
      normalizedScore: mean(normalised),
      normalizedScoreStd: spread(normalised),
      episodeLength: mean(stats.lengths),
    },
    actions: null,
  };
}

/** Loads the newest checkpoint that verifies, falling back to older ones (reports what it skipped). */
function restoreLatest(db: Db, agent: OfflineAgent, runId: number, warn: (message: string) => void): number {
  for (const ckpt of listCheckpoints(db, runId)) {
    try {
      agent.setState(readCheckpoint(ckpt.path, ckpt.sha256));
      return ckpt.step;
    } catch (err) {
      warn(`skipping checkpoint at step ${ckpt.step}: ${(err as Error).message}`);
    }
  }
  return 0;
}

/**
 * Trains one stored run to its end (or a stop request, or divergence), in this process: restores
 * its newest checkpoint if it has one, logs metrics in batched transactions about once a second,
 * checkpoints every `checkpointInterval` steps and at the end, and records an honest final status.
 */
export async function trainRun(db: Db, home: string, runId: number, hooks: TrainHooks = {}): Promise<TrainResult> {
  const run = getRun(db, runId);
  if (!RESUMABLE.has(run.status)) throw badInput(`run ${runId} is ${run.status}; only queued, stopped, interrupted, failed or diverged runs can train`);
  const task = requireTask(run.task);
  let data: TaskData;
  try {
    if (task.dataset.kind === 'generated') data = loadTaskData(task);
    else if (run.datasetId === null) throw new Error(`run ${runId} of task ${task.id} has no dataset to train on`);
    else data = await loadImportedData(task, datasetFile(getDataset(db, run.datasetId)));
  } catch (err) {
    throw badInput((err as Error).message);
  }
  const backend = await initBackend();
  const config = run.config;
  const agent = createAgent(run.algo, data.problem, config, run.seed);
  const sampler = new ReplaySampler(data.transitions, Math.min(config.batchSize, 65536));
  const total = config.pretrainSteps + config.trainSteps;
  const flushMs = (hooks.flushSeconds ?? 1) * 1000;
  const warnings: string[] = [];
  let pending: MetricRow[] = [];
  let lastEval: Record<string, number> = {};
  let bestScore: number | null = run.bestScore;
  let step = 0;
  let stepper: Stepper | null = null;
  let ownsRun = true;
  const liveHeap = watchLiveHeap();

  const stepOf = () => agent.pretrainStepsDone + agent.trainStepsDone;
  /** Writes the waiting metrics with the step count (and `alongside`, in the same transaction), then tells the hook what landed. */
  const writeProgress = (alongside?: () => void) => {
    db.transaction(() => {
      insertMetrics(db, runId, pending);
      recordProgress(db, runId, stepOf());
      alongside?.();
    })();
    hooks.onFlush?.(pending, stepOf());
    pending = [];
  };
  // While another process holds the store's write lock, metrics wait in memory and training goes on.
  let busySince: number | null = null;
  const flush = () => {
    try {
      writeProgress();
      busySince = null;
    } catch (err) {
      if (!storeBusy(err)) throw err;
      busySince ??= Date.now();
      if (Date.now() - busySince > MAX_STORE_BUSY_MS) throw err;
    }
  };
  let lastCheckpointStep: number | null = null;
  const saveCheckpoint = async () => {
    const buffer = encodeCheckpoint(agent.getState());
    const digest = sha256(buffer);
    const file = writeRunCheckpoint(home, runId, stepOf(), buffer);
    try {
      // A checkpoint lands only with every metric before it: resume replays from it, so none may be missing.
      await whenStoreFree(() => writeProgress(() => insertCheckpoint(db, { runId, step: stepOf(), path: file, sha256: digest, bytes: buffer.length })));
    } catch (err) {
      fs.rmSync(file, { force: true });
      throw err;
    }
    lastCheckpointStep = stepOf();
    hooks.onCheckpoint?.({ step: stepOf(), sha256: digest, buffer });
    pruneCheckpoints(db, runId);
  };
  const finish = (outcome: Omit<RunOutcome, 'stepsDone'>) =>
    whenStoreFree(() => {
      writeProgress();
      finishRun(db, runId, { ...outcome, stepsDone: stepOf() });
    });

  try {
    step = restoreLatest(db, agent, runId, (m) => warnings.push(m));
    if (step > 0) lastCheckpointStep = step;
    // Marks where a resumed run picked up, for the curves.
    if (step > 0) pending.push({ name: 'event/resume', step, wallTime: Date.now() / 1000, value: step });
    const claimed = await whenStoreFree(() => markRunning(db, runId, {
      pid: process.pid,
      host: os.hostname(),
      backend: backend.name,
      backendReason: backend.reason,
      versions: { app: APP_VERSION, tfjs: tf.version.tfjs, node: process.versions.node, backend: backend.label },
      worker: hooks.worker ?? null,
    }));
    if (!claimed) {
      ownsRun = false;
      throw new ApiError('conflict', `run ${runId} is already being trained by another process`);
    }
    hooks.onStatus?.('running');
    const startedAt = Date.now();
    const startStep = step;
    let lastFlush = Date.now();
    let windowStart = { time: performance.now(), step };
    let stepsPerSec = 0;

    stepper = await startStepper(agent, sampler, backend);
    while (stepOf() < total) {
      let command = hooks.control?.() ?? null;
      if (command === 'pause') {
        flush();
        await whenStoreFree(() => setRunStatus(db, runId, 'paused'));
        hooks.onStatus?.('paused');
        while (command === 'pause') {
          await new Promise((resolve) => setTimeout(resolve, PAUSE_POLL_MS));
          flush();
          command = hooks.control?.() ?? null;
        }
        await whenStoreFree(() => setRunStatus(db, runId, 'running'));
        hooks.onStatus?.('running');
        windowStart = { time: performance.now(), step: stepOf() };
      }
      // A stop request ends the run after this step, whose critic state then comes back for the checkpoint.
      const stopNow = command === 'stop';
      const next = stepOf() + 1;
      const checkpointDue = next % config.checkpointInterval === 0 || next === total;
      const pretraining = agent.pretrainStepsDone < config.pretrainSteps;
      // A MuJoCo evaluation acts through the target critic, which the critic thread must hand back first.
      const evalDue = (task.evaluation === 'mujoco' || task.evaluation === 'pendulum') && (next === total || (agent.pretrainStepsDone >= config.pretrainSteps && (agent.trainStepsDone + 1) % config.evalInterval === 0));
      const metrics = await stepper.step(stopNow || checkpointDue || evalDue);
      step = stepOf();
      const blownUp = Object.keys(metrics).find((n) => !Number.isFinite(metrics[n]));
      if (blownUp) {
        await finish({ status: 'diverged', error: `the ${blownUp} loss became ${metrics[blownUp]} at step ${step}; the last good checkpoint is kept` });
        return { run: getRun(db, runId), backend, stepsPerSec };
      }
      const now = Date.now();
      if (step % config.logInterval === 0 || step === total) {
        for (const [n, value] of Object.entries(metrics)) pending.push({ name: n, step, wallTime: now / 1000, value });
      }
      if (!pretraining && (agent.trainStepsDone % config.evalInterval === 0 || step === total)) {
        const evaluation = await evaluate(agent, task, data, config, run.seed, step);
        lastEval = evaluation.outcome;
        if (lastEval.normalizedScore !== undefined) bestScore = Math.max(bestScore ?? Number.NEGATIVE_INFINITY, lastEval.normalizedScore);
        for (const [name, value] of Object.entries(lastEval)) pending.push({ name: `eval/${name}`, step, wallTime: now / 1000, value });
        if (evaluation.actions) {
          saveSamples(db, runId, step, evaluation.actions);
          hooks.onSamples?.(step, evaluation.actions);
        }
      }
      if (stopNow) {
        await saveCheckpoint();
        await finish({ status: 'stopped', error: null });
        return { run: getRun(db, runId), backend, stepsPerSec };
      }
      if (step % config.checkpointInterval === 0 && step < total) await saveCheckpoint();
      if (now - lastFlush >= flushMs || step === total) {
        const t = performance.now();
        stepsPerSec = ((step - windowStart.step) * 1000) / Math.max(t - windowStart.time, 1);
        windowStart = { time: t, step };
        pending.push({ name: 'stepsPerSec', step, wallTime: now / 1000, value: stepsPerSec });
        // Leak watch: both stay flat over a healthy run (docs/RELIABILITY.md).
        pending.push({ name: 'sys/tensors', step, wallTime: now / 1000, value: tf.memory().numTensors });
        const memory = process.memoryUsage();
        pending.push({ name: 'sys/heapMB', step, wallTime: now / 1000, value: memory.heapUsed / 2 ** 20 });
        // The heap right after the latest full collection: what is really alive, the number a leak moves.
        if (liveHeap.afterMajorGc !== null) pending.push({ name: 'sys/liveHeapMB', step, wallTime: now / 1000, value: liveHeap.afterMajorGc / 2 ** 20 });
        // The resident set also covers the wasm heap and the critic thread's isolate.
        pending.push({ name: 'sys/rssMB', step, wallTime: now / 1000, value: memory.rss / 2 ** 20 });
        flush();
        lastFlush = now;
        hooks.onProgress?.({ runId, step, total, phase: pretraining ? 'pretrain' : 'train', stepsPerSec, etaSec: stepsPerSec > 0 ? (total - step) / stepsPerSec : null, metrics });
      }
    }
    await saveCheckpoint();
    const elapsed = (Date.now() - startedAt) / 1000;
    // Tasks without a simulator here (and the bandits) have no normalised score; they report their own outcome.
    await finish({ status: 'completed', error: warnings.length ? warnings.join('; ') : null, finalMetrics: { ...lastEval }, bestScore, finalScore: lastEval.normalizedScore ?? null });
    return { run: getRun(db, runId), backend, stepsPerSec: elapsed > 0 ? (step - startStep) / elapsed : 0 };
  } catch (err) {
    // A run another process claimed first is that process's to record.
    if (!ownsRun) throw err;
    const problem = storageProblem(err);
    const kept = lastCheckpointStep === null ? 'no checkpoint was written yet' : `the checkpoint at step ${lastCheckpointStep} is kept; resume continues from it`;
    const message = problem ? `${problem.message} at step ${stepOf()}; ${kept}` : messageOf(err);
    try {
      await finish({ status: 'failed', error: message });
    } catch {
      // Metrics still waiting may not fit; the ending alone is a small update of an existing row.
      try {
        finishRun(db, runId, { status: 'failed', error: message, stepsDone: getRun(db, runId).stepsDone });
      } catch {
        // Nor that: the parent (or the next process to open the store) records the end from this message.
        throw new Error(message);
      }
    }
    throw problem ? new Error(message) : err;
  } finally {
    liveHeap.stop();
    await stepper?.close();
    agent.dispose();
  }
}

/** Records the heap size after each major (mark-compact) collection, as V8 reports them. */
function watchLiveHeap(): { afterMajorGc: number | null; stop: () => void } {
  const watch = { afterMajorGc: null as number | null, stop: () => observer.disconnect() };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) watch.afterMajorGc = process.memoryUsage().heapUsed;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return watch;
}

/** Two cores for the CPU backends (critic on a worker thread); a native backend threads itself. */
export async function startStepper<N extends BaseNoise>(agent: OfflineAgent<N>, sampler: ReplaySampler, backend: BackendInfo): Promise<Stepper> {
  if (backend.name === 'tensorflow' || os.availableParallelism() < 2) return new SequentialStepper(agent, sampler);
  return PipelinedStepper.start(agent, sampler, backend.name);
}
