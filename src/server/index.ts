import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../store/db';
import { createService } from '../engine/service';
import { uploadDir } from '../engine/datasets/datasets';
import { EventHub } from '../engine/events';
import { openRunQueue } from '../engine/queues';
import { buildServer } from './app';
import { REPO_ROOT } from '../core/repo-root';

/** The renderer build electron-vite writes. */
export const DEFAULT_STATIC_DIR = path.join(REPO_ROOT, 'out', 'renderer');

export interface ServeOptions {
  db: Db;
  home: string;
  host: string;
  port: number;
  token: string | null;
  /** Host names answered besides the bound address's own (--allow-host). */
  allowHosts?: readonly string[];
  staticDir?: string;
  /** Runs trained at once; 0 holds the queue. */
  concurrency?: number;
  /** With a Redis URL runs go to remote `dtql worker`s instead of training processes here. */
  redisUrl?: string | null;
  /** The most runs one sweep may queue. */
  maxSweepRuns?: number;
  /** The largest dataset upload taken, in bytes. */
  maxUploadBytes?: number;
}

/** Starts served mode and returns the URL a browser opens (with the token once, if any). */
export async function startServer(options: ServeOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const events = new EventHub();
  // Uploads a previous process was checking when it died are of no use to anyone.
  fs.rmSync(uploadDir(options.home), { recursive: true, force: true });
  const runs = await openRunQueue(options.db, options.home, events, { redisUrl: options.redisUrl, concurrency: options.concurrency });
  const service = createService({ db: options.db, home: options.home, mode: 'served', runs, maxSweepRuns: options.maxSweepRuns, maxUploadBytes: options.maxUploadBytes, watchStore: true }, events);
  const app = await buildServer({
    service,
    host: options.host,
    port: options.port,
    token: options.token,
    allowHosts: options.allowHosts,
    staticDir: options.staticDir ?? DEFAULT_STATIC_DIR,
  });
  await app.listen({ host: options.host, port: options.port });
  // Runs queued before a restart start again.
  runs.schedule();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${shownHost}:${port}/${options.token ? `?token=${encodeURIComponent(options.token)}` : ''}`;
  return {
    url,
    close: async () => {
      await runs.shutdown();
      service.close();
      await app.close();
    },
  };
}
