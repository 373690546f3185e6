import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { RESTORE_ADVICE, exitCodeOf, messageOf, storeDamaged } from '../api/errors';
import { DB_FILE } from '../store/db';
import { APP_VERSION } from '../engine/version';
import { benchCommand } from './commands/bench';
import { datasetCommand } from './commands/dataset';
import { exportCommand } from './commands/export';
import { goldenCommand } from './commands/golden';
import { runsCommand } from './commands/runs';
import { serveCommand } from './commands/serve';
import { sweepCommand } from './commands/sweep';
import { tasksCommand } from './commands/tasks';
import { trainCommands } from './commands/train';
import { workerCommand } from './commands/worker';
import { homeOf } from './context';

/** The `dtql` command: one file per subcommand under commands/, each a thin adapter over the engine. */
function buildProgram(): Command {
  const program = new Command('dtql')
    .description('DTQL Workbench: train, compare and export Diffusion Trusted Q-Learning runs')
    .version(APP_VERSION)
    .option('--home <dir>', 'data folder (SQLite store, checkpoints, datasets); default $DTQL_HOME or the per-user folder')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  for (const add of [serveCommand, tasksCommand, runsCommand, trainCommands, sweepCommand, workerCommand, datasetCommand, exportCommand, benchCommand, goldenCommand]) add(program);
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
      const file = path.join(homeOf(program), DB_FILE);
      process.stderr.write(`dtql: the database ${file} is damaged (${messageOf(err)}); ${RESTORE_ADVICE}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`dtql: ${messageOf(err)}\n`);
    process.exitCode = exitCodeOf(err);
  }
}

await main(process.argv);
