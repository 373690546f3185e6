import { z } from 'zod';
import { algoSchema, trainConfigSchema } from '../common/config';

/**
 * The one contract between the UI and the back end. Each method has a params schema, a result
 * schema and an HTTP route; the IPC transport uses the method name. Both adapters validate params
 * with the same schema (src/api/dispatch.ts), so the renderer cannot tell the transports apart.
 */

export const runStatusSchema = z.enum(['queued', 'running', 'paused', 'completed', 'stopped', 'failed', 'diverged', 'interrupted']);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const runIdSchema = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const tagSchema = z
  .string()
  .trim()
  .min(1, 'a tag cannot be empty')
  .max(64, 'a tag has at most 64 characters')
  .refine((t) => !/[\u0000-\u001f]/.test(t), 'a tag cannot contain control characters');

export const runNameSchema = z
  .string()
  .trim()
  .min(1, 'the name cannot be empty')
  .max(200, 'the name has at most 200 characters')
  .refine((t) => !/[\u0000-\u001f]/.test(t), 'the name cannot contain control characters');

export const seedSchema = z.number().int('a seed must be a whole number').min(0, 'a seed must be at least 0').max(2 ** 31 - 1, 'a seed must be below 2^31');

/**
 * What a run is, wherever it is described: the API's summaries, the store's rows and the job a
 * remote worker trains extend this one schema.
 */
export const runIdentitySchema = z.object({
  name: z.string(),
  task: z.string(),
  algo: algoSchema,
  preset: z.string(),
  seed: z.number().int(),
});

