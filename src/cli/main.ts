import path from 'node:path';
import fs from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RESTORE_ADVICE, badInput, exitCodeOf, messageOf, storeDamaged } from '../api/errors';
import { DEFAULT_MAX_UPLOAD_BYTES, createRunsSchema, type SweepDetail, runFilterSchema, runIdSchema, runSortKeys, runStatusSchema, seedSchema, type RunDetail, type RunFilter } from '../api/contract';
import { describeIssues, parseConfigOverride } from '../common/config';
import { TASKS, defaultPreset, presetSeed, requireTask } from '../core/tasks';
import { trainingDevice } from '../core/tf/device';
import { planRuns } from '../engine/plan';
import { DEFAULT_MAX_SWEEP_RUNS, MAX_SWEEP_RUNS_CAP, estimateSweep, parseSweepText, planSweep } from '../engine/sweep';
import type { RunQueue } from '../engine/run-manager';
import { EventHub } from '../engine/events';
import { getSweep, insertSweep } from '../store/sweeps';
import { DB_FILE, type Db } from '../store/db';
import { ensureHome, resolveHome } from '../store/home';
import { REDIS_URL_SETTING, getMeta } from '../store/meta';
import { eachRun, getRun, type NewRun } from '../store/runs';
import { APP_VERSION } from '../engine/version';
import { formatTable, printJson, streamJsonArray, streamTable } from './output';

interface GlobalOptions {
  home?: string;
}

/**
 * The data folder's store, opened by the engine's start-up. The engine and its native modules load
 * only for the commands that use them, so `dtql --version` and `dtql tasks` start at once.
 */
async function openStore(cmd: Command, access: 'read' | 'write' = 'write'): Promise<{ db: Db; home: string }> {
  const home = resolveHome((cmd.optsWithGlobals() as GlobalOptions).home);
  // A typo in --home must not leave a new, empty store behind a command that only reads.
  // An existing folder is checked as opening the store checks it (a file, an unwritable folder).
  if (fs.existsSync(home)) ensureHome(home);
  if (!fs.existsSync(path.join(home, DB_FILE))) {
    if (access === 'read') throw badInput(`there is no DTQL Workbench data folder at ${home} (no ${DB_FILE}); check --home or DTQL_HOME`);
    process.stderr.write(`starting a new data folder at ${home}\n`);
  }
  const { openStore: openEngineStore } = await import('../engine/recovery');
  return { db: openEngineStore(home), home };
}

/** Runs trained at once by default: one per core. */
async function defaultConcurrency(): Promise<number> {
  return (await import('../engine/run-manager')).defaultConcurrency();
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('must be a whole number from 0 to 65535');
  return port;
}

function parseRunId(value: string): number {
  const parsed = runIdSchema.safeParse(/^\d+$/.test(value) ? Number(value) : Number.NaN);
  if (!parsed.success) throw new InvalidArgumentError('must be a positive whole number (a run id from `dtql runs list`)');
  return parsed.data;
}

function parseSeed(value: string): number {
  const parsed = seedSchema.safeParse(/^\d+$/.test(value) ? Number(value) : Number.NaN);
  if (!parsed.success) throw new InvalidArgumentError('must be a whole number from 0 to 2147483647');
  return parsed.data;
}

function parseRunIds(value: string): number[] {
  const ids = value.split(',').map((v) => v.trim());
  if (ids.length === 0 || ids.some((v) => !/^\d+$/.test(v) || Number(v) < 1)) throw new InvalidArgumentError('must be run ids separated by commas, e.g. 3,4,7');
  return ids.map(Number);
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 64) throw new InvalidArgumentError('must be a whole number from 0 to 64');
  return Number(value);
}

function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of at least 0');
  return Number(value);
}

function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return Number(value);
}

/** A sweep size limit: at least 1 and at most MAX_SWEEP_RUNS_CAP. */
function parseSweepLimit(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_SWEEP_RUNS_CAP) throw new InvalidArgumentError(`must be at most ${MAX_SWEEP_RUNS_CAP.toLocaleString('en-US')} (a larger grid is better split into several sweeps)`);
  return n;
}

/** Uploads are capped below 1 TiB: past that the number is a typo. */
const MAX_UPLOAD_MB = 2 ** 20;

function parseUploadLimit(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_UPLOAD_MB) throw new InvalidArgumentError(`must be at most ${MAX_UPLOAD_MB.toLocaleString('en-US')} (1 TiB)`);
  return n;
}

interface FilterOptions {
  runs?: number[];
  task?: string;
  algo?: 'dtql' | 'kl';
  status?: RunFilter['status'];
  tag?: string;
  search?: string;
  archived?: 'exclude' | 'include' | 'only';
  sort?: RunFilter['sort'];
  asc?: boolean;
}

