import type Database from 'better-sqlite3';
import type { Db } from './db';

// Types only: the store's modules that training processes load (through run events) must not load better-sqlite3.
const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/** A prepared statement kept per connection: compiling one costs more than running a lookup by id. */
export function cachedStatement(db: Db, sql: string): Database.Statement {
  const held = statements.get(db) ?? statements.set(db, new Map()).get(db)!;
  const found = held.get(sql);
  if (found) return found;
  const made = db.prepare(sql);
  held.set(sql, made);
  return made;
}
