import { describe, expect, it } from 'vitest';
import { bandOf, formatMeanSe, groupBand, groupBy, meanSeCells, sampleStd, standardError, valueAt } from '../../src/renderer/stats';

describe('statistics over seeds', () => {
  it('computes the sample std, the standard error and the paper-style mean ± SE', () => {
    const v = [1, 2, 3, 4];
    expect(sampleStd(v)).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(standardError(v)).toBeCloseTo(Math.sqrt(5 / 3) / 2, 12);
    expect(formatMeanSe(v, 2)).toBe('2.50 ± 0.65');
    expect(formatMeanSe([7], 1)).toBe('7.0');
    expect(formatMeanSe([])).toBe('-');
  });

  it('gives mean, standard error and count as numeric CSV cells, null where undefined', () => {
    const [mean, se, n] = meanSeCells([1, 2, 3, 4]);
    expect([mean, n]).toEqual([2.5, 4]);
    expect(se).toBeCloseTo(Math.sqrt(5 / 3) / 2, 12);
    expect(meanSeCells([7])).toEqual([7, null, 1]);
    expect(meanSeCells([])).toEqual([null, null, 0]);
  });

  it('draws each band kind around the mean', () => {
    expect(bandOf([1, 3], 'minmax')).toEqual({ mean: 2, lo: 1, hi: 3 });
    const std = bandOf([1, 3], 'std');
    expect([std.lo, std.hi]).toEqual([2 - Math.SQRT2, 2 + Math.SQRT2]);
    const sem = bandOf([1, 3], 'sem');
    expect(sem.hi - sem.mean).toBeCloseTo(1, 12);
  });

  it('interpolates curves and averages only those that reach each x', () => {
    const a = { x: [0, 10], y: [0, 10] };
    const b = { x: [0, 5], y: [2, 2] };
    expect(valueAt(a, 2.5)).toBe(2.5);
    expect(valueAt(b, 6)).toBeUndefined();
    const band = groupBand([a, b], 'minmax', 3);
    expect(band.map((p) => [p.x, p.mean, p.n])).toEqual([
      [0, 1, 2],
      [5, 3.5, 2],
      [10, 10, 1],
    ]);
    expect(band[1]).toMatchObject({ lo: 2, hi: 5 });
    expect(groupBand([], 'std')).toEqual([]);
  });

  it('groups in first-seen order', () => {
    const g = groupBy(['b1', 'a1', 'b2'], (s) => s[0] as string);
    expect([...g.entries()]).toEqual([
      ['b', ['b1', 'b2']],
      ['a', ['a1']],
    ]);
  });
});