export const runSummarySchema = runIdentitySchema.extend({
  id: runIdSchema,
  status: runStatusSchema,
  error: z.string().nullable(),
  stepsDone: z.number().int(),
  stepsTotal: z.number().int(),
  backend: z.string().nullable(),
  bestScore: z.number().nullable(),
  finalScore: z.number().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Seconds spent training, over all attempts, without time paused or stopped. */
  durationSec: z.number().nullable(),
  /** Seconds from the first start to the last end, pauses and stops included. */
  wallSec: z.number().nullable(),
  /** The best evaluation mean reward, for tasks scored by their own outcome (bandits). */
  bestReward: z.number().nullable(),
  tags: z.array(z.string()),
  notes: z.string(),
  archived: z.boolean(),
  /** The run's own outcome at the end (e.g. the bandit mean reward), shown where there is no score. */
  finalMetrics: z.record(z.string(), z.number()),
  /** The sweep that queued it, and its values on that sweep's axes (the grid point its seeds share). */
  sweepId: z.number().int().nullable(),
  sweepPoint: z.lazy(() => sweepPointSchema).nullable(),
  /** The remote worker that trains or trained it; null for this machine's own processes. */
  worker: z.string().nullable(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;
export type RunIdentity = z.infer<typeof runIdentitySchema>;

/** One value of a sweep key: a task or algorithm name, a number, a flag. */
export const sweepValueSchema = z.union([z.string().min(1).max(200), z.number().finite(), z.boolean()]);
export type SweepValue = z.infer<typeof sweepValueSchema>;
export const sweepPointSchema = z.record(z.string(), sweepValueSchema);
export type SweepPoint = z.infer<typeof sweepPointSchema>;

/** A grid point as "alpha=5 · algo=kl" (or with another separator); '' for none. */
export function formatSweepPoint(point: SweepPoint | null, separator = ' · '): string {
  return point
    ? Object.entries(point)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(separator)
    : '';
}
/** A sweep file: keys (task, algo, preset, seed, steps, hyperparameters) to one value or a list, a grid axis. */
const MAX_AXIS_VALUES = 1000;
/** Says which branch failed: zod's union alone answers "Invalid input". */
const sweepAxisError = (issue: { input?: unknown }) =>
  Array.isArray(issue.input)
    ? issue.input.length > MAX_AXIS_VALUES
      ? `at most ${MAX_AXIS_VALUES.toLocaleString('en-US')} values per axis (this one has ${issue.input.length.toLocaleString('en-US')}); split it into several sweeps`
      : 'a list of numbers, strings or booleans'
    : 'a number, a string, a boolean or a list of them';
export const sweepSpecSchema = z.record(z.string().min(1).max(100), z.union([sweepValueSchema, z.array(sweepValueSchema).max(MAX_AXIS_VALUES)], { error: sweepAxisError }));
export type SweepSpec = z.infer<typeof sweepSpecSchema>;

const meanSeSchema = z.object({ mean: z.number(), se: z.number(), n: z.number().int() });
/** One grid point of a sweep: its runs, and mean ± standard error over its seeds. */
export const sweepSummaryRowSchema = z.object({
  point: sweepPointSchema,
  runs: z.number().int(),
  completed: z.number().int(),
  bestScore: meanSeSchema.nullable(),
  finalScore: meanSeSchema.nullable(),
  finals: z.record(z.string(), meanSeSchema),
});
export type SweepSummaryRow = z.infer<typeof sweepSummaryRowSchema>;

export const sweepSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  axes: z.array(z.string()),
  createdAt: z.string(),
  runs: z.number().int(),
  /** Runs per status, e.g. { completed: 4, queued: 2 }. */
  statuses: z.record(z.string(), z.number().int()),
});
export type SweepDto = z.infer<typeof sweepSchema>;
export const sweepDetailSchema = sweepSchema.extend({ spec: sweepSpecSchema, runIds: z.array(z.number().int()), summary: z.array(sweepSummaryRowSchema) });
export type SweepDetail = z.infer<typeof sweepDetailSchema>;

export const sweepPreviewSchema = z.object({
  name: z.string(),
  axes: z.array(z.string()),
  count: z.number().int(),
  maxRuns: z.number().int(),
  /** The first SWEEP_PREVIEW_ROWS runs; `count` has how many there are. */
  runs: z.array(z.object({ name: z.string(), task: z.string(), algo: algoSchema, seed: z.number().int(), steps: z.number().int(), point: sweepPointSchema })),
  /** Wall-clock estimate at the queue's concurrency, from measured speeds of finished runs here. */
  estimate: z.object({ seconds: z.number().nullable(), measuredRuns: z.number().int(), unmeasured: z.number().int(), concurrency: z.number().int() }),
});
export type SweepPreview = z.infer<typeof sweepPreviewSchema>;
/** App settings kept in the store; a Redis URL sends runs to remote workers (after a restart). */
export const settingsSchema = z.object({
  /** As saved, with any password hidden. */
  redisUrl: z.string().nullable(),
  /** Where runs train now: training processes here, or remote workers through Redis. */
  queue: z.enum(['local', 'remote']),
  /** The saved Redis setting differs from the running queue until the app restarts. */
  restartNeeded: z.boolean(),
  maxSweepRuns: z.number().int(),
});
export type SettingsDto = z.infer<typeof settingsSchema>;

const sweepRequestSchema = z.object({ spec: sweepSpecSchema, name: runNameSchema.optional() }).strict();

/** Columns the run list sorts by; `finalScore` falls back to the task's own outcome (bandit mean reward). */
export const runSortKeys = ['id', 'name', 'task', 'algo', 'seed', 'status', 'backend', 'createdAt', 'startedAt', 'durationSec', 'stepsDone', 'bestScore', 'finalScore'] as const;
export type RunSortKey = (typeof runSortKeys)[number];

const epochMs = z.number().int().min(0).max(8.64e15);

/** Which runs a list or an export covers; every field narrows, none given means every unarchived run. */
const runFilterFields = {
  ids: z.array(runIdSchema).max(100_000, 'at most 100,000 run ids').optional(),
  task: z.string().min(1).max(100).optional(),
  algo: algoSchema.optional(),
  /**
   * One status, or any of several: the Live page reads its running and paused runs in one query,
   * so a run that pauses between two reads is not listed twice.
   */
  status: z.union([runStatusSchema, z.array(runStatusSchema).min(1, 'at least one status').max(runStatusSchema.options.length)]).optional(),
  tag: z.string().min(1).max(64).optional(),
  /** The runs of one sweep. */
  sweep: runIdSchema.optional(),
  /** Case-insensitive substring of the name or the notes. */
  text: z.string().min(1).max(200).optional(),
  /** Created at or after this time (ms since the epoch). */
  from: epochMs.optional(),
  /** Created at or before this time (ms since the epoch). */
  to: epochMs.optional(),
  archived: z.enum(['exclude', 'include', 'only']).default('exclude'),
  sort: z.enum(runSortKeys).default('id'),
  dir: z.enum(['asc', 'desc']).default('desc'),
};
const dateRangeInOrder = (f: { from?: number; to?: number }) => f.from === undefined || f.to === undefined || f.from <= f.to;
const DATE_RANGE_ERROR = { message: 'the date range ends before it starts', path: ['to'] };
export const runFilterSchema = z.object(runFilterFields).strict().refine(dateRangeInOrder, DATE_RANGE_ERROR);
export type RunFilter = z.input<typeof runFilterSchema>;
export type ParsedRunFilter = z.output<typeof runFilterSchema>;

/** Most runs one list call returns: a page of History, never the whole store. */
export const MAX_RUN_PAGE = 1000;
const pageFields = {
  limit: z.number().int().min(1, 'limit is at least 1').max(MAX_RUN_PAGE, `limit is at most ${MAX_RUN_PAGE}`).default(200),
  offset: z.number().int().min(0, 'offset cannot be negative').max(1e12).default(0),
};
export const runPageRequestSchema = z.object(pageFields).strict();
export type RunPageRequest = z.input<typeof runPageRequestSchema>;
/** A list call: the filter's fields and the page's. */
export const runListRequestSchema = z.object({ ...runFilterFields, ...pageFields }).strict().refine(dateRangeInOrder, DATE_RANGE_ERROR);
export type RunListRequest = z.input<typeof runListRequestSchema>;
export const runPageSchema = z.object({ runs: z.array(runSummarySchema), total: z.number().int(), offset: z.number().int() });
export type RunPage = z.infer<typeof runPageSchema>;

export const runFacetsSchema = z.object({ runCount: z.number().int(), tasks: z.array(z.string()), algos: z.array(algoSchema), statuses: z.array(runStatusSchema), tags: z.array(z.string()) });

export const datasetSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  format: z.enum(['d4rl', 'minari', 'generated']),
  /** The file imported (a reference, or where the copy came from). */
  sourcePath: z.string().nullable(),
  /** The app's own copy inside the data folder, when the user chose to keep one. */
  storedPath: z.string().nullable(),
  sha256: z.string(),
  bytes: z.number().int(),
  env: z.string().nullable(),
  suggestedTask: z.string().nullable(),
  transitions: z.number().int(),
  episodes: z.number().int(),
  obsDim: z.number().int(),
  actDim: z.number().int(),
  stats: z.record(z.string(), z.number()),
  warnings: z.array(z.string()),
  createdAt: z.string(),
  /** Runs that trained on it. */
  runs: z.number().int(),
});
export type DatasetDto = z.infer<typeof datasetSchema>;

