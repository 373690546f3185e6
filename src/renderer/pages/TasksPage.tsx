import { Link, useParams } from 'react-router-dom';
import { ALGO_LABELS, type Algo } from '../../core/config';
import type { TaskDto } from '../../api/contract';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote } from '../components/Status';
import { NewRunForm } from '../components/NewRunForm';

const FAMILY_TITLES: Record<TaskDto['family'], string> = {
  bandit: '2D bandits (built in)',
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
        <dd>{task.evaluation === 'unavailable' ? 'no simulator here: trains without evaluation' : task.evaluation}</dd>
        <dt>normalised score</dt>
        <dd>{task.score ? `0-100 from reference returns ${task.score.refMin} .. ${task.score.refMax}` : 'none (the task reports its own outcome)'}</dd>
      </dl>
      {task.dataset.kind === 'generated' ? (
        <NewRunForm key={task.id} task={task} />
      ) : (
        <p className="empty">Training this task needs its D4RL dataset file, and importing datasets is not available in this version yet.</p>
      )}
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
