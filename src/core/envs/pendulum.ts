import type { Rng } from '../rng';
import type { Transitions } from '../data/replay';
import type { Env, StepResult } from './env';

/**
 * A built-in task that needs no download: gym's Pendulum-v1 swing-up (dt 0.05, g 10, unit mass and
 * length, torque up to 2, speed clipped to 8, reward -(angle^2 + 0.1 speed^2 + 0.001 torque^2),
 * 200 steps) with actions in [-1, 1] scaled to the torque. Observation (cos, sin, angular speed).
 */

const DT = 0.05;
const GRAVITY = 10;
const MAX_SPEED = 8;
const MAX_TORQUE = 2;
export const PENDULUM_STEPS = 200;

/** The angle in [-pi, pi), 0 upright. */
const wrap = (x: number) => ((((x + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;

export class PendulumEnv implements Env {
  readonly observationSize = 3;
  readonly actionSize = 1;
  private angle = 0;
  private speed = 0;
  private steps = 0;

  observation(): Float32Array {
    return Float32Array.of(Math.cos(this.angle), Math.sin(this.angle), this.speed);
  }

  reset(rng: Rng): Float32Array {
    this.angle = Math.PI * (2 * rng.uniform() - 1);
    this.speed = 2 * rng.uniform() - 1;
    this.steps = 0;
    return this.observation();
  }

  step(action: ArrayLike<number>): StepResult {
    const torque = Math.max(-1, Math.min(1, action[0] as number)) * MAX_TORQUE;
    const reward = -(wrap(this.angle) ** 2 + 0.1 * this.speed ** 2 + 0.001 * torque ** 2);
    // theta'' = 3g/(2l) sin(theta) + 3/(m l^2) u, semi-implicit Euler as gym integrates it.
    this.speed = Math.max(-MAX_SPEED, Math.min(MAX_SPEED, this.speed + ((3 * GRAVITY) / 2 * Math.sin(this.angle) + 3 * torque) * DT));
    this.angle += this.speed * DT;
    this.steps += 1;
    return { observation: this.observation(), reward, terminated: false, truncated: this.steps >= PENDULUM_STEPS };
  }

  dispose(): void {}
}

/**
 * The scripted expert: pump energy (0.5 speed^2 + 15 cos(angle), 15 upright) towards the upright
 * level, then hold the top with a PD controller once within about 25 degrees of it.
 */
export function pendulumExpert(observation: ArrayLike<number>): number {
  const angle = Math.atan2(observation[1] as number, observation[0] as number);
  const speed = observation[2] as number;
  if (Math.cos(angle) > 0.9) return Math.max(-1, Math.min(1, -(10 * angle + 2 * speed) / MAX_TORQUE));
  const energy = 0.5 * speed * speed + 15 * Math.cos(angle);
  return (energy < 15 ? 1 : -0.5) * (speed >= 0 ? 1 : -1);
}

/**
 * The built-in dataset: `size` transitions from whole episodes, each episode either the scripted
 * expert with Gaussian action noise (std 0.3) or uniform random actions, half and half. The time
 * limit is not a terminal, so every transition has not_done = 1.
 */
export function pendulumDataset(size: number, rng: Rng): Transitions {
  const env = new PendulumEnv();
  const out: Transitions = {
    size,
    stateDim: 3,
    actionDim: 1,
    states: new Float32Array(size * 3),
    nextStates: new Float32Array(size * 3),
    actions: new Float32Array(size),
    rewards: new Float32Array(size),
    notDone: new Float32Array(size).fill(1),
  };
  let observation = env.reset(rng);
  let expert = rng.uniform() < 0.5;
  for (let i = 0; i < size; i++) {
    const a = expert ? Math.max(-1, Math.min(1, pendulumExpert(observation) + 0.3 * rng.normal())) : 2 * rng.uniform() - 1;
    const result = env.step([a]);
    out.states.set(observation, i * 3);
    out.nextStates.set(result.observation, i * 3);
    out.actions[i] = a;
    out.rewards[i] = result.reward;
    observation = result.observation;
    if (result.truncated) {
      observation = env.reset(rng);
      expert = rng.uniform() < 0.5;
    }
  }
  return out;
}

/** Mean returns of uniform random actions and of the scripted expert: the 0 and 100 of the score. */
export function pendulumReferenceReturns(episodes: number, rng: Rng): { random: number; expert: number } {
  const env = new PendulumEnv();
  const meanReturn = (policy: (observation: Float32Array) => number) => {
    let total = 0;
    for (let e = 0; e < episodes; e++) {
      let observation = env.reset(rng);
      for (let t = 0; t < PENDULUM_STEPS; t++) {
        const result = env.step([policy(observation)]);
        total += result.reward;
        observation = result.observation;
      }
    }
    return total / episodes;
  };
  return { random: meanReturn(() => 2 * rng.uniform() - 1), expert: meanReturn(pendulumExpert) };
}
