import path from 'node:path';
import fs from 'node:fs';
import type { Command } from 'commander';
import { badInput, messageOf } from '../../api/errors';
import type { SweepDetail } from '../../api/contract';
import { formatDuration } from '../../common/format';
import { DEFAULT_MAX_SWEEP_RUNS, MAX_SWEEP_RUNS_CAP, estimateSweep, parseSweepText, planSweep } from '../../engine/sweep';
import type { RunQueue } from '../../engine/local/run-manager';
import { EventHub } from '../../engine/events';
import { getSweep, insertSweep } from '../../store/sweeps';
import { DB_FILE, type Db } from '../../store/db';
import { getRun } from '../../store/runs';
import { parsePositiveInt, parseSweepLimit } from '../args';
import { defaultConcurrency, homeOf, onStopSignal, openStore } from '../context';
import { formatTable, printJson } from '../output';

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
  const off = onStopSignal(() => {
    stopping = true;
    process.stderr.write('\nstopping the sweep: training runs stop with a checkpoint; the rest stay queued\n');
    for (const id of runIds) if (['running', 'paused'].includes(getRun(db, id).status)) queue.stop(id);
  });
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
    off();
    await queue.shutdown();
  }
}

function formatSweepSummary(sweep: SweepDetail): string {
  const fmt = (stat: { mean: number; se: number; n: number } | null) => (stat ? `${stat.mean.toFixed(3)} ± ${stat.se.toFixed(3)}` : '-');
  const rows = sweep.summary.map((row) => [...sweep.axes.map((a) => String(row.point[a] ?? '')), `${row.completed}/${row.runs}`, fmt(row.bestScore), fmt(row.finalScore)]);
  return formatTable([...sweep.axes, 'completed', 'best (mean ± SE)', 'final (mean ± SE)'], rows);
}

/** `dtql sweep`: a grid of runs from a file, queued and (unless detached) trained here or on remote workers. */
export function sweepCommand(program: Command): void {
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
      if (opts.preview && !fs.existsSync(path.join(homeOf(cmd), DB_FILE))) {
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
        const { openRunQueue } = await import('../../engine/queues');
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
}
