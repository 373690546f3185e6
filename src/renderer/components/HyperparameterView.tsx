import { useState } from 'react';
import { Link } from 'react-router-dom';
import { CartesianGrid, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from 'recharts';
import { trainConfigSchema, type TrainConfig, type TrainConfigKey } from '../../common/config';
import type { RunDetail } from '../../api/contract';
import { ChartFrame } from './ChartFrame';
import { logAxis } from './RunCharts';
import { SortButton } from './Status';
import { bestOf, finalOf } from '../stats';

const ALGO_COLORS: Record<RunDetail['algo'], string> = { dtql: '#2f6fec', kl: '#e8590c' };


type Column = TrainConfigKey | 'final' | 'best';
const valueOf = (r: RunDetail, c: Column): number | string | boolean | null => (c === 'final' ? finalOf(r) : c === 'best' ? bestOf(r) : r.config[c]);

/** Ascending by a column, missing values last; numbers by value, the rest as text. */
function compareBy(c: Column, dir: 1 | -1) {
  return (a: RunDetail, b: RunDetail) => {
    const x = valueOf(a, c);
    const y = valueOf(b, c);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * dir;
  };
}

/**
 * The hyperparameters of the selected runs beside their scores, as trackers show a sweep: a table
 * (the keys that differ between the runs, or every key), sortable by any column, and a scatter of
 * one numeric hyperparameter against the final score, one dot per run, coloured by algorithm.
 */
export function HyperparameterView({ runs, differing }: { runs: RunDetail[]; differing: TrainConfigKey[] }) {
  const [allKeys, setAllKeys] = useState(false);
  const [sort, setSort] = useState<{ column: Column; dir: 1 | -1 }>({ column: 'final', dir: -1 });
  const keys = allKeys ? (Object.keys(trainConfigSchema.shape) as TrainConfigKey[]) : differing;
  const numeric = differing.filter((k) => runs.every((r) => typeof r.config[k] === 'number'));
  const [chosenX, setX] = useState<TrainConfigKey | null>(null);
  const xKey = chosenX !== null && numeric.includes(chosenX) ? chosenX : (numeric[0] ?? null);
  const [logX, setLogX] = useState(false);
  const sorted = [...runs].sort(compareBy(sort.column, sort.dir));
  const header = (c: Column, label: string) => (
    <th key={c}>
      <SortButton label={label} sorted={sort.column === c} ascending={sort.dir === 1} onClick={() => setSort({ column: c, dir: sort.column === c && sort.dir === -1 ? 1 : -1 })} />
    </th>
  );
  const points = xKey
    ? runs
        .map((r) => ({ x: r.config[xKey] as number, y: finalOf(r), id: r.id, algo: r.algo }))
        .filter((p): p is { x: number; y: number; id: number; algo: RunDetail['algo'] } => p.y !== null && Number.isFinite(p.y) && (!logX || p.x > 0))
    : [];
  const xLog = logX && points.length > 0 ? logAxis(points.map((p) => p.x)) : null;

  return (
    <section aria-label="Hyperparameters and scores">
      <h2>Hyperparameters and scores</h2>
      <div className="form-actions">
        <label>
          <input type="checkbox" checked={allKeys} onChange={(e) => setAllKeys(e.target.checked)} /> every key (not only those that differ)
        </label>
      </div>
      <div className="table-scroll">
        <table className="grid" data-testid="hyperparameter-table">
          <thead>
            <tr>
              <th>run</th>
              <th>algo</th>
              {keys.map((k) => header(k, k))}
              {header('best', 'best')}
              {header('final', 'final')}
            </tr>
          </thead>
          <tbody>
            {sorted.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/runs/${r.id}`}>
                    {r.id} · {r.name}
                  </Link>
                </td>
                <td>{r.algo}</td>
                {keys.map((k) => (
                  <td key={k}>{String(r.config[k as keyof TrainConfig])}</td>
                ))}
                <td>{bestOf(r)?.toFixed(2) ?? '-'}</td>
                <td>{finalOf(r)?.toFixed(2) ?? '-'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {xKey ? (
        <ChartFrame title={`final score against ${xKey}`} testId="hyperparameter-scatter">
          <div className="form-actions">
            <label>
              x{' '}
              <select value={xKey} onChange={(e) => setX(e.target.value as TrainConfigKey)} aria-label="hyperparameter on the x axis">
                {numeric.map((k) => (
                  <option key={k} value={k}>
                    {k}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <input type="checkbox" checked={logX} onChange={(e) => setLogX(e.target.checked)} /> log x axis
            </label>
            <span className="muted small">
              <span style={{ color: ALGO_COLORS.dtql }}>●</span> trust region <span style={{ color: ALGO_COLORS.kl }}>●</span> KL; y: final score (D4RL-normalised, else the mean reward)
            </span>
          </div>
          <ResponsiveContainer width="100%" height={260}>
            <ScatterChart margin={{ top: 8, right: 16, bottom: 16, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e4e7ec" />
              {xLog ? (
                <XAxis dataKey="x" type="number" name={xKey} scale="log" domain={xLog.domain} ticks={xLog.ticks} tickFormatter={(v: number) => v.toPrecision(2)} allowDataOverflow tick={{ fontSize: 11 }} />
              ) : (
                <XAxis dataKey="x" type="number" name={xKey} domain={['auto', 'auto']} tick={{ fontSize: 11 }} />
              )}
              <YAxis dataKey="y" type="number" name="final" domain={['auto', 'auto']} width={60} tick={{ fontSize: 11 }} />
              <Tooltip isAnimationActive={false} formatter={(v) => Number(v).toPrecision(4)} />
              {(['dtql', 'kl'] as const).map((algo) => (
                <Scatter key={algo} name={algo} data={points.filter((p) => p.algo === algo)} fill={ALGO_COLORS[algo]} isAnimationActive={false} />
              ))}
            </ScatterChart>
          </ResponsiveContainer>
        </ChartFrame>
      ) : (
        <p className="muted small">No numeric hyperparameter differs between these runs: nothing to plot against the score.</p>
      )}
    </section>
  );
}
