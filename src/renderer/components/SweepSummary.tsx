import type { SweepDetail } from '../../api/contract';

const fmt = (stat: { mean: number; se: number; n: number } | null | undefined) => (stat ? (stat.n > 1 ? `${stat.mean.toFixed(3)} ± ${stat.se.toFixed(3)}` : stat.mean.toFixed(3)) : '-');

/** A sweep's grid points with mean ± standard error over their seeds, as the store computes them. */
export function SweepSummary({ sweep, onExport }: { sweep: SweepDetail; onExport: () => void }) {
  const finals = [...new Set(sweep.summary.flatMap((row) => Object.keys(row.finals)))].sort();
  return (
    <section className="tr-vs-kl" data-testid="sweep-summary">
      <h2>
        Sweep {sweep.id}: {sweep.name}
      </h2>
      <p className="muted small">
        {sweep.runs} runs over {sweep.axes.join(' × ') || 'one grid point'} ·{' '}
        {Object.entries(sweep.statuses)
          .map(([status, n]) => `${n} ${status}`)
          .join(', ')}
      </p>
      <table className="grid">
        <thead>
          <tr>
            {sweep.axes.map((a) => (
              <th key={a}>{a}</th>
            ))}
            <th>completed</th>
            <th>best</th>
            <th>final</th>
            {finals.map((k) => (
              <th key={k}>final {k}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sweep.summary.map((row, i) => (
            <tr key={JSON.stringify(row.point)} data-testid={`sweep-row-${i}`}>
              {sweep.axes.map((a) => (
                <td key={a}>{String(row.point[a] ?? '')}</td>
              ))}
              <td>
                {row.completed}/{row.runs}
              </td>
              <td>{fmt(row.bestScore)}</td>
              <td>{fmt(row.finalScore)}</td>
              {finals.map((k) => (
                <td key={k}>{fmt(row.finals[k])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Mean ± standard error over the seeds of each grid point, over completed runs.</p>
      <button className="secondary" onClick={onExport} data-testid="export-sweep">
        Sweep summary (CSV)
      </button>
    </section>
  );
}
