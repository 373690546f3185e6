import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { criticUpdateAt, type BaseNoise, type Batch, type CriticHolder, type CriticMetric, type CriticUpdate, type OfflineAgent, type QTerm, type StepCounts, type StepLosses, type ValueWork } from '../../core/algos/common';
import { batchToTensors, disposeBatch, type BatchArrays, type ReplaySampler } from '../../core/data/replay';
import type { BackendName } from '../../core/tf/backend';
import type { CriticState, ValueMessage, WorkerReply, WorkerRequest } from './critic-worker';
import { engineEntry } from '../entries';
import { qTermWithPolicy, stepFlops, valueBackwardWithPolicy } from '../../core/algos/step-flops';
import { nativeMlpActive } from '../../core/tf/native-mlp';

/** Runs training steps of an agent; values come back as plain numbers, read once per step. */
export interface Stepper {
  /**
   * The agent's next step. With `syncCritic`, the agent's critic, target and optimizer hold their
   * state after this step when it returns (for a checkpoint or an evaluation).
   */
  step(syncCritic: boolean): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/** A step's losses as numbers: the tensors among them read back together, once. */
function readLosses(losses: StepLosses): Record<string, number> {
  const names = Object.keys(losses);
  const tensors = names.filter((n) => typeof losses[n] !== 'number');
  const stacked = tensors.length ? tf.tidy(() => tf.stack(tensors.map((n) => losses[n] as tf.Scalar))) : null;
  const read = stacked?.dataSync() ?? new Float32Array(0);
  tf.dispose([...(stacked ? [stacked] : []), ...tensors.map((n) => losses[n] as tf.Scalar)]);
  return Object.fromEntries(names.map((n) => [n, typeof losses[n] === 'number' ? losses[n] : (read[tensors.indexOf(n)] as number)]));
}

/** Every step on this thread, the critic included. */
export class SequentialStepper<N extends BaseNoise> implements Stepper {
  constructor(
    private readonly agent: OfflineAgent<N>,
    private readonly sampler: ReplaySampler,
  ) {}

  async step(): Promise<Record<string, number>> {
    // Nothing here waits on I/O, so without this a run would never hear Ctrl-C or a stop/pause message.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const batch = this.sampler.sample(this.agent.dataRng);
    try {
      return readLosses(await this.agent.step(batch));
    } finally {
      disposeBatch(batch);
    }
  }

  async close(): Promise<void> {}
}

/** A step's minibatch, with its critic update already sent to the worker (null when it has none) and, when V's part runs here, that work to come. */
interface SentStep {
  arrays: BatchArrays;
  reply: Promise<WorkerReply> | null;
  valueWork: Promise<ValueWork> | null;
}

/** Which parts of a step run on this thread rather than on the critic's. */
export interface WorkPlacement {
  /** The policy's Q term (joint training). */
  qTerm: boolean;
  /** V's backward pass and Adam step (pretraining updates; where the networks run natively). */
  valueBackward: boolean;
}

/**
 * The critic on a worker thread (critic-worker.ts), answering the agent's step in its order. Once a
 * step has asked for all it needs (the update, and in joint training the Q term), this draws the
 * next step's minibatch and sends its update too: the worker trains critic t+1 while this thread
 * trains behaviour cloning and the policy of step t. Minibatches come from their own random stream
 * and the loss noise is drawn on this thread in the same order, so every kernel sees the same
 * inputs as on one thread: the results equal the sequential stepper's bit for bit.
 *
 * The Q term runs on the worker, or (`placement.qTerm`, where the critic outweighs the policy's side)
 * here: the worker then sends Q1's and Q2's weights after each joint update, and this thread's copy
 * of the critic computes the term with the same kernels, so the same bits.
 *
 * In pretraining V's backward pass and Adam step may run here too (`placement.valueBackward`, where
 * the critic outweighs behaviour cloning): the worker sends V's forward workspace and output
 * gradient mid-update, this thread's copy of the critic (whose V weights and moments are then the
 * current ones) takes V's step with the same kernels and sends V's weights back before the worker
 * reads V again; with the last such update, before joint training, V's moments go back too. So a
 * prefix of the critic's updates splits, and this thread's optimizer state stays in step with the
 * worker's until then.
 */
class WorkerCritic<N extends BaseNoise> implements CriticHolder {
  private readonly worker: Worker;
  private readonly replies: ((reply: WorkerReply) => void)[] = [];
  /** Waiting for V's work of the updates sent with `valueHere`, in order. */
  private readonly valueWorks: { resolve: (work: ValueWork) => void; reject: (err: Error) => void }[] = [];
  private failure: Error | null = null;
  /** V's steps taken on this thread (for tests and diagnostics). */
  valueStepsHere = 0;
  /** The step being trained; `drawAhead` false on a step whose state must be exact when it ends (a checkpoint's). */
  private current: SentStep | null = null;
  private drawAhead = false;
  /** The next step, drawn and sent ahead. */
  private ahead: SentStep | null = null;

