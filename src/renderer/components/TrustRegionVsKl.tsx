import { useEffect, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { type RunDetail, type TaskDto } from '../../api/contract';
import { parseStepsOverride, seedsOrOfficial } from '../form-fields';
import { api } from '../api';
import { useDevice } from '../useDevice';
import { useRunRefresh } from '../useRunRefresh';
import { useApi } from '../useApi';
import { BanditRunOptions } from './BanditRunOptions';
import { BanditScatter, domainOf, scatterSvg } from './BanditScatter';
import { ChartFrame } from './ChartFrame';
import { ErrorNote, StatusBadge } from './Status';
import { messageOf } from '../../api/errors';
import { PAIR_TAG, latestPair } from '../selection';

type Samples = Awaited<ReturnType<typeof api.getSamples>>;

function outsideCount(actions: number[], d: ReturnType<typeof domainOf>): number {
  let n = 0;
  for (let i = 0; i < actions.length; i += 2) {
    const x = actions[i] as number;
    const y = actions[i + 1] as number;
    if (!(x >= d.xMin && x <= d.xMax && y >= d.yMin && y <= d.yMax)) n += 1;
  }
  return n;
}

/** The three bandit outcome numbers of a run, by their stored key, with their labels. */
export const OUTCOME_LABELS = [
  ['meanReward', 'mean reward'],
  ['inSupportFraction', 'in support'],
  ['topModeFraction', 'in best mode'],
] as const;

/** A run's newest policy samples and status, refreshed while it trains. */
function useRunSamples(runId: number | null): { run: RunDetail | null; samples: Samples } {
  const [run, setRun] = useState<RunDetail | null>(null);
  const [samples, setSamples] = useState<Samples>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (runId === null) return undefined;
    let cancelled = false;
    Promise.all([api.getRun({ id: runId }), api.getSamples({ id: runId })]).then(([r, s]) => {
      if (cancelled) return;
      setRun(r);
      setSamples(s);
    }, () => undefined);
    return () => {
      cancelled = true;
    };
  }, [runId, version]);
  useRunRefresh(runId === null ? [] : [runId], () => setVersion((v) => v + 1));
  return { run, samples };
}

function Panel({ title, runId, data, domain, samples, run }: { title: string; runId: number | null; data: { actions: number[]; rewards: number[] }; domain: ReturnType<typeof domainOf>; samples: Samples; run: RunDetail | null }) {
  return (
    <ChartFrame
      title={`${title} ${run?.task ?? ''} run ${runId ?? ''}`}
      className="scatter-panel"
      testId={`panel-${title}`}
      svgOf={() => scatterSvg({ data, policy: samples?.actions ?? null, domain }, `${title}: dataset actions and policy actions`)}
      caption={
        <>
          <strong>{title}</strong>{' '}
          {run ? (
            <>
              <StatusBadge status={run.status} /> <span className="muted small">run {runId} · step {samples?.step ?? 0} of {run.stepsTotal}</span>
            </>
          ) : (
            <span className="muted small">not started</span>
          )}
        </>
      }
    >
      <BanditScatter data={data} policy={samples?.actions ?? null} domain={domain} label={`${title}: dataset actions and policy actions`} />
      {samples ? <p className="muted small">{outsideCount(samples.actions, domain)} of {samples.actions.length / 2} policy actions outside the plotted range (rings on the frame)</p> : null}
      <dl className="outcome" data-testid={`outcome-${title}`}>
        {OUTCOME_LABELS.map(([key, label]) => (
          <div key={key}>
            <dt>{label}</dt>
            <dd>{samples?.outcome[key] !== undefined ? (samples.outcome[key] as number).toFixed(key === 'meanReward' ? 2 : 3) : '-'}</dd>
          </div>
        ))}
      </dl>
    </ChartFrame>
  );
}

