import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { useVirtualizer } from '@tanstack/react-virtual';
import { runSortKeys, type ExportKind, type RunFilter, type RunSortKey, type RunSummary } from '../../api/contract';
import { api } from '../api';
import { useAction, useApi } from '../useApi';
import { usePagedRuns } from '../usePagedRuns';
import { ErrorNote, SortButton, StatusBadge, formatTime } from '../components/Status';
import { formatDuration } from '../../common/format';

const onRunsChanged = (event: { type: string }) => event.type === 'runs-changed';
const ROW_HEIGHT = 38;

/**
 * Fixed widths where the content is short, shares of what is left for name, tags and notes, so the
 * table fits a 1280-pixel window (backend and wall-clock time are in the tooltips of name and duration).
 */
const COLUMNS: { key: RunSortKey | null; label: string; width: string; title?: string }[] = [
  { key: 'id', label: 'id', width: '3em' },
  { key: 'name', label: 'name', width: 'minmax(6em, 1.4fr)' },
  { key: 'task', label: 'task', width: '9em' },
  { key: 'algo', label: 'algo', width: '4.5em' },
  { key: 'seed', label: 'seed', width: '4.5em' },
  { key: 'status', label: 'status', width: '6.5em' },
  { key: 'startedAt', label: 'started', width: '7em' },
  { key: 'durationSec', label: 'duration', width: '7.75em', title: 'training time, pauses and stops left out' },
  { key: 'stepsDone', label: 'steps', width: '7em' },
  { key: 'bestScore', label: 'best', width: '5.5em', title: 'D4RL-normalised score (0-100); "r" marks a bandit\'s mean reward instead' },
  { key: 'finalScore', label: 'final', width: '5.5em', title: 'D4RL-normalised score (0-100); "r" marks a bandit\'s mean reward instead' },
  { key: null, label: 'tags', width: 'minmax(5em, 0.8fr)' },
  { key: null, label: 'notes', width: 'minmax(5em, 1fr)' },
  { key: null, label: '', width: '9.5em' },
];
const GRID = { gridTemplateColumns: `2em ${COLUMNS.map((c) => c.width).join(' ')}` };

/** Local calendar days from the date inputs, as the inclusive time range the store filters on. */
function dayStart(day: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime() : undefined;
}
function dayEnd(day: string): number | undefined {
  const start = dayStart(day);
  return start === undefined ? undefined : start + 24 * 3600 * 1000 - 1;
}

/** The store filter a History URL describes; unknown values are dropped rather than sent. */
export function filterOf(params: URLSearchParams): RunFilter {
  const get = (k: string) => params.get(k) || undefined;
  const sort = get('sort');
  const archived = get('archived');
  const algo = get('algo');
  return {
    task: get('task'),
    algo: algo === 'dtql' || algo === 'kl' ? algo : undefined,
    status: get('status') as RunFilter['status'],
    tag: get('tag'),
    text: get('q'),
    from: dayStart(params.get('from') ?? ''),
    to: dayEnd(params.get('to') ?? ''),
    archived: archived === 'include' || archived === 'only' ? archived : 'exclude',
    sort: runSortKeys.includes(sort as RunSortKey) ? (sort as RunSortKey) : 'id',
    dir: get('dir') === 'asc' ? 'asc' : 'desc',
  };
}

/** A score where the task has one, else its own outcome (the bandit mean reward), marked "r" so the two never read alike. */
function scoreCell(score: number | null, reward: number | null | undefined) {
  if (score !== null) return <span title="D4RL-normalised score (0-100)">{score.toFixed(1)}</span>;
  if (reward !== null && reward !== undefined)
    return (
      <span title="mean reward of 1,000 policy actions (a bandit has no normalised score)">
        {reward.toFixed(2)} <span className="muted">r</span>
      </span>
    );
  return '-';
}

/** The editable tags and notes cells of a row; each saves on Enter or on leaving it, and shows why a save failed. */
function RunNotes({ run }: { run: RunSummary }) {
  const [notes, setNotes] = useState(run.notes);
  const [tags, setTags] = useState(run.tags.join(', '));
  const { error, run: act } = useAction();
  const save = () => {
    const tagList = tags.split(',').map((t) => t.trim()).filter((t) => t !== '');
    act(() => api.updateRun({ id: run.id, notes, tags: tagList }));
  };
  // Enter saves by leaving the field, so a save never runs twice for one edit.
  const saveOnEnter = (e: React.KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') e.currentTarget.blur();
  };
  return (
    <>
      <div className="cell">
        <input className="cell-input" aria-label={`tags of run ${run.id}`} value={tags} onChange={(e) => setTags(e.target.value)} onBlur={save} onKeyDown={saveOnEnter} />
      </div>
      <div className="cell">
        <input className="cell-input" aria-label={`notes of run ${run.id}`} value={notes} onChange={(e) => setNotes(e.target.value)} onBlur={save} onKeyDown={saveOnEnter} title={error ?? notes} />
        {error ? <span className="field-error">{error}</span> : null}
      </div>
    </>
  );
}

