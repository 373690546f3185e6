import { useParams } from 'react-router-dom';
import { api } from '../api';
import { useApi } from '../useApi';
import { useState } from 'react';
import { ErrorNote, StatusBadge, formatTime } from '../components/Status';
import { ChartControls, RunCharts, useRunSeries, type ChartOptions } from '../components/RunCharts';
import { RunControls } from '../components/RunControls';

export function RunPage() {
  const id = Number(useParams().runId);
  const run = useApi(() => api.getRun({ id }), [id], (e) => e.type === 'runs-changed' && e.runIds.includes(id));
  const live = run.data?.status === 'running' || run.data?.status === 'paused';
  const { series } = useRunSeries(id, live);
  const [options, setOptions] = useState<ChartOptions>({ smoothing: 0.6, xAxis: 'step' });
  if (run.error) return <ErrorNote message={run.error} />;
  if (!run.data) return <p className="muted">Loading run…</p>;
  const r = run.data;
  return (
    <div>
      <h1>
        Run {r.id}: {r.name} <StatusBadge status={r.status} />
      </h1>
      <RunControls runId={r.id} status={r.status} />
      {r.error ? <ErrorNote message={r.error} /> : null}
      <dl className="facts">
        <dt>task</dt>
        <dd>{r.task}</dd>
        <dt>algorithm</dt>
        <dd>{r.algo}</dd>
        <dt>seed</dt>
        <dd>{r.seed}</dd>
        <dt>preset</dt>
        <dd>{r.preset}</dd>
        <dt>steps</dt>
        <dd>
          {r.stepsDone.toLocaleString()} / {r.stepsTotal.toLocaleString()}
        </dd>
        <dt>backend</dt>
        <dd>{r.backend ? `${r.backend}${r.backendReason ? ` (${r.backendReason})` : ''}` : '-'}</dd>
        <dt>created</dt>
        <dd>{formatTime(r.createdAt)}</dd>
        <dt>tags</dt>
        <dd>{r.tags.join(', ') || '-'}</dd>
      </dl>
      {Object.keys(r.finalMetrics).length > 0 ? (
        <p data-testid="final-metrics">
          final: {Object.entries(r.finalMetrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(', ')}
        </p>
      ) : null}
      <h2>Curves</h2>
      <ChartControls options={options} onChange={setOptions} />
      <RunCharts series={series} options={options} />
      <h2>Config</h2>
      <table className="grid">
        <tbody>
          {Object.entries(r.config).map(([k, v]) => (
            <tr key={k}>
              <td>
                <code>{k}</code>
              </td>
              <td>{String(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
