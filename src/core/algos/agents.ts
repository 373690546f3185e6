import type { Algo, TrainConfig } from '../../common/config';
import type { BaseNoise, OfflineAgent, ProblemSpec } from './common';
import { DtqlAgent } from './dtql';
import { KlAgent } from './dql-kl';

/** The agent of a run's algorithm. */
export function createAgent(algo: Algo, problem: ProblemSpec, config: TrainConfig, seed: number): OfflineAgent<BaseNoise> {
  return algo === 'kl' ? new KlAgent(problem, config, seed) : new DtqlAgent(problem, config, seed);
}
