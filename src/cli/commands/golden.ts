import type { Command } from 'commander';
import { printJson } from '../output';

/** `dtql golden`: recomputes the official implementation's reference numbers here. */
export function goldenCommand(program: Command): void {
  program
    .command('golden')
    .description('recompute a golden-numbers file of the official implementation and report the errors')
    .argument('<file>', 'networks.json or train_step.json format')
    .option('--networks <file>', 'weights and inputs for a train-step file (default: networks.json beside it)')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { json?: boolean; networks?: string }) => {
      const { runGolden } = await import('../../engine/training/golden');
      const { report, backend } = await runGolden(file, opts.networks);
      const quantities = Object.fromEntries(Object.entries(report.quantities).map(([k, q]) => [k, q.maxAbsError]));
      if (opts.json) {
        printJson({ file, precision: report.precision, backend: backend.name, kernels: backend.label, kernelsDetail: backend.reason, maxAbsError: report.maxAbsError, worst: report.worst, quantities, pass: report.pass });
      } else {
        const failures = Object.entries(report.quantities).filter(([, q]) => !q.pass);
        for (const [name, q] of failures) process.stdout.write(`FAIL ${name}: max abs error ${q.maxAbsError.toExponential(2)} (${q.kind})\n`);
        process.stdout.write(
          `${file}: ${Object.keys(quantities).length} quantities on ${backend.label}, max abs error ${report.maxAbsError.toExponential(2)} (${report.worst}): ${report.pass ? 'pass' : 'FAIL'}\n`,
        );
      }
      if (!report.pass) process.exitCode = 1;
    });
}
