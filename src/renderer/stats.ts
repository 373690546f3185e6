/** Statistics over seeds for the Compare and Reproduce pages: pure functions, unit-tested. */

import { maxOf, mean, minOf, sampleStd, standardError } from '../common/stats';
import type { RunSummary } from '../api/contract';

export { mean, sampleStd, standardError };

export type BandKind = 'std' | 'sem' | 'minmax';

export const BAND_LABELS: Record<BandKind, string> = {
  std: 'mean ± 1 standard deviation over runs',
  sem: 'mean ± 1 standard error over runs',
  minmax: 'mean, band from min to max over runs',
};

/** "mean ± standard error" over seeds, as the paper reports; '-' for no values. */
export function formatMeanSe(values: number[], digits = 3): string {
  if (values.length === 0) return '-';
  if (values.length === 1) return mean(values).toFixed(digits);
  return `${mean(values).toFixed(digits)} ± ${standardError(values).toFixed(digits)}`;
}

/** Mean, standard error and count as three numeric cells for a CSV: null where not defined (no values; one value's error). */
export function meanSeCells(values: number[]): [number | null, number | null, number] {
  if (values.length === 0) return [null, null, 0];
  return [mean(values), values.length > 1 ? standardError(values) : null, values.length];
}

/** A run's best and final score where the task has one, else its own outcome (the bandit mean reward). */
export const bestOf = (r: Pick<RunSummary, 'bestScore' | 'bestReward'>): number | null => r.bestScore ?? r.bestReward ?? null;
export const finalOf = (r: Pick<RunSummary, 'finalScore' | 'finalMetrics'>): number | null => r.finalScore ?? r.finalMetrics.meanReward ?? null;

/** The x values every curve together spans (curves with at least one point). */
export function xRange(curves: Curve[]): [number, number] {
  return [minOf(curves.map((c) => c.x[0] as number)), maxOf(curves.map((c) => c.x[c.x.length - 1] as number))];
}

/** The centre and the band of values at one x. */
export function bandOf(values: number[], kind: BandKind): { mean: number; lo: number; hi: number } {
  const m = mean(values);
  if (kind === 'minmax') return { mean: m, lo: minOf(values), hi: maxOf(values) };
  const half = kind === 'std' ? sampleStd(values) : standardError(values);
  return { mean: m, lo: m - half, hi: m + half };
}

export interface Curve {
  x: number[];
  y: number[];
}

/** Linear interpolation of a curve with increasing x; undefined outside its range. */
export function valueAt(curve: Curve, x: number): number | undefined {
  const { x: xs, y: ys } = curve;
  const n = xs.length;
  if (n === 0 || x < (xs[0] as number) || x > (xs[n - 1] as number)) return undefined;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) <= x) lo = mid;
    else hi = mid;
  }
  const x0 = xs[lo] as number;
  const x1 = xs[hi] as number;
  const y0 = ys[lo] as number;
  if (x1 === x0) return y0;
  return y0 + ((x - x0) / (x1 - x0)) * ((ys[hi] as number) - y0);
}

export interface BandPoint {
  x: number;
  mean: number;
  lo: number;
  hi: number;
  /** How many curves cover this x. */
  n: number;
}

/**
 * Mean and band of several curves on a grid of `points` x values over `range` (default: all of
 * them), so groups drawn together share their x values. Curves logged at different steps (or
 * times) are interpolated; at each x only the curves that reach it count, and `n` says how many.
 */
export function groupBand(curves: Curve[], kind: BandKind, points = 200, range?: [number, number]): BandPoint[] {
  const live = curves.filter((c) => c.x.length > 0);
  if (live.length === 0) return [];
  const [start, end] = range ?? xRange(live);
  const grid = end === start ? [start] : Array.from({ length: points }, (_, i) => start + ((end - start) * i) / (points - 1));
  const out: BandPoint[] = [];
  for (const x of grid) {
    const values = live.map((c) => valueAt(c, x)).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (values.length === 0) continue;
    out.push({ x, ...bandOf(values, kind), n: values.length });
  }
  return out;
}

/** Groups items by a key, keeping first-seen order of the keys. */
export function groupBy<T>(items: T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}