function RunRow({ run, selected, onSelect, act }: { run: RunSummary; selected: boolean; onSelect: (on: boolean) => void; act: (call: () => Promise<unknown>) => void }) {
  return (
    <>
      <div className="cell">
        <input type="checkbox" aria-label={`select run ${run.id}`} checked={selected} onChange={(e) => onSelect(e.target.checked)} />
      </div>
      <div className="cell">{run.id}</div>
      <div className="cell" title={`${run.name} · ${run.backend ?? 'not started'}`}>
        <Link to={`/runs/${run.id}`}>{run.name}</Link>
      </div>
      <div className="cell">{run.task}</div>
      <div className="cell">{run.algo}</div>
      <div className="cell">{run.seed}</div>
      <div className="cell" title={run.error ?? undefined}>
        <StatusBadge status={run.status} />
      </div>
      <div className="cell">{formatTime(run.startedAt)}</div>
      <div className="cell" title={run.wallSec !== null ? `training time; ${formatDuration(run.wallSec)} from first start to last end` : 'training time'}>
        {formatDuration(run.durationSec)}
      </div>
      <div className="cell">
        {run.stepsDone.toLocaleString()} / {run.stepsTotal.toLocaleString()}
      </div>
      <div className="cell">{scoreCell(run.bestScore, run.bestReward)}</div>
      <div className="cell">{scoreCell(run.finalScore, run.finalMetrics.meanReward)}</div>
      <RunNotes key={`${run.id}:${run.notes}:${run.tags.join(',')}`} run={run} />
      <div className="cell row-actions">
        <button className="secondary" onClick={() => act(() => api.updateRun({ id: run.id, archived: !run.archived }))}>
          {run.archived ? 'Unarchive' : 'Archive'}
        </button>
        <button
          className="secondary"
          onClick={() => {
            if (window.confirm(`Delete run ${run.id} (${run.name}) with its metrics and checkpoints?`)) act(() => api.deleteRun({ id: run.id }));
          }}
        >
          Delete
        </button>
      </div>
    </>
  );
}

