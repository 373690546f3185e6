import { parentPort, workerData } from 'node:worker_threads';
import { DatasetError, readOfflineDataset } from '../../core/data/offline-dataset';

/** Checks one HDF5 file off the main thread, so a hostile file can be given a time limit; see inspectDataset. */
const job = workerData as { file: string; label?: string };
try {
  const { summary } = await readOfflineDataset(job.file, job.label);
  parentPort?.postMessage({ type: 'done', summary });
} catch (err) {
  parentPort?.postMessage({ type: 'error', message: (err as Error).message, dataset: err instanceof DatasetError });
}