/** The run selection flags shared by `runs list` and `export`, the same filter the History page uses. */
function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--runs <ids>', 'comma-separated run ids', parseRunIds)
    .option('--task <id>', 'only runs of this task')
    .addOption(new Option('--algo <algo>', 'only this algorithm').choices(['dtql', 'kl']))
    .addOption(new Option('--status <status>', 'only runs in this status').choices(runStatusSchema.options))
    .option('--tag <tag>', 'only runs with this tag')
    .option('--search <text>', 'only runs whose name or notes contain this text')
    .addOption(new Option('--archived <which>', 'archived runs').choices(['exclude', 'include', 'only']).default('include'))
    .addOption(new Option('--sort <key>', 'sort column').choices(runSortKeys).default('id'))
    .option('--asc', 'ascending order (default: descending)');
}

function filterOf(opts: FilterOptions): RunFilter {
  const parsed = runFilterSchema.safeParse({
    ids: opts.runs,
    task: opts.task,
    algo: opts.algo,
    status: opts.status,
    tag: opts.tag,
    text: opts.search,
    archived: opts.archived,
    sort: opts.sort,
    dir: opts.asc ? 'asc' : 'desc',
  });
  if (!parsed.success) throw badInput(describeIssues(parsed.error));
  return parsed.data;
}

interface TrainOptions {
  task: string;
  algo: 'dtql' | 'kl';
  preset?: string;
  seed?: number;
  steps?: number;
  name?: string;
  tag: string[];
  set: string[];
  dataset?: number;
  json?: boolean;
}

