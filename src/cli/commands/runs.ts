import type { Command } from 'commander';
import { filterOf, parsePositiveInt, parseRunId, withFilterOptions, type FilterOptions } from '../args';
import { withService } from '../context';
import { printJson, streamJsonArray, streamTable } from '../output';

/** `dtql runs list` and `dtql runs show`: the store's runs, read through the service. */
export function runsCommand(program: Command): void {
  const runs = program.command('runs').description('list and inspect runs');
  withFilterOptions(runs.command('list').description('the runs in the store, newest first, optionally filtered; streamed, so any number of runs fits in memory'))
    .option('--limit <n>', 'at most this many runs', parsePositiveInt)
    .option('--json', 'print JSON')
    .action(async (opts: FilterOptions & { json?: boolean; limit?: number }, cmd: Command) => {
      const filter = filterOf(opts);
      return withService(cmd, 'read', async (service) => {
        const runs = service.eachRun(filter, opts.limit);
        if (opts.json) return await streamJsonArray(runs);
        const rows = (function* () {
          for (const r of runs) yield [r.id, r.name, r.task, r.algo, r.seed, r.status, `${r.stepsDone}/${r.stepsTotal}`, r.finalScore, r.createdAt.slice(0, 19).replace('T', ' ')];
        })();
        const n = await streamTable(['id', 'name', 'task', 'algo', 'seed', 'status', 'steps', 'final', 'created'], rows);
        if (n === 0) process.stdout.write('no runs match\n');
        return undefined;
      });
    });
  runs
    .command('show')
    .description('one run with its config')
    .argument('<runId>', 'run id', parseRunId)
    .option('--json', 'print JSON')
    .action(async (id: number, opts: { json?: boolean }, cmd: Command) => {
      return withService(cmd, 'read', async (service) => {
        const run = await service.handlers.getRun({ id });
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
      });
    });
}
