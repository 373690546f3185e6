import path from 'node:path';
import fs from 'node:fs';
import type { Command } from 'commander';
import { badInput } from '../api/errors';
import type { Service } from '../engine/service';
import { DB_FILE, type Db } from '../store/db';
import { ensureHome, resolveHome } from '../store/home';

/** The options every command inherits from `dtql`. */
export interface GlobalOptions {
  home?: string;
}

/** The data folder a command works on: --home, else $DTQL_HOME, else the per-user folder. */
export const homeOf = (cmd: Command): string => resolveHome((cmd.optsWithGlobals() as GlobalOptions).home);

/**
 * The data folder's store, opened by the engine's start-up. The engine and its native modules load
 * only for the commands that use them, so `dtql --version` and `dtql tasks` start at once.
 */
export async function openStore(cmd: Command, access: 'read' | 'write' = 'write'): Promise<{ db: Db; home: string }> {
  const home = homeOf(cmd);
  // A typo in --home must not leave a new, empty store behind a command that only reads.
  // An existing folder is checked as opening the store checks it (a file, an unwritable folder).
  if (fs.existsSync(home)) ensureHome(home);
  if (!fs.existsSync(path.join(home, DB_FILE))) {
    if (access === 'read') throw badInput(`there is no DTQL Workbench data folder at ${home} (no ${DB_FILE}); check --home or DTQL_HOME`);
    process.stderr.write(`starting a new data folder at ${home}\n`);
  }
  const { openStore: openEngineStore } = await import('../engine/local/recovery');
  return { db: openEngineStore(home), home };
}

/**
 * Runs `use` with the engine's service over the data folder's store (the same back end the HTTP
 * and IPC adapters call), then closes the store.
 */
export async function withService<T>(cmd: Command, access: 'read' | 'write', use: (service: Service, db: Db) => Promise<T> | T): Promise<T> {
  const { db, home } = await openStore(cmd, access);
  const { createService } = await import('../engine/service');
  const service = createService({ db, home, mode: 'cli' });
  try {
    return await use(service, db);
  } finally {
    service.close();
    db.close();
  }
}

/** Runs trained at once by default: one per core. */
export async function defaultConcurrency(): Promise<number> {
  return (await import('../engine/local/run-manager')).defaultConcurrency();
}

/**
 * Calls `handler` on the first Ctrl-C or SIGTERM while it is registered; the returned function
 * unregisters it. Every command that must end cleanly (a checkpoint, a closed store) stops here.
 */
export function onStopSignal(handler: (signal: NodeJS.Signals) => void): () => void {
  const once = (signal: NodeJS.Signals) => {
    off();
    handler(signal);
  };
  const off = () => {
    process.off('SIGINT', once);
    process.off('SIGTERM', once);
  };
  process.on('SIGINT', once);
  process.on('SIGTERM', once);
  return off;
}

/** Commander's collector for a repeatable option. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];
