/**
 * A worker thread that owns the critic's training (CriticLearner): the IQL updates need only the
 * minibatch, so they run here while the main thread trains the diffusion model and the policy.
 * Messages arrive and are answered in order.
 */
import { parentPort } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { CriticLearner, type CriticMetric, type ProblemSpec } from '../core/algos/dtql';
import type { TrainConfig } from '../core/config';
import { batchToTensors, disposeBatch, type BatchArrays } from '../core/data/replay';
import type { NamedArray } from '../core/nets/params';
import { Rng } from '../core/rng';
import type { AdamState } from '../core/tf/adam';
import { initBackend, type BackendName } from '../core/tf/backend';

export interface CriticState {
  critic: Record<string, NamedArray>;
  target: Record<string, NamedArray>;
  optimizer: AdamState;
}

export type WorkerRequest =
  | { type: 'init'; backend: BackendName; problem: ProblemSpec; config: TrainConfig; state: CriticState }
  | { type: 'step'; batch: BatchArrays; lr: number; updateTarget: boolean }
  | { type: 'state' };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'stepped'; metrics: Record<CriticMetric, number>; qParams: Record<string, NamedArray> }
  | { type: 'state'; state: CriticState }
  | { type: 'error'; message: string };

/** The Q1/Q2 parameters: all the main thread needs for the policy's Q term. */
export const isQParam = (name: string): boolean => name.startsWith('q1_model.') || name.startsWith('q2_model.');

let learner: CriticLearner | null = null;
let problem: ProblemSpec | null = null;

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
  learner.optimizer.lr = message.lr;
  const batch = batchToTensors(message.batch, problem.stateDim, problem.actionDim);
  const scalars = learner.step(batch);
  disposeBatch(batch);
  if (message.updateTarget) learner.softUpdateTarget();
  const metrics = {} as Record<CriticMetric, number>;
  for (const [name, scalar] of Object.entries(scalars) as [CriticMetric, tf.Scalar][]) {
    metrics[name] = scalar.dataSync()[0] as number;
    scalar.dispose();
  }
  const qParams: Record<string, NamedArray> = {};
  for (const [name, variable] of learner.critic.params.byName) {
    if (isQParam(name)) qParams[name] = { shape: [...variable.shape], data: (variable.dataSync() as Float32Array).slice() };
  }
  return { type: 'stepped', metrics, qParams };
}

parentPort?.on('message', (message: WorkerRequest) => {
  handle(message).then(
    (reply) => {
      const transfer = reply.type === 'stepped' ? Object.values(reply.qParams).map((p) => p.data.buffer as ArrayBuffer) : [];
      parentPort?.postMessage(reply, transfer);
    },
    (err: unknown) => parentPort?.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
