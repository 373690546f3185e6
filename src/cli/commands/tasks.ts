import type { Command } from 'commander';
import { TASKS } from '../../core/tasks';
import { formatTable, printJson } from '../output';

/** `dtql tasks`: the task catalog with its presets. */
export function tasksCommand(program: Command): void {
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
}