export const datasetNameSchema = z
  .string()
  .trim()
  .min(1, 'the dataset name cannot be empty')
  .max(100, 'the dataset name has at most 100 characters')
  .refine((t) => !/[\u0000-\u001f/\\]/.test(t), 'the dataset name cannot contain control characters or slashes');

/** Runs (one row each), raw metrics, or a sweep's summary (one row per grid point; needs `sweep`). */
export const exportKinds = ['runs', 'metrics', 'sweep'] as const;
export type ExportKind = (typeof exportKinds)[number];
export const exportKindSchema = z.enum(exportKinds);

/** Served mode's import: the file's bytes as the body, its name and the dataset name in the query. */
export const UPLOAD_ROUTE = '/api/datasets/upload';
/** Uploads up to 4 GiB unless the server says otherwise: D4RL's largest locomotion files are about 0.5 GB, Minari's a few. */
export const DEFAULT_MAX_UPLOAD_BYTES = 4 * 2 ** 30;
export const uploadQuerySchema = z.object({ filename: z.string().min(1).max(255), name: datasetNameSchema.optional() }).strict();
export const importOptionsSchema = z.object({ name: datasetNameSchema.optional(), keep: z.enum(['copy', 'reference']) }).strict();
export type ImportOptions = z.infer<typeof importOptionsSchema>;

/** A run's newest readable checkpoint as a file: `?format=safetensors` (default) or `dtql`. */
export const CHECKPOINT_ROUTE = '/api/runs/:id/checkpoint';
export const checkpointFormatSchema = z.enum(['safetensors', 'dtql']);
export type CheckpointFormat = z.infer<typeof checkpointFormatSchema>;

/** A CSV download of the runs a filter selects: `runs` is the summary table, `metrics` every raw row. */
export const EXPORT_ROUTE = '/api/export/:kind';

