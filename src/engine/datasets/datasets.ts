import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import type { LocomotionFamily } from '../../core/envs/locomotion';
import type { DatasetSummary } from '../../core/data/offline-dataset';
import { datasetNameSchema, type DatasetDto } from '../../api/contract';
import { badInput } from '../../api/errors';
import { describeIssues } from '../../common/config';
import type { Db } from '../../store/db';
import { engineEntry } from '../entries';
import { findDataset, getDataset, insertDataset } from '../../store/datasets';

/** Keep a copy, only a reference, or (for an upload already in the data folder) move the file in. */
export type KeepMode = 'copy' | 'reference' | 'move';

/** Where kept copies of imported files live: named by content, so one file is stored once. */
export function datasetDir(home: string): string {
  return path.join(home, 'datasets');
}

async function sha256Of(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** How long checking one file may take: a 2M-transition file takes a few seconds. */
export const INSPECT_TIME_LIMIT_MS = 120_000;

/**
 * Reads and checks a file without storing anything: what `dataset inspect` shows. The HDF5 reader
 * runs on a worker thread with a time limit, so a damaged or hostile file can neither hang nor
 * crash the app; whatever goes wrong in it is reported as a problem of that file.
 */
export async function inspectDataset(file: string, label?: string, timeLimitMs = INSPECT_TIME_LIMIT_MS): Promise<DatasetSummary> {
  const source = path.resolve(file);
  const shown = label ?? path.basename(source);
  return new Promise<DatasetSummary>((resolve, reject) => {
    const worker = new Worker(engineEntry('inspect-worker'), { workerData: { file: source, label } });
    const timer = setTimeout(() => {
      reject(badInput(`${shown}: checking the file took longer than ${Math.round(timeLimitMs / 1000)} s; it may be damaged`));
      void worker.terminate();
    }, timeLimitMs);
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      outcome();
    };
    worker.on('message', (m: { type: 'done'; summary: DatasetSummary } | { type: 'error'; message: string; dataset: boolean }) =>
      settle(() => (m.type === 'done' ? resolve(m.summary) : reject(badInput(m.dataset ? m.message : `${shown}: not a readable HDF5 dataset (${m.message})`)))),
    );
    worker.on('error', (err) => settle(() => reject(badInput(`${shown}: the HDF5 reader failed on this file (${err.message})`))));
    worker.on('exit', (code) => settle(() => reject(badInput(`${shown}: the HDF5 reader stopped (code ${code}) on this file`))));
  });
}

/**
 * A dataset's name when the user gives none: a Minari file's `dataset_id` with its slashes as dashes
 * (every Minari file is called main_data.hdf5), else the file's name without its extension.
 */
export function defaultDatasetName(summary: Pick<DatasetSummary, 'datasetId'>, file: string): string {
  if (summary.datasetId) return summary.datasetId.replaceAll('/', '-');
  return path.basename(file).replace(/\.(hdf5|h5)$/i, '');
}

/**
 * Imports a D4RL or Minari file: checks all of it, then records it in one insert, keeping a copy
 * in the data folder or a reference to where it is. Any failure leaves neither a row nor a copy.
 */
export async function importDataset(db: Db, home: string, file: string, options: { name?: string; keep: KeepMode; sourceName?: string; timeLimitMs?: number }): Promise<DatasetDto> {
  const source = path.resolve(file);
  const summary = await inspectDataset(source, options.sourceName, options.timeLimitMs);
  const parsedName = datasetNameSchema.safeParse(options.name ?? defaultDatasetName(summary, options.sourceName ?? source));
  if (!parsedName.success) throw badInput(describeIssues(parsedName.error));
  const name = parsedName.data;
  if (findDataset(db, { name })) throw badInput(`a dataset named "${name}" exists already: choose another name`);
  const sha256 = await sha256Of(source);
  const same = findDataset(db, { sha256 });
  if (same) throw badInput(`this file is already imported as "${same.name}" (dataset ${same.id})`);
  const bytes = fs.statSync(source).size;
  let stored: string | null = null;
  if (options.keep !== 'reference') {
    fs.mkdirSync(datasetDir(home), { recursive: true });
    stored = path.join(datasetDir(home), `${sha256}.hdf5`);
    const tmp = `${stored}.partial-${process.pid}`;
    try {
      if (options.keep === 'move') fs.renameSync(source, stored);
      else {
        fs.copyFileSync(source, tmp);
        fs.renameSync(tmp, stored);
      }
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw badInput(`cannot copy ${path.basename(source)} into ${datasetDir(home)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    const { format, transitions, episodes, obsDim, actDim, env, suggestedTask, warnings, datasetId: _datasetId, ...stats } = summary;
    const id = insertDataset(db, {
      name,
      format,
      sourcePath: options.keep === 'reference' ? source : (options.sourceName ?? source),
      storedPath: stored,
      sha256,
      bytes,
      env,
      suggestedTask,
      transitions,
      episodes,
      obsDim,
      actDim,
      stats,
      warnings,
    });
    return getDataset(db, id);
  } catch (err) {
    if (stored) fs.rmSync(stored, { force: true });
    throw err;
  }
}

export const GENERATED_SIZE_DEFAULT = 1_000_000;
export const GENERATED_SIZE_MAX = 10_000_000;

/**
 * Makes a `<env>-random` dataset here (uniform random actions in MuJoCo) on a worker thread, writes
 * it as a D4RL file in the data folder and imports it like any other: the `-random-v2` task trains on
 * it. Refused if that exact dataset (same size and seed) exists.
 */
export async function generateDataset(db: Db, home: string, family: LocomotionFamily, options: { size?: number; seed?: number; onProgress?: (fraction: number) => void }): Promise<DatasetDto> {
  const size = options.size ?? GENERATED_SIZE_DEFAULT;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(size) || size < 1000 || size > GENERATED_SIZE_MAX) throw badInput(`the size must be a whole number of transitions from 1,000 to ${GENERATED_SIZE_MAX.toLocaleString('en-US')}`);
  if (!Number.isInteger(seed) || seed < 0) throw badInput('the seed must be a whole number of at least 0');
  const name = `${family}-random-v2 generated (${size.toLocaleString('en-US')}, seed ${seed})`;
  if (findDataset(db, { name })) throw badInput(`"${name}" exists already`);
  fs.mkdirSync(uploadDir(home), { recursive: true });
  const file = path.join(uploadDir(home), `${family}-random-v2-${crypto.randomUUID()}.hdf5`);
  try {
    await new Promise<void>((resolve, reject) => {
      const worker = new Worker(engineEntry('generate-worker'), { workerData: { family, size, seed, file } });
      worker.on('message', (m: { type: 'progress'; fraction: number } | { type: 'done' } | { type: 'error'; message: string }) => {
        if (m.type === 'progress') options.onProgress?.(m.fraction);
        else if (m.type === 'done') resolve();
        else reject(new Error(`generating ${name} failed: ${m.message}`));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => code !== 0 && reject(new Error(`the generator stopped with code ${code}`)));
    });
    return await importDataset(db, home, file, { keep: 'move', name, sourceName: `${family}-random-v2.hdf5 (generated here)` });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Where served-mode uploads land while they are checked; inside the data folder, so they move in. */
export function uploadDir(home: string): string {
  return path.join(home, 'uploads');
}

/** The file a dataset trains from: its kept copy, else the referenced original (which must still exist). */
export function datasetFile(d: DatasetDto): string {
  const file = d.storedPath ?? d.sourcePath;
  if (!file || !fs.existsSync(file)) throw badInput(`dataset ${d.id} (${d.name}): its file ${file ?? '(none)'} is gone; import it again`);
  return file;
}
