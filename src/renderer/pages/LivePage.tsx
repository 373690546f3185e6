import { Link } from 'react-router-dom';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote, StatusBadge } from '../components/Status';

const ACTIVE = new Set(['queued', 'running', 'paused']);

export function LivePage() {
  const runs = useApi(() => api.listRuns({}), [], (e) => e.type === 'runs-changed');
  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading…</p>;
  const active = runs.data.filter((r) => ACTIVE.has(r.status));
  return (
    <div>
      <h1>Live runs</h1>
      {active.length === 0 ? (
        <p className="empty" data-testid="live-empty">
          Nothing is queued or training.
        </p>
      ) : (
        <ul className="live-list">
          {active.map((r) => (
            <li key={r.id} className="live-card">
              <Link to={`/runs/${r.id}`}>{r.name}</Link> <StatusBadge status={r.status} />
              <progress max={r.stepsTotal} value={r.stepsDone} aria-label={`progress of run ${r.id}`} />
              <span className="muted small">
                step {r.stepsDone.toLocaleString()} of {r.stepsTotal.toLocaleString()}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
