import { describe, expect, it } from 'vitest';
import { PENDULUM_STEPS, PendulumEnv, pendulumDataset, pendulumExpert, pendulumReferenceReturns } from '../../src/core/envs/pendulum';
import { Rng } from '../../src/core/rng';
import { PENDULUM_REFERENCE, requireTask } from '../../src/core/tasks';
import { loadTaskData } from '../../src/core/data/task-data';

describe('built-in pendulum swing-up', () => {
  it('has the score references the catalog states: random 0, scripted expert 100', () => {
    const measured = pendulumReferenceReturns(1000, new Rng(0));
    expect(measured.random).toBeCloseTo(PENDULUM_REFERENCE.random, 1);
    expect(measured.expert).toBeCloseTo(PENDULUM_REFERENCE.expert, 1);
    expect(requireTask('pendulum-swingup').score).toEqual({ refMin: PENDULUM_REFERENCE.random, refMax: PENDULUM_REFERENCE.expert });
  });

  it("follows gym's Pendulum-v1: (cos, sin, speed), reward 0 upright at rest, 200-step episodes, torque clipped", () => {
    const env = new PendulumEnv();
    env.reset(new Rng(1));
    (env as unknown as { angle: number; speed: number }).angle = 0;
    (env as unknown as { angle: number; speed: number }).speed = 0;
    const still = env.step([0]);
    expect(still.reward).toBe(-0);
    expect(Array.from(still.observation)).toEqual([1, 0, 0]);
    const pushed = env.step([5]);
    // Clipped to 1, i.e. torque 2: the cost term 0.001 * 2^2 = 0.004, and the speed gains 3 * 2 * 0.05.
    expect(pushed.reward).toBeCloseTo(-0.004, 12);
    expect(pushed.observation[2]).toBeCloseTo(0.3, 6);
    let last = pushed;
    for (let t = 2; t < PENDULUM_STEPS; t++) last = env.step([0]);
    expect(last).toMatchObject({ truncated: true, terminated: false });
  });

  it('the scripted expert swings up and holds the top from any start', () => {
    const env = new PendulumEnv();
    const rng = new Rng(2);
    for (let e = 0; e < 20; e++) {
      let obs = env.reset(rng);
      for (let t = 0; t < PENDULUM_STEPS; t++) obs = env.step([pendulumExpert(obs)]).observation;
      expect(obs[0]).toBeGreaterThan(0.99); // upright at the end
    }
  });

  it('generates the same 100,000-transition mixture for every run of the task', () => {
    const a = loadTaskData(requireTask('pendulum-swingup'));
    const b = pendulumDataset(100_000, new Rng(0));
    expect(a.transitions.size).toBe(100_000);
    expect(a.transitions.actions).toEqual(b.actions);
    expect(a.problem).toEqual({ stateDim: 3, actionDim: 1, maxAction: 1, clipDenoised: true });
    expect(Math.max(...a.transitions.actions.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(a.transitions.notDone.every((v) => v === 1)).toBe(true);
  });
});
