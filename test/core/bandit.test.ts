import { describe, expect, it } from 'vitest';
import { banditDataset, banditRewards, gaussians25, swissRoll } from '../../src/core/data/bandit';
import { banditOutcome, GAUSSIAN_CENTRES } from '../../src/core/envs/bandit2d';
import { Rng } from '../../src/core/rng';

describe('bandit datasets', () => {
  it('25 Gaussians: 400 actions per mode of the 5 x 5 grid with std 0.3', () => {
    const a = gaussians25(new Rng(1), 10_000);
    const perMode = new Map<string, number[][]>();
    for (let i = 0; i < 10_000; i++) {
      const x = a[2 * i] as number;
      const y = a[2 * i + 1] as number;
      const key = `${Math.round(x / 5) * 5},${Math.round(y / 5) * 5}`;
      perMode.set(key, [...(perMode.get(key) ?? []), [x, y]]);
    }
    expect(perMode.size).toBe(25);
    for (const [key, points] of perMode) {
      const [cx] = key.split(',').map(Number) as [number, number];
      expect(points).toHaveLength(400);
      const sx = Math.sqrt(points.reduce((s, [x]) => s + ((x as number) - cx) ** 2, 0) / points.length);
      expect(sx).toBeGreaterThan(0.25);
      expect(sx).toBeLessThan(0.35);
    }
  });

  it('Swiss roll: (t cos t, t sin t) + noise 0.1 with t in [1.5 pi, 4.5 pi]', () => {
    const a = swissRoll(new Rng(2), 10_000);
    for (let i = 0; i < 10_000; i++) {
      const r = Math.hypot(a[2 * i] as number, a[2 * i + 1] as number);
      expect(r).toBeGreaterThan(1.5 * Math.PI - 0.5);
      expect(r).toBeLessThan(4.5 * Math.PI + 0.5);
    }
  });

  it('is generated deterministically: every run of a task sees the same data', () => {
    expect(banditDataset('swiss', 'far', 1000).transitions.actions).toEqual(banditDataset('swiss', 'far', 1000).transitions.actions);
    const d = banditDataset('25g', 'near', 10_000).transitions;
    expect(d.states.every((s) => s === 0)).toBe(true);
    expect(d.notDone.every((s) => s === 1)).toBe(true);
  });
});

describe('bandit rewards', () => {
  const actions = Float32Array.from([3, 4, -8, 9, 0, 0, -8, -9]);
  it('far is |a|, near is max|a| - |a|, hard doubles the top-left mode', () => {
    expect(Array.from(banditRewards(actions, 'far'))).toEqual([5, Math.fround(Math.hypot(8, 9)), 0, Math.fround(Math.hypot(8, 9))]);
    const near = banditRewards(actions, 'near', 20);
    expect(near[0]).toBeCloseTo(15, 5);
    expect(near[2]).toBeCloseTo(20, 5);
    const hard = banditRewards(actions, 'hard');
    expect(hard[1]).toBeCloseTo(2 * Math.hypot(8, 9), 4);
    expect(hard[3]).toBeCloseTo(Math.hypot(8, 9), 4);
  });
});

describe('bandit outcome', () => {
  const data25 = banditDataset('25g', 'far', 10_000);
  const dataset = { actions: data25.transitions.actions, rewards: data25.transitions.rewards, maxNorm: data25.maxNorm };

  it('counts actions on centres as in support, and the corners as the best modes of far', () => {
    const onCentres = Float32Array.from(GAUSSIAN_CENTRES.flat());
    const outcome = banditOutcome(onCentres, '25g', 'far', dataset);
    expect(outcome.inSupportFraction).toBe(1);
    expect(outcome.topModeFraction).toBeCloseTo(4 / 25, 10);
    const offData = banditOutcome(Float32Array.from([2.5, 2.5, 30, 30]), '25g', 'far', dataset);
    expect(offData).toMatchObject({ inSupportFraction: 0, topModeFraction: 0 });
    expect(banditOutcome(Float32Array.from([-10, 10]), '25g', 'hard', dataset).topModeFraction).toBe(1);
    expect(banditOutcome(Float32Array.from([0, 0]), '25g', 'near', dataset).topModeFraction).toBe(1);
  });

  it('on the Swiss roll, dataset points are in support and only the outer end is best for far', () => {
    const swiss = banditDataset('swiss', 'far', 10_000);
    const ds = { actions: swiss.transitions.actions, rewards: swiss.transitions.rewards, maxNorm: swiss.maxNorm };
    const sample = swiss.transitions.actions.slice(0, 400);
    expect(banditOutcome(sample, 'swiss', 'far', ds).inSupportFraction).toBe(1);
    const outer = Float32Array.from([4.5 * Math.PI * Math.cos(4.5 * Math.PI), 4.5 * Math.PI * Math.sin(4.5 * Math.PI)]);
    const inner = Float32Array.from([1.5 * Math.PI * Math.cos(1.5 * Math.PI), 1.5 * Math.PI * Math.sin(1.5 * Math.PI)]);
    expect(banditOutcome(outer, 'swiss', 'far', ds).topModeFraction).toBe(1);
    expect(banditOutcome(inner, 'swiss', 'far', ds).topModeFraction).toBe(0);
    const nearData = banditDataset('swiss', 'near', 10_000);
    const nearDs = { actions: nearData.transitions.actions, rewards: nearData.transitions.rewards, maxNorm: nearData.maxNorm };
    expect(banditOutcome(inner, 'swiss', 'near', nearDs).topModeFraction).toBe(1);
    expect(banditOutcome(outer, 'swiss', 'near', nearDs).topModeFraction).toBe(0);
  });
});
