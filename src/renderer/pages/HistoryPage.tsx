import { Link } from 'react-router-dom';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote, StatusBadge, formatTime } from '../components/Status';

const onRunsChanged = (event: { type: string }) => event.type === 'runs-changed';

export function HistoryPage() {
  const runs = useApi(() => api.listRuns({}), [], onRunsChanged);
  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading runs…</p>;
  return (
    <div>
      <h1>History</h1>
      {runs.data.length === 0 ? (
        <p className="empty" data-testid="history-empty">
          No runs yet. Start one from the Tasks page or with <code>dtql train</code>.
        </p>
      ) : (
        <table className="grid runs" data-testid="history-table">
          <thead>
            <tr>
              <th>id</th>
              <th>name</th>
              <th>task</th>
              <th>algo</th>
              <th>seed</th>
              <th>status</th>
              <th>steps</th>
              <th>backend</th>
              <th>created</th>
              <th>best</th>
              <th>final</th>
              <th>tags</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((r) => (
              <tr key={r.id} data-testid={`run-row-${r.id}`}>
                <td>{r.id}</td>
                <td>
                  <Link to={`/runs/${r.id}`}>{r.name}</Link>
                </td>
                <td>{r.task}</td>
                <td>{r.algo}</td>
                <td>{r.seed}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>
                  {r.stepsDone.toLocaleString()} / {r.stepsTotal.toLocaleString()}
                </td>
                <td>{r.backend ?? '-'}</td>
                <td>{formatTime(r.createdAt)}</td>
                <td>{r.bestScore?.toFixed(1) ?? '-'}</td>
                <td>{r.finalScore?.toFixed(1) ?? '-'}</td>
                <td>
                  {r.tags.map((t) => (
                    <span key={t} className="tag">
                      {t}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