/**
 * The paper's toy experiment in one click: trust region and KL with the same seed on a 2D bandit,
 * drawn side by side on the same axes as the official figure does. Opened without a pair in its
 * address, it shows the newest pair started here, running or ended.
 */
export function TrustRegionVsKl() {
  const [params, setParams] = useSearchParams();
  const tasks = useApi(() => api.listTasks({}), []);
  const bandits = (tasks.data ?? []).filter((t: TaskDto) => t.family === 'bandit');
  const pairRuns = useApi(() => api.listRuns({ tag: PAIR_TAG, archived: 'include' }), [], (e) => e.type === 'runs-changed');
  const latest = params.get('tr') || params.get('kl') || params.get('task') ? null : latestPair(pairRuns.data?.runs ?? []);
  const taskId = params.get('task') ?? latest?.task ?? 'bandit-25g-hard';
  const device = useDevice();
  const presetId = params.get('preset') ?? bandits.find((t) => t.id === taskId)?.defaultPresets[device] ?? 'quick';
  const [seed, setSeed] = useState(params.get('seed') ?? '');
  const [steps, setSteps] = useState('');
  const trId = params.get('tr') ? Number(params.get('tr')) : (latest?.tr ?? null);
  const klId = params.get('kl') ? Number(params.get('kl')) : (latest?.kl ?? null);
  const data = useApi(() => api.getTaskData({ task: taskId }), [taskId]);
  const tr = useRunSamples(trId);
  const kl = useRunSamples(klId);
  const [error, setError] = useState<string | null>(null);
  const domain = useMemo(() => domainOf(data.data?.actions ?? []), [data.data]);

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) next.delete(k);
      else next.set(k, v);
    }
    setParams(next);
  };

  const runBoth = async () => {
    setError(null);
    const parsed = seedsOrOfficial(seed, bandits.find((t) => t.id === taskId), presetId);
    if ('error' in parsed || parsed.seeds.length !== 1) {
      setError('error' in parsed && seed.trim() === '' ? parsed.error : 'the seed must be one whole number from 0 to 2147483647, or empty for the official one');
      return;
    }
    const seedNumber = parsed.seeds[0] as number;
    const stepsOverride = parseStepsOverride(steps);
    if ('error' in stepsOverride) {
      setError(stepsOverride.error);
      return;
    }
    try {
      const common = { task: taskId, preset: presetId, seeds: [seedNumber], tags: [PAIR_TAG], overrides: stepsOverride.overrides };
      const [a] = (await api.createRuns({ ...common, algo: 'dtql' })).runIds;
      const [b] = (await api.createRuns({ ...common, algo: 'kl' })).runIds;
      update({ task: taskId, tr: String(a), kl: String(b), seed: String(seedNumber) });
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <section className="tr-vs-kl" aria-label="Trust region versus KL">
      <h2>Trust region versus KL on a 2D bandit</h2>
      <div className="form-actions">
        <label>
          task{' '}
          <select value={taskId} onChange={(e) => update({ task: e.target.value, tr: null, kl: null })} aria-label="bandit task">
            {bandits.map((t) => (
              <option key={t.id} value={t.id}>
                {t.id}
              </option>
            ))}
          </select>
        </label>
        <BanditRunOptions preset={presetId} onPreset={(p) => update({ preset: p })} seedLabel="seed" seeds={seed} onSeeds={setSeed} steps={steps} onSteps={setSteps} />
        <button onClick={() => void runBoth()}>Run trust region and KL</button>
      </div>
      {error ? <ErrorNote message={error} /> : null}
      {data.error ? <ErrorNote message={data.error} /> : null}
      {data.data ? (
        <div className="scatter-pair">
          <Panel title="Trust region" runId={trId} data={data.data} domain={domain} samples={tr.samples} run={tr.run} />
          <Panel title="KL" runId={klId} data={data.data} domain={domain} samples={kl.samples} run={kl.run} />
        </div>
      ) : null}
    </section>
  );
}
