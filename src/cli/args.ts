import { InvalidArgumentError, Option, type Command } from 'commander';
import { badInput } from '../api/errors';
import { runFilterSchema, runIdSchema, runSortKeys, runStatusSchema, seedSchema, type RunFilter } from '../api/contract';
import { describeIssues } from '../common/config';
import { MAX_SWEEP_RUNS_CAP } from '../engine/sweep';

/** Argument and option parsers: each names what a bad value should have been. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('must be a whole number from 0 to 65535');
  return port;
}

export function parseRunId(value: string): number {
  const parsed = runIdSchema.safeParse(/^\d+$/.test(value) ? Number(value) : Number.NaN);
  if (!parsed.success) throw new InvalidArgumentError('must be a positive whole number (a run id from `dtql runs list`)');
  return parsed.data;
}

export function parseSeed(value: string): number {
  const parsed = seedSchema.safeParse(/^\d+$/.test(value) ? Number(value) : Number.NaN);
  if (!parsed.success) throw new InvalidArgumentError('must be a whole number from 0 to 2147483647');
  return parsed.data;
}

export function parseRunIds(value: string): number[] {
  const ids = value.split(',').map((v) => v.trim());
  if (ids.length === 0 || ids.some((v) => !/^\d+$/.test(v) || Number(v) < 1)) throw new InvalidArgumentError('must be run ids separated by commas, e.g. 3,4,7');
  return ids.map(Number);
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 64) throw new InvalidArgumentError('must be a whole number from 0 to 64');
  return Number(value);
}

export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of at least 0');
  return Number(value);
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return Number(value);
}

/** A sweep size limit: at least 1 and at most MAX_SWEEP_RUNS_CAP. */
export function parseSweepLimit(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_SWEEP_RUNS_CAP) throw new InvalidArgumentError(`must be at most ${MAX_SWEEP_RUNS_CAP.toLocaleString('en-US')} (a larger grid is better split into several sweeps)`);
  return n;
}

/** Uploads are capped below 1 TiB: past that the number is a typo. */
export const MAX_UPLOAD_MB = 2 ** 20;

export function parseUploadLimit(value: string): number {
  const n = parsePositiveInt(value);
  if (n > MAX_UPLOAD_MB) throw new InvalidArgumentError(`must be at most ${MAX_UPLOAD_MB.toLocaleString('en-US')} (1 TiB)`);
  return n;
}

export interface FilterOptions {
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
export function withFilterOptions(cmd: Command): Command {
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

export function filterOf(opts: FilterOptions): RunFilter {
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
