import crypto from 'node:crypto';
import type { Db } from './db';

/** The Redis URL the app's settings hold: with one, runs go to remote workers. */
export const REDIS_URL_SETTING = 'redis_url';

export function getMeta(db: Db, key: string): string | null {
  return (db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined) ?? null;
}

export function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** This store's id, made once: it names the store's keys in a shared Redis. */
export function storeId(db: Db): string {
  const existing = getMeta(db, 'store_id');
  if (existing) return existing;
  const id = crypto.randomUUID();
  db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('store_id', id);
  return getMeta(db, 'store_id') as string;
}

export function deleteMeta(db: Db, key: string): void {
  db.prepare('DELETE FROM meta WHERE key = ?').run(key);
}
