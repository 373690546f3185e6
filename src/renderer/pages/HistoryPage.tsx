import { useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import type { RunSummary } from '../../api/contract';
import { api } from '../api';
import { useAction, useApi } from '../useApi';
import { ErrorNote, StatusBadge, formatTime } from '../components/Status';

const onRunsChanged = (event: { type: string }) => event.type === 'runs-changed';

type SortKey = 'id' | 'name' | 'task' | 'algo' | 'seed' | 'status' | 'createdAt' | 'stepsDone' | 'finalScore';
const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'id', label: 'id' },
  { key: 'name', label: 'name' },
  { key: 'task', label: 'task' },
  { key: 'algo', label: 'algo' },
  { key: 'seed', label: 'seed' },
  { key: 'status', label: 'status' },
  { key: 'stepsDone', label: 'steps' },
  { key: 'createdAt', label: 'created' },
  { key: 'finalScore', label: 'final (score or reward)' },
];

function compare(a: RunSummary, b: RunSummary, key: SortKey): number {
  const x = a[key];
  const y = b[key];
  if (x === y) return 0;
  if (x === null) return 1;
  if (y === null) return -1;
  return x < y ? -1 : 1;
}

/** One editable notes-and-tags cell; saves on blur, shows why a save failed. */
function RunNotes({ run }: { run: RunSummary }) {
  const [notes, setNotes] = useState(run.notes);
  const [tags, setTags] = useState(run.tags.join(', '));
  const { error, run: act } = useAction();
  const save = () => {
    const tagList = tags.split(',').map((t) => t.trim()).filter((t) => t !== '');
    act(() => api.updateRun({ id: run.id, notes, tags: tagList }));
  };
  return (
    <>
      <td>
        <input className="cell-input" aria-label={`tags of run ${run.id}`} value={tags} onChange={(e) => setTags(e.target.value)} onBlur={save} />
      </td>
      <td>
        <input className="cell-input" aria-label={`notes of run ${run.id}`} value={notes} onChange={(e) => setNotes(e.target.value)} onBlur={save} />
        {error ? <span className="field-error">{error}</span> : null}
      </td>
    </>
  );
}

export function HistoryPage() {
  const runs = useApi(() => api.listRuns({}), [], onRunsChanged);
  const [params, setParams] = useSearchParams();
  const { error, run: act } = useAction();
  const get = (k: string) => params.get(k) ?? '';
  const set = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v === '') next.delete(k);
    else next.set(k, v);
    setParams(next, { replace: true });
  };
  const sort = (get('sort') || 'id') as SortKey;
  const descending = get('dir') !== 'asc';

  const shown = useMemo(() => {
    const text = get('q').toLowerCase();
    const rows = (runs.data ?? []).filter(
      (r) =>
        (get('archived') === '1' || !r.archived) &&
        (!get('task') || r.task === get('task')) &&
        (!get('algo') || r.algo === get('algo')) &&
        (!get('status') || r.status === get('status')) &&
        (!get('tag') || r.tags.includes(get('tag'))) &&
        (!text || r.name.toLowerCase().includes(text) || r.notes.toLowerCase().includes(text)),
    );
    return rows.sort((a, b) => (descending ? -1 : 1) * compare(a, b, sort));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the URL parameters are the inputs
  }, [runs.data, params]);

  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading runs…</p>;
  const all = runs.data;
  const options = (values: string[]) => [...new Set(values)].sort().map((v) => <option key={v} value={v}>{v}</option>);

  return (
    <div>
      <h1>History</h1>
      {all.length === 0 ? (
        <p className="empty" data-testid="history-empty">
          No runs yet. Start one from the Tasks page or with <code>dtql train</code>.
        </p>
      ) : (
        <>
          <div className="form-actions filters" aria-label="Filters">
            <input placeholder="search name and notes" value={get('q')} onChange={(e) => set('q', e.target.value)} aria-label="search" />
            <select value={get('task')} onChange={(e) => set('task', e.target.value)} aria-label="task filter">
              <option value="">all tasks</option>
              {options(all.map((r) => r.task))}
            </select>
            <select value={get('algo')} onChange={(e) => set('algo', e.target.value)} aria-label="algorithm filter">
              <option value="">all algorithms</option>
              {options(all.map((r) => r.algo))}
            </select>
            <select value={get('status')} onChange={(e) => set('status', e.target.value)} aria-label="status filter">
              <option value="">all statuses</option>
              {options(all.map((r) => r.status))}
            </select>
            <select value={get('tag')} onChange={(e) => set('tag', e.target.value)} aria-label="tag filter">
              <option value="">all tags</option>
              {options(all.flatMap((r) => r.tags))}
            </select>
            <label>
              <input type="checkbox" checked={get('archived') === '1'} onChange={(e) => set('archived', e.target.checked ? '1' : '')} /> archived
            </label>
            <span className="muted small" data-testid="history-count">
              {shown.length} of {all.length} runs
            </span>
          </div>
          {error ? <ErrorNote message={error} /> : null}
          <table className="grid runs" data-testid="history-table">
            <thead>
              <tr>
                {COLUMNS.map((c) => (
                  <th key={c.key}>
                    <button
                      className="sort"
                      onClick={() => {
                        const next = new URLSearchParams(params);
                        next.set('sort', c.key);
                        next.set('dir', sort === c.key && descending ? 'asc' : 'desc');
                        setParams(next, { replace: true });
                      }}
                    >
                      {c.label}
                      {sort === c.key ? (descending ? ' ▼' : ' ▲') : ''}
                    </button>
                  </th>
                ))}
                <th>tags</th>
                <th>notes</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
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
                  <td>{formatTime(r.createdAt)}</td>
                  <td title={r.finalScore === null && r.finalMetrics.meanReward !== undefined ? 'mean reward of 1,000 policy actions' : 'normalised score'}>
                    {r.finalScore?.toFixed(1) ?? r.finalMetrics.meanReward?.toFixed(2) ?? '-'}
                  </td>
                  <RunNotes key={`${r.id}:${r.notes}:${r.tags.join(',')}`} run={r} />
                  <td className="row-actions">
                    <button className="secondary" onClick={() => act(() => api.updateRun({ id: r.id, archived: !r.archived }))}>
                      {r.archived ? 'Unarchive' : 'Archive'}
                    </button>
                    <button
                      className="secondary"
                      onClick={() => {
                        if (window.confirm(`Delete run ${r.id} (${r.name}) with its metrics and checkpoints?`)) act(() => api.deleteRun({ id: r.id }));
                      }}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
