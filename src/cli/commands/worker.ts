import type { Command } from 'commander';
import { parsePositiveInt } from '../args';
import { defaultConcurrency, onStopSignal } from '../context';

/** `dtql worker`: trains runs queued in Redis on this machine. */
export function workerCommand(program: Command): void {
  program
    .command('worker')
    .description('train queued runs from Redis on this machine (scaling out); stop with Ctrl-C, its runs move to other workers')
    .requiredOption('--redis <url>', 'redis://[user:password@]host:port (rediss:// for TLS)')
    .option('--concurrency <n>', 'runs trained at once here (default: one per core)', parsePositiveInt)
    .option('--name <name>', 'name shown on the runs it trains (default: host:pid)')
    .action(async (opts: { redis: string; concurrency?: number; name?: string }) => {
      const { startRemoteWorker } = await import('../../engine/remote/remote-worker');
      const lockMs = process.env.DTQL_WORKER_LOCK_MS ? Number(process.env.DTQL_WORKER_LOCK_MS) : undefined;
      const worker = await startRemoteWorker({ redisUrl: opts.redis, concurrency: opts.concurrency ?? (await defaultConcurrency()), name: opts.name, lockMs });
      process.stderr.write(`worker ${worker.name} taking runs from Redis\n`);
      onStopSignal(() => {
        worker.leave();
        process.exit(0);
      });
    });
}
