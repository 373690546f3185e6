import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiError, exitCodeOf } from '../api/errors';
import { runIdSchema } from '../api/contract';
import { TASKS } from '../core/tasks';
import { openDatabase, type Db } from '../store/db';
import { resolveHome } from '../store/home';
import { getRun, listRuns } from '../store/runs';
import { startServer } from '../server/index';
import { APP_VERSION } from '../engine/version';
import { formatTable, printJson } from './output';

interface GlobalOptions {
  home?: string;
}

function openStore(cmd: Command): { db: Db; home: string } {
  const home = resolveHome((cmd.optsWithGlobals() as GlobalOptions).home);
  return { db: openDatabase(home), home };
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

function buildProgram(): Command {
  const program = new Command('dtql')
    .description('DTQL Workbench: train, compare and export Diffusion Trusted Q-Learning runs')
    .version(APP_VERSION)
    .option('--home <dir>', 'data folder (SQLite store, checkpoints, datasets); default $DTQL_HOME or the per-user folder')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('serve')
    .description('serve the UI and the API over HTTP and WebSocket')
    .addOption(new Option('--port <port>', 'TCP port').default(5417).argParser(parsePort))
    .option('--host <host>', 'address to bind; a non-loopback address needs --token', '127.0.0.1')
    .option('--token <token>', 'access token required on every request')
    .action(async (opts: { port: number; host: string; token?: string }, cmd: Command) => {
      const { db, home } = openStore(cmd);
      const server = await startServer({ db, home, host: opts.host, port: opts.port, token: opts.token ?? null });
      process.stderr.write(`DTQL Workbench serving ${home}\n`);
      process.stdout.write(`${server.url}\n`);
      const shutdown = () => {
        void server.close().finally(() => {
          db.close();
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
  runs
    .command('list')
    .description('every run in the store, newest first')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const { db } = openStore(cmd);
      const all = listRuns(db);
      db.close();
      if (opts.json) return printJson(all);
      if (all.length === 0) return void process.stdout.write('no runs yet\n');
      const rows = all.map((r) => [r.id, r.name, r.task, r.algo, r.seed, r.status, `${r.stepsDone}/${r.stepsTotal}`, r.finalScore, r.createdAt.slice(0, 19).replace('T', ' ')]);
      process.stdout.write(`${formatTable(['id', 'name', 'task', 'algo', 'seed', 'status', 'steps', 'final', 'created'], rows)}\n`);
      return undefined;
    });
  runs
    .command('show')
    .description('one run with its config')
    .argument('<runId>', 'run id', parseRunId)
    .option('--json', 'print JSON')
    .action((id: number, opts: { json?: boolean }, cmd: Command) => {
      const { db } = openStore(cmd);
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
        printJson({ file, precision: report.precision, backend: backend.name, maxAbsError: report.maxAbsError, worst: report.worst, quantities, pass: report.pass });
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
    process.stderr.write(`dtql: ${err instanceof ApiError || err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = exitCodeOf(err);
  }
}

await main(process.argv);
