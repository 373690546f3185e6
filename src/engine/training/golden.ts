import fs from 'node:fs';
import path from 'node:path';
import { describeIssues } from '../../common/config';
import { checkNetworksFile, checkTrainStepFile, networksFileSchema, trainStepFileSchema, type GoldenReport } from '../../core/golden';
import { initBackend, type BackendInfo } from '../../core/tf/backend';
import { badInput } from '../../api/errors';

export interface GoldenRun {
  file: string;
  backend: BackendInfo;
  report: GoldenReport;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw badInput(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badInput(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/**
 * Runs a golden-numbers file through this implementation. A train-step file carries no weights
 * or inputs: they come from the networks file beside it (or `networksFile`).
 */
export async function runGolden(file: string, networksFile?: string): Promise<GoldenRun> {
  const raw = readJson(file) as Record<string, unknown>;
  const backend = await initBackend();
  if (raw && typeof raw === 'object' && 'runs' in raw) {
    const parsed = trainStepFileSchema.safeParse(raw);
    if (!parsed.success) throw badInput(`${file} is not a golden train-step file: ${describeIssues(parsed.error)}`);
    const companion = networksFile ?? path.join(path.dirname(file), 'networks.json');
    const networks = networksFileSchema.safeParse(readJson(companion));
    if (!networks.success) throw badInput(`${companion} (weights and inputs for ${file}) is not a golden networks file: ${describeIssues(networks.error)}`);
    return { file, backend, report: await checkTrainStepFile(parsed.data, networks.data) };
  }
  const parsed = networksFileSchema.safeParse(raw);
  if (!parsed.success) throw badInput(`${file} is not a golden networks file: ${describeIssues(parsed.error)}`);
  return { file, backend, report: checkNetworksFile(parsed.data) };
}
