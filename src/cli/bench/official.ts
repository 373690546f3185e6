import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../../core/repo-root';
import { formatTable } from '../output';
import type { BenchOptions, BenchResult } from './speed';

/** The harness that times the official PyTorch code as `dtql bench` times this project. */
export const OFFICIAL_HARNESS = path.join(REPO_ROOT, 'docs', 'experiments', 'official_speed.py');

const officialRow = z.object({
  problem: z.string(),
  threads: z.number().int().positive(),
  pretrainStepsPerSec: z.number().positive().optional(),
  trainStepsPerSec: z.number().positive(),
  actLatencyMs: z.number().positive().optional(),
});
const officialReport = z.object({ torch: z.string(), results: z.array(officialRow).min(1) });
export type OfficialRow = z.infer<typeof officialRow>;
export type OfficialReport = z.infer<typeof officialReport>;

export interface OfficialTarget {
  checkout: string;
  python: string;
}

/**
 * Refuses, before anything is timed, a checkout that is not the official repository or a Python
 * that cannot import what the official code needs; returns the target with the checkout's full path.
 */
export function checkOfficialTarget(target: OfficialTarget): OfficialTarget {
  const checkout = path.resolve(target.checkout);
  const needed = ['agents/dtql.py', 'agents/model.py', 'diffusion/karras.py', 'diffusion/mlps.py'];
  const missing = needed.filter((file) => !fs.existsSync(path.join(checkout, file)));
  if (missing.length) throw new Error(`--official ${target.checkout} is not a checkout of the official DTQL code: it has no ${missing.join(', ')}`);
  const probe = spawnSync(target.python, ['-c', 'import torch, numpy, einops'], { encoding: 'utf8' });
  if (probe.error) throw new Error(`--python ${target.python} could not be started: ${probe.error.message}`);
  if (probe.status !== 0) throw new Error(`--python ${target.python} cannot run the official code: ${probe.stderr.trim().split('\n').pop()}`);
  return { checkout, python: target.python };
}

/** The harness's name for each bench problem. */
const HARNESS_PROBLEMS: Record<string, string> = { hopper: 'hopper', halfcheetah: 'halfcheetah', 'bandit (quick)': 'bandit' };

/**
 * Runs the harness with `python` (which needs torch, numpy and einops) for one bench problem, so
 * the two projects' timings of a problem are minutes apart at most, and returns its timings.
 */
export function benchOfficial(target: OfficialTarget, options: BenchOptions, problem: string): OfficialReport {
  const name = HARNESS_PROBLEMS[problem];
  if (!name) throw new Error(`the official code has no timing for ${problem}`);
  const timing = ['--warmup', String(options.warmup), '--steps', String(options.steps), '--repeats', String(options.repeats)];
  const args = [OFFICIAL_HARNESS, '--official', target.checkout, '--problems', name, ...timing];
  const run = spawnSync(target.python, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (run.error) throw new Error(`could not start ${target.python} for the official code: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`the official code's timing failed (${target.python} exited with ${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const line = run.stdout.trim().split('\n').pop() ?? '';
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`the official code's timing printed no JSON: ${line.slice(0, 200)}`);
  }
  return officialReport.parse(json);
}

/** This project's speed over the official code's, per problem, where both were timed. */
export interface SpeedRatio {
  problem: string;
  /** Pretraining, joint training and action against the official code's faster thread setting; one thread against its one thread. */
  pretrain: number | null;
  train: number;
  trainOneThread: number | null;
  /** Action latency, this project's over the official (lower is better). */
  act: number | null;
}

/** The speed goals against the official code: pretraining and joint training at least 2x, one thread 1.3x, an action at most 0.5x of the official latency. */
export const SPEED_GOALS = {
  pretrain: { goal: 2, atLeast: true, label: 'pretrain' },
  train: { goal: 2, atLeast: true, label: 'train' },
  trainOneThread: { goal: 1.3, atLeast: true, label: 'one thread' },
  act: { goal: 0.5, atLeast: false, label: 'act ms' },
} as const;
export type SpeedMeasure = keyof typeof SPEED_GOALS;
const SPEED_MEASURES = Object.keys(SPEED_GOALS) as SpeedMeasure[];

