import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ApiError } from '../api/errors';
import { openSqlite } from './sqlite';

export const LOCK_FILE = 'instance.lock';
const OWNER_FILE = 'instance.json';

const ownerSchema = z.object({ kind: z.string(), pid: z.number(), host: z.string(), since: z.number(), url: z.string().nullable() });
export type InstanceOwner = z.infer<typeof ownerSchema>;

export interface InstanceLock {
  release(): void;
}

/**
 * One app (served mode or the desktop window) per data folder. The lock is an exclusive SQLite
 * file lock held by an open connection, so the operating system drops it when the owner dies,
 * even by SIGKILL: no stale lock to clean up. CLI commands and training processes do not take it;
 * they share the store through WAL as before.
 */
export function acquireInstanceLock(home: string, kind: 'served' | 'desktop'): InstanceLock {
  const file = path.join(home, LOCK_FILE);
  const conn = openSqlite(file);
  try {
    conn.pragma('busy_timeout = 0');
    conn.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; EXCLUSIVE locking mode keeps it until close.
    conn.exec('CREATE TABLE IF NOT EXISTS held (at INTEGER); DELETE FROM held; INSERT INTO held VALUES (unixepoch())');
  } catch (err) {
    conn.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    const owner = readOwner(home);
    const who = owner ? `${owner.kind === 'desktop' ? 'the desktop app' : 'dtql serve'} (pid ${owner.pid} on ${owner.host}${owner.url ? `, ${owner.url}` : ''}, since ${new Date(owner.since).toISOString()})` : 'another DTQL Workbench';
    throw new ApiError('conflict', `data folder ${home} is already open in ${who}: use that one, stop it, or pick another --home`);
  }
  writeOwner(home, { kind, pid: process.pid, host: os.hostname(), since: Date.now(), url: null });
  return {
    release: () => {
      fs.rmSync(path.join(home, OWNER_FILE), { force: true });
      conn.close();
    },
  };
}

/** Tells a second instance where the first one can be reached. */
export function recordInstanceUrl(home: string, url: string): void {
  const owner = readOwner(home);
  if (owner && owner.pid === process.pid) writeOwner(home, { ...owner, url });
}

function writeOwner(home: string, owner: InstanceOwner): void {
  fs.writeFileSync(path.join(home, OWNER_FILE), JSON.stringify(owner));
}

function readOwner(home: string): InstanceOwner | null {
  try {
    return ownerSchema.parse(JSON.parse(fs.readFileSync(path.join(home, OWNER_FILE), 'utf8')));
  } catch {
    return null;
  }
}
