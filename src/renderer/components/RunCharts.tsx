import { useEffect, useMemo, useState } from 'react';
import { Brush, CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { SeriesDto } from '../../api/contract';
import { api } from '../api';
import { useRunRefresh } from '../useRunRefresh';
import { messageOf } from '../../api/errors';
import { ChartFrame } from './ChartFrame';
import { minOf } from '../../common/stats';

const GROUPS: { title: string; match: (name: string) => boolean }[] = [
  { title: 'Critic', match: (n) => ['critic', 'value', 'q1', 'q2'].includes(n) },
  { title: 'Diffusion: behaviour cloning and trust region', match: (n) => n === 'bc' || n === 'trustRegion' },
  { title: 'Policy', match: (n) => n === 'policy' || n === 'nll' },
  { title: 'Q of policy actions and policy log-std', match: (n) => n === 'qMean' || n === 'logStd' },
  // One axis per scale: shares of actions (0-1), scores (0-100), lengths, and the rest of the
  // outcomes (rewards and returns, any size). A series goes to the first group that takes it.
  { title: 'Evaluation: share of actions', match: (n) => n.startsWith('eval/') && n.endsWith('Fraction') },
  { title: 'Evaluation: normalised score', match: (n) => n.startsWith('eval/normalizedScore') },
  { title: 'Evaluation: episode length', match: (n) => n === 'eval/episodeLength' },
  { title: 'Evaluation: reward or return', match: (n) => n.startsWith('eval/') },
  { title: 'Speed (steps/s)', match: (n) => n === 'stepsPerSec' },
  { title: 'Training process: live tensors, JS heap and resident memory (MB)', match: (n) => n.startsWith('sys/') },
];
const COLORS = ['#2f6fec', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#1098ad'];

/** Exponential moving average, the usual training-curve smoothing; 0 leaves the values as they are. */
function smooth(values: number[], weight: number): number[] {
  let last = values[0] ?? 0;
  return values.map((v) => (last = last * weight + (1 - weight) * v));
}

export interface ChartOptions {
  smoothing: number;
  xAxis: 'step' | 'wall';
  /** Series the user took off the charts (by the metric picker or a click on a legend entry). */
  hidden: string[];
  /** A logarithmic y axis; values at or below 0 are left out, and the chart says so. */
  logY: boolean;
}

export const DEFAULT_CHART_OPTIONS: ChartOptions = { smoothing: 0.6, xAxis: 'step', hidden: [], logY: false };

const toggled = (list: string[], name: string) => (list.includes(name) ? list.filter((n) => n !== name) : [...list, name]);

/** The options with one series hidden or shown again. */
export const toggleHidden = (options: ChartOptions, name: string): ChartOptions => ({ ...options, hidden: toggled(options.hidden, name) });

/** Downsampled curves of one run, refreshed while it trains. */
export function useRunSeries(runId: number, live: boolean): { series: Record<string, SeriesDto>; error: string | null } {
  const [series, setSeries] = useState<Record<string, SeriesDto>>({});
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let cancelled = false;
    api.getMetrics({ id: runId, maxPoints: 1000 }).then(
      (r) => {
        if (!cancelled) {
          setSeries(r.series);
          setError(null);
        }
      },
      (err: unknown) => !cancelled && setError(messageOf(err)),
    );
    return () => {
      cancelled = true;
    };
  }, [runId, live, version]);
  // A hidden tab or window does not need fresh curves; it catches up on the next event once shown.
  useRunRefresh([runId], () => document.visibilityState === 'visible' && setVersion((v) => v + 1), live);
  return { series, error };
}

/** Smoothing, x axis, y scale, and which metrics the charts show (`names`: every series the run has). */
export function ChartControls({ options, onChange, names = [] }: { options: ChartOptions; onChange: (o: ChartOptions) => void; names?: string[] }) {
  const shown = names.filter((n) => !options.hidden.includes(n)).length;
  return (
    <div className="chart-controls">
      <label>
        smoothing {options.smoothing.toFixed(2)}
        <input type="range" min={0} max={0.99} step={0.01} value={options.smoothing} onChange={(e) => onChange({ ...options, smoothing: Number(e.target.value) })} />
      </label>
      <label>
        x axis{' '}
        <select value={options.xAxis} onChange={(e) => onChange({ ...options, xAxis: e.target.value as ChartOptions['xAxis'] })}>
          <option value="step">step</option>
          <option value="wall">wall time (s)</option>
        </select>
      </label>
      <label>
        <input type="checkbox" checked={options.logY} onChange={(e) => onChange({ ...options, logY: e.target.checked })} /> log y axis
      </label>
      {names.length > 0 ? (
        <details className="metric-picker" data-testid="metric-picker">
          <summary>
            metrics: {shown} of {names.length}
          </summary>
          <div className="metric-picker-list">
            <button type="button" className="link" onClick={() => onChange({ ...options, hidden: [] })}>
              all
            </button>{' '}
            <button type="button" className="link" onClick={() => onChange({ ...options, hidden: [...names] })}>
              none
            </button>
            {names.map((n) => (
              <label key={n}>
                <input type="checkbox" checked={!options.hidden.includes(n)} onChange={() => onChange(toggleHidden(options, n))} /> {n}
              </label>
            ))}
          </div>
        </details>
      ) : null}
    </div>
  );
}

