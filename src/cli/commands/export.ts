import type { Command } from 'commander';
import { filterOf, withFilterOptions, type FilterOptions } from '../args';
import { withService } from '../context';

/** `dtql export`: runs or their metrics as CSV, selected as History selects them. */
export function exportCommand(program: Command): void {
  withFilterOptions(
    program.command('export').description('write runs as CSV: a summary row per run, or with --metrics every raw metric row (default: every run)'),
  )
    .requiredOption('--out <file>', 'the CSV file to write')
    .option('--metrics', 'the long metrics table run_id,metric,step,wall_time,value')
    .action(async (opts: FilterOptions & { out: string; metrics?: boolean }, cmd: Command) => {
      const filter = filterOf(opts);
      const result = await withService(cmd, 'read', (service) => service.exportFile(opts.metrics ? 'metrics' : 'runs', filter, opts.out));
      process.stderr.write(`wrote ${result.rows} rows to ${result.file}\n`);
    });
}