export const runDetailSchema = runSummarySchema.extend({
  config: trainConfigSchema,
  datasetId: z.number().int().nullable(),
  backendReason: z.string().nullable(),
  versions: z.record(z.string(), z.string()),
});
export type RunDetail = z.infer<typeof runDetailSchema>;

export const presetSchema = z.object({
  id: z.string(),
  description: z.string(),
  configs: z.object({ dtql: trainConfigSchema, kl: trainConfigSchema }),
  defaultSeed: z.number().int(),
});

export const taskSchema = z.object({
  id: z.string(),
  title: z.string(),
  family: z.enum(['bandit', 'builtin', 'd4rl']),
  description: z.string(),
  obsDim: z.number().int(),
  actDim: z.number().int(),
  dataset: z.union([
    z.object({ kind: z.literal('generated'), generator: z.enum(['bandit-25g', 'bandit-swiss']), reward: z.enum(['near', 'far', 'hard']), size: z.number().int() }),
    z.object({ kind: z.literal('generated'), generator: z.literal('pendulum-mixture'), size: z.number().int() }),
    z.object({ kind: z.literal('import'), d4rlName: z.string() }),
  ]),
  score: z.object({ refMin: z.number(), refMax: z.number() }).nullable(),
  rewardShift: z.number(),
  evaluation: z.enum(['bandit-reward', 'mujoco', 'pendulum', 'unavailable']),
  presets: z.array(presetSchema),
  defaultPresets: z.object({ cpu: z.string(), gpu: z.string() }),
});
export type TaskDto = z.infer<typeof taskSchema>;

export const infoSchema = z.object({
  app: z.literal('dtql-workbench'),
  version: z.string(),
  mode: z.enum(['desktop', 'served', 'cli']),
  home: z.string(),
  schemaVersion: z.number().int(),
  runCount: z.number().int(),
  /** What runs train on here; it picks each task's default preset. */
  device: z.enum(['cpu', 'gpu']),
});
export type AppInfo = z.infer<typeof infoSchema>;

