import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { badInput } from '../api/errors';
import { ensureHome } from './home';
import { recoverOrphanedRuns } from './runs';

export type Db = Database.Database;

export const DB_FILE = 'dtql.sqlite';

/** Repository-level migrations folder; the same relative path from src/store and from out/main. */
const DEFAULT_MIGRATIONS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

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
  /** A better-sqlite3 addon built for another ABI (the Electron build of scripts/electron-native.mjs). */
  nativeBinding?: string;
  migrationsDir?: string;
}

/** The native addon each connection was opened with (Electron's ABI build), reused for its readers. */
const nativeBindings = new WeakMap<Db, string>();

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
    db = new Database(file, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {});
    if (options.nativeBinding) nativeBindings.set(db, options.nativeBinding);
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
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, current);
    // Every process that opens the store settles runs whose trainer died (DESIGN.md, crash recovery).
    recoverOrphanedRuns(db, os.hostname());
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** A second, read-only connection to the same store, for long reads beside the main connection (WAL). */
export function openReadOnly(db: Db): Db {
  const nativeBinding = nativeBindings.get(db);
  const reader = new Database(db.name, { readonly: true, fileMustExist: true, ...(nativeBinding ? { nativeBinding } : {}) });
  reader.pragma('busy_timeout = 5000');
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
