import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { ALGO_LABELS, type Algo } from '../../common/config';
import type { TaskDto } from '../../api/contract';
import { api } from '../api';
import { useAction, useApi } from '../useApi';
import { DatasetImport } from '../components/DatasetImport';
import { ErrorNote } from '../components/Status';
import { NewRunForm } from '../components/NewRunForm';

const onDatasetsChanged = (event: { type: string }) => event.type === 'datasets-changed';

/** A D4RL task: its imported datasets (of fitting sizes), the import, and the run form once one exists. */
function ImportedTask({ task }: { task: TaskDto }) {
  const datasets = useApi(() => api.listDatasets({}), [], onDatasetsChanged);
  const { error, run: act } = useAction();
  if (datasets.error) return <ErrorNote message={datasets.error} />;
  if (!datasets.data) return <p className="muted">Loading datasets…</p>;
  const fitting = datasets.data.filter((d) => d.obsDim === task.obsDim && d.actDim === task.actDim);
  return (
    <>
      <h2>Datasets for this task</h2>
      {fitting.length === 0 ? (
        <p className="empty" data-testid="no-dataset">
          No dataset of this task&apos;s sizes is imported yet: import <code>{task.dataset.kind === 'import' ? task.dataset.d4rlName : task.id}.hdf5</code> (D4RL) or the matching Minari file below.
        </p>
      ) : (
        <table className="grid" data-testid="datasets">
          <thead>
            <tr>
              <th>name</th>
              <th>format</th>
              <th>transitions</th>
              <th>episodes</th>
              <th>return min / mean / max</th>
              <th>for task</th>
              <th>kept as</th>
              <th>runs</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {fitting.map((d) => (
              <tr key={d.id}>
                <td title={d.warnings.join('\n') || d.sha256}>
                  {d.name}
                  {d.warnings.length ? ' ⚠' : ''}
                </td>
                <td>{d.format}</td>
                <td>{d.transitions.toLocaleString()}</td>
                <td>{d.episodes.toLocaleString()}</td>
                <td>{['returnMin', 'returnMean', 'returnMax'].map((k) => d.stats[k]?.toFixed(1) ?? '-').join(' / ')}</td>
                <td>{d.suggestedTask ?? '-'}</td>
                <td title={d.storedPath ?? d.sourcePath ?? ''}>{d.storedPath ? 'copy' : 'reference'}</td>
                <td>{d.runs}</td>
                <td>
                  <button
                    className="secondary"
                    disabled={d.runs > 0}
                    title={d.runs > 0 ? 'runs trained on it' : 'remove it from the app (and its copy)'}
                    onClick={() => window.confirm(`Remove dataset ${d.name}?`) && act(() => api.deleteDataset({ id: d.id }))}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {error ? <ErrorNote message={error} /> : null}
      {task.id.endsWith('-random-v2') ? <GenerateRandom env={task.id.split('-')[0] as 'hopper' | 'halfcheetah' | 'walker2d'} /> : null}
      {/* One per task page: the last import's message belongs to the page it was made on. */}
      <DatasetImport key={task.id} />
      {fitting.length > 0 ? <NewRunForm key={`${task.id}:${fitting.map((d) => d.id).join(',')}`} task={task} datasets={fitting} /> : null}
    </>
  );
}

/** Makes the `-random` data here: uniform random actions in the MuJoCo environment. */
function GenerateRandom({ env }: { env: 'hopper' | 'halfcheetah' | 'walker2d' }) {
  const [size, setSize] = useState('1000000');
  const [seed, setSeed] = useState('0');
  const [busy, setBusy] = useState(false);
  const { error, run: act } = useAction();
  const generate = () => {
    setBusy(true);
    act(() => api.generateDataset({ env, size: Number(size), seed: Number(seed) }).finally(() => setBusy(false)));
  };
  return (
    <section className="dataset-import" aria-label="Generate a dataset">
      <h2>Generate the data here</h2>
      <p className="muted small">Uniform random actions in the MuJoCo {env}, episodes ending as gym's do; D4RL&apos;s random datasets hold 1,000,000 transitions (about a minute or two to make).</p>
      <div className="form-actions">
        <label>
          transitions <input value={size} onChange={(e) => setSize(e.target.value)} inputMode="numeric" aria-label="transitions to generate" disabled={busy} />
        </label>
        <label>
          seed <input value={seed} onChange={(e) => setSeed(e.target.value)} inputMode="numeric" aria-label="generator seed" disabled={busy} />
        </label>
        <button type="button" onClick={generate} disabled={busy}>
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {error ? <ErrorNote message={error} /> : null}
    </section>
  );
}

const FAMILY_TITLES: Record<TaskDto['family'], string> = {
  bandit: '2D bandits (built in)',
  builtin: 'Built in control task',
  d4rl: 'D4RL (import the dataset file)',
};

export function TasksPage() {
  const { taskId } = useParams();
  const tasks = useApi(() => api.listTasks({}), []);
  if (tasks.error) return <ErrorNote message={tasks.error} />;
  if (!tasks.data) return <p className="muted">Loading tasks…</p>;
  const selected = tasks.data.find((t) => t.id === taskId) ?? null;
  const families = [...new Set(tasks.data.map((t) => t.family))];
  return (
    <div className="split">
      <aside className="catalog" aria-label="Task catalog">
        <h1>Tasks</h1>
        {families.map((family) => (
          <section key={family}>
            <h2>{FAMILY_TITLES[family]}</h2>
            <ul className="task-list">
              {tasks.data
                ?.filter((t) => t.family === family)
                .map((t) => (
                  <li key={t.id}>
                    <Link to={`/tasks/${t.id}`} className={t.id === taskId ? 'task active' : 'task'} data-testid={`task-${t.id}`}>
                      {t.id}
                    </Link>
                  </li>
                ))}
            </ul>
          </section>
        ))}
      </aside>
      <section className="detail">{selected ? <TaskDetail task={selected} /> : <p className="muted">Choose a task to see its paper preset.</p>}</section>
    </div>
  );
}

function TaskDetail({ task }: { task: TaskDto }) {
  const algos: Algo[] = ['dtql', 'kl'];
  return (
    <div>
      <h1>{task.title}</h1>
      <p>{task.description}</p>
      <dl className="facts">
        <dt>state / action dims</dt>
        <dd>
          {task.obsDim} / {task.actDim}
        </dd>
        <dt>evaluation</dt>
        <dd>
          {task.evaluation === 'unavailable'
            ? 'no simulator here: trains without evaluation'
            : task.evaluation === 'mujoco' || task.evaluation === 'pendulum'
              ? `MuJoCo (gym v3 model): ${task.presets[0]?.configs.dtql.evalEpisodes ?? 10} episodes every evaluation interval, raw return and D4RL-normalised score`
              : 'the outcome of 1,000 policy actions'}
        </dd>
        <dt>normalised score</dt>
        <dd>{task.score ? `0-100 from reference returns ${task.score.refMin} .. ${task.score.refMax}` : 'none (the task reports its own outcome)'}</dd>
      </dl>
      {task.dataset.kind === 'generated' ? <NewRunForm key={task.id} task={task} /> : <ImportedTask task={task} />}
      {task.presets.map((preset) => (
        <details key={preset.id} className="preset">
          <summary>
            Preset <code>{preset.id}</code>: {preset.description}
          </summary>
          <table className="grid" data-testid={`preset-${preset.id}`}>
            <thead>
              <tr>
                <th>hyperparameter</th>
                {algos.map((a) => (
                  <th key={a}>{ALGO_LABELS[a]}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {Object.keys(preset.configs.dtql).map((key) => (
                <tr key={key}>
                  <td>
                    <code>{key}</code>
                  </td>
                  {algos.map((a) => (
                    <td key={a}>{String(preset.configs[a][key as keyof (typeof preset.configs)['dtql']])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ))}
    </div>
  );
}
