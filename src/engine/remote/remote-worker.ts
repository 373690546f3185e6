import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { Worker } from 'bullmq';
import { engineEntry } from '../entries';
import { RUN_QUEUE, connectRedis, runJobSchema } from './remote-protocol';

export interface RemoteWorkerOptions {
  redisUrl: string;
  /** Runs trained at once on this machine. */
  concurrency: number;
  /** Shown on each run it trains (default: host name and pid). */
  name?: string;
  /** Where the runs' scratch stores live while they train. */
  scratch?: string;
  /** How long a job's lock lasts without renewal: a dead worker's runs move on after this. */
  lockMs?: number;
}

/**
 * `dtql worker`: takes queued runs from Redis and trains each in its own process (the same
 * trainer, on this machine's best backend), which streams everything back to the store's owner.
 * BullMQ renews each job's lock while its process lives; if this worker dies or loses Redis the
 * lock expires and another worker takes the run from its newest checkpoint.
 */
export async function startRemoteWorker(options: RemoteWorkerOptions): Promise<{ name: string; leave: () => void }> {
  const name = options.name ?? `${os.hostname()}:${process.pid}`;
  const connection = await connectRedis(options.redisUrl, { blocking: true });
  const children = new Set<ChildProcess>();
  const lockMs = options.lockMs ?? 30_000;
  const worker = new Worker(
    RUN_QUEUE,
    async (job) => {
      const data = runJobSchema.parse(job.data);
      const child = fork(engineEntry('remote-run'), [Buffer.from(JSON.stringify(data)).toString('base64'), name, options.scratch ?? os.tmpdir()], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, DTQL_REDIS_URL: options.redisUrl },
      });
      children.add(child);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-2000);
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      children.delete(child);
      if (code !== 0) throw new Error(`run ${data.runId}'s process exited with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}`);
    },
    { connection, concurrency: options.concurrency, lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: 1000, name },
  );
  worker.on('error', (err) => process.stderr.write(`worker ${name}: ${err.message}\n`));
  await worker.waitUntilReady();
  return {
    name,
    /**
     * Leaves at once, as if this machine went away: runs in progress stop, nothing is marked
     * failed, and their jobs' locks expire so another worker continues them from a checkpoint.
     */
    leave: () => {
      for (const child of children) child.kill('SIGKILL');
      connection.disconnect();
    },
  };
}
