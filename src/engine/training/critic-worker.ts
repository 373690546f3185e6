/**
 * A worker thread that owns the critic (CriticLearner): the IQL updates need only the minibatch,
 * so they run here while the main thread trains the diffusion model and the policy; it also
 * answers the policy's Q term (value and action gradient of -min Q at a_theta) with the critic
 * it just updated. Messages arrive and are answered in order.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { CriticLearner, criticActionTerm, type CriticMetric, type ProblemSpec, type QTerm } from '../../core/algos/dtql';
import type { TrainConfig } from '../../common/config';
import { batchToTensors, type BatchArrays } from '../../core/data/replay';
import type { NamedArray } from '../../core/nets/params';
import { Rng } from '../../core/rng';
import type { AdamState } from '../../core/tf/adam';
import { initBackend, type BackendName } from '../../core/tf/backend';
import { messageOf } from '../../api/errors';

export interface CriticState {
  critic: Record<string, NamedArray>;
  target: Record<string, NamedArray>;
  optimizer: AdamState;
}

export type WorkerRequest =
  | { type: 'init'; backend: BackendName; problem: ProblemSpec; config: TrainConfig; state: CriticState }
  /** A critic update; with `sendQ` the reply carries Q1's and Q2's new weights, for a Q term computed on the main thread. */
  | { type: 'step'; batch: BatchArrays; lr: number; updateTarget: boolean; sendQ: boolean }
  | { type: 'qterm'; actions: Float32Array }
  | { type: 'state' };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'stepped'; metrics: Record<CriticMetric, number>; q?: Record<string, NamedArray> }
  | { type: 'qterm'; term: QTerm }
  | { type: 'state'; state: CriticState }
  | { type: 'error'; message: string };

let learner: CriticLearner | null = null;
let problem: ProblemSpec | null = null;
/** States of the latest minibatch: the Q term is asked for at those states. */
let lastStates: tf.Tensor2D | null = null;

async function handle(message: WorkerRequest): Promise<WorkerReply> {
  if (message.type === 'init') {
    await initBackend(message.backend);
    problem = message.problem;
    learner = new CriticLearner(message.problem, message.config, new Rng(0));
    learner.critic.params.assign(message.state.critic);
    learner.target.params.assign(message.state.target);
    learner.optimizer.setState(message.state.optimizer);
    return { type: 'ready' };
  }
  if (!learner || !problem) throw new Error('critic worker used before init');
  if (message.type === 'state') {
    return { type: 'state', state: { critic: learner.critic.params.snapshot(), target: learner.target.params.snapshot(), optimizer: learner.optimizer.getState() } };
  }
  if (message.type === 'qterm') {
    if (!lastStates) throw new Error('Q term asked for before any critic step');
    const actions = tf.tensor2d(message.actions, [message.actions.length / problem.actionDim, problem.actionDim]);
    const term = criticActionTerm(learner.critic, lastStates, actions);
    actions.dispose();
    return { type: 'qterm', term };
  }
  learner.optimizer.lr = message.lr;
  const batch = batchToTensors(message.batch, problem.stateDim, problem.actionDim);
  const scalars = learner.step(batch);
  lastStates?.dispose();
  lastStates = batch.states;
  tf.dispose([batch.actions, batch.rewards, batch.nextStates, batch.notDone]);
  if (message.updateTarget) learner.softUpdateTarget();
  const metrics = {} as Record<CriticMetric, number>;
  for (const [name, scalar] of Object.entries(scalars) as [CriticMetric, tf.Scalar][]) {
    metrics[name] = scalar.dataSync()[0] as number;
    scalar.dispose();
  }
  return message.sendQ ? { type: 'stepped', metrics, q: learner.critic.qSnapshot() } : { type: 'stepped', metrics };
}

/** The weights a reply carries move to the main thread instead of being copied. */
const transferables = (reply: WorkerReply): ArrayBuffer[] => (reply.type === 'stepped' && reply.q ? Object.values(reply.q).map((p) => p.data.buffer as ArrayBuffer) : []);

parentPort?.on('message', (message: WorkerRequest) => {
  handle(message).then(
    (reply) => parentPort?.postMessage(reply, transferables(reply)),
    (err: unknown) => parentPort?.postMessage({ type: 'error', message: messageOf(err) } satisfies WorkerReply),
  );
});
