import { useState } from 'react';
import { configDiff, type TrainConfig } from '../../core/config';
import type { RunDetail } from '../../api/contract';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote } from '../components/Status';
import { TrustRegionVsKl } from '../components/TrustRegionVsKl';

/** Keys whose values differ between any two of the selected runs, in config order. */
function differingKeys(runs: RunDetail[]): (keyof TrainConfig)[] {
  const first = runs[0];
  if (!first) return [];
  const keys = new Set<keyof TrainConfig>();
  for (const r of runs.slice(1)) for (const k of configDiff(first.config, r.config)) keys.add(k);
  return (Object.keys(first.config) as (keyof TrainConfig)[]).filter((k) => keys.has(k));
}

export function ComparePage() {
  const runs = useApi(() => api.listRuns({}), [], (e) => e.type === 'runs-changed');
  const [selected, setSelected] = useState<number[]>([]);
  const details = useApi(() => Promise.all(selected.map((id) => api.getRun({ id }))), [selected.join(',')]);
  if (runs.error) return <ErrorNote message={runs.error} />;
  if (!runs.data) return <p className="muted">Loading…</p>;
  const toggle = (id: number) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));
  const chosen = details.data ?? [];
  const keys = differingKeys(chosen);
  return (
    <div>
      <h1>Compare</h1>
      <TrustRegionVsKl />
      <div className="split">
      <aside className="catalog">
        <h2>Runs</h2>
        {runs.data.length === 0 ? <p className="empty">No runs to compare yet.</p> : null}
        <ul className="task-list">
          {runs.data.map((r) => (
            <li key={r.id}>
              <label>
                <input type="checkbox" checked={selected.includes(r.id)} onChange={() => toggle(r.id)} data-testid={`compare-pick-${r.id}`} /> {r.id} · {r.name}
              </label>
            </li>
          ))}
        </ul>
      </aside>
      <section className="detail">
        {chosen.length < 2 ? (
          <p className="muted">Select two or more runs to see how their configurations differ.</p>
        ) : (
          <>
            <h2>Config diff</h2>
            {keys.length === 0 ? (
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
                  {keys.map((k) => (
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
