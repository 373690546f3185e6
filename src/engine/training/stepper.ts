import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { BaseNoise, OfflineAgent } from '../../core/algos/common';
import { batchToTensors, disposeBatch, type BatchArrays, type ReplaySampler } from '../../core/data/replay';
import { cosineLr } from '../../core/algos/common';
import type { BackendName } from '../../core/tf/backend';
import type { CriticState, WorkerReply, WorkerRequest } from './critic-worker';
import { engineEntry } from '../entries';

/** Runs training steps of an agent; values come back as plain numbers, read once per step. */
export interface Stepper {
  /**
   * One pretraining or joint step, whichever the agent's counters call for. With `syncCritic`,
   * the agent's critic, target and optimizer hold their state after this step when it returns
   * (for a checkpoint or an evaluation).
   */
  step(syncCritic: boolean): Promise<Record<string, number>>;
  close(): Promise<void>;
}

function readScalars(scalars: Record<string, tf.Scalar>): Record<string, number> {
  const names = Object.keys(scalars);
  const stacked = tf.tidy(() => tf.stack(names.map((n) => scalars[n] as tf.Scalar)));
  const values = stacked.dataSync();
  tf.dispose([stacked, ...Object.values(scalars)]);
  return Object.fromEntries(names.map((n, i) => [n, values[i] as number]));
}

/** The plain order of the notes: critic, BC, policy, target, all on this thread. */
export class SequentialStepper<N extends BaseNoise> implements Stepper {
  constructor(
    private readonly agent: OfflineAgent<N>,
    private readonly sampler: ReplaySampler,
  ) {}

  async step(): Promise<Record<string, number>> {
    // Nothing here waits on I/O, so without this a run would never hear Ctrl-C or a stop/pause message.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const { agent } = this;
    const batch = this.sampler.sample(agent.dataRng);
    const pretraining = agent.pretrainStepsDone < agent.config.pretrainSteps;
    const scalars = pretraining ? agent.pretrainStep(batch) : agent.trainStep(batch);
    disposeBatch(batch);
    return readScalars(scalars as Record<string, tf.Scalar>);
  }

  async close(): Promise<void> {}
}

/** A step's batch, with its critic step already sent to the worker (null when the step trains no critic). */
interface SubmittedStep {
  batch: BatchArrays;
  reply: Promise<WorkerReply> | null;
}

/**
 * The same steps on two cores. The critic's update needs only the minibatch, so a worker thread
 * owns the critic: it runs critic step t, then the policy's Q term at a_theta with that critic,
 * then critic step t+1 while this thread runs BC and the rest of the policy step t. Batches come
 * from their own random stream, the loss noise is drawn here in the same order, and every kernel
 * sees the same inputs: the results equal the sequential stepper's bit for bit.
 */
export class PipelinedStepper<N extends BaseNoise> implements Stepper {
  private readonly worker: Worker;
  private readonly replies: ((reply: WorkerReply) => void)[] = [];
  private failure: Error | null = null;
  /** The next step's batch and critic step, drawn and sent ahead. */
  private submitted: SubmittedStep | null = null;

  private constructor(
    private readonly agent: OfflineAgent<N>,
    private readonly sampler: ReplaySampler,
  ) {
    this.worker = new Worker(engineEntry('critic-worker'));
    this.worker.on('message', (reply: WorkerReply) => this.replies.shift()?.(reply));
    this.worker.on('error', (err) => {
      this.failure = err;
      for (const waiting of this.replies.splice(0)) waiting({ type: 'error', message: err.message });
    });
  }

  static async start<N extends BaseNoise>(agent: OfflineAgent<N>, sampler: ReplaySampler, backend: BackendName): Promise<PipelinedStepper<N>> {
    const stepper = new PipelinedStepper<N>(agent, sampler);
    const learner = agent.criticLearner;
    const state: CriticState = { critic: learner.critic.params.snapshot(), target: learner.target.params.snapshot(), optimizer: learner.optimizer.getState() };
    await stepper.request({ type: 'init', backend, problem: agent.problem, config: agent.config, state });
    return stepper;
  }

  private request(message: WorkerRequest): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.replies.push((reply) => (reply.type === 'error' ? reject(new Error(`critic worker: ${reply.message}`)) : resolve(reply)));
      this.worker.postMessage(message);
    });
  }

  private async expect<T extends WorkerReply['type']>(reply: Promise<WorkerReply>, type: T): Promise<Extract<WorkerReply, { type: T }>> {
    const value = await reply;
    if (value.type !== type) throw new Error(`critic worker answered ${value.type} where ${type} was due`);
    return value as Extract<WorkerReply, { type: T }>;
  }

  /** Draws the batch of the step that follows `done` steps and sends its critic step, if it has one. */
  private submit(done: { pretrain: number; train: number }): SubmittedStep {
    const { config } = this.agent;
    const batch = this.sampler.sampleArrays(this.agent.dataRng);
    const pretraining = done.pretrain < config.pretrainSteps;
    const lr = pretraining || !config.lrDecay ? config.criticLr : cosineLr(config.criticLr, done.train, config.trainSteps);
    const trainsCritic = !pretraining || config.pretrainCritic;
    return { batch, reply: trainsCritic ? this.request({ type: 'step', batch, lr, updateTarget: !pretraining }) : null };
  }

  async step(syncCritic: boolean): Promise<Record<string, number>> {
    const { agent } = this;
    const { config, problem } = agent;
    const total = config.pretrainSteps + config.trainSteps;
    const current = this.submitted ?? this.submit({ pretrain: agent.pretrainStepsDone, train: agent.trainStepsDone });
    this.submitted = null;
    const batch = batchToTensors(current.batch, problem.stateDim, problem.actionDim);
    const pretraining = agent.pretrainStepsDone < config.pretrainSteps;
    try {
      if (!pretraining) agent.beginTrainStep();
      const noise = agent.drawNoise(current.batch.size);
      // Queued behind critic step t: the Q term at a_theta, then the state, then critic step t+1.
      const qTerm = pretraining ? null : this.request({ type: 'qterm', actions: agent.policyActions(batch.states, noise) });
      const state = syncCritic ? this.request({ type: 'state' }) : null;
      const after = { pretrain: agent.pretrainStepsDone + (pretraining ? 1 : 0), train: agent.trainStepsDone + (pretraining ? 0 : 1) };
      // On a sync step the next batch is not drawn ahead: the state (random streams included)
      // must be exactly that after this step, as a checkpoint records it.
      if (!syncCritic && after.pretrain + after.train < total) this.submitted = this.submit(after);
      const bc = agent.bcStep(batch, noise.sigmaBc, noise.epsBc);
      const critic = current.reply ? (await this.expect(current.reply, 'stepped')).metrics : {};
      let scalars: Record<string, tf.Scalar> = { bc };
      if (qTerm) scalars = { ...scalars, ...agent.policyStep(batch, noise, (await this.expect(qTerm, 'qterm')).term) };
      if (pretraining) agent.pretrainStepsDone += 1;
      else agent.trainStepsDone += 1;
      const values = { ...critic, ...readScalars(scalars) };
      if (state) {
        const reply = await this.expect(state, 'state');
        const learner = agent.criticLearner;
        learner.critic.params.assign(reply.state.critic);
        learner.target.params.assign(reply.state.target);
        learner.optimizer.setState(reply.state.optimizer);
      }
      return values;
    } finally {
      disposeBatch(batch);
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
