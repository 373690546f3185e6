import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { describeIssues, validateConfig, type TrainConfig } from '../core/config';
import { presetOf, requireTask, TASKS, type TaskSpec } from '../core/tasks';
import { loadTaskData } from '../core/data/task-data';
import { apiMethods, exportKindSchema, runFilterSchema, uploadQuerySchema, type ApiHandlers, type DatasetDto, type ImportOptions, type AppInfo, type ExportKind, type ParsedParamsOf, type MethodName, type ParsedRunFilter, type ResultOf, type RunDetail } from '../api/contract';
import { badInput } from '../api/errors';
import { deleteDataset, getDataset, latestDatasetFor, listDatasets } from '../store/datasets';
import { openReadOnly, schemaVersion, type Db } from '../store/db';
import { exportCsv, exportStream, selectRunIds } from '../store/export';
import { countRuns, deleteRun, getRun, insertRuns, listRuns, runFacets, updateRun } from '../store/runs';
import { downsampleMetric, metricNames, metricsAtStep } from '../store/metrics';
import { readSamples } from '../store/samples';
import { generateDataset, importDataset, uploadDir } from './datasets';
import { checkpointDir } from './checkpoint';
import type { RunManager } from './run-manager';
import { EventHub } from './events';
import { APP_VERSION } from './version';

export interface ServiceContext {
  db: Db;
  home: string;
  mode: AppInfo['mode'];
  /** Runs runs; without one (read-only tools) starting or controlling runs is refused. */
  runs?: RunManager;
}

export interface Service {
  handlers: ApiHandlers;
  events: EventHub;
  /** Imports a file the user picked on this machine (the CLI, Electron's open dialog). */
  importFile(file: string, options: ImportOptions): Promise<DatasetDto>;
  /** Imports an uploaded file (served mode): streamed into the data folder, checked, then moved in or removed. */
  importUpload(body: NodeJS.ReadableStream, query: unknown): Promise<DatasetDto>;
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

/** The back end every adapter (Electron IPC, HTTP, CLI) calls: the contract implemented over the store. */
/** Downsampled curve sets kept in memory: each is at most a few names x 5,000 points. */
const CURVE_CACHE_ENTRIES = 64;

export function createService(ctx: ServiceContext, events = new EventHub()): Service {
  const manager = (): RunManager => {
    if (!ctx.runs) throw badInput('this back end does not train runs');
    return ctx.runs;
  };
  // Downsampling a million points takes a good fraction of a second; many viewers of one run share it.
  const curveCache = new LRUCache<string, ResultOf<'getMetrics'>>({ max: CURVE_CACHE_ENTRIES });
  const handlers: ApiHandlers = {
    getInfo: () => ({
      app: 'dtql-workbench',
      version: APP_VERSION,
      mode: ctx.mode,
      home: ctx.home,
      schemaVersion: schemaVersion(ctx.db),
      runCount: countRuns(ctx.db),
    }),
    listTasks: () => [...TASKS],
    listRuns: (filter) => listRuns(ctx.db, filter),
    getRunFacets: () => runFacets(ctx.db),
    listDatasets: () => listDatasets(ctx.db),
    generateDataset: async ({ env, size, seed }) => {
      const made = await generateDataset(ctx.db, ctx.home, env, { size, seed });
      events.publish({ type: 'datasets-changed' });
      return made;
    },
    deleteDataset: ({ id }) => {
      const stored = deleteDataset(ctx.db, id);
      // The copy is named by content; another row cannot share it, since the same content is refused.
      if (stored) fs.rmSync(stored, { force: true });
      events.publish({ type: 'datasets-changed' });
      return { ok: true };
    },
    getRun: ({ id }) => getRun(ctx.db, id),
    createRuns: (request) => {
      const plan = planRuns(request, ctx.db);
      const runs = manager();
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
    getProgress: () => ctx.runs?.liveProgress() ?? [],
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
    importFile: async (file, options) => {
      const imported = await importDataset(ctx.db, ctx.home, file, options);
      events.publish({ type: 'datasets-changed' });
      return imported;
    },
    importUpload: async (body, query) => {
      const q = uploadQuerySchema.safeParse(query);
      if (!q.success) throw badInput(describeIssues(q.error));
      fs.mkdirSync(uploadDir(ctx.home), { recursive: true });
      const tmp = path.join(uploadDir(ctx.home), `${crypto.randomUUID()}.hdf5`);
      try {
        await pipeline(body, fs.createWriteStream(tmp, { flags: 'wx' }));
        const imported = await importDataset(ctx.db, ctx.home, tmp, { keep: 'move', name: q.data.name, sourceName: path.basename(q.data.filename) });
        events.publish({ type: 'datasets-changed' });
        return imported;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
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
  };
}

/** Resolves a start request into one queued run per seed; any bad field rejects the whole request. */
export function planRuns(request: ParsedParamsOf<'createRuns'>, db?: Db): Parameters<typeof insertRuns>[1] {
  let task;
  let preset;
  try {
    task = requireTask(request.task);
    preset = presetOf(task, request.preset);
  } catch (err) {
    throw badInput((err as Error).message);
  }
  let config: TrainConfig;
  try {
    config = validateConfig({ ...preset.configs[request.algo], ...request.overrides });
  } catch (err) {
    throw badInput(`invalid hyperparameters: ${(err as Error).message}`);
  }
  const datasetId = resolveDataset(db, task, request.dataset);
  const seeds = [...new Set(request.seeds)];
  const baseName = request.name ?? `${task.id} ${request.algo}`;
  const tags = [...new Set(request.tags)];
  return seeds.map((seed) => ({
    name: seeds.length > 1 ? `${baseName} s${seed}` : baseName,
    task: task.id,
    algo: request.algo,
    preset: preset.id,
    config,
    seed,
    tags,
    datasetId,
  }));
}

/**
 * The dataset a run of `task` trains on: none for generated tasks; for D4RL tasks the one asked
 * for (its sizes must fit the task) or the newest imported for the task.
 */
function resolveDataset(db: Db | undefined, task: TaskSpec, requested: number | undefined): number | null {
  if (task.dataset.kind === 'generated') {
    if (requested !== undefined) throw badInput(`task ${task.id} generates its own data; it takes no dataset`);
    return null;
  }
  const how = `import ${task.dataset.d4rlName}.hdf5 first (dtql dataset import FILE, or Import on the Tasks page)`;
  if (!db) throw badInput(`task ${task.id} trains on an imported dataset: ${how}`);
  if (requested === undefined) {
    const latest = latestDatasetFor(db, task.id);
    if (!latest) throw badInput(`no dataset is imported for task ${task.id}: ${how}`);
    return latest.id;
  }
  const chosen = getDataset(db, requested);
  if (chosen.obsDim !== task.obsDim || chosen.actDim !== task.actDim) {
    throw badInput(`dataset ${chosen.id} (${chosen.name}) has observation/action sizes ${chosen.obsDim}/${chosen.actDim}; task ${task.id} needs ${task.obsDim}/${task.actDim}`);
  }
  return chosen.id;
}