export function meetsGoal(measure: SpeedMeasure, ratio: number): boolean {
  const { goal, atLeast } = SPEED_GOALS[measure];
  return atLeast ? ratio >= goal : ratio <= goal;
}

/** One ratio over several rounds of the comparison: both projects drift by 15-20% within minutes here, so one round decides little. */
export interface RatioSpread {
  median: number;
  min: number;
  max: number;
  /** Rounds that met the goal, of `rounds`. */
  met: number;
  rounds: number;
}

export interface RoundsSummary {
  problem: string;
  ratios: Record<SpeedMeasure, RatioSpread | null>;
}

/** Each problem's ratios over the rounds (each round one speedRatios answer): the median, the range and how often the goal was met. */
export function summariseRounds(rounds: SpeedRatio[][]): RoundsSummary[] {
  const problems = [...new Set(rounds.flat().map((r) => r.problem))];
  return problems.map((problem) => {
    const rows = rounds.flat().filter((r) => r.problem === problem);
    const spread = (measure: SpeedMeasure): RatioSpread | null => {
      const values = rows.map((r) => r[measure]).filter((v): v is number => v !== null);
      if (!values.length) return null;
      const sorted = [...values].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
      return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, met: values.filter((v) => meetsGoal(measure, v)).length, rounds: values.length };
    };
    return { problem, ratios: Object.fromEntries(SPEED_MEASURES.map((m) => [m, spread(m)])) as RoundsSummary['ratios'] };
  });
}

export function speedRatios(ours: BenchResult[], official: OfficialRow[]): SpeedRatio[] {
  return ours.flatMap((r) => {
    const rows = official.filter((o) => o.problem === r.problem);
    if (!rows.length) return [];
    const best = (pick: (o: (typeof rows)[number]) => number | undefined, better: (a: number, b: number) => number) => {
      const values = rows.map(pick).filter((v): v is number => v !== undefined);
      return values.length ? values.reduce((a, b) => better(a, b)) : null;
    };
    const pretrain = best((o) => o.pretrainStepsPerSec, Math.max);
    const train = best((o) => o.trainStepsPerSec, Math.max) as number;
    const oneThread = rows.find((o) => o.threads === 1)?.trainStepsPerSec ?? null;
    const act = best((o) => o.actLatencyMs, Math.min);
    return [
      {
        problem: r.problem,
        pretrain: pretrain === null ? null : r.pretrainStepsPerSec / pretrain,
        train: r.trainStepsPerSec / train,
        trainOneThread: oneThread === null ? null : r.trainStepsPerSecSingleThread / oneThread,
        act: act === null ? null : r.actLatencyMs / act,
      },
    ];
  });
}

const RATIO_HEADERS = ['against official', ...SPEED_MEASURES.map((m) => `${SPEED_GOALS[m].label} (goal ${SPEED_GOALS[m].goal}x)`)];

/** Ratios to the official code with the speed goal beside each. */
export function formatRatios(ratios: SpeedRatio[]): string {
  const show = (measure: SpeedMeasure, value: number | null) => (value === null ? 'not timed' : `${value.toFixed(2)}x ${meetsGoal(measure, value) ? 'met' : 'NOT met'}`);
  return formatTable(
    RATIO_HEADERS,
    ratios.map((r) => [r.problem, ...SPEED_MEASURES.map((m) => show(m, r[m]))]),
  );
}

/** Over several rounds: each ratio's median and range, and in how many rounds it met its goal. */
export function formatSummary(summary: RoundsSummary[]): string {
  const show = (s: RatioSpread | null) => (s === null ? 'not timed' : `${s.median.toFixed(2)}x (${s.min.toFixed(2)}-${s.max.toFixed(2)}), met ${s.met} of ${s.rounds}`);
  return formatTable(
    RATIO_HEADERS,
    summary.map((s) => [s.problem, ...SPEED_MEASURES.map((m) => show(s.ratios[m]))]),
  );
}
