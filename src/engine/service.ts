import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { planRuns } from './plan';
import { DEFAULT_MAX_SWEEP_RUNS, planSweep, sweepPreview } from './sweep';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { describeIssues } from '../common/config';
import { requireTask, TASKS } from '../core/tasks';
import { trainingDevice } from '../core/tf/device';
import { loadTaskData } from '../core/data/task-data';
import { DEFAULT_MAX_UPLOAD_BYTES, apiMethods, checkpointFormatSchema, exportKindSchema, runIdSchema, runFilterSchema, uploadQuerySchema, type ApiHandlers, type DatasetDto, type ImportOptions, type AppInfo, type ExportKind, type ParsedParamsOf, type ParamsOf, type MethodName, type ParsedRunFilter, type ResultOf, type RunDetail, type RunSummary, createRunsSchema, type CreateRunsRequest } from '../api/contract';
import { badInput, notFound, tooLarge } from '../api/errors';
import { deleteDataset, listDatasets } from '../store/datasets';
import { openReadOnly, schemaVersion, type Db } from '../store/db';
import { exportCsv, exportStream, selectRunIds } from '../store/export';
import { countRuns, deleteRun, eachRun, getRun, insertRuns, listRuns, runFacets, updateRun } from '../store/runs';
import { downsampleMetric, metricNames, metricsAtStep } from '../store/metrics';
import { readSamples } from '../store/samples';
import { getSweep, insertSweep, listSweeps } from '../store/sweeps';
import { REDIS_URL_SETTING, deleteMeta, getMeta, setMeta } from '../store/meta';
import { RemoteQueue } from './remote/remote-queue';
import { connectRedis, redactedRedisUrl } from './remote/remote-protocol';
import { generateDataset, importDataset, uploadDir } from './datasets/datasets';
import { checkpointDir, readNewestCheckpoint, toSafetensors } from './training/checkpoint';
import { listCheckpoints } from '../store/checkpoints';
import type { RunQueue } from './local/run-manager';
import type { NewRun } from '../store/runs';
import type { TrainResult } from './local/train-run';
import type { TrainHooks } from './training/trainer';
import { EventHub } from './events';
import { StoreWatcher } from './store-watch';
import { APP_VERSION } from './version';

export interface ServiceContext {
  db: Db;
  home: string;
  mode: AppInfo['mode'];
  /** Runs runs; without one (read-only tools) starting or controlling runs is refused. */
  runs?: RunQueue;
  /** The most runs one sweep may queue (DEFAULT_MAX_SWEEP_RUNS unless set). */
  maxSweepRuns?: number;
  /** Show runs that other processes of the data folder train, live (the apps: desktop and served). */
  watchStore?: boolean;
  /** The largest dataset upload taken (DEFAULT_MAX_UPLOAD_BYTES unless set). */
  maxUploadBytes?: number;
}

const formatBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`);
const uploadTooLarge = (what: string, max: number) => tooLarge(`${what} is larger than the limit of ${formatBytes(max)} (serve --max-upload-mb raises it); nothing was imported`);

/** Passes bytes through until more than `max` have come, then fails the stream with a 413. */
function byteCap(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(uploadTooLarge('the upload', max));
      else done(null, chunk);
    },
  });
}

export interface Service {
  handlers: ApiHandlers;
  events: EventHub;
  /** Every run a filter selects, in its order, one at a time (the CLI's `runs list`): memory stays flat at any count. */
  eachRun(filter: unknown, limit?: number): Iterable<RunSummary>;
  /**
   * Trains one run in this process, which owns the store (the CLI's `train` and `resume`): a new run
   * (one seed of a create request), a stored run by id, or a new run with a stored run's settings.
   */
  trainHere(what: TrainHereRequest, hooks?: TrainHooks): Promise<TrainResult>;
  /** Generates a random-action MuJoCo dataset here, reporting the fraction done. */
  generateDataset(params: ParamsOf<'generateDataset'>, onProgress?: (fraction: number) => void): Promise<DatasetDto>;
  /** Imports a file the user picked on this machine (the CLI, Electron's open dialog). */
  importFile(file: string, options: ImportOptions): Promise<DatasetDto>;
  /** Imports an uploaded file (served mode): streamed into the data folder, checked, then moved in or removed. */
  importUpload(body: NodeJS.ReadableStream, query: unknown, declaredBytes?: number): Promise<DatasetDto>;
  /** A run's newest readable checkpoint as a download: its file name and bytes (safetensors or the app's own layout). */
  checkpointDownload(id: unknown, format: unknown): { fileName: string; bytes: Buffer };
  /** Throws what an export of this selection would refuse (bad kind or filter, unknown id, nothing selected). */
  checkExport(kind: unknown, filter: unknown): void;
  /** A CSV of the selected runs as a stream; bad input throws before anything is sent. */
  exportStream(kind: unknown, filter: unknown): Readable;
  /** Writes a CSV of the selected runs to a file the user chose. */
  exportFile(kind: unknown, filter: unknown, file: string): Promise<{ rows: number; file: string }>;
  /**
   * A cheap fingerprint of what a read would return, for HTTP revalidation (ETag), or null when the
   * method has none or the params are bad (the call itself then reports why).
   */
  versionOf(name: MethodName, params: unknown): string | null;
  /** Stops watching the store (the store itself stays open: its opener closes it). */
  close(): void;
}

/** What `trainHere` trains: a new run, a stored run resumed, or a new run restarting a stored one's settings from step 0. */
export type TrainHereRequest = { create: CreateRunsRequest } | { resume: number } | { restartOf: number };

/** A new run with an ended run's settings, named after it; the old run and its metrics stay as they are. */
function restartOf(run: RunDetail): NewRun {
  return { name: `${run.name} (restart of run ${run.id})`.slice(0, 200), task: run.task, algo: run.algo, preset: run.preset, config: run.config, seed: run.seed, tags: run.tags, datasetId: run.datasetId };
}

/** Remote workers get a run's config, not its files: runs on imported datasets train only here. */
function assertRemoteTrainable(queue: RunQueue, runs: NewRun[]): void {
  if (!(queue instanceof RemoteQueue)) return;
  const imported = [...new Set(runs.filter((r) => r.datasetId !== null).map((r) => r.task))];
  if (imported.length) throw badInput(`runs go to remote workers, which cannot reach imported datasets: ${imported.join(', ')} must train on this machine (start it without Redis)`);
}

/** A run's metrics change only together with its step count or status, so those name a curve set. */
function curveVersion(run: RunDetail, params: ParsedParamsOf<'getMetrics'>): string {
  return JSON.stringify([run.id, run.createdAt, run.status, run.stepsDone, run.finishedAt, params.maxPoints, params.names ?? null]);
}

function parseExport(kind: unknown, filter: unknown): { kind: ExportKind; filter: ParsedRunFilter } {
  const k = exportKindSchema.safeParse(kind);
  if (!k.success) throw badInput(`unknown export ${JSON.stringify(kind)}: choose runs or metrics`);
  const f = runFilterSchema.safeParse(filter);
  if (!f.success) throw badInput(describeIssues(f.error));
  return { kind: k.data, filter: f.data };
}

/** Downsampled curve sets kept in memory: each is at most a few names x 5,000 points. */
const CURVE_CACHE_ENTRIES = 64;

/** The back end every adapter (Electron IPC, HTTP, CLI) calls: the contract implemented over the store. */
export function createService(ctx: ServiceContext, events = new EventHub()): Service {
  const manager = (): RunQueue => {
    if (!ctx.runs) throw badInput('this back end does not train runs');
    return ctx.runs;
  };
  const watcher = ctx.watchStore ? new StoreWatcher(ctx.db, events, (id) => ctx.runs?.activeRunIds.includes(id) ?? false) : null;
  // Downsampling a million points takes a good fraction of a second; many viewers of one run share it.
  const curveCache = new LRUCache<string, ResultOf<'getMetrics'>>({ max: CURVE_CACHE_ENTRIES });
  const settingsOf = (): ResultOf<'getSettings'> => {
    const saved = getMeta(ctx.db, REDIS_URL_SETTING);
    const queue = ctx.runs instanceof RemoteQueue ? 'remote' : 'local';
    return { redisUrl: saved === null ? null : redactedRedisUrl(saved), queue, restartNeeded: (saved !== null) !== (queue === 'remote'), maxSweepRuns: ctx.maxSweepRuns ?? DEFAULT_MAX_SWEEP_RUNS };
  };
  const makeDataset = async ({ env, size, seed }: ParsedParamsOf<'generateDataset'>, onProgress?: (fraction: number) => void) => {
    const made = await generateDataset(ctx.db, ctx.home, env, { size, seed, onProgress });
    events.publish({ type: 'datasets-changed' });
    return made;
  };
  const handlers: ApiHandlers = {
    getInfo: () => ({
      app: 'dtql-workbench',
      version: APP_VERSION,
      mode: ctx.mode,
      home: ctx.home,
      schemaVersion: schemaVersion(ctx.db),
      runCount: countRuns(ctx.db),
      device: trainingDevice(),
    }),
    listTasks: () => [...TASKS],
    listRuns: ({ limit, offset, ...filter }) => listRuns(ctx.db, filter, { limit, offset }),
    getRunFacets: () => runFacets(ctx.db),
    listDatasets: () => listDatasets(ctx.db),
    generateDataset: (params) => makeDataset(params),
    deleteDataset: ({ id }) => {
      const stored = deleteDataset(ctx.db, id);
      // The copy is named by content; another row cannot share it, since the same content is refused.
      if (stored) fs.rmSync(stored, { force: true });
      events.publish({ type: 'datasets-changed' });
      return { ok: true };
    },
    previewSweep: ({ spec, name }) => {
      const maxRuns = ctx.maxSweepRuns ?? DEFAULT_MAX_SWEEP_RUNS;
      return sweepPreview(planSweep(spec, { name, maxRuns, db: ctx.db }), { maxRuns, concurrency: ctx.runs?.concurrency ?? 1, db: ctx.db });
    },
    createSweep: async ({ spec, name }) => {
      const planned = planSweep(spec, { name, maxRuns: ctx.maxSweepRuns ?? DEFAULT_MAX_SWEEP_RUNS, db: ctx.db });
      const runs = manager();
      assertRemoteTrainable(runs, planned.runs);
      const created = await insertSweep(ctx.db, planned);
      events.publish({ type: 'runs-changed', runIds: created.runIds });
      runs.schedule();
      return created;
    },
    listSweeps: () => listSweeps(ctx.db),
    getSettings: () => settingsOf(),
    updateSettings: async ({ redisUrl }) => {
      if (redisUrl === null) deleteMeta(ctx.db, REDIS_URL_SETTING);
      else {
        // Saved only once Redis answers with these credentials.
        (await connectRedis(redisUrl)).disconnect();
        setMeta(ctx.db, REDIS_URL_SETTING, redisUrl);
      }
      return settingsOf();
    },
    getSweep: ({ id }) => getSweep(ctx.db, id),
    getRun: ({ id }) => getRun(ctx.db, id),
    createRuns: (request) => {
      const plan = planRuns(request, ctx.db);
      const runs = manager();
      assertRemoteTrainable(runs, plan);
      const runIds = insertRuns(ctx.db, plan);
      events.publish({ type: 'runs-changed', runIds });
      runs.schedule();
      return { runIds };
    },
    updateRun: ({ id, ...changes }) => {
      updateRun(ctx.db, id, changes);
      events.publish({ type: 'runs-changed', runIds: [id] });
      return { ok: true };
    },
    deleteRun: ({ id }) => {
      if (ctx.runs?.activeRunIds.includes(id)) throw badInput(`run ${id} is training: stop it before deleting it`);
      for (const file of deleteRun(ctx.db, id)) fs.rmSync(file, { force: true });
      fs.rmSync(checkpointDir(ctx.home, id), { recursive: true, force: true });
      events.publish({ type: 'runs-changed', runIds: [id] });
      return { ok: true };
    },
    pauseRun: ({ id }) => {
      manager().pause(id);
      return { ok: true };
    },
    resumeRun: ({ id }) => {
      manager().resume(id);
      return { ok: true };
    },
    stopRun: ({ id }) => {
      manager().stop(id);
      return { ok: true };
    },
    getMetrics: (params) => {
      const { id, names, maxPoints } = params;
      const key = curveVersion(getRun(ctx.db, id), params);
      const cached = curveCache.get(key);
      if (cached) return cached;
      const all = metricNames(ctx.db, id);
      const chosen = names ?? all;
      const series = Object.fromEntries(chosen.filter((n) => all.includes(n)).map((n) => [n, downsampleMetric(ctx.db, id, n, maxPoints)]));
      const result = { names: all, series };
      curveCache.set(key, result);
      return result;
    },
    getProgress: () => [...(ctx.runs?.liveProgress() ?? []), ...(watcher?.progress() ?? [])],
    getSamples: ({ id, step }) => {
      getRun(ctx.db, id);
      const samples = readSamples(ctx.db, id, step);
      if (!samples) return null;
      return { step: samples.step, dims: samples.dims, actions: Array.from(samples.actions), outcome: metricsAtStep(ctx.db, id, samples.step, 'eval/') };
    },
    getTaskData: ({ task }) => {
      let spec;
      try {
        spec = requireTask(task);
      } catch (err) {
        throw badInput((err as Error).message);
      }
      if (spec.dataset.kind !== 'generated') throw badInput(`task ${task} has no built-in dataset to show`);
      const data = loadTaskData(spec).transitions;
      return { actions: Array.from(data.actions), rewards: Array.from(data.rewards), dims: data.actionDim };
    },
  };
  return {
    handlers,
    events,
    eachRun: (filter, limit) => {
      const parsed = runFilterSchema.safeParse(filter);
      if (!parsed.success) throw badInput(describeIssues(parsed.error));
      return eachRun(ctx.db, parsed.data, limit);
    },
    trainHere: async (what, hooks) => {
      const { trainRun } = await import('./local/train-run');
      if ('resume' in what) return trainRun(ctx.db, ctx.home, what.resume, hooks);
      if ('restartOf' in what) return trainRun(ctx.db, ctx.home, restartOf(getRun(ctx.db, what.restartOf)), hooks);
      const request = createRunsSchema.safeParse(what.create);
      if (!request.success) throw badInput(describeIssues(request.error));
      const [run, ...more] = planRuns(request.data, ctx.db);
      if (!run || more.length) throw badInput('train one run at a time: give one seed');
      return trainRun(ctx.db, ctx.home, run, hooks);
    },
    generateDataset: (params, onProgress) => {
      const parsed = apiMethods.generateDataset.params.safeParse(params);
      if (!parsed.success) throw badInput(describeIssues(parsed.error));
      return makeDataset(parsed.data, onProgress);
    },
    importFile: async (file, options) => {
      const imported = await importDataset(ctx.db, ctx.home, file, options);
      events.publish({ type: 'datasets-changed' });
      return imported;
    },
    importUpload: async (body, query, declaredBytes) => {
      const q = uploadQuerySchema.safeParse(query);
      if (!q.success) throw badInput(describeIssues(q.error));
      const max = ctx.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
      // A declared length past the cap is refused before a byte is written; a body that outgrows it, as it passes.
      if (declaredBytes !== undefined && declaredBytes > max) throw uploadTooLarge(`the upload (${formatBytes(declaredBytes)})`, max);
      fs.mkdirSync(uploadDir(ctx.home), { recursive: true });
      const tmp = path.join(uploadDir(ctx.home), `${crypto.randomUUID()}.hdf5`);
      try {
        await pipeline(body, byteCap(max), fs.createWriteStream(tmp, { flags: 'wx' }));
        const imported = await importDataset(ctx.db, ctx.home, tmp, { keep: 'move', name: q.data.name, sourceName: path.basename(q.data.filename) });
        events.publish({ type: 'datasets-changed' });
        return imported;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    },
    checkpointDownload: (id, format) => {
      const runId = runIdSchema.safeParse(id);
      if (!runId.success) throw badInput('a checkpoint download needs a run id');
      const kind = checkpointFormatSchema.safeParse(format ?? 'safetensors');
      if (!kind.success) throw badInput(`unknown checkpoint format ${JSON.stringify(format)}: choose safetensors or dtql`);
      getRun(ctx.db, runId.data);
      const rows = listCheckpoints(ctx.db, runId.data);
      if (rows.length === 0) throw notFound(`run ${runId.data} has no checkpoint yet: one is written every checkpoint interval, and when a run stops or ends`);
      const newest = readNewestCheckpoint(rows);
      if (!('buffer' in newest)) throw notFound(`run ${runId.data} has no readable checkpoint (${newest.problems.join('; ')})`);
      const base = `dtql-run-${runId.data}-step-${newest.step}`;
      return kind.data === 'safetensors' ? { fileName: `${base}.safetensors`, bytes: toSafetensors(newest.buffer) } : { fileName: `${base}.dtqlckpt`, bytes: newest.buffer };
    },
    checkExport: (kind, filter) => {
      selectRunIds(ctx.db, parseExport(kind, filter).filter);
    },
    exportStream: (kind, filter) => {
      const request = parseExport(kind, filter);
      // Its own connection: the metric rows hold a read cursor while other requests use the store.
      const reader = openReadOnly(ctx.db);
      try {
        const stream = exportStream(reader, request.kind, request.filter);
        stream.once('close', () => reader.close());
        return stream;
      } catch (err) {
        reader.close();
        throw err;
      }
    },
    exportFile: async (kind, filter, file) => {
      const request = parseExport(kind, filter);
      const reader = openReadOnly(ctx.db);
      try {
        return await exportCsv(reader, file, request.kind, request.filter);
      } finally {
        reader.close();
      }
    },
    versionOf: (name, params) => {
      if (name !== 'getMetrics') return null;
      const parsed = apiMethods.getMetrics.params.safeParse(params);
      if (!parsed.success) return null;
      try {
        return curveVersion(getRun(ctx.db, parsed.data.id), parsed.data);
      } catch {
        return null;
      }
    },
    close: () => watcher?.close(),
  };
}

