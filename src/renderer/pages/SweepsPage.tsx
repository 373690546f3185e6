import { useMemo, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import YAML from 'yaml';
import { ALGO_LABELS, trainConfigSchema, type Algo } from '../../common/config';
import { formatSweepPoint, sweepSpecSchema, type SettingsDto, type SweepPreview, type SweepSpec, type SweepValue } from '../../api/contract';
import { parseSeedList } from '../form-fields';
import { api } from '../api';
import { useDevice } from '../useDevice';
import { useAction, useApi } from '../useApi';
import { ErrorNote } from '../components/Status';
import { formatDuration } from '../../common/format';
import { messageOf } from '../../api/errors';

const HYPERPARAMETERS = Object.keys(trainConfigSchema.shape);
const onRunsChanged = (event: { type: string }) => event.type === 'runs-changed';

interface Axis {
  key: string;
  values: string;
}

/** "1, 5, 20" or "true, false" as typed values; text stays text so the back end names what is wrong. */
function parseValues(text: string): SweepValue[] {
  return text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => (v === 'true' ? true : v === 'false' ? false : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v));
}

/** The grid builder: task, algorithms, seeds, steps and any hyperparameter axes, as a sweep file. */
function SweepBuilder() {
  const tasks = useApi(() => api.listTasks({}), []);
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [taskId, setTaskId] = useState('bandit-25g-near');
  // The task's default for this machine until one is chosen; another task starts from its own.
  const [chosenPreset, setPreset] = useState<string | null>(null);
  const [algos, setAlgos] = useState<Algo[]>(['dtql', 'kl']);
  const [seeds, setSeeds] = useState('0, 1');
  const [steps, setSteps] = useState('');
  const [axes, setAxes] = useState<Axis[]>([{ key: 'alpha', values: '1, 5' }]);
  const [editFile, setEditFile] = useState(false);
  const [fileText, setFileText] = useState('');
  // A preview (or the back end's refusal) holds for the request it was made for, and only while the form still says that.
  const [preview, setPreview] = useState<{ key: string; result: SweepPreview } | { key: string; refused: string } | null>(null);
  const { error, busy, run: act } = useAction();
  const task = tasks.data?.find((t) => t.id === taskId);
  const device = useDevice();
  const preset = useMemo(() => chosenPreset ?? task?.defaultPresets[device] ?? '', [chosenPreset, task, device]);

  const built = useMemo((): { spec: SweepSpec } | { error: string } => {
    const seedList = parseSeedList(seeds);
    if ('error' in seedList) return { error: seedList.error };
    if (algos.length === 0) return { error: 'choose at least one algorithm' };
    const spec: SweepSpec = { task: taskId, preset, algo: algos.length === 1 ? (algos[0] as Algo) : algos, seed: seedList.seeds.length === 1 ? (seedList.seeds[0] as number) : seedList.seeds };
    if (steps.trim()) spec.steps = Number(steps);
    for (const axis of axes) {
      const values = parseValues(axis.values);
      spec[axis.key] = values.length === 1 ? (values[0] as SweepValue) : values;
    }
    return { spec };
  }, [taskId, preset, algos, seeds, steps, axes]);

  const fromFile = useMemo((): { spec: SweepSpec } | { error: string } => {
    try {
      const parsed = sweepSpecSchema.safeParse(YAML.parse(fileText));
      return parsed.success ? { spec: parsed.data } : { error: `the sweep file: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'file'}: ${i.message}`).join('; ')}` };
    } catch (err) {
      return { error: `the sweep file is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}` };
    }
  }, [fileText]);

  const current = editFile ? fromFile : built;
  const yamlText = 'spec' in built ? YAML.stringify(built.spec) : '';
  const request = () => {
    if ('error' in current) throw new Error(current.error);
    return { spec: current.spec, ...(name.trim() ? { name: name.trim() } : {}) };
  };
  const requestKey = JSON.stringify('error' in current ? current : { spec: current.spec, name: name.trim() });
  const shown = preview?.key === requestKey ? preview : null;
  const refused = shown && 'refused' in shown ? shown.refused : null;
  const previewNow = () =>
    act(async () => {
      const key = requestKey;
      try {
        setPreview({ key, result: await api.previewSweep(request()) });
      } catch (err) {
        setPreview({ key, refused: messageOf(err) });
      }
    });

  return (
    <section className="run-form" aria-label="New sweep">
      <h2>New sweep</h2>
      <div className="form-row">
        <label htmlFor="sweep-name">name</label>
        <input id="sweep-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="(the axes it sweeps)" />
        <span />
      </div>
      <fieldset disabled={editFile} style={{ border: 'none', padding: 0, margin: 0 }}>
        <div className="form-row">
          <label htmlFor="sweep-task">task</label>
          <select
            id="sweep-task"
            value={taskId}
            onChange={(e) => {
              setTaskId(e.target.value);
              setPreset(null);
            }}
          >
            {(tasks.data ?? []).map((t) => (
              <option key={t.id} value={t.id}>
                {t.id}
              </option>
            ))}
          </select>
          <span />
        </div>
        <div className="form-row">
          <label htmlFor="sweep-preset">preset</label>
          <select id="sweep-preset" value={preset} onChange={(e) => setPreset(e.target.value)}>
            {(task?.presets ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.id}
              </option>
            ))}
          </select>
          <span className="field-note">{task?.presets.find((p) => p.id === preset)?.description}</span>
        </div>
        <div className="form-row">
          <span>algorithms</span>
          <span>
            {(['dtql', 'kl'] as Algo[]).map((a) => (
              <label key={a} style={{ marginRight: '1rem' }}>
                <input type="checkbox" checked={algos.includes(a)} onChange={() => setAlgos(algos.includes(a) ? algos.filter((x) => x !== a) : [...algos, a])} data-testid={`sweep-algo-${a}`} /> {ALGO_LABELS[a]}
              </label>
            ))}
          </span>
          <span />
        </div>
        <div className="form-row">
          <label htmlFor="sweep-seeds">seeds</label>
          <input id="sweep-seeds" value={seeds} onChange={(e) => setSeeds(e.target.value)} />
          <span className="field-note">comma-separated; every grid point runs with each</span>
        </div>
        <div className="form-row">
          <label htmlFor="sweep-steps">joint training steps</label>
          <input id="sweep-steps" value={steps} onChange={(e) => setSteps(e.target.value)} placeholder="(the preset's)" />
          <span />
        </div>
        <div className="sweep-axes">
          {axes.map((axis, i) => (
            <div className="sweep-axis" key={i}>
              <select value={axis.key} onChange={(e) => setAxes(axes.map((a, j) => (j === i ? { ...a, key: e.target.value } : a)))} aria-label={`axis ${i + 1} hyperparameter`}>
                {HYPERPARAMETERS.map((k) => (
                  <option key={k} value={k} disabled={k !== axis.key && axes.some((a) => a.key === k)}>
                    {k}
                  </option>
                ))}
              </select>
              <input value={axis.values} onChange={(e) => setAxes(axes.map((a, j) => (j === i ? { ...a, values: e.target.value } : a)))} aria-label={`axis ${i + 1} values`} placeholder="values, comma-separated" />
              <button className="secondary" onClick={() => setAxes(axes.filter((_, j) => j !== i))}>
                Remove
              </button>
            </div>
          ))}
          <div>
            <button className="secondary" onClick={() => setAxes([...axes, { key: HYPERPARAMETERS.find((k) => !axes.some((a) => a.key === k)) ?? 'alpha', values: '' }])} data-testid="sweep-add-axis">
              Add a hyperparameter axis
            </button>
          </div>
        </div>
      </fieldset>
      <details open={editFile}>
        <summary>Sweep file (YAML, as `dtql sweep FILE` reads it)</summary>
        <label className="small">
          <input
            type="checkbox"
            checked={editFile}
            onChange={(e) => {
              setEditFile(e.target.checked);
              if (e.target.checked) setFileText(yamlText);
            }}
            data-testid="sweep-edit-file"
          />{' '}
          edit the file directly
        </label>
        <textarea className="sweep-yaml" value={editFile ? fileText : yamlText} readOnly={!editFile} onChange={(e) => setFileText(e.target.value)} aria-label="sweep file" data-testid="sweep-file" />
      </details>
      {'error' in current ? <p className="field-error">{current.error}</p> : null}
      <div className="form-actions">
        <button className="secondary" disabled={busy || 'error' in current} onClick={previewNow} data-testid="sweep-preview">
          Preview
        </button>
        <button
          disabled={busy || 'error' in current || refused !== null}
          onClick={() =>
            act(async () => {
              const { sweepId } = await api.createSweep(request());
              navigate(`/compare?sweep=${sweepId}`);
            })
          }
          data-testid="sweep-queue"
        >
          Queue the sweep
        </button>
      </div>
      {error ? <ErrorNote message={error} /> : null}
      {refused ? <ErrorNote message={refused} /> : null}
      {shown && 'result' in shown ? (
        <div data-testid="sweep-preview-result">
          <p>
            <strong>{shown.result.count} runs</strong> over {shown.result.axes.join(' × ') || 'one grid point'} (limit {shown.result.maxRuns}).{' '}
            {shown.result.estimate.seconds === null
              ? 'No finished runs of these tasks here to estimate the time from.'
              : `About ${formatDuration(shown.result.estimate.seconds)} at ${shown.result.estimate.concurrency} at once${shown.result.estimate.unmeasured ? ` for the ${shown.result.estimate.measuredRuns} runs with measured speeds` : ''}.`}
          </p>
          <table className="grid">
            <thead>
              <tr>
                <th>task</th>
                <th>algorithm</th>
                <th>seed</th>
                <th>steps</th>
                <th>grid point</th>
              </tr>
            </thead>
            <tbody>
              {shown.result.runs.slice(0, 200).map((r, i) => (
                <tr key={i}>
                  <td>{r.task}</td>
                  <td>{r.algo}</td>
                  <td>{r.seed}</td>
                  <td>{r.steps}</td>
                  <td>{formatSweepPoint(r.point)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.result.count > shown.result.runs.length ? (
            <p className="muted small">
              Showing the first {shown.result.runs.length} of {shown.result.count.toLocaleString('en-US')}.
            </p>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

/** Where runs train: here, or on remote `dtql worker`s through Redis (saved in the store, used after a restart). */
function ScalingOut() {
  const settings = useApi(() => api.getSettings({}), []);
  const [url, setUrl] = useState('');
  const [saved, setSaved] = useState<SettingsDto | null>(null);
  const { error, busy, run: act } = useAction();
  const current = saved ?? settings.data;
  return (
    <section className="dataset-import" aria-label="Scaling out">
      <h2>Scaling out</h2>
      {current ? (
        <p className="small" data-testid="queue-mode">
          Runs train {current.queue === 'remote' ? 'on remote workers through Redis' : 'on this machine'}.
          {current.redisUrl ? ` Saved Redis: ${current.redisUrl}.` : ''}
          {current.restartNeeded ? ' Restart the app to apply the saved setting.' : ''}
        </p>
      ) : null}
      <div className="form-actions">
        <input className="wide" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="redis://user:password@host:6379 (rediss:// for TLS)" aria-label="Redis URL" />
        <button className="secondary" disabled={busy || !url.trim()} onClick={() => act(async () => setSaved(await api.updateSettings({ redisUrl: url.trim() })))} data-testid="save-redis">
          Use Redis
        </button>
        <button className="secondary" disabled={busy || !current?.redisUrl} onClick={() => act(async () => setSaved(await api.updateSettings({ redisUrl: null })))}>
          Train here
        </button>
      </div>
      <p className="muted small">Start <code>dtql worker --redis URL</code> on each machine that should train; the URL is checked before it is saved.</p>
      {error ? <ErrorNote message={error} /> : null}
    </section>
  );
}

export function SweepsPage() {
  const sweeps = useApi(() => api.listSweeps({}), [], onRunsChanged);
  const { error, run: act } = useAction();
  return (
    <div>
      <h1>Sweeps</h1>
      <p className="muted">A grid over tasks, algorithms, hyperparameters and seeds, queued as one sweep. The same file runs headless with <code>dtql sweep FILE</code>.</p>
      <SweepBuilder />
      <ScalingOut />
      <h2>Sweeps here</h2>
      {sweeps.error ? <ErrorNote message={sweeps.error} /> : null}
      {error ? <ErrorNote message={error} /> : null}
      {sweeps.data && sweeps.data.length === 0 ? <p className="empty">No sweeps yet.</p> : null}
      {sweeps.data && sweeps.data.length > 0 ? (
        <table className="grid" data-testid="sweeps">
          <thead>
            <tr>
              <th>id</th>
              <th>name</th>
              <th>axes</th>
              <th>runs</th>
              <th>created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sweeps.data.map((s) => (
              <tr key={s.id}>
                <td>{s.id}</td>
                <td>{s.name}</td>
                <td>{s.axes.join(' × ')}</td>
                <td>
                  {s.runs} (
                  {Object.entries(s.statuses)
                    .map(([status, n]) => `${n} ${status}`)
                    .join(', ')}
                  )
                </td>
                <td>{new Date(s.createdAt).toLocaleString()}</td>
                <td className="row-actions">
                  <Link to={`/compare?sweep=${s.id}`}>Compare</Link>{' '}
                  <button className="secondary" onClick={() => act(() => api.exportCsv('sweep', { sweep: s.id }))}>
                    Summary CSV
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
