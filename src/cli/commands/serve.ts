import { Option, type Command } from 'commander';
import { DEFAULT_MAX_UPLOAD_BYTES } from '../../api/contract';
import { DEFAULT_MAX_SWEEP_RUNS, MAX_SWEEP_RUNS_CAP } from '../../engine/sweep';
import type { Db } from '../../store/db';
import { ensureHome } from '../../store/home';
import { REDIS_URL_SETTING, getMeta } from '../../store/meta';
import { MAX_UPLOAD_MB, parseCount, parsePort, parseSweepLimit, parseUploadLimit } from '../args';
import { collect, homeOf, onStopSignal } from '../context';

/** `dtql serve`: the UI and the API over HTTP and WebSocket, training here or on remote workers. */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the UI and the API over HTTP and WebSocket')
    .addOption(new Option('--port <port>', 'TCP port').default(5417).argParser(parsePort))
    .option('--host <host>', 'address to bind; a non-loopback address needs --token', '127.0.0.1')
    .option('--token <token>', 'access token required on every request')
    .option('--allow-host <name>', 'also answer requests addressed to this host name, e.g. a reverse proxy\'s (repeatable)', collect, [])
    .option('--concurrency <n>', 'runs trained at once (0 holds the queue; default: one per core)', parseCount)
    .option('--redis <url>', 'send runs to remote `dtql worker`s through this Redis instead of training here (default: the saved setting)')
    .option('--max-sweep-runs <n>', `refuse sweeps with more runs than this (at most ${MAX_SWEEP_RUNS_CAP.toLocaleString('en-US')})`, parseSweepLimit, DEFAULT_MAX_SWEEP_RUNS)
    .option('--max-upload-mb <n>', `refuse dataset uploads larger than this many MiB (default ${DEFAULT_MAX_UPLOAD_BYTES / 2 ** 20}, at most ${MAX_UPLOAD_MB})`, parseUploadLimit)
    .action(async (opts: { port: number; host: string; token?: string; allowHost: string[]; concurrency?: number; redis?: string; maxSweepRuns: number; maxUploadMb?: number }, cmd: Command) => {
      const home = ensureHome(homeOf(cmd));
      const [{ acquireInstanceLock, recordInstanceUrl }, { openStore: openEngineStore }, { startServer }] = await Promise.all([
        import('../../store/instance-lock'),
        import('../../engine/local/recovery'),
        import('../../server/index'),
      ]);
      const lock = acquireInstanceLock(home, 'served');
      let db: Db;
      try {
        // A server never waits on another process's lock: a write it cannot make now answers 503 at once.
        db = openEngineStore(home, { busyTimeoutMs: 0 });
      } catch (err) {
        // A server that cannot open its store leaves no instance file naming it behind.
        lock.release();
        throw err;
      }
      const redisUrl = opts.redis ?? getMeta(db, REDIS_URL_SETTING);
      const server = await startServer({ db, home, host: opts.host, port: opts.port, token: opts.token ?? null, allowHosts: opts.allowHost, concurrency: opts.concurrency, redisUrl, maxSweepRuns: opts.maxSweepRuns, maxUploadBytes: opts.maxUploadMb === undefined ? undefined : opts.maxUploadMb * 2 ** 20 }).catch((err: unknown) => {
        db.close();
        lock.release();
        throw err;
      });
      if (redisUrl) process.stderr.write('runs go to remote workers through Redis\n');
      // The token stays out of the owner file: other local users may read the data folder.
      recordInstanceUrl(home, server.url.split('?')[0] as string);
      process.stderr.write(`DTQL Workbench serving ${home}\n`);
      process.stdout.write(`${server.url}\n`);
      onStopSignal(() => {
        void server.close().finally(() => {
          db.close();
          lock.release();
          process.exit(0);
        });
      });
    });
}