  constructor(
    private readonly agent: OfflineAgent<N>,
    private readonly sampler: ReplaySampler,
    private readonly placement: WorkPlacement,
  ) {
    this.worker = new Worker(engineEntry('critic-worker'));
    this.worker.on('message', (reply: WorkerReply) => (reply.type === 'valueWork' ? this.valueWorks.shift()?.resolve(reply.work) : this.replies.shift()?.(reply)));
    this.worker.on('error', (err) => {
      this.failure = err;
      for (const waiting of this.replies.splice(0)) waiting({ type: 'error', message: err.message });
      for (const waiting of this.valueWorks.splice(0)) waiting.reject(new Error(`critic worker: ${err.message}`));
    });
  }

  request(message: WorkerRequest): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.replies.push((reply) => (reply.type === 'error' ? reject(new Error(`critic worker: ${reply.message}`)) : resolve(reply)));
      this.worker.postMessage(message);
    });
  }

  /** The reply of the type due; a failure is also kept off the unhandled-rejection path until the step awaits it. */
  expect<T extends WorkerReply['type']>(reply: Promise<WorkerReply>, type: T): Promise<Extract<WorkerReply, { type: T }>> {
    const answer = reply.then((value) => {
      if (value.type !== type) throw new Error(`critic worker answered ${value.type} where ${type} was due`);
      return value as Extract<WorkerReply, { type: T }>;
    });
    answer.catch(() => undefined);
    return answer;
  }

  /** Starts a step: the minibatch drawn ahead, or a new one. */
  begin(drawAhead: boolean): BatchArrays {
    this.current = this.ahead ?? { arrays: this.sampler.sampleArrays(this.agent.dataRng), reply: null, valueWork: null };
    this.ahead = null;
    this.drawAhead = drawAhead;
    return this.current.arrays;
  }

  /** Whether V's part of this update runs here. */
  private valueHere(update: CriticUpdate | null): boolean {
    return update !== null && this.placement.valueBackward && !update.joint;
  }

  /**
   * Whether the V part of the update after `done` steps runs here: then V's moments stay on this
   * thread, where they are current (such updates are a prefix of the run's, so the one before ran here too).
   */
  private valueHereAfter(done: StepCounts): boolean {
    return this.valueHere(criticUpdateAt(this.agent.config, done));
  }

  /** Sends a critic update to the worker. */
  private send(arrays: BatchArrays, update: CriticUpdate): Pick<SentStep, 'reply' | 'valueWork'> {
    const valueHere = this.valueHere(update);
    const reply = this.request({ type: 'step', batch: arrays, lr: update.lr, updateTarget: update.joint, sendQ: this.placement.qTerm && update.joint, valueHere });
    const valueWork = valueHere ? new Promise<ValueWork>((resolve, reject) => this.valueWorks.push({ resolve, reject })) : null;
    valueWork?.catch(() => undefined);
    return { reply, valueWork };
  }

  update(batch: Batch, update: CriticUpdate): Promise<Record<CriticMetric, number>> {
    const step = this.current as SentStep;
    if (!step.reply) Object.assign(step, this.send(step.arrays, update));
    // A pretraining step asks for no Q term: its requests are all in.
    if (!update.joint) this.sendAhead();
    const metrics = this.expect(step.reply as Promise<WorkerReply>, 'stepped').then((r) => r.metrics);
    if (!step.valueWork) return metrics;
    // A V part runs in pretraining only, so the next update is that of the next pretraining step or the first joint one.
    const { agent } = this;
    const keepValue = this.valueHereAfter({ pretrain: agent.pretrainStepsDone + 1, train: agent.trainStepsDone });
    const valueDone = step.valueWork.then((work) => this.valueStep(batch, update, work, keepValue));
    return Promise.all([metrics, valueDone]).then(([m]) => m);
  }

  /** V's part of this step's update, here; then V's weights to the worker, and its moments unless the next update's V part runs here too (`keepValue`). */
  private valueStep(batch: Batch, update: CriticUpdate, work: ValueWork, keepValue: boolean): void {
    const learner = this.agent.criticLearner;
    learner.valueStep(batch.states, update.lr, work);
    this.valueStepsHere += 1;
    const message: ValueMessage = { type: 'value', params: learner.critic.valueSnapshot(), ...(keepValue ? {} : { optimizer: learner.optimizer.getState() }) };
    const moments = message.optimizer ? [...message.optimizer.m, ...message.optimizer.v] : [];
    this.worker.postMessage(message, [...Object.values(message.params), ...moments].map((p) => p.data.buffer as ArrayBuffer));
  }

  qTerm(batch: Batch, actions: Float32Array): Promise<QTerm> {
    if (this.placement.qTerm) {
      const updated = this.expect((this.current as SentStep).reply as Promise<WorkerReply>, 'stepped');
      this.sendAhead();
      return updated.then(({ q }) => {
        if (!q) throw new Error('critic worker: the update came back without the Q weights');
        const learner = this.agent.criticLearner;
        learner.critic.params.assignSome(q);
        return learner.qTerm(batch, actions);
      });
    }
    const reply = this.request({ type: 'qterm', actions });
    this.sendAhead();
    return this.expect(reply, 'qterm').then((r) => r.term);
  }

  /** Draws the next step's minibatch and sends its critic update, if this step may draw ahead and another follows. */
  private sendAhead(): void {
    const { agent } = this;
    const { config } = agent;
    if (!this.drawAhead) return;
    const pretraining = agent.pretrainStepsDone < config.pretrainSteps;
    const next = { pretrain: agent.pretrainStepsDone + (pretraining ? 1 : 0), train: agent.trainStepsDone + (pretraining ? 0 : 1) };
    if (next.pretrain + next.train >= config.pretrainSteps + config.trainSteps) return;
    const arrays = this.sampler.sampleArrays(agent.dataRng);
    const update = criticUpdateAt(config, next);
    this.ahead = { arrays, ...(update ? this.send(arrays, update) : { reply: null, valueWork: null }) };
  }

  /** Copies the worker's critic, target and optimizer into the agent: V's moments but where they are this thread's. */
  async syncInto(): Promise<void> {
    const { state } = await this.expect(this.request({ type: 'state' }), 'state');
    const learner = this.agent.criticLearner;
    learner.critic.params.assign(state.critic);
    learner.target.params.assign(state.target);
    learner.optimizer.setState(state.optimizer, this.valueHereAfter(this.agent.counts) ? learner.qVariables : undefined);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The same steps on two threads: the critic on a worker (WorkerCritic), the rest here. */
export class PipelinedStepper<N extends BaseNoise> implements Stepper {
  private constructor(
    private readonly agent: OfflineAgent<N>,
    private readonly critic: WorkerCritic<N>,
  ) {}

  /**
   * `placement` says which parts run on this thread; by default those whose FLOPs even out the two
   * threads best (qTermWithPolicy, valueBackwardWithPolicy), V's backward pass where the networks
   * run natively (it comes here as the native kernel's workspace).
   */
  static async start<N extends BaseNoise>(agent: OfflineAgent<N>, sampler: ReplaySampler, backend: BackendName, placement: Partial<WorkPlacement> = {}): Promise<PipelinedStepper<N>> {
    const flops = stepFlops(agent.algo, agent.problem, agent.config);
    const critic = new WorkerCritic(agent, sampler, { qTerm: placement.qTerm ?? qTermWithPolicy(flops), valueBackward: placement.valueBackward ?? (valueBackwardWithPolicy(flops) && nativeMlpActive()) });
    const learner = agent.criticLearner;
    const state: CriticState = { critic: learner.critic.params.snapshot(), target: learner.target.params.snapshot(), optimizer: learner.optimizer.getState() };
    await critic.expect(critic.request({ type: 'init', backend, problem: agent.problem, config: agent.config, state }), 'ready');
    return new PipelinedStepper(agent, critic);
  }

  async step(syncCritic: boolean): Promise<Record<string, number>> {
    const { problem } = this.agent;
    // On a sync step the next minibatch is not drawn ahead: the state (random streams included)
    // must be exactly that after this step, as a checkpoint records it.
    const batch = batchToTensors(this.critic.begin(!syncCritic), problem.stateDim, problem.actionDim);
    try {
      const losses = readLosses(await this.agent.step(batch, this.critic));
      if (syncCritic) await this.critic.syncInto();
      return losses;
    } finally {
      disposeBatch(batch);
    }
  }

  /** V's steps taken on this thread so far. */
  get valueStepsHere(): number {
    return this.critic.valueStepsHere;
  }

  async close(): Promise<void> {
    await this.critic.close();
  }
}