/**
 * A log axis over the positive values: the decades they span as ticks (recharts draws none of its
 * own on a log scale), widened to whole decades.
 */
export function logAxis(values: Iterable<number>): { domain: [number, number]; ticks: number[] } {
  let lo = Number.POSITIVE_INFINITY;
  let hi = 0;
  for (const v of values) {
    if (!(v > 0)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (hi === 0) return { domain: [0.1, 1], ticks: [0.1, 1] };
  const first = Math.floor(Math.log10(lo));
  const last = Math.max(first + 1, Math.ceil(Math.log10(hi)));
  const ticks = Array.from({ length: last - first + 1 }, (_, i) => 10 ** (first + i));
  return { domain: [10 ** first, 10 ** last], ticks };
}

/** The series a run's charts can draw, in chart order: what the metric picker offers. */
export function chartedNames(series: Record<string, SeriesDto>): string[] {
  return GROUPS.flatMap((g) => Object.keys(series).filter((n) => GROUPS.find((first) => first.match(n)) === g));
}

/**
 * A run's curves as small multiples, one chart per unit (losses, Q, shares, scores, rewards, speed,
 * memory). `onToggle` (a click on a legend entry) hides or shows one series.
 */
export function RunCharts({ series, options, onToggle }: { series: Record<string, SeriesDto>; options: ChartOptions; onToggle?: (name: string) => void }) {
  const resumeSteps = series['event/resume']?.step ?? [];
  const groups = useMemo(
    () =>
      GROUPS.map((g) => ({ title: g.title, names: Object.keys(series).filter((n) => GROUPS.find((first) => first.match(n)) === g) })).filter((g) => g.names.length > 0),
    [series],
  );
  if (groups.length === 0) return <p className="muted small">No curves yet: the first values arrive within a second or two of training.</p>;
  const hidden = new Set(options.hidden);
  const origin = minOf(Object.values(series).map((s) => s.wallTime[0] ?? Number.POSITIVE_INFINITY));
  return (
    <div className="charts">
      {groups.map((group) => {
        const rows = new Map<number, Record<string, number>>();
        let leftOut = 0;
        for (const name of group.names) {
          if (hidden.has(name)) continue;
          const s = series[name] as SeriesDto;
          const values = smooth(s.last, options.smoothing);
          s.step.forEach((step, i) => {
            const x = options.xAxis === 'step' ? step : Math.round(((s.wallTime[i] as number) - origin) * 10) / 10;
            const row = rows.get(x) ?? { x };
            const v = values[i] as number;
            // A log axis has no place for 0 or less: such points are left out and counted.
            if (options.logY && !(v > 0)) leftOut++;
            else row[name] = v;
            rows.set(x, row);
          });
        }
        const data = [...rows.values()].sort((a, b) => (a.x as number) - (b.x as number));
        const log = options.logY ? logAxis(data.flatMap((row) => Object.entries(row).flatMap(([k, v]) => (k === 'x' ? [] : [v])))) : null;
        return (
          <ChartFrame title={group.title} key={group.title} testId={`chart-${group.title}`} caption={leftOut ? `${group.title} (log scale: ${leftOut} values at or below 0 left out)` : undefined}>
            <ResponsiveContainer width="100%" height={220}>
              <LineChart data={data} margin={{ top: 4, right: 16, bottom: 4, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#e4e7ec" />
                <XAxis dataKey="x" type="number" domain={['dataMin', 'dataMax']} tick={{ fontSize: 11 }} />
                {log ? (
                  <YAxis tick={{ fontSize: 11 }} width={56} scale="log" domain={log.domain} ticks={log.ticks} tickFormatter={(v: number) => v.toPrecision(2)} allowDataOverflow />
                ) : (
                  <YAxis tick={{ fontSize: 11 }} width={56} domain={['auto', 'auto']} />
                )}
                <Tooltip isAnimationActive={false} />
                <Legend
                  wrapperStyle={{ fontSize: 12, cursor: onToggle ? 'pointer' : undefined }}
                  onClick={(entry) => onToggle?.(String(entry.dataKey))}
                  formatter={(value: string) => (hidden.has(value) ? <span style={{ opacity: 0.4 }}>{value}</span> : value)}
                />
                {options.xAxis === 'step' ? resumeSteps.map((s) => <ReferenceLine key={s} x={s} stroke="#868e96" strokeDasharray="4 2" label={{ value: 'resumed', fontSize: 10 }} />) : null}
                {group.names.map((name, i) => (
                  <Line key={name} dataKey={name} dot={false} isAnimationActive={false} stroke={COLORS[i % COLORS.length]} strokeWidth={1.5} connectNulls hide={hidden.has(name)} />
                ))}
                {data.length > 50 ? <Brush dataKey="x" height={18} travellerWidth={8} /> : null}
              </LineChart>
            </ResponsiveContainer>
          </ChartFrame>
        );
      })}
    </div>
  );
}
