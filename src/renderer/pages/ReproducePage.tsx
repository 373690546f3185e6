import { useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { MAX_RUN_PAGE, type RunSummary } from '../../api/contract';
import { parseStepsOverride, seedsOrOfficial } from '../form-fields';
import { toCsv } from '../../api/csv';
import { api } from '../api';
import { useRunRefresh } from '../useRunRefresh';
import { useDevice } from '../useDevice';
import { useApi } from '../useApi';
import { BanditRunOptions } from '../components/BanditRunOptions';
import { BanditScatter, domainOf } from '../components/BanditScatter';
import { ErrorNote, StatusBadge } from '../components/Status';
import { OUTCOME_LABELS } from '../components/TrustRegionVsKl';
import { messageOf } from '../../api/errors';
import { pngOfCanvas, saveBlob, saveText } from '../save';
import { formatMeanSe } from '../stats';

/** The columns and rows of the official figure. */
const COLUMNS = [
  { task: 'bandit-25g-far', label: '25G far' },
  { task: 'bandit-25g-hard', label: '25G hard' },
  { task: 'bandit-25g-near', label: '25G near' },
  { task: 'bandit-swiss-far', label: 'Swiss far' },
  { task: 'bandit-swiss-near', label: 'Swiss near' },
];
const ROWS = [
  { algo: 'dtql', label: 'Trust region' },
  { algo: 'kl', label: 'KL' },
] as const;
const OUTCOMES = OUTCOME_LABELS.map(([key]) => key);

type Samples = NonNullable<Awaited<ReturnType<typeof api.getSamples>>>;

/**
 * The paper's toy figure as a reproduction: all five bandit tasks x trust region and KL (x seeds)
 * in the queue with one action, filled into the 5 x 2 grid as they train.
 */
export function ReproducePage() {
  const [params, setParams] = useSearchParams();
  const tag = params.get('tag');
  const runs = useApi(() => (tag === null ? Promise.resolve(null) : api.listRuns({ tag, archived: 'include', limit: MAX_RUN_PAGE })), [tag], (e) => e.type === 'runs-changed');
  const facets = useApi(() => api.getRunFacets({}), [], (e) => e.type === 'runs-changed');
  const tasks = useApi(() => api.listTasks({}), []);
  const device = useDevice();
  // Every bandit task has the same default (quick on a CPU, paper on a GPU) until one is chosen.
  const [chosenPreset, setPreset] = useState<string | null>(null);
  const preset = chosenPreset ?? tasks.data?.find((t) => t.family === 'bandit')?.defaultPresets[device] ?? 'quick';
  const [seedsText, setSeedsText] = useState('');
  const [steps, setSteps] = useState('');
  const [error, setError] = useState<string | null>(null);
  /** Which of a cell's seeds (by rank) the scatters draw; the numbers cover them all. */
  const [shownSeed, setShownSeed] = useState(0);
  const [samples, setSamples] = useState(new Map<number, Samples>());
  const [samplesVersion, setSamplesVersion] = useState(0);
  const [data, setData] = useState(new Map<string, { actions: number[]; rewards: number[] }>());
  const gridRef = useRef<HTMLDivElement>(null);

  const tagged = useMemo(() => runs.data?.runs ?? [], [runs.data]);
  const previous = useMemo(() => (facets.data?.tags ?? []).filter((t) => t.startsWith('reproduction-')).sort().reverse(), [facets.data]);

  useEffect(() => {
    let cancelled = false;
    void Promise.all(COLUMNS.map(async (c) => [c.task, await api.getTaskData({ task: c.task })] as const)).then((entries) => {
      if (!cancelled) setData(new Map(entries));
    });
    return () => {
      cancelled = true;
    };
  }, []);

  useEffect(() => {
    if (tagged.length === 0) return undefined;
    let cancelled = false;
    const load = async () => {
      const entries = await Promise.all(tagged.map(async (r) => [r.id, await api.getSamples({ id: r.id })] as const));
      if (cancelled) return;
      setSamples(new Map(entries.filter((e): e is readonly [number, Samples] => e[1] !== null)));
    };
    void load();
    return () => {
      cancelled = true;
    };
  }, [tagged, samplesVersion]);
  const active = tagged.some((r) => r.status === 'queued' || r.status === 'running' || r.status === 'paused');
  useRunRefresh(
    tagged.map((r) => r.id),
    () => setSamplesVersion((v) => v + 1),
    active,
  );

  const start = async () => {
    setError(null);
    const stepsOverride = parseStepsOverride(steps);
    if ('error' in stepsOverride) {
      setError(stepsOverride.error);
      return;
    }
    const columns: { task: string; seeds: number[] }[] = [];
    for (const c of COLUMNS) {
      const parsed = seedsOrOfficial(seedsText, tasks.data?.find((t) => t.id === c.task), preset);
      if ('error' in parsed) {
        setError(parsed.error);
        return;
      }
      columns.push({ task: c.task, seeds: parsed.seeds });
    }
    const newTag = `reproduction-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;
    try {
      for (const c of columns) {
        for (const r of ROWS) await api.createRuns({ task: c.task, algo: r.algo, preset, seeds: c.seeds, tags: [newTag], overrides: stepsOverride.overrides });
      }
      setParams({ tag: newTag });
    } catch (err) {
      setError(messageOf(err));
    }
  };

  /** The reproduction's runs per grid cell (`algo task`), by seed. */
  const runsByCell = useMemo(() => {
    const cells = new Map<string, RunSummary[]>();
    for (const r of [...tagged].sort((a, b) => a.seed - b.seed)) {
      const key = `${r.algo} ${r.task}`;
      cells.set(key, [...(cells.get(key) ?? []), r]);
    }
    return cells;
  }, [tagged]);
  const cellRuns = (task: string, algo: string): RunSummary[] => runsByCell.get(`${algo} ${task}`) ?? [];
  const seedsPerCell = Math.max(0, ...[...runsByCell.values()].map((cell) => cell.length));
  const shownRun = (cell: RunSummary[]): RunSummary | undefined => cell[Math.min(shownSeed, cell.length - 1)];

  const exportCsv = () => {
    const rows = tagged.map((r) => {
      const s = samples.get(r.id);
      return [r.task, r.algo, r.seed, r.id, r.status, s?.step ?? null, ...OUTCOMES.map((k) => s?.outcome[k] ?? null)];
    });
    const csv = toCsv(['task', 'algo', 'seed', 'run_id', 'status', 'step', ...OUTCOMES], rows);
    saveText(`${tag ?? 'reproduction'}.csv`, csv, 'text/csv;charset=utf-8');
  };

  const exportPng = () => {
    const canvases = [...(gridRef.current?.querySelectorAll('canvas') ?? [])];
    if (canvases.length === 0) return;
    const w = (canvases[0] as HTMLCanvasElement).width;
    const h = (canvases[0] as HTMLCanvasElement).height;
    const out = document.createElement('canvas');
    out.width = COLUMNS.length * w;
    out.height = ROWS.length * (h + 24);
    const ctx = out.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = '#101828';
    ctx.font = '14px sans-serif';
    canvases.forEach((c, i) => {
      const col = i % COLUMNS.length;
      const row = Math.floor(i / COLUMNS.length);
      const column = COLUMNS[col];
      const algo = ROWS[row];
      const shown = column && algo ? shownRun(cellRuns(column.task, algo.algo)) : undefined;
      ctx.fillText(`${algo?.label ?? ''} · ${column?.label ?? ''}${shown ? ` · seed ${shown.seed}` : ''}`, col * w + 4, row * (h + 24) + 16);
      ctx.drawImage(c, col * w, row * (h + 24) + 22);
    });
    void pngOfCanvas(out).then((png) => saveBlob(`${tag ?? 'reproduction'}.png`, png), (err: unknown) => setError(messageOf(err)));
  };

  return (
    <div>
      <h1>Reproduce the toy figure</h1>
      <p className="muted">
        All five 2D bandits with trust region and KL, as the official repository&apos;s figure: top row trust region, bottom row KL.
      </p>
      <div className="form-actions">
        <BanditRunOptions preset={preset} onPreset={setPreset} seedLabel="seeds" seeds={seedsText} onSeeds={setSeedsText} steps={steps} onSteps={setSteps} />
        <button disabled={!tasks.data} onClick={() => void start()}>
          Run all 10 configurations
        </button>
        {previous.length > 0 ? (
          <label>
            open{' '}
            <select value={tag ?? ''} onChange={(e) => setParams({ tag: e.target.value })} aria-label="reproduction">
              <option value="">choose…</option>
              {previous.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        {seedsPerCell > 1 ? (
          <label>
            scatter of{' '}
            <select value={Math.min(shownSeed, seedsPerCell - 1)} onChange={(e) => setShownSeed(Number(e.target.value))} aria-label="scatter of seed">
              {Array.from({ length: seedsPerCell }, (_, i) => (
                <option key={i} value={i}>
                  seed {i + 1} of {seedsPerCell}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <button className="secondary" disabled={tagged.length === 0} onClick={exportCsv}>
          Export CSV
        </button>
        <button className="secondary" disabled={tagged.length === 0} onClick={exportPng}>
          Export PNG
        </button>
      </div>
      {error ? <ErrorNote message={error} /> : null}
      {tag ? (
        <div className="repro-grid" ref={gridRef} data-testid="repro-grid">
          {ROWS.map((row) =>
            COLUMNS.map((col) => {
              const cell = cellRuns(col.task, row.algo);
              const shown = shownRun(cell);
              const dataset = data.get(col.task);
              const outcomes = cell.map((r) => samples.get(r.id)).filter((s): s is Samples => s !== undefined);
              return (
                <figure key={`${row.algo}-${col.task}`} className="repro-cell" data-testid={`cell-${row.algo}-${col.task}`}>
                  <figcaption>
                    {row.label} · {col.label}
                    {shown ? (
                      <>
                        {' '}
                        · seed {shown.seed} <StatusBadge status={shown.status} />
                      </>
                    ) : null}
                  </figcaption>
                  {dataset ? (
                    <BanditScatter data={dataset} policy={shown ? (samples.get(shown.id)?.actions ?? null) : null} domain={domainOf(dataset.actions)} size={200} label={`${row.label} on ${col.label}`} />
                  ) : null}
                  <dl className="outcome small">
                    {OUTCOME_LABELS.map(([k, label]) => (
                      <div key={k}>
                        <dt>{label}</dt>
                        <dd>{formatMeanSe(outcomes.map((s) => s.outcome[k]).filter((v): v is number => v !== undefined))}</dd>
                      </div>
                    ))}
                  </dl>
                </figure>
              );
            }),
          )}
        </div>
      ) : (
        <p className="empty">Start a reproduction, or open an earlier one.</p>
      )}
    </div>
  );
}