const formatDuration = (seconds: number): string => {
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

/** Trains a stored run with a progress line on stderr, then prints the summary of the CLI contract. */
interface SweepOptions {
  name?: string;
  preview?: boolean;
  detach?: boolean;
  maxRuns: number;
  concurrency?: number;
  redis?: string;
  json?: boolean;
}

function describeEstimate(estimate: { seconds: number | null; measuredRuns: number; unmeasured: number }, concurrency: number): string {
  if (estimate.seconds === null) return 'no finished runs of these tasks here to estimate the time from';
  const partial = estimate.unmeasured ? ` for the ${estimate.measuredRuns} runs with measured speeds (${estimate.unmeasured} without)` : '';
  return `about ${formatDuration(estimate.seconds)}${partial} at ${concurrency} at once`;
}

/** Trains a sweep's runs through `queue` (here, or on remote workers), printing progress, until all have ended. */
async function trainSweep(db: Db, runIds: number[], queue: RunQueue): Promise<void> {
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    process.stderr.write('\nstopping the sweep: training runs stop with a checkpoint; the rest stay queued\n');
    for (const id of runIds) if (['running', 'paused'].includes(getRun(db, id).status)) queue.stop(id);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    queue.schedule();
    let last = '';
    for (;;) {
      const runs = runIds.map((id) => getRun(db, id));
      const ended = runs.filter((r) => !['queued', 'running', 'paused'].includes(r.status)).length;
      const training = runs.filter((r) => r.status === 'running');
      const workers = [...new Set(training.map((r) => r.worker).filter((w): w is string => w !== null))];
      const line = `sweep: ${ended}/${runIds.length} ended, ${training.length} training${workers.length ? ` on ${workers.join(', ')}` : ''}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
      if (ended === runIds.length || (stopping && training.length === 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await queue.shutdown();
  }
}

function formatSweepSummary(sweep: SweepDetail): string {
  const fmt = (stat: { mean: number; se: number; n: number } | null) => (stat ? `${stat.mean.toFixed(3)} ± ${stat.se.toFixed(3)}` : '-');
  const rows = sweep.summary.map((row) => [...sweep.axes.map((a) => String(row.point[a] ?? '')), `${row.completed}/${row.runs}`, fmt(row.bestScore), fmt(row.finalScore)]);
  return formatTable([...sweep.axes, 'completed', 'best (mean ± SE)', 'final (mean ± SE)'], rows);
}

/** A new run with an ended run's settings, named after it; the old run and its metrics stay as they are. */
function restartOf(run: RunDetail): NewRun {
  return { name: `${run.name} (restart of run ${run.id})`.slice(0, 200), task: run.task, algo: run.algo, preset: run.preset, config: run.config, seed: run.seed, tags: run.tags, datasetId: run.datasetId };
}

async function trainAndReport(db: Db, home: string, run: number | NewRun, json: boolean): Promise<void> {
  const { trainRun } = await import('../engine/train-run');
  let stopRequested = false;
  const onSignal = () => {
    stopRequested = true;
    process.stderr.write('\nstopping after this step (final checkpoint)...\n');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stderr.isTTY;
  try {
    const result = await trainRun(db, home, run, {
      control: () => (stopRequested ? 'stop' : null),
      onProgress: (p) => {
        const m = p.metrics;
        const losses = (['critic', 'bc', 'trustRegion', 'policy'] as const)
          .filter((k) => m[k] !== undefined)
          .map((k) => `${k} ${(m[k] as number).toPrecision(4)}`)
          .join(' ');
        const eta = p.etaSec === null ? '?' : formatDuration(p.etaSec);
        const line = `run ${p.runId} ${p.phase} step ${p.step}/${p.total} (${((100 * p.step) / p.total).toFixed(1)}%) | ${losses} | ${p.stepsPerSec.toFixed(1)} steps/s | ETA ${eta}`;
        process.stderr.write(tty ? `\r${line.padEnd(120)}` : `${line}\n`);
      },
    });
    if (tty) process.stderr.write('\n');
    const r = result.run;
    const summary = {
      runId: r.id,
      task: r.task,
      algo: r.algo,
      seed: r.seed,
      steps: r.stepsDone,
      status: r.status,
      backend: r.backend,
      stepsPerSec: result.stepsPerSec,
      finalMetrics: r.finalMetrics,
      bestScore: r.bestScore,
      finalScore: r.finalScore,
      error: r.error,
    };
    if (json) printJson(summary);
    else process.stdout.write(`run ${r.id} ${r.status} after ${r.stepsDone} steps on ${result.backend.label} (${result.stepsPerSec.toFixed(1)} steps/s)${r.error ? `: ${r.error}` : ''}\n`);
    if (r.status !== 'completed' && r.status !== 'stopped') process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function buildProgram(): Command {
  const program = new Command('dtql')
    .description('DTQL Workbench: train, compare and export Diffusion Trusted Q-Learning runs')
    .version(APP_VERSION)
    .option('--home <dir>', 'data folder (SQLite store, checkpoints, datasets); default $DTQL_HOME or the per-user folder')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  const collect = (value: string, previous: string[]) => [...previous, value];

  program
    .command('serve')
    .description('serve the UI and the API over HTTP and WebSocket')
    .addOption(new Option('--port <port>', 'TCP port').default(5417).argParser(parsePort))
    .option('--host <host>', 'address to bind; a non-loopback address needs --token', '127.0.0.1')
    .option('--token <token>', 'access token required on every request')
    .option('--allow-host <name>', 'also answer requests addressed to this host name, e.g. a reverse proxy\'s (repeatable)', collect, [])
    .option('--concurrency <n>', 'runs trained at once (0 holds the queue; default: one per core)', parseCount)
    .option('--redis <url>', 'send runs to remote `dtql worker`s through this Redis instead of training here (default: the saved setting)')
    .option('--max-sweep-runs <n>', `refuse sweeps with more runs than this (at most ${MAX_SWEEP_RUNS_CAP.toLocaleString('en-US')})`, parseSweepLimit, DEFAULT_MAX_SWEEP_RUNS)
    .option('--max-upload-mb <n>', `refuse dataset uploads larger than this many MiB (default ${DEFAULT_MAX_UPLOAD_BYTES / 2 ** 20}, at most ${MAX_UPLOAD_MB})`, parseUploadLimit)
    .action(async (opts: { port: number; host: string; token?: string; allowHost: string[]; concurrency?: number; redis?: string; maxSweepRuns: number; maxUploadMb?: number }, cmd: Command) => {
      const home = ensureHome(resolveHome((cmd.optsWithGlobals() as GlobalOptions).home));
      const [{ acquireInstanceLock, recordInstanceUrl }, { openStore: openEngineStore }, { startServer }] = await Promise.all([
        import('../store/instance-lock'),
        import('../engine/recovery'),
        import('../server/index'),
      ]);
      const lock = acquireInstanceLock(home, 'served');
      let db: Db;
      try {
        // A server never waits on another process's lock: a write it cannot make now answers 503 at once.
        db = openEngineStore(home, { busyTimeoutMs: 0 });
      } catch (err) {
        // A server that cannot open its store leaves no instance file naming it behind.
        lock.release();
        throw err;
      }
      const redisUrl = opts.redis ?? getMeta(db, REDIS_URL_SETTING);
      const server = await startServer({ db, home, host: opts.host, port: opts.port, token: opts.token ?? null, allowHosts: opts.allowHost, concurrency: opts.concurrency, redisUrl, maxSweepRuns: opts.maxSweepRuns, maxUploadBytes: opts.maxUploadMb === undefined ? undefined : opts.maxUploadMb * 2 ** 20 }).catch((err: unknown) => {
        db.close();
        lock.release();
        throw err;
      });
      if (redisUrl) process.stderr.write('runs go to remote workers through Redis\n');
      // The token stays out of the owner file: other local users may read the data folder.
      recordInstanceUrl(home, server.url.split('?')[0] as string);
      process.stderr.write(`DTQL Workbench serving ${home}\n`);
      process.stdout.write(`${server.url}\n`);
      const shutdown = () => {
        void server.close().finally(() => {
          db.close();
          lock.release();
          process.exit(0);
        });
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    });

  program
    .command('tasks')
    .description('list the task catalog with its presets')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      if (opts.json) return printJson(TASKS);
      const rows = TASKS.map((t) => [t.id, t.family, `${t.obsDim}/${t.actDim}`, t.dataset.kind === 'import' ? 'import' : 'built in', t.presets.map((p) => p.id).join(',')]);
      process.stdout.write(`${formatTable(['task', 'family', 'obs/act', 'data', 'presets'], rows)}\n`);
      return undefined;
    });

  const runs = program.command('runs').description('list and inspect runs');
  withFilterOptions(runs.command('list').description('the runs in the store, newest first, optionally filtered; streamed, so any number of runs fits in memory'))
    .option('--limit <n>', 'at most this many runs', parsePositiveInt)
    .option('--json', 'print JSON')
    .action(async (opts: FilterOptions & { json?: boolean; limit?: number }, cmd: Command) => {
      const filter = filterOf(opts);
      const { db } = await openStore(cmd, 'read');
      try {
        const runs = eachRun(db, filter, opts.limit);
        if (opts.json) return await streamJsonArray(runs);
        const rows = (function* () {
          for (const r of runs) yield [r.id, r.name, r.task, r.algo, r.seed, r.status, `${r.stepsDone}/${r.stepsTotal}`, r.finalScore, r.createdAt.slice(0, 19).replace('T', ' ')];
        })();
        const n = await streamTable(['id', 'name', 'task', 'algo', 'seed', 'status', 'steps', 'final', 'created'], rows);
        if (n === 0) process.stdout.write('no runs match\n');
        return undefined;
      } finally {
        db.close();
      }
    });
  runs
    .command('show')
    .description('one run with its config')
    .argument('<runId>', 'run id', parseRunId)
    .option('--json', 'print JSON')
    .action(async (id: number, opts: { json?: boolean }, cmd: Command) => {
      const { db } = await openStore(cmd, 'read');
      try {
        const run = getRun(db, id);
        if (opts.json) return printJson(run);
        const lines = [
          `run ${run.id}: ${run.name}`,
          `task ${run.task}  algo ${run.algo}  seed ${run.seed}  preset ${run.preset}`,
          `status ${run.status}${run.error ? ` (${run.error})` : ''}  steps ${run.stepsDone}/${run.stepsTotal}  backend ${run.backend ?? '-'}`,
          `created ${run.createdAt}  tags ${run.tags.join(', ') || '-'}`,
          'config:',
          ...Object.entries(run.config).map(([k, v]) => `  ${k} = ${String(v)}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return undefined;
      } finally {
        db.close();
      }
    });
  program
    .command('train')
    .description('train one run headless, with a progress line on stderr')
    .requiredOption('--task <id>', 'task id (see `dtql tasks`)')
    .addOption(new Option('--algo <algo>', 'trust region (dtql) or the KL baseline (kl)').choices(['dtql', 'kl']).default('dtql'))
    .option('--preset <id>', "hyperparameter preset of the task (default: the task's default for this machine, as in the app: quick on a CPU, paper on a GPU)")
    .option('--seed <n>', 'random seed (default: the preset\'s)', parseSeed)
    .option('--steps <n>', 'joint training steps (overrides trainSteps)', parsePositiveInt)
    .option('--name <name>', 'run name')
    .option('--tag <tag>', 'tag (repeatable)', collect, [])
    .option('--set <key=value>', 'hyperparameter override (repeatable), e.g. --set alpha=5', collect, [])
    .option('--dataset <id>', 'imported dataset to train on (D4RL tasks; default: the newest for the task)', parseRunId)
    .option('--json', 'print the run summary as JSON')
    .action(async (opts: TrainOptions, cmd: Command) => {
      const overrides: Record<string, number | boolean> = {};
      for (const text of opts.set) {
        try {
          const [key, value] = parseConfigOverride(text);
          overrides[key] = value;
        } catch (err) {
          throw badInput((err as Error).message);
        }
      }
      if (opts.steps !== undefined) overrides.trainSteps = opts.steps;
      let task;
      try {
        task = requireTask(opts.task);
      } catch (err) {
        throw badInput(messageOf(err));
      }
      let preset = opts.preset;
      if (preset === undefined) {
        const device = trainingDevice();
        preset = defaultPreset(task, device);
        process.stderr.write(`preset ${preset}: the default of ${task.id} on a ${device.toUpperCase()} (--preset picks another: ${task.presets.map((p) => p.id).join(', ')})\n`);
      }
      const request = createRunsSchema.safeParse({
        task: opts.task,
        algo: opts.algo,
        preset,
        seeds: [opts.seed ?? presetSeed(opts.task, preset)],
        name: opts.name,
        tags: opts.tag,
        overrides,
        dataset: opts.dataset,
      });
      if (!request.success) throw badInput(describeIssues(request.error));
      const { db, home } = await openStore(cmd);
      try {
        const [run] = planRuns(request.data, db);
        await trainAndReport(db, home, run as NewRun, Boolean(opts.json));
      } finally {
        db.close();
      }
    });

  program
    .command('resume')
    .description('continue a stopped, interrupted, failed or diverged run from its last checkpoint')
    .argument('<runId>', 'run id', parseRunId)
    .option('--restart', 'train a new run with this run\'s settings from step 0 instead, leaving this one as it is (for a run whose checkpoints are all unreadable)')
    .option('--json', 'print the run summary as JSON')
    .action(async (id: number, opts: { json?: boolean; restart?: boolean }, cmd: Command) => {
      const { db, home } = await openStore(cmd);
      try {
        await trainAndReport(db, home, opts.restart ? restartOf(getRun(db, id)) : id, Boolean(opts.json));
      } finally {
        db.close();
      }
    });

  program
    .command('sweep')
    .description('queue a grid of runs from a JSON or YAML sweep file and, unless --detach, train them here until every one has ended')
    .argument('<file>', 'sweep file: keys (task, algo, preset, seed, steps, or a hyperparameter as --set names it) to a value or a list (a grid axis)')
    .option('--name <name>', 'sweep name (default: the axes it sweeps)')
    .option('--preview', 'print the runs it would make, their count and a time estimate; queue nothing')
    .option('--detach', 'queue the runs and return: a running `dtql serve` or the desktop app trains them')
    .option('--max-runs <n>', `refuse a sweep with more runs than this (at most ${MAX_SWEEP_RUNS_CAP.toLocaleString('en-US')})`, parseSweepLimit, DEFAULT_MAX_SWEEP_RUNS)
    .option('--concurrency <n>', 'runs trained at once here (default: one per core)', parsePositiveInt)
    .option('--redis <url>', 'queue the runs for remote `dtql worker`s through this Redis (redis:// or rediss://) instead of training here')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: SweepOptions, cmd: Command) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw badInput(`cannot read sweep file ${file}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
      }
      const spec = parseSweepText(text, file);
      const concurrency = opts.concurrency ?? (await defaultConcurrency());
      // A preview only reads: without a store here it plans without one (no speeds to estimate from) and makes none.
      const preview = (planned: ReturnType<typeof planSweep>, estimate: ReturnType<typeof estimateSweep>) => {
        if (opts.json) return printJson({ name: planned.name, axes: planned.axes, count: planned.runs.length, runs: planned.runs.map((r) => ({ name: r.name, task: r.task, algo: r.algo, seed: r.seed, point: r.sweepPoint })), estimate: { ...estimate, concurrency } });
        const axes = planned.axes.filter((a) => a !== 'task' && a !== 'algo');
        process.stdout.write(`${formatTable(['task', 'algo', 'seed', ...axes], planned.runs.map((r) => [r.task, r.algo, r.seed, ...axes.map((a) => String(r.sweepPoint[a]))]))}\n`);
        process.stdout.write(`${planned.runs.length} runs over ${planned.axes.join(' x ') || 'one grid point'}; ${describeEstimate(estimate, concurrency)}\n`);
        return undefined;
      };
      if (opts.preview && !fs.existsSync(path.join(resolveHome((cmd.optsWithGlobals() as GlobalOptions).home), DB_FILE))) {
        const planned = planSweep(spec, { name: opts.name, maxRuns: opts.maxRuns });
        return preview(planned, { seconds: null, measuredRuns: 0, unmeasured: planned.runs.length });
      }
      const { db, home } = await openStore(cmd);
      try {
        const planned = planSweep(spec, { name: opts.name, maxRuns: opts.maxRuns, db });
        if (opts.preview) return preview(planned, estimateSweep(db, planned.runs, concurrency));
        // The sweep trains only its own runs: on remote workers (Redis proved reachable before anything
        // is queued), or here, by a queue made only once the runs are in and the sweep is not detached.
        let owned: Set<number> | null = null;
        const { openRunQueue } = await import('../engine/queues');
        const ownRuns = { concurrency, scope: (id: number) => owned?.has(id) ?? false };
        const remote = opts.redis ? await openRunQueue(db, home, new EventHub(), { ...ownRuns, redisUrl: opts.redis }) : null;
        try {
          const { sweepId, runIds } = await insertSweep(db, planned);
          owned = new Set(runIds);
          process.stderr.write(`sweep ${sweepId} "${planned.name}": ${runIds.length} runs queued${remote ? ' for remote workers' : ''}\n`);
          if (remote) remote.schedule();
          if (opts.detach) {
            await remote?.settled();
            if (opts.json) printJson({ sweepId, runIds, status: 'queued' });
            return;
          }
          await trainSweep(db, runIds, remote ?? (await openRunQueue(db, home, new EventHub(), ownRuns)));
          const sweep = getSweep(db, sweepId);
          if (opts.json) printJson({ sweepId, runIds, statuses: sweep.statuses, summary: sweep.summary });
          else process.stdout.write(`${formatSweepSummary(sweep)}\n`);
          if ((sweep.statuses.completed ?? 0) < runIds.length) process.exitCode = 1;
        } finally {
          await remote?.shutdown();
        }
      } finally {
        db.close();
      }
    });

  program
    .command('worker')
    .description('train queued runs from Redis on this machine (scaling out); stop with Ctrl-C, its runs move to other workers')
    .requiredOption('--redis <url>', 'redis://[user:password@]host:port (rediss:// for TLS)')
    .option('--concurrency <n>', 'runs trained at once here (default: one per core)', parsePositiveInt)
    .option('--name <name>', 'name shown on the runs it trains (default: host:pid)')
    .action(async (opts: { redis: string; concurrency?: number; name?: string }) => {
      const { startRemoteWorker } = await import('../engine/remote-worker');
      const lockMs = process.env.DTQL_WORKER_LOCK_MS ? Number(process.env.DTQL_WORKER_LOCK_MS) : undefined;
      const worker = await startRemoteWorker({ redisUrl: opts.redis, concurrency: opts.concurrency ?? (await defaultConcurrency()), name: opts.name, lockMs });
      process.stderr.write(`worker ${worker.name} taking runs from Redis\n`);
      const leave = () => {
        worker.leave();
        process.exit(0);
      };
      process.once('SIGINT', leave);
      process.once('SIGTERM', leave);
    });

  const dataset = program.command('dataset').description('import D4RL or Minari HDF5 files and list them');
  dataset
    .command('inspect')
    .description('read and check a file without importing it')
    .argument('<file>', 'a D4RL or Minari .hdf5 file')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { inspectDataset } = await import('../engine/datasets');
      const summary = await inspectDataset(file);
      if (opts.json) return printJson(summary);
      const lines = [
        `${summary.format} file${summary.datasetId ? ` ${summary.datasetId}` : ''}: ${summary.transitions.toLocaleString('en-US')} transitions (kept, as qlearning_dataset keeps them) in ${summary.episodes} episodes, obs ${summary.obsDim}, act ${summary.actDim}`,
        `environment ${summary.env ?? 'not recognised'}; suggested task ${summary.suggestedTask ?? 'none'}`,
        `reward over those transitions: sum ${summary.rewardSum.toFixed(3)}, min/mean/max ${summary.rewardMin.toFixed(3)} / ${summary.rewardMean.toFixed(3)} / ${summary.rewardMax.toFixed(3)}; episode return min/mean/max ${summary.returnMin.toFixed(1)} / ${summary.returnMean.toFixed(1)} / ${summary.returnMax.toFixed(1)}; ${summary.doneCount} terminal transitions`,
        ...summary.warnings.map((w) => `warning: ${w}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return undefined;
    });
  dataset
    .command('import')
    .description('check a file and record it in the store, keeping a copy in the data folder (or only a reference)')
    .argument('<file>', 'a D4RL or Minari .hdf5 file')
    .option('--name <name>', 'dataset name (default: the file name)')
    .option('--reference', 'keep only a reference to the file instead of a copy')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { name?: string; reference?: boolean; json?: boolean }, cmd: Command) => {
      const { importDataset } = await import('../engine/datasets');
      const { db, home } = await openStore(cmd);
      try {
        const imported = await importDataset(db, home, file, { name: opts.name, keep: opts.reference ? 'reference' : 'copy' });
        if (opts.json) return printJson(imported);
        process.stdout.write(`imported dataset ${imported.id} "${imported.name}": ${imported.transitions.toLocaleString('en-US')} transitions, suggested task ${imported.suggestedTask ?? 'none'}\n`);
        for (const w of imported.warnings) process.stderr.write(`warning: ${w}\n`);
        return undefined;
      } finally {
        db.close();
      }
    });
  dataset
    .command('generate')
    .description('make a <env>-random-v2 dataset here: uniform random actions in MuJoCo (no download)')
    .addArgument(new Argument('<env>', 'environment').choices(['hopper', 'halfcheetah', 'walker2d']))
    .option('--size <n>', 'transitions (default 1,000,000, as D4RL)', parsePositiveInt)
    .option('--seed <n>', 'random seed (default 0)', parseSeed)
    .option('--json', 'print JSON')
    .action(async (env: 'hopper' | 'halfcheetah' | 'walker2d', opts: { size?: number; seed?: number; json?: boolean }, cmd: Command) => {
      const { generateDataset } = await import('../engine/datasets');
      const { db, home } = await openStore(cmd);
      try {
        const made = await generateDataset(db, home, env, { size: opts.size, seed: opts.seed, onProgress: (f) => process.stderr.write(`\rgenerating ${env}: ${Math.round(f * 100)}%`) });
        process.stderr.write('\n');
        if (opts.json) return printJson(made);
        process.stdout.write(`generated dataset ${made.id} "${made.name}": ${made.transitions.toLocaleString('en-US')} transitions in ${made.episodes.toLocaleString('en-US')} episodes, mean return ${made.stats.returnMean?.toFixed(1)}\n`);
        return undefined;
      } finally {
        db.close();
      }
    });
  dataset
    .command('list')
    .description('the imported datasets, newest first')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { listDatasets } = await import('../store/datasets');
      const { db } = await openStore(cmd, 'read');
      const all = listDatasets(db);
      db.close();
      if (opts.json) return printJson(all);
      if (all.length === 0) return void process.stdout.write('no datasets imported\n');
      const rows = all.map((d) => [d.id, d.name, d.format, d.suggestedTask ?? '-', d.transitions, `${d.obsDim}/${d.actDim}`, d.storedPath ? 'copy' : 'reference', d.runs]);
      process.stdout.write(`${formatTable(['id', 'name', 'format', 'task', 'transitions', 'obs/act', 'kept as', 'runs'], rows)}\n`);
      return undefined;
    });

  withFilterOptions(
    program.command('export').description('write runs as CSV: a summary row per run, or with --metrics every raw metric row (default: every run)'),
  )
    .requiredOption('--out <file>', 'the CSV file to write')
    .option('--metrics', 'the long metrics table run_id,metric,step,wall_time,value')
    .action(async (opts: FilterOptions & { out: string; metrics?: boolean }, cmd: Command) => {
      const filter = filterOf(opts);
      const { exportCsv } = await import('../store/export');
      const { db } = await openStore(cmd, 'read');
      try {
        const result = await exportCsv(db, opts.out, opts.metrics ? 'metrics' : 'runs', filter);
        process.stderr.write(`wrote ${result.rows} rows to ${result.file}\n`);
      } finally {
        db.close();
      }
    });

  program
    .command('bench')
    .description('training and inference speed at batch 256 with the full network sizes (hopper and halfcheetah sizes)')
    .option('--steps <n>', 'steps per timed block', parsePositiveInt, 10)
    .option('--repeats <n>', 'timed blocks; the median is reported', parsePositiveInt, 5)
    .option('--load', 'instead: served mode training a run while many clients fetch million-point curves')
    .option('--pair', "instead: the Compare page's trust region and KL pair (quick preset) on bandit-25g-hard, from queueing to both ended")
    .option('--scale', 'instead: History, the run list and the runs CSV over a store of a million runs (served mode and `runs list`)')
    .option('--scale-runs <n>', 'with --scale: runs in the store it builds', parsePositiveInt, 1_000_000)
    .option('--clients <n>', 'with --load: concurrent loopback clients', parsePositiveInt, 50)
    .option('--think-ms <ms>', 'with --load: pause of each client between requests (0 saturates the server)', parseNonNegativeInt, 1000)
    .option('--window <s>', 'with --load: seconds of each measuring window', parsePositiveInt, 20)
    .option('--json', 'print JSON')
    .action(async (opts: { steps: number; repeats: number; load?: boolean; pair?: boolean; scale?: boolean; scaleRuns: number; clients: number; thinkMs: number; window: number; json?: boolean }) => {
      if (opts.scale) {
        const { benchScale } = await import('./bench/scale');
        const r = await benchScale(opts.scaleRuns);
        if (opts.json) return printJson(r);
        const mb = (v: number | null) => (v === null ? 'not measured here' : `${v.toFixed(0)} MB`);
        process.stdout.write(
          `a store of ${r.runs.toLocaleString('en-US')} runs (${r.storeMB.toFixed(0)} MB, built in ${r.buildSec.toFixed(0)} s)\n` +
            `served mode: first page ${r.firstPageMs.toFixed(0)} ms (goal under 200), page at the middle ${r.deepPageMs.toFixed(0)} ms, sorted by final score ${r.sortedPageMs.toFixed(0)} ms, ` +
            `tag and algorithm filter ${r.filteredPageMs.toFixed(0)} ms, info ${r.infoMs.toFixed(0)} ms, filter values ${r.facetsMs.toFixed(0)} ms; ` +
            `the runs CSV (${r.exportRows.toLocaleString('en-US')} rows) in ${r.exportRunsSec.toFixed(0)} s; server peak ${mb(r.serverPeakMB)} (goal under 600)\n` +
            `runs list --json: ${r.listRows.toLocaleString('en-US')} runs in ${r.listSec.toFixed(0)} s, peak ${mb(r.listPeakMB)} (goal under 300)\n`,
        );
        return undefined;
      }
      if (opts.pair) {
        const { benchPair } = await import('./bench/speed');
        const r = await benchPair();
        if (opts.json) printJson(r);
        else process.stdout.write(`${r.task} pair at ${r.concurrency} runs at once: trust region ${r.trustRegionSec.toFixed(0)} s, KL ${r.klSec.toFixed(0)} s, both ended after ${r.pairSec.toFixed(0)} s (goal 300 s)\n`);
        return;
      }
      if (opts.load) {
        const { benchServedLoad } = await import('./bench/load');
        const r = await benchServedLoad({ clients: opts.clients, points: 1_000_000, windowSec: opts.window, thinkMs: opts.thinkMs });
        if (opts.json) printJson(r);
        else {
          process.stdout.write(
            `${r.clients} clients (pause ${r.thinkMs} ms) fetching curves of ${r.pointsPerRun.toLocaleString('en-US')}-point runs: ${r.requests} requests (${r.requestsPerSec.toFixed(1)}/s, ${r.failed} failed), ` +
              `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(0)} ms; first uncached fetch ${r.coldFetchMs.toFixed(0)} ms\n` +
              `training meanwhile: ${r.trainStepsPerSecUnderLoad.toFixed(1)} steps/s against ${r.trainStepsPerSecIdle.toFixed(1)} idle (ratio ${r.trainSpeedRatio.toFixed(2)}; goal 0.80 or more)\n`,
          );
        }
        return;
      }
      const { initBackend } = await import('../core/tf/backend');
      const { BENCH_PROBLEMS, benchCurveFetch, benchProblem, benchRunList, benchStartup, jointStepFlops, matMulPeakGflops } = await import('./bench/speed');
      const backend = await initBackend();
      process.stderr.write(`benchmarking on ${backend.label} (${backend.reason})\n`);
      // Training uses two threads on the CPU backends (the critic on its own), so two cores' worth of the one-thread peak.
      const threads = backend.name === 'tensorflow' ? 1 : 2;
      const peakGflops = threads * matMulPeakGflops();
      process.stderr.write(`matMul peak: ${(peakGflops / threads).toFixed(1)} GFLOP/s on one thread (1024 x 1024 x 1024), ${peakGflops.toFixed(1)} on the ${threads} threads training uses\n`);
      const results = [];
      for (const p of BENCH_PROBLEMS) {
        const r = await benchProblem(p, backend, { steps: opts.steps, repeats: opts.repeats, warmup: 3 });
        process.stderr.write(
          `${r.problem}: pretrain ${r.pretrainStepsPerSec.toFixed(1)} steps/s, train ${r.trainStepsPerSec.toFixed(1)} steps/s (one thread ${r.trainStepsPerSecSingleThread.toFixed(1)}), act ${r.actLatencyMs.toFixed(1)} ms\n`,
        );
        const gflopPerStep = jointStepFlops(p, 256) / 1e9;
        const shareOfPeak = (gflopPerStep * r.trainStepsPerSec) / peakGflops;
        process.stderr.write(`${r.problem}: a joint step is ${gflopPerStep.toFixed(2)} GFLOP of matrix products; at ${r.trainStepsPerSec.toFixed(1)} steps/s that is ${(gflopPerStep * r.trainStepsPerSec).toFixed(1)} GFLOP/s, ${(100 * shareOfPeak).toFixed(0)}% of the peak\n`);
        results.push({ ...r, gflopPerStep, peakGflops, shareOfPeak });
      }
      const curves = benchCurveFetch();
      process.stderr.write(`curves: a downsampled ${curves.points.toLocaleString('en-US')}-point series in ${curves.fetchMs.toFixed(0)} ms\n`);
      const history = benchRunList();
      process.stderr.write(`history: the first page of ${history.runs} runs in ${history.listAllMs.toFixed(0)} ms, filtered and sorted in ${history.filteredSortedMs.toFixed(0)} ms\n`);
      const startup = await benchStartup();
      process.stderr.write(
        `startup: dtql --version in ${startup.cliVersionMs.toFixed(0)} ms at ${startup.cliVersionPeakMB.toFixed(0)} MB peak (goal under 300 ms, 120 MB); a training process from spawn to its first step in ${startup.workerFirstStepMs.toFixed(0)} ms\n`,
      );
      if (opts.json) printJson({ backend: backend.name, kernels: backend.label, results, curves, history, startup });
      else {
        const rows = results.map((r) => [r.problem, r.pretrainStepsPerSec.toFixed(1), r.trainStepsPerSec.toFixed(1), r.trainStepsPerSecSingleThread.toFixed(1), r.actLatencyMs.toFixed(1), r.gflopPerStep.toFixed(2), `${(100 * r.shareOfPeak).toFixed(0)}%`]);
        process.stdout.write(`${formatTable(['problem', 'pretrain steps/s', 'train steps/s', 'one thread', 'act ms', 'GFLOP/step', 'of matMul peak'], rows)}\n`);
        process.stdout.write(`downsampled ${curves.points}-point series (${curves.buckets} buckets): ${curves.fetchMs.toFixed(0)} ms\n`);
      }
    });

  program
    .command('golden')
    .description('recompute a golden-numbers file of the official implementation and report the errors')
    .argument('<file>', 'networks.json or train_step.json format')
    .option('--networks <file>', 'weights and inputs for a train-step file (default: networks.json beside it)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean; networks?: string }) => {
      const { runGolden } = await import('../engine/golden');
      const { report, backend } = await runGolden(file, opts.networks);
      const quantities = Object.fromEntries(Object.entries(report.quantities).map(([k, q]) => [k, q.maxAbsError]));
      if (opts.json) {
        printJson({ file, precision: report.precision, backend: backend.name, kernels: backend.label, maxAbsError: report.maxAbsError, worst: report.worst, quantities, pass: report.pass });
      } else {
        const failures = Object.entries(report.quantities).filter(([, q]) => !q.pass);
        for (const [name, q] of failures) process.stdout.write(`FAIL ${name}: max abs error ${q.maxAbsError.toExponential(2)} (${q.kind})\n`);
        process.stdout.write(
          `${file}: ${Object.keys(quantities).length} quantities on ${backend.label}, max abs error ${report.maxAbsError.toExponential(2)} (${report.worst}): ${report.pass ? 'pass' : 'FAIL'}\n`,
        );
      }
      if (!report.pass) process.exitCode = 1;
    });
  return program;
}

/** Runs the CLI; every failure ends with a one-line message and the contract's exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version succeed; help shown because a command was missing is a usage error.
      const informational = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
      if (err.code === 'commander.help') process.stderr.write('dtql: no command given\n');
      process.exitCode = informational ? 0 : 2;
      return;
    }
    if (storeDamaged(err)) {
      // Named with its file: the same damage fails every command on this store until it is restored.
      const file = path.join(resolveHome((program.opts() as GlobalOptions).home), DB_FILE);
      process.stderr.write(`dtql: the database ${file} is damaged (${messageOf(err)}); ${RESTORE_ADVICE}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`dtql: ${messageOf(err)}\n`);
    process.exitCode = exitCodeOf(err);
  }
}

await main(process.argv);
