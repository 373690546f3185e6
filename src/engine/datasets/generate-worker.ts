import { parentPort, workerData } from 'node:worker_threads';
import { generateRandomDataset, writeD4rlFile } from '../../core/data/random-dataset';
import type { LocomotionFamily } from '../../core/envs/locomotion';
import { Rng } from '../../core/rng';

/** Generates a `-random` dataset file off the main thread, reporting progress; see generateInWorker. */
const job = workerData as { family: LocomotionFamily; size: number; seed: number; file: string };
try {
  const data = await generateRandomDataset(job.family, job.size, new Rng(job.seed), (fraction) => parentPort?.postMessage({ type: 'progress', fraction }));
  await writeD4rlFile(job.file, data, { generator: `DTQL Workbench: uniform random actions in MuJoCo ${job.family}, seed ${job.seed}` });
  parentPort?.postMessage({ type: 'done' });
} catch (err) {
  parentPort?.postMessage({ type: 'error', message: (err as Error).message });
}
