import path from 'node:path';
import fs from 'node:fs';
import type { Command } from 'commander';
import { badInput, messageOf } from '../../api/errors';
import type { SweepDetail, SweepPreview } from '../../api/contract';
import { formatDuration } from '../../common/format';
import { DEFAULT_MAX_SWEEP_RUNS, MAX_SWEEP_RUNS_CAP, parseSweepText, planSweep, sweepPreview } from '../../engine/sweep';
import type { RunQueue } from '../../engine/local/run-manager';
import type { Service } from '../../engine/service';
import { EventHub } from '../../engine/events';
import { DB_FILE } from '../../store/db';
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

/**
 * Trains a sweep's runs through `queue` (here, or on remote workers), printing progress, until all
 * have ended. Ctrl-C stops the runs training then, starts no more, and returns once they have
 * stopped; the rest stay queued.
 */
async function trainSweep(service: Service, runIds: number[], queue: RunQueue): Promise<void> {
  const live = (status: string) => status === 'running' || status === 'paused';
  /** After Ctrl-C: the runs that were training then, being stopped. */
  const stop: { requested: boolean; runs: Set<number> | null } = { requested: false, runs: null };
  const off = onStopSignal(() => {
    process.stderr.write('\nstopping the sweep: training runs stop with a checkpoint; the rest stay queued\n');
    queue.scope = () => false;
    stop.requested = true;
  });
  try {
    queue.schedule();
    let last = '';
    for (;;) {
      const runs = await Promise.all(runIds.map((id) => service.handlers.getRun({ id })));
      if (stop.requested && !stop.runs) {
        stop.runs = new Set(runs.filter((r) => live(r.status)).map((r) => r.id));
        for (const id of stop.runs) queue.stop(id);
      }
      const ended = runs.filter((r) => !['queued', 'running', 'paused'].includes(r.status)).length;
      const training = runs.filter((r) => r.status === 'running');
      const workers = [...new Set(training.map((r) => r.worker).filter((w): w is string => w !== null))];
      const line = `sweep: ${ended}/${runIds.length} ended, ${training.length} training${workers.length ? ` on ${workers.join(', ')}` : ''}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
      if (ended === runIds.length) return;
      if (stop.runs && !runs.some((r) => stop.runs?.has(r.id) && live(r.status))) return;
      await new Promise((resolve) => setTimeout(resolve, stop.requested ? 200 : 1000));
    }
  } finally {
    off();
  }
}

/** A sweep preview as JSON, or as a table of its first runs and a line with its size and time. */
function printPreview(preview: SweepPreview, json: boolean): void {
  if (json) return printJson(preview);
  const axes = preview.axes.filter((a) => a !== 'task' && a !== 'algo');
  process.stdout.write(`${formatTable(['task', 'algo', 'seed', ...axes], preview.runs.map((r) => [r.task, r.algo, r.seed, ...axes.map((a) => String(r.point[a]))]))}\n`);
  const shown = preview.runs.length < preview.count ? ` (the first ${preview.runs.length} shown)` : '';
  process.stdout.write(`${preview.count} runs over ${preview.axes.join(' x ') || 'one grid point'}${shown}; ${describeEstimate(preview.estimate, preview.estimate.concurrency)}\n`);
  return undefined;
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
      if (opts.preview && !fs.existsSync(path.join(homeOf(cmd), DB_FILE))) {
        return printPreview(sweepPreview(planSweep(spec, { name: opts.name, maxRuns: opts.maxRuns }), { maxRuns: opts.maxRuns, concurrency }), Boolean(opts.json));
      }
      const { db, home } = await openStore(cmd);
      // The sweep trains only its own runs: on remote workers (Redis proved reachable before anything
      // is queued), or here. A preview and a detached sweep hold a local queue that starts nothing.
      let owned: Set<number> | null = null;
      const { openRunQueue } = await import('../../engine/queues');
      const { createService } = await import('../../engine/service');
      const queue = await openRunQueue(db, home, new EventHub(), {
        concurrency: opts.detach && !opts.redis ? 0 : concurrency,
        scope: (id) => owned?.has(id) ?? false,
        redisUrl: opts.preview ? null : opts.redis,
      }).catch((err: unknown) => {
        db.close();
        throw err;
      });
      const service = createService({ db, home, mode: 'cli', runs: queue, maxSweepRuns: opts.maxRuns });
      try {
        if (opts.preview) return printPreview(await service.handlers.previewSweep({ spec, name: opts.name }), Boolean(opts.json));
        const { sweepId, runIds } = await service.handlers.createSweep({ spec, name: opts.name });
        owned = new Set(runIds);
        const { name } = await service.handlers.getSweep({ id: sweepId });
        process.stderr.write(`sweep ${sweepId} "${name}": ${runIds.length} runs queued${opts.redis ? ' for remote workers' : ''}\n`);
        if (opts.detach) {
          queue.schedule();
          await queue.settled();
          if (opts.json) printJson({ sweepId, runIds, status: 'queued' });
          return undefined;
        }
        await trainSweep(service, runIds, queue);
        const sweep = await service.handlers.getSweep({ id: sweepId });
        if (opts.json) printJson({ sweepId, runIds, statuses: sweep.statuses, summary: sweep.summary });
        else process.stdout.write(`${formatSweepSummary(sweep)}\n`);
        if ((sweep.statuses.completed ?? 0) < runIds.length) process.exitCode = 1;
        return undefined;
      } finally {
        service.close();
        await queue.shutdown();
        db.close();
      }
    });
}
