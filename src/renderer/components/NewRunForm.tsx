import { useMemo, useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router-dom';
import { parseDecimal, trainConfigSchema, type Algo, type TrainConfig, type TrainConfigKey } from '../../common/config';
import { runNameSchema, tagSchema, type AppInfo, type DatasetDto, type RunDetail, type TaskDto } from '../../api/contract';
import { parseSeedList } from '../form-fields';
import { api } from '../api';
import { useApi } from '../useApi';
import { ErrorNote } from './Status';
import { defaultDataset } from '../selection';
import { messageOf } from '../../api/errors';

/**
 * The form's hyperparameters, in the order a researcher reads them; labels say what they are.
 * `only` marks a setting one algorithm alone reads: the form shows it for that algorithm only.
 */
const FIELDS: { key: TrainConfigKey; label: string; only?: Algo }[] = [
  { key: 'alpha', label: 'alpha (trust-region or KL weight)' },
  { key: 'gamma', label: 'gamma (NLL weight)', only: 'dtql' },
  { key: 'eta', label: 'eta (Q weight)' },
  { key: 'expectile', label: 'expectile' },
  { key: 'discount', label: 'discount' },
  { key: 'tau', label: 'critic target update rate (tau)' },
  { key: 'lr', label: 'learning rate (diffusion model)' },
  { key: 'policyLr', label: 'policy learning rate' },
  { key: 'policyLossSamples', label: 'policy samples per state (policy loss)' },
  { key: 'policyInitLogStd', label: 'initial policy log-std', only: 'dtql' },
  { key: 'criticLr', label: 'critic learning rate' },
  { key: 'lrDecay', label: 'cosine lr decay' },
  { key: 'batchSize', label: 'batch size' },
  { key: 'pretrainSteps', label: 'pretraining steps' },
  { key: 'pretrainCritic', label: 'pretrain the critic too' },
  { key: 'fakeScoreFromDiffusion', label: 'fake score starts from the diffusion model', only: 'kl' },
  { key: 'trainSteps', label: 'training steps' },
  { key: 'scoreHidden', label: 'diffusion network width' },
  { key: 'timeEmbedDim', label: 'diffusion time-embedding size' },
  { key: 'evalInterval', label: 'evaluation interval (steps)' },
  { key: 'evalEpisodes', label: 'evaluation episodes' },
  { key: 'actionSamples', label: 'action-selection samples' },
  { key: 'logInterval', label: 'log interval (steps)' },
  { key: 'checkpointInterval', label: 'checkpoint interval (steps)' },
];

const fieldsOf = (algo: Algo) => FIELDS.filter((f) => !f.only || f.only === algo);

type Draft = Record<TrainConfigKey, string>;

const toDraft = (config: TrainConfig): Draft => Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])) as Draft;

/** Validates one field as typed, with the same schema the API and the CLI use. */
function fieldError(key: TrainConfigKey, text: string): string | null {
  const schema = trainConfigSchema.shape[key];
  const isBool = schema.safeParse(true).success || schema.safeParse(false).success;
  const value = isBool ? text === 'true' : parseDecimal(text);
  if (typeof value === 'string') return value;
  const parsed = schema.safeParse(value);
  return parsed.success ? null : (parsed.error.issues[0]?.message ?? 'invalid');
}

function parseList<T>(text: string, parse: (item: string) => T): T[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parse);
}

interface RunFormProps {
  task: TaskDto;
  datasets?: DatasetDto[];
}

/**
 * The run form of a task, starting from the task's default preset for the device runs train on
 * here (the same default as `dtql train`); D4RL tasks also pick which imported dataset (of fitting
 * sizes) to train on.
 */
export function NewRunForm(props: RunFormProps) {
  const info = useApi(() => api.getInfo({}), []);
  // "New run from this one": the run page links here with ?from=ID, and the form starts from that run.
  const fromId = Number(useSearchParams()[0].get('from'));
  const from = useApi(() => (Number.isInteger(fromId) && fromId > 0 ? api.getRun({ id: fromId }) : Promise.resolve(null)), [fromId]);
  if (info.error) return <ErrorNote message={info.error} />;
  if (from.error) return <ErrorNote message={`cannot start from run ${fromId}: ${from.error}`} />;
  if (!info.data || (fromId > 0 && !from.data)) return null;
  const source = from.data?.task === props.task.id ? from.data : null;
  return <RunForm key={source?.id ?? 0} {...props} device={info.data.device} from={source} />;
}

