import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { MAX_RUN_PAGE, type ProgressDto, type RunStatus, type RunSummary } from '../../api/contract';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote, StatusBadge } from '../components/Status';
import { ChartControls, DEFAULT_CHART_OPTIONS, RunCharts, toggleHidden, useRunSeries, type ChartOptions } from '../components/RunCharts';
import { RunControls } from '../components/RunControls';
import { formatDuration } from '../../common/format';


/** Live progress of every training run, from push events (with a fetch for the first paint). */
function useProgress(): Map<number, ProgressDto> {
  const [progress, setProgress] = useState(new Map<number, ProgressDto>());
  useEffect(() => {
    let cancelled = false;
    void api.getProgress({}).then((list) => !cancelled && setProgress(new Map(list.map((p) => [p.runId, p]))));
    const off = api.onEvent((e) => {
      if (e.type !== 'run-progress') return;
      const { type: _type, ...p } = e;
      setProgress((old) => new Map(old).set(p.runId, p));
    });
    return () => {
      cancelled = true;
      off();
    };
  }, []);
  return progress;
}

function LiveRun({ run, progress, options, onToggle }: { run: RunSummary; progress: ProgressDto | undefined; options: ChartOptions; onToggle: (name: string) => void }) {
  const live = run.status === 'running' || run.status === 'paused';
  const { series, error } = useRunSeries(run.id, live);
  const step = Math.max(progress?.step ?? 0, run.stepsDone);
  return (
    <li className="live-card" data-testid={`live-run-${run.id}`}>
      <div className="live-head">
        <Link to={`/runs/${run.id}`}>{run.name}</Link> <StatusBadge status={run.status} />
        <span className="muted small">
          {run.task} · seed {run.seed} · {run.backend ?? 'backend chosen at start'}
          {run.worker ? (
            <>
              {' '}
              · on worker <strong data-testid={`live-worker-${run.id}`}>{run.worker}</strong>
            </>
          ) : null}
        </span>
        <RunControls runId={run.id} status={run.status} />
      </div>
      <progress max={run.stepsTotal} value={step} aria-label={`progress of run ${run.id}`} />
      <span className="muted small" data-testid={`live-progress-${run.id}`}>
        step {step.toLocaleString()} of {run.stepsTotal.toLocaleString()}
        {run.status === 'paused' ? ' · paused' : progress ? ` · ${progress.phase} · ${progress.stepsPerSec.toFixed(1)} steps/s · ETA ${formatDuration(progress.etaSec, '?')}` : ''}
      </span>
      {error ? <ErrorNote message={error} /> : <RunCharts series={series} options={options} onToggle={onToggle} />}
    </li>
  );
}

/** Queued runs the Live page lists; the rest are counted. */
const QUEUED_SHOWN = 50;

/**
 * The runs training or paused (read in one query, so a run pausing meanwhile shows once), then the
 * first queued ones with how many are queued in all; a run in both lists (it started between the
 * two reads) shows once, as live: React keeps a stale card behind a repeated key.
 */
async function activeRuns() {
  const page = (status: RunStatus | RunStatus[], limit: number) => api.listRuns({ status, archived: 'include', sort: 'id', dir: 'asc', limit });
  const [live, queued] = await Promise.all([page(['running', 'paused'], MAX_RUN_PAGE), page('queued', QUEUED_SHOWN)]);
  const liveIds = new Set(live.runs.map((r) => r.id));
  return { runs: [...live.runs, ...queued.runs.filter((r) => !liveIds.has(r.id))], moreQueued: queued.total - queued.runs.length };
}

export function LivePage() {
  const runs = useApi(activeRuns, [], (e) => e.type === 'runs-changed');
  const progress = useProgress();
  const [options, setOptions] = useState<ChartOptions>(DEFAULT_CHART_OPTIONS);
  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading…</p>;
  const active = runs.data.runs;
  const moreQueued = runs.data.moreQueued;
  return (
    <div>
      <h1>Live runs</h1>
      {active.length === 0 ? (
        <p className="empty" data-testid="live-empty">
          Nothing is queued or training. Start a run from the Tasks page.
        </p>
      ) : (
        <>
          <ChartControls options={options} onChange={setOptions} />
          <ul className="live-list">
            {active.map((r) => (
              <LiveRun key={r.id} run={r} progress={progress.get(r.id)} options={options} onToggle={(name) => setOptions((o) => toggleHidden(o, name))} />
            ))}
          </ul>
          {moreQueued > 0 ? (
            <p className="muted" data-testid="live-more-queued">
              and {moreQueued.toLocaleString()} more queued (see <Link to="/history?status=queued">History</Link>)
            </p>
          ) : null}
        </>
      )}
    </div>
  );
}
