/**
 * A worker thread that owns the critic (CriticLearner): the IQL updates need only the minibatch,
 * so they run here while the main thread trains the diffusion model and the policy; it also
 * answers the policy's Q term (value and action gradient of -min Q at a_theta) with the critic
 * it just updated. Requests are answered in order.
 *
 * In pretraining V's backward pass and Adam step may run on the main thread instead (`valueHere`):
 * the update sends V's work there (a 'valueWork' message, before its reply) as soon as it is known,
 * and the main thread answers with V's new weights (a 'value' message, outside the order of the
 * requests, since the next update was sent before them); the next request that reads V waits for
 * them. With the last such update the main thread hands V's optimizer moments back as well.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { CriticLearner, criticActionTerm, type CriticMetric, type ProblemSpec, type QTerm, type ValueWork } from '../../core/algos/dtql';
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
  /**
   * A critic update; with `sendQ` the reply carries Q1's and Q2's new weights, for a Q term computed
   * on the main thread; with `valueHere`, V's part of it goes to the main thread (a pretraining update).
   */
  | { type: 'step'; batch: BatchArrays; lr: number; updateTarget: boolean; sendQ: boolean; valueHere: boolean }
  | { type: 'qterm'; actions: Float32Array }
  | { type: 'state' };

/** V's weights after an update whose V part ran on the main thread; with the last such update, the optimizer's state, whose V moments come back here. */
export interface ValueMessage {
  type: 'value';
  params: Record<string, NamedArray>;
  optimizer?: AdamState;
}

export type WorkerReply =
  | { type: 'ready' }
  /** Not a reply: V's part of a `valueHere` update, sent before that update's reply. */
  | { type: 'valueWork'; work: ValueWork }
  | { type: 'stepped'; metrics: Record<CriticMetric, number>; q?: Record<string, NamedArray> }
  | { type: 'qterm'; term: QTerm }
  | { type: 'state'; state: CriticState }
  | { type: 'error'; message: string };

let learner: CriticLearner | null = null;
let problem: ProblemSpec | null = null;
/** States of the latest minibatch: the Q term is asked for at those states. */
let lastStates: tf.Tensor2D | null = null;
/** After an update whose V part ran on the main thread, V here is stale until its 'value' message comes. */
let valueStale = false;
let valueArrived: ValueMessage | null = null;
let valueWaiter: ((message: ValueMessage) => void) | null = null;

function receiveValue(message: ValueMessage): void {
  if (valueWaiter) valueWaiter(message);
  else valueArrived = message;
}

/** Brings V up to date from the main thread, waiting for its weights if they have not come yet. */
async function freshValue(critic: CriticLearner): Promise<void> {
  if (!valueStale) return;
  const message = valueArrived ?? (await new Promise<ValueMessage>((resolve) => (valueWaiter = resolve)));
  valueArrived = null;
  valueWaiter = null;
  critic.critic.params.assignSome(message.params);
  if (message.optimizer) critic.optimizer.setState(message.optimizer, critic.valueVariables);
  valueStale = false;
}

/** Sends V's part of the update to the main thread at once: it runs there while Q1 and Q2 finish here. */
function handOffValue(work: ValueWork): void {
  valueStale = true;
  parentPort?.postMessage({ type: 'valueWork', work } satisfies WorkerReply, [work.workspace.buffer as ArrayBuffer, work.outputGradient.buffer as ArrayBuffer]);
}

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
  // Every request but the Q term reads V (a 'state' request comes after V's weights were sent).
  if (message.type !== 'qterm') await freshValue(learner);
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
  const batch = batchToTensors(message.batch, problem.stateDim, problem.actionDim);
  const scalars = learner.update(batch, { lr: message.lr, joint: message.updateTarget }, message.valueHere ? handOffValue : undefined);
  lastStates?.dispose();
  lastStates = batch.states;
  tf.dispose([batch.actions, batch.rewards, batch.nextStates, batch.notDone]);
  const metrics = {} as Record<CriticMetric, number>;
  for (const [name, scalar] of Object.entries(scalars) as [CriticMetric, tf.Scalar][]) {
    metrics[name] = scalar.dataSync()[0] as number;
    scalar.dispose();
  }
  return message.sendQ ? { type: 'stepped', metrics, q: learner.critic.qSnapshot() } : { type: 'stepped', metrics };
}

/** The weights a reply carries move to the main thread instead of being copied. */
const transferables = (reply: WorkerReply): ArrayBuffer[] => (reply.type === 'stepped' && reply.q ? Object.values(reply.q).map((p) => p.data.buffer as ArrayBuffer) : []);

/** Requests run one after another: one may wait for V's weights, and those come outside the queue. */
let queue = Promise.resolve();
parentPort?.on('message', (message: WorkerRequest | ValueMessage) => {
  if (message.type === 'value') return receiveValue(message);
  queue = queue.then(() =>
    handle(message).then(
      (reply) => parentPort?.postMessage(reply, transferables(reply)),
      (err: unknown) => parentPort?.postMessage({ type: 'error', message: messageOf(err) } satisfies WorkerReply),
    ),
  );
});
