import { Option, type Command } from 'commander';
import { badInput, messageOf } from '../../api/errors';
import { createRunsSchema } from '../../api/contract';
import { describeIssues, parseConfigOverride } from '../../common/config';
import { formatDuration } from '../../common/format';
import { defaultPreset, presetSeed, requireTask } from '../../core/tasks';
import { trainingDevice } from '../../core/tf/device';
import type { Service, TrainHereRequest } from '../../engine/service';
import { parsePositiveInt, parseRunId, parseSeed } from '../args';
import { collect, onStopSignal, withService } from '../context';
import { printJson } from '../output';

interface TrainOptions {
  task: string;
  algo: 'dtql' | 'kl';
  preset?: string;
  seed?: number;
  steps?: number;
  name?: string;
  tag: string[];
  set: string[];
  dataset?: number;
  json?: boolean;
}

/** Trains one run here with a progress line on stderr, then prints the summary of the CLI contract. */
async function trainAndReport(service: Service, what: TrainHereRequest, json: boolean): Promise<void> {
  let stopRequested = false;
  const off = onStopSignal(() => {
    stopRequested = true;
    process.stderr.write('\nstopping after this step (final checkpoint)...\n');
  });
  const tty = process.stderr.isTTY;
  try {
    const result = await service.trainHere(what, {
      control: () => (stopRequested ? 'stop' : null),
      onProgress: (p) => {
        const m = p.metrics;
        const losses = (['critic', 'bc', 'trustRegion', 'policy'] as const)
          .filter((k) => m[k] !== undefined)
          .map((k) => `${k} ${(m[k] as number).toPrecision(4)}`)
          .join(' ');
        const eta = formatDuration(p.etaSec, '?');
        const line = `run ${p.runId} ${p.phase} step ${p.step}/${p.total} (${((100 * p.step) / p.total).toFixed(1)}%) | ${losses} | ${p.stepsPerSec.toFixed(1)} steps/s | ETA ${eta}`;
        process.stderr.write(tty ? `\r${line.padEnd(120)}` : `${line}\n`);
      },
    });
    if (tty) process.stderr.write('\n');
    const r = result.run;
    const summary = {
      runId: r.id,
      task: r.task,
      algo: r.algo,
      seed: r.seed,
      steps: r.stepsDone,
      status: r.status,
      backend: r.backend,
      stepsPerSec: result.stepsPerSec,
      finalMetrics: r.finalMetrics,
      bestScore: r.bestScore,
      finalScore: r.finalScore,
      error: r.error,
    };
    if (json) printJson(summary);
    else process.stdout.write(`run ${r.id} ${r.status} after ${r.stepsDone} steps on ${result.backend.label} (${result.stepsPerSec.toFixed(1)} steps/s)${r.error ? `: ${r.error}` : ''}\n`);
    if (r.status !== 'completed' && r.status !== 'stopped') process.exitCode = 1;
  } finally {
    off();
  }
}

/** `dtql train` and `dtql resume`: one run trained in this process, through the service. */
export function trainCommands(program: Command): void {
  program
    .command('train')
    .description('train one run headless, with a progress line on stderr')
    .requiredOption('--task <id>', 'task id (see `dtql tasks`)')
    .addOption(new Option('--algo <algo>', 'trust region (dtql) or the KL baseline (kl)').choices(['dtql', 'kl']).default('dtql'))
    .option('--preset <id>', "hyperparameter preset of the task (default: the task's default for this machine, as in the app: quick on a CPU, paper on a GPU)")
    .option('--seed <n>', 'random seed (default: the preset\'s)', parseSeed)
    .option('--steps <n>', 'joint training steps (overrides trainSteps)', parsePositiveInt)
    .option('--name <name>', 'run name')
    .option('--tag <tag>', 'tag (repeatable)', collect, [])
    .option('--set <key=value>', 'hyperparameter override (repeatable), e.g. --set alpha=5', collect, [])
    .option('--dataset <id>', 'imported dataset to train on (D4RL tasks; default: the newest for the task)', parseRunId)
    .option('--json', 'print the run summary as JSON')
    .action(async (opts: TrainOptions, cmd: Command) => {
      const overrides: Record<string, number | boolean> = {};
      for (const text of opts.set) {
        try {
          const [key, value] = parseConfigOverride(text);
          overrides[key] = value;
        } catch (err) {
          throw badInput((err as Error).message);
        }
      }
      if (opts.steps !== undefined) overrides.trainSteps = opts.steps;
      let task;
      try {
        task = requireTask(opts.task);
      } catch (err) {
        throw badInput(messageOf(err));
      }
      let preset = opts.preset;
      if (preset === undefined) {
        const device = trainingDevice();
        preset = defaultPreset(task, device);
        process.stderr.write(`preset ${preset}: the default of ${task.id} on a ${device.toUpperCase()} (--preset picks another: ${task.presets.map((p) => p.id).join(', ')})\n`);
      }
      const request = createRunsSchema.safeParse({
        task: opts.task,
        algo: opts.algo,
        preset,
        seeds: [opts.seed ?? presetSeed(opts.task, preset)],
        name: opts.name,
        tags: opts.tag,
        overrides,
        dataset: opts.dataset,
      });
      if (!request.success) throw badInput(describeIssues(request.error));
      await withService(cmd, 'write', (service) => trainAndReport(service, { create: request.data }, Boolean(opts.json)));
    });

  program
    .command('resume')
    .description('continue a stopped, interrupted, failed or diverged run from its last checkpoint')
    .argument('<runId>', 'run id', parseRunId)
    .option('--restart', 'train a new run with this run\'s settings from step 0 instead, leaving this one as it is (for a run whose checkpoints are all unreadable)')
    .option('--json', 'print the run summary as JSON')
    .action(async (id: number, opts: { json?: boolean; restart?: boolean }, cmd: Command) => {
      await withService(cmd, 'write', (service) => trainAndReport(service, opts.restart ? { restartOf: id } : { resume: id }, Boolean(opts.json)));
    });
}
