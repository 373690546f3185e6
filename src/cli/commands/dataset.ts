import { Argument, type Command } from 'commander';
import { parsePositiveInt, parseSeed } from '../args';
import { withService } from '../context';
import { formatTable, printJson } from '../output';

/** `dtql dataset`: inspect, import, generate and list datasets. */
export function datasetCommand(program: Command): void {
  const dataset = program.command('dataset').description('import D4RL or Minari HDF5 files and list them');
  dataset
    .command('inspect')
    .description('read and check a file without importing it')
    .argument('<file>', 'a D4RL or Minari .hdf5 file')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { inspectDataset } = await import('../../engine/datasets/datasets');
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
      return withService(cmd, 'write', async (service) => {
        const imported = await service.importFile(file, { name: opts.name, keep: opts.reference ? 'reference' : 'copy' });
        if (opts.json) return printJson(imported);
        process.stdout.write(`imported dataset ${imported.id} "${imported.name}": ${imported.transitions.toLocaleString('en-US')} transitions, suggested task ${imported.suggestedTask ?? 'none'}\n`);
        for (const w of imported.warnings) process.stderr.write(`warning: ${w}\n`);
        return undefined;
      });
    });
  dataset
    .command('generate')
    .description('make a <env>-random-v2 dataset here: uniform random actions in MuJoCo (no download)')
    .addArgument(new Argument('<env>', 'environment').choices(['hopper', 'halfcheetah', 'walker2d']))
    .option('--size <n>', 'transitions (default 1,000,000, as D4RL)', parsePositiveInt)
    .option('--seed <n>', 'random seed (default 0)', parseSeed)
    .option('--json', 'print JSON')
    .action(async (env: 'hopper' | 'halfcheetah' | 'walker2d', opts: { size?: number; seed?: number; json?: boolean }, cmd: Command) => {
      return withService(cmd, 'write', async (service) => {
        const made = await service.generateDataset({ env, size: opts.size, seed: opts.seed }, (f) => process.stderr.write(`\rgenerating ${env}: ${Math.round(f * 100)}%`));
        process.stderr.write('\n');
        if (opts.json) return printJson(made);
        process.stdout.write(`generated dataset ${made.id} "${made.name}": ${made.transitions.toLocaleString('en-US')} transitions in ${made.episodes.toLocaleString('en-US')} episodes, mean return ${made.stats.returnMean?.toFixed(1)}\n`);
        return undefined;
      });
    });
  dataset
    .command('list')
    .description('the imported datasets, newest first')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const all = await withService(cmd, 'read', (service) => service.handlers.listDatasets({}));
      if (opts.json) return printJson(all);
      if (all.length === 0) return void process.stdout.write('no datasets imported\n');
      const rows = all.map((d) => [d.id, d.name, d.format, d.suggestedTask ?? '-', d.transitions, `${d.obsDim}/${d.actDim}`, d.storedPath ? 'copy' : 'reference', d.runs]);
      process.stdout.write(`${formatTable(['id', 'name', 'format', 'task', 'transitions', 'obs/act', 'kept as', 'runs'], rows)}\n`);
      return undefined;
    });
}
