import { useMemo, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { Area, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { configDiff, type TrainConfig } from '../../common/config';
import { MAX_RUN_PAGE, formatSweepPoint, type RunDetail, type SeriesDto } from '../../api/contract';
import { toCsv } from '../../api/csv';
import { api } from '../api';
import { useAction, useApi } from '../useApi';
import { ErrorNote } from '../components/Status';
import { ChartFrame } from '../components/ChartFrame';
import { TrustRegionVsKl } from '../components/TrustRegionVsKl';
import { SweepSummary } from '../components/SweepSummary';
import { HyperparameterView } from '../components/HyperparameterView';
import { BAND_LABELS, bestOf, finalOf, formatMeanSe, groupBand, groupBy, meanSeCells, valueAt, xRange, type BandKind, type Curve } from '../stats';
import { saveText } from '../save';
import { defaultSelection } from '../selection';

const COLORS = ['#2f6fec', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#1098ad', '#5c940d', '#d6336c'];
const PREFERRED_METRICS = ['eval/normalizedScore', 'eval/meanReward', 'policy'];
const GRID_POINTS = 200;
const onRunsChanged = (event: { type: string }) => event.type === 'runs-changed';

/** Keys whose values differ between any two of the selected runs, in config order. */
function differingKeys(runs: RunDetail[]): (keyof TrainConfig)[] {
  const first = runs[0];
  if (!first) return [];
  const keys = new Set<keyof TrainConfig>();
  for (const r of runs.slice(1)) for (const k of configDiff(first.config, r.config)) keys.add(k);
  return (Object.keys(first.config) as (keyof TrainConfig)[]).filter((k) => keys.has(k));
}

const BASE_GROUPINGS: Record<string, { label: string; keyOf: (r: RunDetail) => string }> = {
  'algo+task': { label: 'algorithm + task', keyOf: (r) => `${r.algo} · ${r.task}` },
  algo: { label: 'algorithm', keyOf: (r) => r.algo },
  task: { label: 'task', keyOf: (r) => r.task },
  preset: { label: 'preset', keyOf: (r) => `${r.task} · ${r.preset}` },
  run: { label: 'none (each run)', keyOf: (r) => `run ${r.id} · ${r.name}` },
  sweep: { label: 'sweep grid point (the swept keys)', keyOf: (r) => formatSweepPoint(r.sweepPoint) || `${r.algo} · ${r.task}` },
};


function groupingOf(key: string, diffKeys: (keyof TrainConfig)[]): (r: RunDetail) => string {
  const base = BASE_GROUPINGS[key];
  if (base) return base.keyOf;
  const configKey = diffKeys.find((k) => k === key);
  if (configKey) return (r) => `${r.algo} · ${r.task} · ${configKey}=${String(r.config[configKey])}`;
  return (BASE_GROUPINGS['algo+task'] as { keyOf: (r: RunDetail) => string }).keyOf;
}

const present = (values: (number | null | undefined)[]) => values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));

function curveOf(series: SeriesDto | undefined, xAxis: 'step' | 'wall'): Curve {
  if (!series) return { x: [], y: [] };
  const origin = series.wallTime[0] ?? 0;
  return { x: xAxis === 'step' ? series.step : series.wallTime.map((t) => t - origin), y: series.last };
}

interface Group {
  label: string;
  color: string;
  runs: RunDetail[];
  curves: Curve[];
}

export function ComparePage() {
  const [params, setParams] = useSearchParams();
  const runs = useApi(() => api.listRuns({ archived: 'include', limit: MAX_RUN_PAGE }), [], onRunsChanged);
  const [pick, setPick] = useState('');
  const { error: actionError, run: act } = useAction();
  const all = runs.data?.runs ?? [];
  const idsParam = params.get('ids');
  const sweepId = Number(params.get('sweep'));
  const sweep = useApi(() => (Number.isInteger(sweepId) && sweepId > 0 ? api.getSweep({ id: sweepId }) : Promise.resolve(null)), [sweepId], onRunsChanged);
  const ids =
    idsParam !== null
      ? [...new Set(idsParam.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0))].sort((a, b) => a - b)
      : sweep.data
        ? sweep.data.runIds
        : defaultSelection(all);
  const idKey = ids.join(',');
  // Runs that end while the page is open bring their outcomes and curves with them.
  const details = useApi(() => Promise.all(ids.map((id) => api.getRun({ id }))), [idKey], onRunsChanged);
  const metricParam = params.get('metric');
  const band = (['std', 'sem', 'minmax'].includes(params.get('band') ?? '') ? params.get('band') : 'sem') as BandKind;
  const xAxis = params.get('x') === 'wall' ? 'wall' : 'step';
  const grouping = params.get('group') ?? (sweep.data ? 'sweep' : 'algo+task');
  const showRuns = params.get('runs') === '1';
  const available = useApi(() => Promise.all(ids.map((id) => api.getMetrics({ id, names: [], maxPoints: 10 }))), [idKey], onRunsChanged);
  const names = useMemo(() => [...new Set((available.data ?? []).flatMap((m) => m.names))].filter((n) => !n.startsWith('event/')).sort(), [available.data]);
  const metric = metricParam ?? PREFERRED_METRICS.find((m) => names.includes(m)) ?? names[0] ?? '';
  const curves = useApi(() => (metric ? Promise.all(ids.map((id) => api.getMetrics({ id, names: [metric], maxPoints: 500 }))) : Promise.resolve([])), [idKey, metric], onRunsChanged);

  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  // An explicit empty selection is kept as `none`, so the default comparison does not come back.
  // The router applies URL changes as a transition; the picked boxes show the new selection at once.
  // Until the URL catches up (its `ids` still as when picked) the pick is what the boxes show.
  const [picked, setPicked] = useState<{ whilePending: string | null; ids: number[] } | null>(null);
  // Once the URL has moved on, the pick is spent (React's "adjust state while rendering" pattern).
  if (picked && picked.whilePending !== idsParam) setPicked(null);
  const shown = picked && picked.whilePending === idsParam ? picked.ids : ids;
  const setIds = (next: number[]) => {
    setPicked({ whilePending: idsParam, ids: next });
    set({ ids: next.join(',') || 'none' });
  };
  const toggle = (id: number) => setIds(shown.includes(id) ? shown.filter((x) => x !== id) : [...shown, id]);

  const chosen = details.data ?? [];
  const diffKeys = differingKeys(chosen);
  const diffKey = diffKeys.join(',');
  const groups: Group[] = useMemo(() => {
    const keyOf = groupingOf(grouping, diffKeys);
    const byId = new Map(chosen.map((r, i) => [r.id, curveOf(curves.data?.[i]?.series[metric], xAxis)]));
    return [...groupBy(chosen, keyOf).entries()].map(([label, members], i) => ({
      label,
      color: COLORS[i % COLORS.length] as string,
      runs: members,
      curves: members.map((r) => byId.get(r.id) ?? { x: [], y: [] }),
    }));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- recomputed when the inputs it reads change
  }, [details.data, curves.data, grouping, metric, xAxis, diffKey]);

  const chart = useMemo(() => {
    const every = groups.flatMap((g) => g.curves).filter((c) => c.x.length > 0);
    if (every.length === 0) return [];
    const [start, end] = xRange(every);
    const rows = new Map<number, Record<string, number | number[]>>();
    const rowAt = (x: number) => rows.get(x) ?? rows.set(x, { x }).get(x) as Record<string, number | number[]>;
    groups.forEach((g, gi) => {
      for (const p of groupBand(g.curves, band, GRID_POINTS, [start, end])) {
        const row = rowAt(p.x);
        row[`g${gi}`] = p.mean;
        if (g.runs.length > 1) row[`g${gi}band`] = [p.lo, p.hi];
      }
      if (showRuns) {
        g.curves.forEach((c, ri) => {
          for (const x of [...rows.keys()]) {
            const v = valueAt(c, x);
            if (v !== undefined) rowAt(x)[`g${gi}r${ri}`] = v;
          }
        });
      }
    });
    return [...rows.values()].sort((a, b) => (a.x as number) - (b.x as number));
  }, [groups, band, showRuns]);

  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading…</p>;
  const finalKeys = [...new Set(chosen.flatMap((r) => Object.keys(r.finalMetrics)))].sort();
  const summaryHeader = ['group', 'n', 'best', 'final', ...finalKeys.map((k) => `final ${k}`)];
  const groupValues = (g: (typeof groups)[number]) => [present(g.runs.map(bestOf)), present(g.runs.map(finalOf)), ...finalKeys.map((k) => present(g.runs.map((r) => r.finalMetrics[k])))];
  const summaryRows = groups.map((g) => [g.label, g.runs.length, ...groupValues(g).map((values) => formatMeanSe(values))]);
  // The CSV keeps numbers as numbers: mean, standard error and count in columns of their own.
  const csvHeader = ['group', 'runs', ...['best', 'final', ...finalKeys.map((k) => `final_${k}`)].flatMap((name) => [`${name}_mean`, `${name}_se`, `${name}_n`])];
  const csvRows = groups.map((g) => [g.label, g.runs.length, ...groupValues(g).flatMap(meanSeCells)]);
  const listed = all.filter((r) => !pick || `${r.id} ${r.name} ${r.task} ${r.algo} ${r.tags.join(' ')}`.toLowerCase().includes(pick.toLowerCase()));
  const groupingOptions = [...Object.entries(BASE_GROUPINGS).map(([k, v]) => [k, v.label] as const), ...diffKeys.map((k) => [k, `algorithm + task + ${k}`] as const)];

  return (
    <div>
      <h1>Compare</h1>
      <TrustRegionVsKl />
      <div className="split">
        <aside className="catalog">
          <h2>Runs</h2>
          {all.length === 0 ? <p className="empty">No runs to compare yet.</p> : null}
          <input className="wide" placeholder="find runs" value={pick} onChange={(e) => setPick(e.target.value)} aria-label="find runs to compare" />
          <div className="form-actions">
            <button className="secondary" onClick={() => setIds([])} disabled={shown.length === 0}>
              Clear
            </button>
            <span className="muted small">{shown.length} selected</span>
          </div>
          <ul className="task-list compare-list">
            {listed.slice(0, 500).map((r) => (
              <li key={r.id}>
                <label>
                  <input type="checkbox" checked={shown.includes(r.id)} onChange={() => toggle(r.id)} data-testid={`compare-pick-${r.id}`} /> {r.id} · {r.name}{' '}
                  <span className="muted small">
                    {r.algo} · seed {r.seed}
                  </span>
                </label>
              </li>
            ))}
          </ul>
          {listed.length > 500 ? <p className="muted small">Showing 500 of {listed.length}; narrow the search.</p> : null}
        </aside>
        <section className="detail">
          {sweep.data ? <SweepSummary sweep={sweep.data} onExport={() => act(() => api.exportCsv('sweep', { sweep: sweep.data?.id }))} /> : null}
          {sweep.error ? <ErrorNote message={sweep.error} /> : null}
          {chosen.length === 0 ? (
            <p className="muted">Select runs to compare, here or on the History page. Runs of one configuration (its seeds) form a group.</p>
          ) : (
            <>
              <div className="chart-controls">
                <label>
                  metric{' '}
                  <select value={metric} onChange={(e) => set({ metric: e.target.value })} aria-label="metric">
                    {names.map((n) => (
                      <option key={n} value={n}>
                        {n}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  group by{' '}
                  <select value={grouping} onChange={(e) => set({ group: e.target.value })} aria-label="group by">
                    {groupingOptions.map(([k, label]) => (
                      <option key={k} value={k}>
                        {label}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  band{' '}
                  <select value={band} onChange={(e) => set({ band: e.target.value })} aria-label="band">
                    <option value="sem">standard error</option>
                    <option value="std">standard deviation</option>
                    <option value="minmax">min to max</option>
                  </select>
                </label>
                <label>
                  x axis{' '}
                  <select value={xAxis} onChange={(e) => set({ x: e.target.value })} aria-label="align by">
                    <option value="step">step</option>
                    <option value="wall">wall time (s)</option>
                  </select>
                </label>
                <label>
                  <input type="checkbox" checked={showRuns} onChange={(e) => set({ runs: e.target.checked ? '1' : null })} /> show each run
                </label>
              </div>
              {curves.error ? <ErrorNote message={curves.error} /> : null}
              <ChartFrame title={`${metric} by ${BASE_GROUPINGS[grouping]?.label ?? grouping}`} testId="compare-chart">
                {chart.length === 0 ? (
                  <p className="muted small">No values of {metric || 'any metric'} logged by these runs yet.</p>
                ) : (
                  <ResponsiveContainer width="100%" height={320}>
                    <ComposedChart data={chart} margin={{ top: 4, right: 16, bottom: 4, left: 0 }}>
                      <CartesianGrid strokeDasharray="3 3" stroke="#e4e7ec" />
                      <XAxis dataKey="x" type="number" domain={['dataMin', 'dataMax']} tick={{ fontSize: 11 }} />
                      <YAxis tick={{ fontSize: 11 }} width={60} domain={['auto', 'auto']} />
                      <Tooltip isAnimationActive={false} formatter={(v) => (Array.isArray(v) ? v.map((x) => Number(x).toFixed(3)).join(' to ') : Number(v).toFixed(3))} />
                      <Legend wrapperStyle={{ fontSize: 12 }} />
                      {groups.map((g, gi) =>
                        g.runs.length > 1 ? (
                          <Area key={`band${gi}`} dataKey={`g${gi}band`} name={`${g.label} band`} legendType="none" stroke="none" fill={g.color} fillOpacity={0.18} isAnimationActive={false} connectNulls />
                        ) : null,
                      )}
                      {showRuns
                        ? groups.flatMap((g, gi) =>
                            g.curves.map((_, ri) => (
                              <Line key={`g${gi}r${ri}`} dataKey={`g${gi}r${ri}`} name={`${g.label} run ${g.runs[ri]?.id}`} legendType="none" dot={false} stroke={g.color} strokeOpacity={0.35} strokeWidth={1} isAnimationActive={false} connectNulls />
                            )),
                          )
                        : null}
                      {groups.map((g, gi) => (
                        <Line key={`g${gi}`} dataKey={`g${gi}`} name={`${g.label} (n=${g.runs.length})`} dot={false} stroke={g.color} strokeWidth={2} isAnimationActive={false} connectNulls />
                      ))}
                    </ComposedChart>
                  </ResponsiveContainer>
                )}
                <p className="muted small" data-testid="band-label">
                  Line: {BAND_LABELS[band]}; n runs per group in the legend. x: {xAxis === 'step' ? 'training step' : 'seconds since each run started'}.
                </p>
              </ChartFrame>

              <h2>Summary per group</h2>
              <table className="grid" data-testid="compare-summary">
                <thead>
                  <tr>
                    {summaryHeader.map((h) => (
                      <th key={h}>{h}</th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {summaryRows.map((row, i) => (
                    <tr key={String(row[0])} data-testid={`group-row-${i}`}>
                      {row.map((cell, j) => (
                        <td key={summaryHeader[j]}>{j === 0 ? <span style={{ color: groups[i]?.color }}>■ </span> : null}{cell}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
              <p className="muted small">Mean ± standard error over the runs of each group. Scores are D4RL-normalised where the task has them, else the task&apos;s own outcome (bandits: mean reward of 1,000 policy actions).</p>
              <div className="form-actions">
                <button className="secondary" onClick={() => saveText('dtql-compare-summary.csv', toCsv(csvHeader, csvRows), 'text/csv;charset=utf-8')} data-testid="export-summary">
                  Group summary (CSV)
                </button>
                <button className="secondary" onClick={() => act(() => api.exportCsv('runs', { ids, archived: 'include' }))} data-testid="compare-export-runs">
                  Runs (CSV)
                </button>
                <button className="secondary" onClick={() => act(() => api.exportCsv('metrics', { ids, archived: 'include' }))} data-testid="compare-export-metrics">
                  Metrics (CSV)
                </button>
              </div>
              {actionError ? <ErrorNote message={actionError} /> : null}

              {chosen.length >= 2 ? <HyperparameterView runs={chosen} differing={diffKeys} /> : null}

              <h2>Config diff</h2>
              {chosen.length < 2 ? (
                <p className="muted">Select two or more runs to see how their configurations differ.</p>
              ) : diffKeys.length === 0 ? (
                <p data-testid="config-same">The selected runs share every hyperparameter.</p>
              ) : (
                <table className="grid" data-testid="config-diff">
                  <thead>
                    <tr>
                      <th>key</th>
                      {chosen.map((r) => (
                        <th key={r.id}>run {r.id}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {diffKeys.map((k) => (
                      <tr key={k}>
                        <td>
                          <code>{k}</code>
                        </td>
                        {chosen.map((r) => (
                          <td key={r.id}>{String(r.config[k])}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          )}
        </section>
      </div>
    </div>
  );
}