export const createRunsSchema = z
  .object({
    task: z.string().min(1, 'choose a task'),
    algo: algoSchema,
    /** Default: the task's default preset for the device runs train on here (quick on a CPU, paper on a GPU). */
    preset: z.string().min(1).optional(),
    seeds: z.array(seedSchema).min(1, 'give at least one seed').max(100, 'at most 100 seeds per start'),
    name: runNameSchema.optional(),
    tags: z.array(tagSchema).max(50, 'at most 50 tags').default([]),
    overrides: trainConfigSchema.partial().default({}),
    /** The imported dataset a D4RL task trains on (default: the newest imported for the task). */
    dataset: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type CreateRunsRequest = z.input<typeof createRunsSchema>;

export const progressSchema = z.object({
  runId: runIdSchema,
  step: z.number().int(),
  total: z.number().int(),
  phase: z.enum(['pretrain', 'train']),
  stepsPerSec: z.number(),
  etaSec: z.number().nullable(),
  metrics: z.record(z.string(), z.number()),
});
export type ProgressDto = z.infer<typeof progressSchema>;

export const seriesSchema = z.object({
  step: z.array(z.number()),
  wallTime: z.array(z.number()),
  min: z.array(z.number()),
  max: z.array(z.number()),
  last: z.array(z.number()),
  points: z.number().int(),
});
export type SeriesDto = z.infer<typeof seriesSchema>;

export const metricsRequestSchema = z
  .object({
    id: runIdSchema,
    names: z.array(z.string().min(1).max(100)).max(50).optional(),
    maxPoints: z.number().int().min(10, 'maxPoints must be at least 10').max(5000, 'maxPoints must be at most 5000').default(2000),
  })
  .strict();

const empty = z.object({}).strict();
const byId = z.object({ id: runIdSchema }).strict();
const ok = z.object({ ok: z.literal(true) });

type HttpVerb = 'GET' | 'POST' | 'PATCH' | 'DELETE';

interface MethodSpec<P extends z.ZodType, R extends z.ZodType> {
  http: readonly [HttpVerb, string];
  params: P;
  result: R;
}

const method = <P extends z.ZodType, R extends z.ZodType>(verb: HttpVerb, path: string, params: P, result: R): MethodSpec<P, R> => ({
  http: [verb, path] as const,
  params,
  result,
});

export const apiMethods = {
  getInfo: method('GET', '/api/info', empty, infoSchema),
  listTasks: method('GET', '/api/tasks', empty, z.array(taskSchema)),
  listRuns: method('GET', '/api/runs', runListRequestSchema, runPageSchema),
  getRunFacets: method('GET', '/api/run-facets', empty, runFacetsSchema),
  listDatasets: method('GET', '/api/datasets', empty, z.array(datasetSchema)),
  deleteDataset: method('DELETE', '/api/datasets/:id', byId, ok),
  generateDataset: method(
    'POST',
    '/api/datasets/generate',
    z
      .object({
        env: z.enum(['hopper', 'halfcheetah', 'walker2d']),
        size: z.number().int().min(1000, 'at least 1,000 transitions').max(10_000_000, 'at most 10,000,000 transitions').default(1_000_000),
        seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
      })
      .strict(),
    datasetSchema,
  ),
  previewSweep: method('POST', '/api/sweeps/preview', sweepRequestSchema, sweepPreviewSchema),
  createSweep: method('POST', '/api/sweeps', sweepRequestSchema, z.object({ sweepId: z.number().int(), runIds: z.array(runIdSchema) })),
  listSweeps: method('GET', '/api/sweeps', empty, z.array(sweepSchema)),
  getSettings: method('GET', '/api/settings', empty, settingsSchema),
  updateSettings: method('PATCH', '/api/settings', z.object({ redisUrl: z.string().trim().min(1, 'give a Redis URL, or null to train here').max(500).nullable() }).strict(), settingsSchema),
  getSweep: method('GET', '/api/sweeps/:id', byId, sweepDetailSchema),
  getRun: method('GET', '/api/runs/:id', byId, runDetailSchema),
  createRuns: method('POST', '/api/runs', createRunsSchema, z.object({ runIds: z.array(runIdSchema) })),
  updateRun: method(
    'PATCH',
    '/api/runs/:id',
    z
      .object({
        id: runIdSchema,
        notes: z.string().max(10_000, 'notes have at most 10,000 characters').optional(),
        tags: z.array(tagSchema).max(50, 'at most 50 tags').optional(),
        archived: z.boolean().optional(),
      })
      .strict(),
    ok,
  ),
  deleteRun: method('DELETE', '/api/runs/:id', byId, ok),
  pauseRun: method('POST', '/api/runs/:id/pause', byId, ok),
  resumeRun: method('POST', '/api/runs/:id/resume', byId, ok),
  stopRun: method('POST', '/api/runs/:id/stop', byId, ok),
  getMetrics: method('GET', '/api/runs/:id/metrics', metricsRequestSchema, z.object({ names: z.array(z.string()), series: z.record(z.string(), seriesSchema) })),
  getProgress: method('GET', '/api/progress', empty, z.array(progressSchema)),
  getSamples: method(
    'GET',
    '/api/runs/:id/samples',
    z.object({ id: runIdSchema, step: z.number().int().min(0).optional() }).strict(),
    z.object({ step: z.number().int(), dims: z.number().int(), actions: z.array(z.number()), outcome: z.record(z.string(), z.number()) }).nullable(),
  ),
  getTaskData: method(
    'GET',
    '/api/tasks/:task/data',
    z.object({ task: z.string().min(1).max(100) }).strict(),
    z.object({ actions: z.array(z.number()), rewards: z.array(z.number()), dims: z.number().int() }),
  ),
};

export type ApiMethods = typeof apiMethods;
export type MethodName = keyof ApiMethods;
export type ParamsOf<M extends MethodName> = z.input<ApiMethods[M]['params']>;
export type ParsedParamsOf<M extends MethodName> = z.output<ApiMethods[M]['params']>;
export type ResultOf<M extends MethodName> = z.output<ApiMethods[M]['result']>;

export const METHOD_NAMES = Object.keys(apiMethods) as MethodName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(apiMethods, name);
}

/** Live events pushed to every UI (IPC in Electron, the WebSocket in served mode). */
export const apiEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('runs-changed'), runIds: z.array(runIdSchema) }),
  z.object({ type: z.literal('datasets-changed') }),
  progressSchema.extend({ type: z.literal('run-progress') }),
]);
export type ApiEvent = z.infer<typeof apiEventSchema>;

/** What the back end implements; adapters only validate and route to it. */
export type ApiHandlers = { [M in MethodName]: (params: ParsedParamsOf<M>) => Promise<ResultOf<M>> | ResultOf<M> };
