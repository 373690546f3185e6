import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { badInput } from '../api/errors';
import { ensureHome } from './home';
import { openSqlite } from './sqlite';
import { REPO_ROOT } from '../core/repo-root';

export type Db = Database.Database;

export const DB_FILE = 'dtql.sqlite';

/** The repository's migrations folder. */
const DEFAULT_MIGRATIONS = path.join(REPO_ROOT, 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads NNN_name.sql files; numbers must run 1, 2, 3... without gaps so order is never ambiguous. */
export function loadMigrations(dir = DEFAULT_MIGRATIONS): Migration[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  return files.map((file, index) => {
    const match = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file ${file} is not named NNN_name.sql`);
    const version = Number(match[1]);
    if (version !== index + 1) throw new Error(`migration ${file} is out of sequence (expected ${String(index + 1).padStart(3, '0')})`);
    return { version, name: match[2] as string, sql: fs.readFileSync(path.join(dir, file), 'utf8') };
  });
}

export interface OpenOptions {
  migrationsDir?: string;
}

/** How long a statement waits for another process's write lock, unless set otherwise. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Sets how long this connection's statements wait for another process's write lock. A server sets
 * 0: its event loop must never wait on a lock; its writes answer "busy" at once and what a run
 * reported waits in memory until the lock is free.
 */
export function setBusyTimeout(db: Db, ms: number): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(ms))}`);
}

const SQLITE_HEADER = 'SQLite format 3\0';

/**
 * Opens (creating if needed) the store of a data folder: checks the file is SQLite and not from a
 * newer version before touching it, then WAL, foreign keys, busy timeout, and pending migrations.
 */
export function openDatabase(home: string, options: OpenOptions = {}): Db {
  ensureHome(home);
  const file = path.join(home, DB_FILE);
  assertSqliteFile(file);
  const migrations = loadMigrations(options.migrationsDir);
  let db: Db;
  try {
    db = openSqlite(file);
  } catch (err) {
    throw badInput(`cannot open database ${file}: ${(err as Error).message}`);
  }
  try {
    const current = readUserVersion(db, file);
    const latest = migrations.length;
    if (current > latest) {
      throw badInput(
        `database ${file} has schema version ${current}, but this DTQL Workbench only knows versions up to ${latest}; ` +
          'it was written by a newer version: update the app, or point --home at another folder',
      );
    }
    setBusyTimeout(db, DEFAULT_BUSY_TIMEOUT_MS);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, current);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** A second, read-only connection to the same store, for long reads beside the main connection (WAL). */
export function openReadOnly(db: Db): Db {
  const reader = openSqlite(db.name, { readonly: true, fileMustExist: true });
  setBusyTimeout(reader, DEFAULT_BUSY_TIMEOUT_MS);
  return reader;
}

function assertSqliteFile(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return;
    const header = Buffer.alloc(16);
    fs.readSync(fd, header, 0, 16, 0);
    if (size < 100 || header.toString('latin1') !== SQLITE_HEADER) {
      throw badInput(`${file} is not a DTQL Workbench database (not an SQLite file; corrupt?): move it away or choose another --home`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readUserVersion(db: Db, file: string): number {
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } catch (err) {
    throw badInput(`database ${file} cannot be read (${(err as Error).message}): it may be corrupt`);
  }
}

/** Applies each pending migration in its own transaction together with its user_version bump. */
export function migrate(db: Db, migrations: Migration[], current: number): void {
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}
