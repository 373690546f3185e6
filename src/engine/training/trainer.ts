import os from 'node:os';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import type { BaseNoise, OfflineAgent } from '../../core/algos/common';
import { createAgent } from '../../core/algos/agents';
import { ReplaySampler } from '../../core/data/replay';
import { loadImportedData, loadTaskData, type TaskData } from '../../core/data/task-data';
import type { TrainConfig } from '../../common/config';
import { runEpisodes } from '../../core/envs/evaluate';
import { LocomotionEnv, isLocomotion } from '../../core/envs/locomotion';
import { PendulumEnv } from '../../core/envs/pendulum';
import { BANDIT_EVAL_ACTIONS, banditOutcome } from '../../core/envs/bandit2d';
import { Rng } from '../../core/rng';
import { mean } from '../../common/stats';
import { requireTask, type TaskSpec } from '../../core/tasks';
import { initBackend, type BackendInfo } from '../../core/tf/backend';
import { badInput, messageOf, storageProblem } from '../../api/errors';
import { encodeCheckpoint, readCheckpoint, sha256, writeRunCheckpoint } from './checkpoint';
import { encodeSamples, type EndedEvent, type RunEventSink, type TrainJob } from './run-events';
import type { MetricRow } from '../../store/metrics';
import { PipelinedStepper, SequentialStepper, type Stepper } from './stepper';
import { APP_VERSION } from '../version';

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
  /** Seconds between progress reports and metric events (default 1). */
  flushSeconds?: number;
  /** Told once a checkpoint's event is recorded (or handed to the channel). */
  onCheckpoint?: (checkpoint: { step: number; sha256: string }) => void;
}

export interface TrainOutcome {
  status: EndedEvent['status'];
  stepsDone: number;
  backend: BackendInfo;
  stepsPerSec: number;
}

/** How often a paused run checks for resume. */
const PAUSE_POLL_MS = 200;

/** Time spent training, pauses left out: `take` gives the seconds since it was last called. */
class TrainingClock {
  private runningSince: number | null = performance.now();
  private banked = 0;

  pause(): void {
    if (this.runningSince === null) return;
    this.banked += performance.now() - this.runningSince;
    this.runningSince = null;
  }

  resume(): void {
    this.runningSince ??= performance.now();
  }

  take(): number {
    const now = performance.now();
    const ms = this.banked + (this.runningSince === null ? 0 : now - this.runningSince);
    this.banked = 0;
    if (this.runningSince !== null) this.runningSince = now;
    return ms / 1000;
  }
}

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
function restoreLatest(agent: OfflineAgent, checkpoints: TrainJob['checkpoints'], warn: (message: string) => void): number {
  for (const ckpt of checkpoints) {
    try {
      agent.setState(readCheckpoint(ckpt.path, ckpt.sha256));
      return ckpt.step;
    } catch (err) {
      warn(`skipping checkpoint at step ${ckpt.step}: ${(err as Error).message}`);
    }
  }
  return 0;
}

/** The data a job trains on: made by the task, or read from its imported file. */
async function loadJobData(job: TrainJob, task: TaskSpec): Promise<TaskData> {
  try {
    if (task.dataset.kind === 'generated') return loadTaskData(task);
    if (job.datasetFile === null) throw new Error(`run ${job.runId} of task ${task.id} has no dataset to train on`);
    return await loadImportedData(task, job.datasetFile);
  } catch (err) {
    throw badInput((err as Error).message);
  }
}

/**
 * Trains one attempt of a run to its end (or a stop request, or divergence), in this process:
 * restores the newest checkpoint that verifies, sends metrics about once a second, a checkpoint
 * every `checkpointInterval` steps and at the end, and an honest end. Everything it has to say
 * goes to `sink`; it never touches the store.
 */