function RunForm({ task, datasets = [], device, from }: RunFormProps & { device: AppInfo['device']; from: RunDetail | null }) {
  const navigate = useNavigate();
  const [presetId, setPresetId] = useState(from && task.presets.some((p) => p.id === from.preset) ? from.preset : task.defaultPresets[device]);
  const preset = task.presets.find((p) => p.id === presetId) ?? task.presets[0];
  const [algo, setAlgo] = useState<Algo>(from?.algo ?? 'dtql');
  const presetConfig = preset?.configs[algo];
  const [draft, setDraft] = useState<Draft | null>(from ? toDraft(from.config) : presetConfig ? toDraft(presetConfig) : null);
  const [seedsText, setSeedsText] = useState(String(from?.seed ?? preset?.defaultSeed ?? 0));
  const [name, setName] = useState(from ? `${from.name} (again)`.slice(0, 200) : '');
  const [tagsText, setTagsText] = useState(from?.tags.join(', ') ?? '');
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const fitting = datasets.filter((d) => d.obsDim === task.obsDim && d.actDim === task.actDim);
  const [datasetId, setDatasetId] = useState<number | null>(fitting.find((d) => d.id === from?.datasetId)?.id ?? defaultDataset(fitting, task.id)?.id ?? null);

  const errors = useMemo(() => {
    const out: Partial<Record<string, string>> = {};
    if (!draft) return out;
    for (const { key } of fieldsOf(algo)) {
      const e = fieldError(key, draft[key]);
      if (e) out[key] = e;
    }
    const seeds = parseSeedList(seedsText);
    if ('error' in seeds) out.seeds = seeds.error;
    if (name.trim() !== '' && !runNameSchema.safeParse(name).success) out.name = 'at most 200 characters, no control characters';
    if (parseList(tagsText, (t) => tagSchema.safeParse(t)).some((r) => !r.success)) out.tags = 'tags have 1-64 characters each';
    return out;
  }, [draft, algo, seedsText, name, tagsText]);

  if (!preset || !presetConfig || !draft) return null;
  const changed = fieldsOf(algo).filter(({ key }) => draft[key] !== String(presetConfig[key]));
  const valid = Object.keys(errors).length === 0;
  const seeds = parseSeedList(seedsText);
  const seedCount = 'seeds' in seeds ? seeds.seeds.length : 0;

  const chooseAlgo = (next: Algo) => {
    setAlgo(next);
    setDraft(toDraft(preset.configs[next]));
  };

  /** Another preset of the task: its settings and its seed replace the form's. */
  const choosePreset = (id: string) => {
    const next = task.presets.find((p) => p.id === id);
    if (!next) return;
    setPresetId(id);
    setDraft(toDraft(next.configs[algo]));
    setSeedsText(String(next.defaultSeed));
  };

  const start = async () => {
    setBusy(true);
    setSubmitError(null);
    try {
      const overrides: Partial<TrainConfig> = {};
      for (const { key } of changed) {
        const isBool = typeof presetConfig[key] === 'boolean';
        (overrides as Record<string, number | boolean>)[key] = isBool ? draft[key] === 'true' : Number(draft[key]);
      }
      await api.createRuns({
        task: task.id,
        algo,
        preset: preset.id,
        seeds: 'seeds' in seeds ? seeds.seeds : [],
        name: name.trim() === '' ? undefined : name.trim(),
        tags: parseList(tagsText, (t) => t),
        overrides,
        dataset: task.dataset.kind === 'import' && datasetId !== null ? datasetId : undefined,
      });
      navigate('/live');
    } catch (err) {
      setSubmitError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="run-form"
      aria-label="New run"
      onSubmit={(e) => {
        e.preventDefault();
        if (valid) void start();
      }}
    >
      <h2>New run</h2>
      {from ? (
        <p className="muted small" data-testid="run-form-source">
          Starting from run {from.id} ({from.name}): its algorithm, preset, settings, seed, tags{from.datasetId !== null ? ' and dataset' : ''}. Edit, then start.
        </p>
      ) : null}
      {task.dataset.kind === 'import' ? (
        <div className="form-row">
          <label htmlFor="field-dataset">dataset</label>
          <select id="field-dataset" value={datasetId ?? ''} onChange={(e) => setDatasetId(Number(e.target.value))}>
            {fitting.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} ({d.transitions.toLocaleString()} transitions{d.warnings.length ? `; ${d.warnings.length === 1 ? '1 warning' : `${d.warnings.length} warnings`}` : ''})
              </option>
            ))}
          </select>
          <span className="field-note">imported datasets with {task.obsDim} / {task.actDim} observation / action sizes</span>
        </div>
      ) : null}
      <div className="form-row">
        <label htmlFor="field-preset">preset</label>
        <select id="field-preset" value={preset.id} onChange={(e) => choosePreset(e.target.value)}>
          {task.presets.map((p) => (
            <option key={p.id} value={p.id}>
              {p.id}
              {p.id === task.defaultPresets[device] ? ` (default on this ${device.toUpperCase()})` : ''}
            </option>
          ))}
        </select>
        <span className="field-note" data-testid="preset-description">
          {preset.description}
        </span>
      </div>
      <div className="form-row">
        <label htmlFor="field-algo">algorithm</label>
        <select id="field-algo" value={algo} onChange={(e) => chooseAlgo(e.target.value as Algo)}>
          <option value="dtql">Trust region (DTQL)</option>
          <option value="kl">KL baseline (DQL-KL)</option>
        </select>
      </div>
      {fieldsOf(algo).map(({ key, label }) => {
        const isBool = typeof presetConfig[key] === 'boolean';
        const differs = draft[key] !== String(presetConfig[key]);
        return (
          <div className={`form-row${differs ? ' changed' : ''}`} key={key}>
            <label htmlFor={`field-${key}`}>{label}</label>
            {isBool ? (
              <select id={`field-${key}`} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}>
                <option value="false">off</option>
                <option value="true">on</option>
              </select>
            ) : (
              <input
                id={`field-${key}`}
                inputMode="decimal"
                value={draft[key]}
                aria-invalid={errors[key] ? true : undefined}
                onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}
              />
            )}
            <span className="field-note" data-testid={`note-${key}`}>
              {errors[key] ? <span className="field-error">{errors[key]}</span> : differs ? `preset: ${String(presetConfig[key])}` : ''}
            </span>
          </div>
        );
      })}
      <div className="form-row">
        <label htmlFor="field-seeds">seeds</label>
        <input id="field-seeds" value={seedsText} onChange={(e) => setSeedsText(e.target.value)} aria-invalid={errors.seeds ? true : undefined} />
        <span className="field-note">{errors.seeds ? <span className="field-error">{errors.seeds}</span> : 'one run per seed, e.g. 0, 1, 2'}</span>
      </div>
      <div className="form-row">
        <label htmlFor="field-name">run name</label>
        <input id="field-name" value={name} placeholder={`${task.id} ${algo}`} onChange={(e) => setName(e.target.value)} />
        <span className="field-note">{errors.name ? <span className="field-error">{errors.name}</span> : ''}</span>
      </div>
      <div className="form-row">
        <label htmlFor="field-tags">tags</label>
        <input id="field-tags" value={tagsText} placeholder="comma, separated" onChange={(e) => setTagsText(e.target.value)} />
        <span className="field-note">{errors.tags ? <span className="field-error">{errors.tags}</span> : ''}</span>
      </div>
      <div className="form-actions">
        <button type="submit" disabled={!valid || busy}>
          Start {seedCount > 1 ? `${seedCount} runs` : 'run'}
        </button>
        <button type="button" className="secondary" disabled={changed.length === 0} onClick={() => setDraft(toDraft(presetConfig))}>
          Reset to {preset.id} preset
        </button>
        <span className="muted small" data-testid="changed-count">
          {changed.length === 0 ? `the ${preset.id} preset` : `${changed.length} changed from the ${preset.id} preset: ${changed.map((c) => c.key).join(', ')}`}
        </span>
      </div>
      {submitError ? <ErrorNote message={submitError} /> : null}
    </form>
  );
}
