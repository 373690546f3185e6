import { Option, type Command } from 'commander';
import { badInput } from '../../api/errors';
import { parseNonNegativeInt, parsePositiveInt } from '../args';
import { formatTable, printJson } from '../output';
import type * as Official from '../bench/official';
import type { OfficialTarget, SpeedRatio } from '../bench/official';
import type { BenchOptions, BenchResult } from '../bench/speed';

/** One problem's timing with the distance to the machine's limit. */
type BenchRow = BenchResult & { gflopPerStep: number; peakGflops: number; shareOfPeak: number };

/** `dtql bench`: training speed against the machine's limit, served-mode load, the pair, a million runs. */
export function benchCommand(program: Command): void {
  program
    .command('bench')
    .description('training and inference speed at batch 256: D4RL hopper and halfcheetah sizes, and a bandit quick-preset step')
    .option('--steps <n>', 'steps per timed block', parsePositiveInt, 10)
    .option('--repeats <n>', 'timed blocks; the median is reported', parsePositiveInt, 5)
    .option('--warmup <n>', 'untimed steps before each timed part (a fresh training worker runs its first few hundred steps 10-70% slower than a long run does)', parseNonNegativeInt, 1000)
    .addOption(new Option('--official <checkout>', 'also time the official PyTorch code (a checkout of its repository) in the same run, and print the ratios').env('DTQL_OFFICIAL'))
    .option('--rounds <n>', 'with --official: time both projects this many times, alternating, and report the median ratio, its range and how often each goal was met', parsePositiveInt, 1)
    .addOption(new Option('--python <command>', 'with --official: the Python that has torch, numpy and einops').env('DTQL_OFFICIAL_PYTHON').default('python3'))
    .option('--load', 'instead: served mode training a run while many clients fetch million-point curves')
    .option('--pair', "instead: the Compare page's trust region and KL pair (quick preset) on bandit-25g-hard, from queueing to both ended")
    .option('--scale', 'instead: History, the run list and the runs CSV over a store of a million runs (served mode and `runs list`)')
    .option('--scale-runs <n>', 'with --scale: runs in the store it builds', parsePositiveInt, 1_000_000)
    .option('--clients <n>', 'with --load: concurrent loopback clients', parsePositiveInt, 50)
    .option('--think-ms <ms>', 'with --load: pause of each client between requests (0 saturates the server)', parseNonNegativeInt, 1000)
    .option('--window <s>', 'with --load: seconds of each measuring window', parsePositiveInt, 20)
    .option('--json', 'print JSON')
    .action(async (opts: { steps: number; repeats: number; warmup: number; official?: string; rounds: number; python: string; load?: boolean; pair?: boolean; scale?: boolean; scaleRuns: number; clients: number; thinkMs: number; window: number; json?: boolean }) => {
      if (opts.scale) {
        const { benchScale } = await import('../bench/scale');
        const r = await benchScale(opts.scaleRuns);
        if (opts.json) return printJson(r);
        const mb = (v: number | null) => (v === null ? 'not measured here' : `${v.toFixed(0)} MB`);
        process.stdout.write(
          `a store of ${r.runs.toLocaleString('en-US')} runs (${r.storeMB.toFixed(0)} MB, built in ${r.buildSec.toFixed(0)} s)\n` +
            `served mode: first page ${r.firstPageMs.toFixed(0)} ms (goal under 200), page at the middle ${r.deepPageMs.toFixed(0)} ms, sorted by final score ${r.sortedPageMs.toFixed(0)} ms, ` +
            `tag and algorithm filter ${r.filteredPageMs.toFixed(0)} ms, info ${r.infoMs.toFixed(0)} ms, filter values ${r.facetsMs.toFixed(0)} ms; ` +
            `the runs CSV (${r.exportRows.toLocaleString('en-US')} rows) in ${r.exportRunsSec.toFixed(0)} s; server peak ${mb(r.serverPeakMB)} (goal under 600)\n` +
            `runs list --json: ${r.listRows.toLocaleString('en-US')} runs in ${r.listSec.toFixed(0)} s, peak ${mb(r.listPeakMB)} (goal under 300)\n`,
        );
        return undefined;
      }
      if (opts.pair) {
        const { benchPair } = await import('../bench/speed');
        const r = await benchPair();
        if (opts.json) printJson(r);
        else process.stdout.write(`${r.task} pair at ${r.concurrency} runs at once: trust region ${r.trustRegionSec.toFixed(0)} s, KL ${r.klSec.toFixed(0)} s, both ended after ${r.pairSec.toFixed(0)} s (goal 300 s)\n`);
        return;
      }
      if (opts.load) {
        const { benchServedLoad } = await import('../bench/load');
        const r = await benchServedLoad({ clients: opts.clients, points: 1_000_000, windowSec: opts.window, thinkMs: opts.thinkMs });
        if (opts.json) printJson(r);
        else {
          process.stdout.write(
            `${r.clients} clients (pause ${r.thinkMs} ms) fetching curves of ${r.pointsPerRun.toLocaleString('en-US')}-point runs: ${r.requests} requests (${r.requestsPerSec.toFixed(1)}/s, ${r.failed} failed), ` +
              `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(0)} ms; first uncached fetch ${r.coldFetchMs.toFixed(0)} ms\n` +
              `training meanwhile: ${r.trainStepsPerSecUnderLoad.toFixed(1)} steps/s against ${r.trainStepsPerSecIdle.toFixed(1)} idle (ratio ${r.trainSpeedRatio.toFixed(2)}; goal 0.80 or more)\n`,
          );
        }
        return;
      }
      if (opts.rounds > 1 && opts.official === undefined) throw badInput('--rounds compares with the official code: give --official <checkout> too');
      const official = opts.official === undefined ? null : await import('../bench/official');
      const target = official && opts.official !== undefined ? official.checkOfficialTarget({ checkout: opts.official, python: opts.python }) : null;
      const { initBackend } = await import('../../core/tf/backend');
      const { BENCH_PROBLEMS, benchCurveFetch, benchProblem, benchProblemSpec, benchRunList, benchStartup, concurrentMatMulPeakGflops, matMulPeakGflops } = await import('../bench/speed');
      const { jointStepFlops } = await import('../../core/algos/step-flops');
      const backend = await initBackend();
      process.stderr.write(`benchmarking on ${backend.label} (${backend.reason})\n`);
      // Training uses two threads on the CPU backends (the critic on its own): the peak is theirs at once where it can be
      // measured (the native addon), else two threads' worth of the one-thread speed.
      const threads = backend.name === 'tensorflow' ? 1 : 2;
      const onePeak = matMulPeakGflops();
      const together = threads > 1 ? await concurrentMatMulPeakGflops(threads) : null;
      const peakGflops = together ?? threads * onePeak;
      process.stderr.write(
        `matMul peak: ${onePeak.toFixed(1)} GFLOP/s on one thread (1024 x 1024 x 1024), ${peakGflops.toFixed(1)} on the ${threads} threads training uses (${together === null ? `${threads} x one thread` : 'measured at once'})\n`,
      );
      const timing = { steps: opts.steps, repeats: opts.repeats, warmup: opts.warmup };
      const rounds: { results: BenchRow[]; official: Official.OfficialReport[]; ratios: SpeedRatio[] }[] = [];
      for (let round = 1; round <= opts.rounds; round++) {
        if (opts.rounds > 1) process.stderr.write(`round ${round} of ${opts.rounds}\n`);
        const results: BenchRow[] = [];
        const officialRuns: Official.OfficialReport[] = [];
        for (const p of BENCH_PROBLEMS) {
          const r = await benchProblem(p, backend, timing);
          process.stderr.write(
            `${r.problem}: pretrain ${r.pretrainStepsPerSec.toFixed(1)} steps/s, train ${r.trainStepsPerSec.toFixed(1)} steps/s (one thread ${r.trainStepsPerSecSingleThread.toFixed(1)}), act ${r.actLatencyMs.toFixed(1)} ms\n`,
          );
          const gflopPerStep = jointStepFlops('dtql', benchProblemSpec(p), p.config) / 1e9;
          const shareOfPeak = (gflopPerStep * r.trainStepsPerSec) / peakGflops;
          process.stderr.write(`${r.problem}: a joint step is ${gflopPerStep.toFixed(2)} GFLOP of matrix products; at ${r.trainStepsPerSec.toFixed(1)} steps/s that is ${(gflopPerStep * r.trainStepsPerSec).toFixed(1)} GFLOP/s, ${(100 * shareOfPeak).toFixed(0)}% of the peak\n`);
          results.push({ ...r, gflopPerStep, peakGflops, shareOfPeak });
          if (official && target) officialRuns.push(timeOfficial(official, target, timing, p.problem));
        }
        const ratios = official && officialRuns.length ? official.speedRatios(results, officialRuns.flatMap((o) => o.results)) : [];
        if (official && opts.rounds > 1) process.stderr.write(`${official.formatRatios(ratios)}\n`);
        rounds.push({ results, official: officialRuns, ratios });
      }
      const { results } = rounds[rounds.length - 1] as (typeof rounds)[number];
      const summary = official && opts.rounds > 1 ? official.summariseRounds(rounds.map((r) => r.ratios)) : null;
      const curves = benchCurveFetch();
      process.stderr.write(`curves: a downsampled ${curves.points.toLocaleString('en-US')}-point series in ${curves.fetchMs.toFixed(0)} ms\n`);
      const history = benchRunList();
      process.stderr.write(`history: the first page of ${history.runs} runs in ${history.listAllMs.toFixed(0)} ms, filtered and sorted in ${history.filteredSortedMs.toFixed(0)} ms\n`);
      const startup = await benchStartup();
      process.stderr.write(
        `startup: dtql --version in ${startup.cliVersionMs.toFixed(0)} ms at ${startup.cliVersionPeakMB.toFixed(0)} MB peak (goal under 300 ms, 120 MB); a training process from spawn to its first step in ${startup.workerFirstStepMs.toFixed(0)} ms\n`,
      );
      const comparison = official ? (opts.rounds > 1 ? { rounds, summary } : { official: rounds[0]?.official, ratios: rounds[0]?.ratios }) : {};
      if (opts.json) printJson({ backend: backend.name, kernels: backend.label, results, ...comparison, curves, history, startup });
      else {
        const rows = results.map((r) => [r.problem, r.pretrainStepsPerSec.toFixed(1), r.trainStepsPerSec.toFixed(1), r.trainStepsPerSecSingleThread.toFixed(1), r.actLatencyMs.toFixed(1), r.gflopPerStep.toFixed(2), `${(100 * r.shareOfPeak).toFixed(0)}%`]);
        process.stdout.write(`${formatTable(['problem', 'pretrain steps/s', 'train steps/s', 'one thread', 'act ms', 'GFLOP/step', 'of matMul peak'], rows)}\n`);
        if (summary && official) process.stdout.write(`${official.formatSummary(summary)}\n`);
        else if (official) process.stdout.write(`${official.formatRatios(rounds[0]?.ratios ?? [])}\n`);
        process.stdout.write(`downsampled ${curves.points}-point series (${curves.buckets} buckets): ${curves.fetchMs.toFixed(0)} ms\n`);
      }
    });
}

/** Times the official code on one problem right after this project's timing of it (same machine, same run), and reports it. */
function timeOfficial(official: typeof Official, target: OfficialTarget, timing: BenchOptions, problem: string): Official.OfficialReport {
  const report = official.benchOfficial(target, timing, problem);
  for (const o of report.results) {
    const parts = [o.pretrainStepsPerSec && `pretrain ${o.pretrainStepsPerSec.toFixed(1)} steps/s`, `train ${o.trainStepsPerSec.toFixed(1)} steps/s`, o.actLatencyMs && `act ${o.actLatencyMs.toFixed(1)} ms`];
    process.stderr.write(`official code (torch ${report.torch}, ${o.threads} thread${o.threads > 1 ? 's' : ''}) ${o.problem}: ${parts.filter(Boolean).join(', ')}\n`);
  }
  return report;
}