export async function trainJob(job: TrainJob, sink: RunEventSink, hooks: TrainHooks = {}): Promise<TrainOutcome> {
  const { runId, token, config } = job;
  let task: TaskSpec;
  let data: TaskData;
  let backend: BackendInfo;
  try {
    task = requireTask(job.task);
    data = await loadJobData(job, task);
    backend = await initBackend();
  } catch (err) {
    // The run was claimed for this attempt: it ends, as it was, with the reason.
    await sink.end({ type: 'ended', runId, token, stepsDone: job.stepsDone, rows: [], trainSeconds: 0, status: 'failed', error: messageOf(err), finalMetrics: {}, bestScore: null, finalScore: null });
    throw err;
  }
  const agent = createAgent(job.algo, data.problem, config, job.seed);
  const sampler = new ReplaySampler(data.transitions, Math.min(config.batchSize, 65536));
  const total = config.pretrainSteps + config.trainSteps;
  const flushMs = (hooks.flushSeconds ?? 1) * 1000;
  const warnings: string[] = [];
  let pending: MetricRow[] = [];
  let lastEval: Record<string, number> = {};
  let bestScore: number | null = job.bestScore;
  let stepsPerSec = 0;
  let stepper: Stepper | null = null;
  const liveHeap = watchLiveHeap();

  const stepOf = () => agent.pretrainStepsDone + agent.trainStepsDone;
  const clock = new TrainingClock();
  /** The metric rows waiting and the seconds trained since the last event, taken for the next one: they land with it. */
  const logged = () => {
    const rows = pending;
    pending = [];
    return { stepsDone: stepOf(), rows, trainSeconds: clock.take() };
  };
  let lastCheckpointStep: number | null = null;
  const saveCheckpoint = async () => {
    const step = stepOf();
    const buffer = encodeCheckpoint(agent.getState());
    const digest = sha256(buffer);
    writeRunCheckpoint(job.home, runId, step, buffer);
    // A checkpoint lands only with every metric before it: resume replays from it, so none may be missing.
    sink.send({ type: 'checkpoint', runId, token, ...logged(), step, sha256: digest, bytes: buffer.length });
    await sink.flushed();
    lastCheckpointStep = step;
    hooks.onCheckpoint?.({ step, sha256: digest });
  };
  const end = async (outcome: Omit<EndedEvent, 'type' | 'runId' | 'token' | 'stepsDone' | 'rows' | 'trainSeconds' | 'finalMetrics' | 'bestScore' | 'finalScore'> & Partial<Pick<EndedEvent, 'finalMetrics' | 'bestScore' | 'finalScore'>>): Promise<TrainOutcome> => {
    await sink.end({ type: 'ended', runId, token, ...logged(), finalMetrics: {}, bestScore: null, finalScore: null, ...outcome });
    return { status: outcome.status, stepsDone: stepOf(), backend, stepsPerSec };
  };

  try {
    let step = restoreLatest(agent, job.checkpoints, (m) => warnings.push(m));
    if (step > 0) lastCheckpointStep = step;
    // Marks where a resumed run picked up, for the curves.
    if (step > 0) pending.push({ name: 'event/resume', step, wallTime: Date.now() / 1000, value: step });
    sink.send({
      type: 'started',
      runId,
      token,
      worker: job.worker,
      host: os.hostname(),
      pid: process.pid,
      backend: backend.name,
      backendReason: backend.reason,
      versions: { app: APP_VERSION, tfjs: tf.version.tfjs, node: process.versions.node, backend: backend.label },
    });
    const startedAt = Date.now();
    const startStep = step;
    let lastFlush = Date.now();
    let windowStart = { time: performance.now(), step };

    stepper = await startStepper(agent, sampler, backend);
    while (stepOf() < total) {
      let command = hooks.control?.() ?? null;
      if (command === 'pause') {
        sink.send({ type: 'status', runId, token, ...logged(), status: 'paused' });
        clock.pause();
        while (command === 'pause') {
          await new Promise((resolve) => setTimeout(resolve, PAUSE_POLL_MS));
          command = hooks.control?.() ?? null;
        }
        clock.resume();
        sink.send({ type: 'status', runId, token, ...logged(), status: 'running' });
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
      if (blownUp) return await end({ status: 'diverged', error: `the ${blownUp} loss became ${metrics[blownUp]} at step ${step}; the last good checkpoint is kept` });
      const now = Date.now();
      if (step % config.logInterval === 0 || step === total) {
        for (const [n, value] of Object.entries(metrics)) pending.push({ name: n, step, wallTime: now / 1000, value });
      }
      if (!pretraining && (agent.trainStepsDone % config.evalInterval === 0 || step === total)) {
        const evaluation = await evaluate(agent, task, data, config, job.seed, step);
        lastEval = evaluation.outcome;
        if (lastEval.normalizedScore !== undefined) bestScore = Math.max(bestScore ?? Number.NEGATIVE_INFINITY, lastEval.normalizedScore);
        for (const [name, value] of Object.entries(lastEval)) pending.push({ name: `eval/${name}`, step, wallTime: now / 1000, value });
        // The actions land with their evaluation's rows: a plot of them always has its numbers.
        if (evaluation.actions) sink.send({ type: 'samples', runId, token, ...logged(), step, actions: encodeSamples(evaluation.actions) });
      }
      if (stopNow) {
        await saveCheckpoint();
        return await end({ status: 'stopped', error: null });
      }
      if (step % config.checkpointInterval === 0 && step < total) await saveCheckpoint();
      // The first step of an attempt is reported at once: a view of the run shows it training.
      if (now - lastFlush >= flushMs || step === total || step === startStep + 1) {
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
        sink.send({ type: 'metrics', runId, token, ...logged() });
        lastFlush = now;
        const progress: Progress = { runId, step, total, phase: pretraining ? 'pretrain' : 'train', stepsPerSec, etaSec: stepsPerSec > 0 ? (total - step) / stepsPerSec : null, metrics };
        sink.send({ type: 'progress', runId, token, progress });
        hooks.onProgress?.(progress);
      }
    }
    await saveCheckpoint();
    const elapsed = (Date.now() - startedAt) / 1000;
    const outcome = await end({
      status: 'completed',
      error: warnings.length ? warnings.join('; ') : null,
      finalMetrics: { ...lastEval },
      bestScore,
      // Tasks without a simulator here (and the bandits) have no normalised score; they report their own outcome.
      finalScore: lastEval.normalizedScore ?? null,
    });
    return { ...outcome, stepsPerSec: elapsed > 0 ? (step - startStep) / elapsed : 0 };
  } catch (err) {
    const problem = storageProblem(err);
    const kept = lastCheckpointStep === null ? 'no checkpoint was written yet' : `the checkpoint at step ${lastCheckpointStep} is kept; resume continues from it`;
    const message = problem ? `${problem.message} at step ${stepOf()}; ${kept}` : messageOf(err);
    try {
      await sink.end({ type: 'ended', runId, token, ...logged(), status: 'failed', error: message, finalMetrics: {}, bestScore: null, finalScore: null });
    } catch {
      // Not even the end could be recorded: whoever owns the run records it from this message.
      throw new Error(message);
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