export function HistoryPage() {
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const filter = filterOf(params);
  const runs = usePagedRuns(filter);
  const facets = useApi(() => api.getRunFacets({}), [], onRunsChanged);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [exported, setExported] = useState<string | null>(null);
  const { error, run: act } = useAction();
  const scroller = useRef<HTMLDivElement>(null);
  const count = runs.error ? 0 : (runs.total ?? 0);
  // eslint-disable-next-line react-hooks/incompatible-library -- this app does not use the React Compiler
  const virtualizer = useVirtualizer({ count, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 12 });
  const items = virtualizer.getVirtualItems();
  const firstRow = items[0]?.index ?? 0;
  const lastRow = items[items.length - 1]?.index ?? 0;
  const { show } = runs;
  useEffect(() => show(firstRow, lastRow), [show, firstRow, lastRow]);
  /** The row the keyboard is on: arrows move it, space selects its run, Enter opens it. */
  const [cursor, setCursor] = useState<number | null>(null);
  const toggle = (id: number, on: boolean) =>
    setSelected((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const onTableKey = (e: React.KeyboardEvent<HTMLDivElement>) => {
    // Keys typed into a row's notes or tags stay there.
    if (e.target !== e.currentTarget || count === 0) return;
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, Home: -count, End: count };
    const move = moves[e.key];
    if (move !== undefined) {
      e.preventDefault();
      const next = Math.min(count - 1, Math.max(0, (cursor ?? -1) + move));
      setCursor(next);
      virtualizer.scrollToIndex(next, { align: 'auto' });
      return;
    }
    const run = cursor === null ? undefined : runs.at(cursor);
    if (!run) return;
    if (e.key === ' ') {
      e.preventDefault();
      toggle(run.id, !selected.has(run.id));
    } else if (e.key === 'Enter') navigate(`/runs/${run.id}`);
  };

  const get = (k: string) => params.get(k) ?? '';
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };

  if (facets.error) return <ErrorNote message={facets.error} />;
  if (!facets.data) return <p className="muted">Loading runs…</p>;
  const f = facets.data;
  const chosen = [...selected];
  const loaded = runs.loaded();
  const allChosen = loaded.length > 0 && loaded.every((r) => selected.has(r.id));
  const exportCsv = (kind: ExportKind) => {
    setExported(null);
    const selection: RunFilter = chosen.length > 0 ? { ids: chosen, archived: 'include' } : filter;
    act(async () => {
      const where = await api.exportCsv(kind, selection);
      if (where) setExported(`Saved ${where}`);
    });
  };
  const sortBy = (k: RunSortKey) => set({ sort: k, dir: filter.sort === k && filter.dir === 'desc' ? 'asc' : 'desc' });

  return (
    <div>
      <h1>History</h1>
      {f.runCount === 0 ? (
        <p className="empty" data-testid="history-empty">
          No runs yet. Start one from the Tasks page or with <code>dtql train</code>.
        </p>
      ) : (
        <>
          <div className="form-actions filters" aria-label="Filters">
            <input placeholder="search name and notes" value={get('q')} onChange={(e) => set({ q: e.target.value })} aria-label="search" />
            {(
              [
                ['task', 'task filter', 'all tasks', f.tasks],
                ['algo', 'algorithm filter', 'all algorithms', f.algos],
                ['status', 'status filter', 'all statuses', f.statuses],
                ['tag', 'tag filter', 'all tags', f.tags],
              ] as const
            ).map(([key, label, all, values]) => (
              <select key={key} value={get(key)} onChange={(e) => set({ [key]: e.target.value })} aria-label={label}>
                <option value="">{all}</option>
                {values.map((v) => (
                  <option key={v} value={v}>
                    {v}
                  </option>
                ))}
              </select>
            ))}
            <label>
              from <input type="date" value={get('from')} onChange={(e) => set({ from: e.target.value })} aria-label="created from" />
            </label>
            <label>
              to <input type="date" value={get('to')} onChange={(e) => set({ to: e.target.value })} aria-label="created to" />
            </label>
            <select value={filter.archived} onChange={(e) => set({ archived: e.target.value === 'exclude' ? '' : e.target.value })} aria-label="archived filter">
              <option value="exclude">hide archived</option>
              <option value="include">with archived</option>
              <option value="only">archived only</option>
            </select>
            <span className="muted small" data-testid="history-count">
              {runs.total === null ? '…' : runs.total.toLocaleString('en-US')} of {f.runCount.toLocaleString('en-US')} runs
            </span>
          </div>
          <div className="form-actions">
            <button disabled={chosen.length === 0} onClick={() => navigate(`/compare?ids=${[...chosen].sort((a, b) => b - a).join(',')}`)} data-testid="compare-selected">
              Compare selected ({chosen.length})
            </button>
            <button className="secondary" disabled={count === 0} onClick={() => exportCsv('runs')} data-testid="export-runs">
              Export {chosen.length > 0 ? 'selected' : 'shown'} runs (CSV)
            </button>
            <button className="secondary" disabled={count === 0} onClick={() => exportCsv('metrics')} data-testid="export-metrics">
              Export their metrics (CSV)
            </button>
            {chosen.length > 0 ? (
              <button className="secondary" onClick={() => setSelected(new Set())}>
                Clear selection
              </button>
            ) : null}
            {exported ? <span className="muted small">{exported}</span> : null}
          </div>
          {error ? <ErrorNote message={error} /> : null}
          {runs.error ? <ErrorNote message={`These filters cannot be applied: ${runs.error}`} /> : null}
          <p className="muted small">Keyboard: click the table (or Tab to it), then ↑ ↓ Page Up/Down to move, space to select, Enter to open.</p>
          <div className="vtable" ref={scroller} data-testid="history-table" role="table" aria-rowcount={count + 1} tabIndex={0} onKeyDown={onTableKey}>
            <div className="vrow vhead" style={GRID} role="row">
              <div className="cell">
                <input
                  type="checkbox"
                  aria-label="select every shown run"
                  title="selects the runs fetched so far; Export without a selection takes every run the filters select"
                  checked={allChosen}
                  onChange={(e) => setSelected(e.target.checked ? new Set(loaded.map((r) => r.id)) : new Set())}
                />
              </div>
              {COLUMNS.map((c) =>
                c.key === null ? (
                  <div className="cell" key={c.label || 'actions'} role="columnheader">
                    {c.label}
                  </div>
                ) : (
                  <div className="cell" key={c.key} role="columnheader" title={c.title}>
                    <SortButton label={c.label} sorted={filter.sort === c.key} ascending={filter.dir === 'asc'} onClick={() => sortBy(c.key as RunSortKey)} />
                  </div>
                ),
              )}
            </div>
            {runs.total === 0 ? <p className="muted vempty">No run matches these filters.</p> : null}
            <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
              {items.map((item) => {
                const r = runs.at(item.index);
                const place = { ...GRID, position: 'absolute', top: 0, left: 0, height: ROW_HEIGHT, transform: `translateY(${item.start}px)` } as const;
                if (!r)
                  return (
                    <div key={`row-${item.index}`} className="vrow" role="row" style={place}>
                      <div className="cell muted">…</div>
                    </div>
                  );
                return (
                  <div
                    key={r.id}
                    className={cursor === item.index ? 'vrow cursor' : 'vrow'}
                    role="row"
                    aria-selected={selected.has(r.id)}
                    aria-current={cursor === item.index ? 'true' : undefined}
                    data-testid={`run-row-${r.id}`}
                    style={place}
                  >
                    <RunRow
                      run={r}
                      selected={selected.has(r.id)}
                      onSelect={(on) => toggle(r.id, on)}
                      act={act}
                    />
                  </div>
                );
              })}
            </div>
          </div>
        </>
      )}
    </div>
  );
}
