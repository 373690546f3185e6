import { afterEach, describe, expect, it } from 'vitest';
import { LocomotionEnv, MAX_EPISODE_STEPS, type LocomotionFamily } from '../../src/core/envs/locomotion';
import { runEpisodes } from '../../src/core/envs/evaluate';
import { Rng } from '../../src/core/rng';

const open: LocomotionEnv[] = [];
async function env(family: LocomotionFamily): Promise<LocomotionEnv> {
  const e = await LocomotionEnv.create(family);
  open.push(e);
  return e;
}
afterEach(() => {
  for (const e of open.splice(0)) e.dispose();
});

function rollout(e: LocomotionEnv, action: (t: number) => Float32Array, seed = 0) {
  e.reset(new Rng(seed));
  let total = 0;
  for (let t = 0; ; t++) {
    const r = e.step(action(t));
    total += r.reward;
    if (r.terminated || r.truncated) return { steps: t + 1, total, last: r };
  }
}

describe('MuJoCo locomotion environments (gym v3, as the D4RL v2 data)', () => {
  it.each([
    ['hopper', 11, 3, 0.008, 15.26499871],
    ['walker2d', 17, 6, 0.008, 22.69800692],
    ['halfcheetah', 17, 6, 0.05, 14],
  ] as const)('%s: observation %i, action %i, dt %f, total mass %f kg', async (family, obs, act, dt, mass) => {
    const e = await env(family);
    expect([e.observationSize, e.actionSize]).toEqual([obs, act]);
    expect(e.dt).toBeCloseTo(dt, 12);
    expect(e.totalMass).toBeCloseTo(mass, 4);
    expect(e.reset(new Rng(1))).toHaveLength(obs);
  });

  it('starts hopper and walker standing at z = 1.25 with noise of at most 0.005', async () => {
    for (const family of ['hopper', 'walker2d'] as const) {
      const first = (await env(family)).reset(new Rng(3));
      expect(Math.abs((first[0] as number) - 1.25)).toBeLessThanOrEqual(0.005);
      expect(Math.max(...first.map(Math.abs).slice(1))).toBeLessThanOrEqual(0.005);
    }
  });

  it('hopper and walker fall without actions and the episode terminates; the cheetah lies still for the full 1000 steps', async () => {
    const zero = (n: number) => () => new Float32Array(n);
    const hopper = rollout(await env('hopper'), zero(3));
    expect(hopper.last.terminated).toBe(true);
    expect(hopper.steps).toBeGreaterThan(50);
    expect(hopper.steps).toBeLessThan(400);
    // Fell: the torso tilted past 0.2 rad or dropped below 0.7 m.
    expect(Math.abs(hopper.last.observation[1] as number) > 0.2 || (hopper.last.observation[0] as number) < 0.7).toBe(true);
    const walker = rollout(await env('walker2d'), zero(6));
    expect(walker.last.terminated).toBe(true);
    expect(walker.steps).toBeLessThan(400);
    const cheetah = rollout(await env('halfcheetah'), zero(6));
    expect(cheetah).toMatchObject({ steps: MAX_EPISODE_STEPS, last: { truncated: true, terminated: false } });
    expect(Math.abs(cheetah.total)).toBeLessThan(10);
  });

  it('pays forward velocity + healthy reward - control cost, with actions clipped to [-1, 1]', async () => {
    for (const [family, healthy, weight] of [
      ['hopper', 1, 1e-3],
      ['walker2d', 1, 1e-3],
      ['halfcheetah', 0, 0.1],
    ] as const) {
      const e = await env(family);
      e.reset(new Rng(5));
      const action = new Float32Array(e.actionSize).fill(0.5);
      action[0] = 3; // clipped to 1
      const before = e.reset(new Rng(5));
      const r = e.step(action);
      const squared = 1 + 0.25 * (e.actionSize - 1);
      expect(r.parts.ctrlCost).toBeCloseTo(weight * squared, 12);
      expect(r.parts.healthy).toBe(healthy);
      expect(r.reward).toBeCloseTo(r.parts.forward + healthy - weight * squared, 12);
      expect(before).toHaveLength(e.observationSize);
    }
  });

  it('is deterministic for a seed, and episodes run side by side give each its own return', async () => {
    const act = (n: number) => (obs: Float32Array, k: number) => new Float32Array(k * n).map((_, i) => Math.sin(i + (obs[0] as number)));
    const a = await runEpisodes(() => LocomotionEnv.create('hopper'), 3, act(3), new Rng(9));
    const b = await runEpisodes(() => LocomotionEnv.create('hopper'), 3, act(3), new Rng(9));
    expect(a).toEqual(b);
    expect(a.returns).toHaveLength(3);
    expect(a.lengths.every((n) => n > 0 && n <= MAX_EPISODE_STEPS)).toBe(true);
  });
});
