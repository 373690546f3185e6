import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DB_FILE, loadMigrations, openDatabase, schemaVersion } from '../../src/store/db';
import { ensureHome } from '../../src/store/home';
import { getRun, insertRuns, listRuns, type NewRun } from '../../src/store/runs';
import { presetOf, requireTask } from '../../src/core/tasks';
import { sha256File, tempHomes } from '../helpers';

const freshHome = tempHomes('each');

const sampleRun = (overrides: Partial<NewRun> = {}): NewRun => {
  const task = requireTask('bandit-25g-near');
  return { name: 'r', task: task.id, algo: 'dtql', preset: 'paper', config: presetOf(task).configs.dtql, seed: 1, tags: [], datasetId: null, ...overrides };
};

describe('openDatabase', () => {
  it('applies every migration and sets WAL, foreign keys and a busy timeout', () => {
    const db = openDatabase(freshHome());
    expect(schemaVersion(db)).toBe(loadMigrations().length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['checkpoints', 'datasets', 'metrics', 'run_tags', 'runs']));
    db.close();
  });

  it('reopening an up-to-date database applies nothing and keeps its rows', () => {
    const home = freshHome();
    const db = openDatabase(home);
    insertRuns(db, [sampleRun()]);
    db.close();
    const again = openDatabase(home);
    expect(listRuns(again).total).toBe(1);
    again.close();
  });

  it('refuses a database from a newer version without changing the file', () => {
    const home = freshHome();
    openDatabase(home).close();
    const file = path.join(home, DB_FILE);
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const before = sha256File(file);
    expect(() => openDatabase(home)).toThrow(/schema version 99.*newer version/);
    expect(sha256File(file)).toBe(before);
  });

  it('refuses a file that is not SQLite without changing it', () => {
    const home = freshHome();
    const file = path.join(home, DB_FILE);
    fs.writeFileSync(file, 'this is not a database, just some text that is long enough to have a header'.repeat(3));
    const before = sha256File(file);
    expect(() => openDatabase(home)).toThrow(/not an SQLite file/);
    expect(sha256File(file)).toBe(before);
  });

  it('refuses a data folder that is a file', () => {
    const home = freshHome();
    const file = path.join(home, 'plain-file');
    fs.writeFileSync(file, 'x');
    expect(() => ensureHome(file)).toThrow(/exists but is not a folder/);
  });

  it('rejects migration files that skip a number', () => {
    const dir = freshHome();
    fs.writeFileSync(path.join(dir, '001_a.sql'), 'CREATE TABLE a (x);');
    fs.writeFileSync(path.join(dir, '003_c.sql'), 'CREATE TABLE c (x);');
    expect(() => loadMigrations(dir)).toThrow(/out of sequence/);
  });

  it('rolls back a failing migration as a whole', () => {
    const dir = freshHome();
    fs.writeFileSync(path.join(dir, '001_ok.sql'), 'CREATE TABLE a (x);');
    fs.writeFileSync(path.join(dir, '002_bad.sql'), 'CREATE TABLE b (x); INSERT INTO missing VALUES (1);');
    const home = freshHome();
    expect(() => openDatabase(home, { migrationsDir: dir })).toThrow(/no such table: missing/);
    const raw = new Database(path.join(home, DB_FILE));
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'b'").pluck().get()).toBe(0);
    raw.close();
  });
});

/** A home whose database has the migrations up to `version` only, as an older release left it. */
function openAtVersion(version: number) {
  const oldMigrations = freshHome();
  for (const m of loadMigrations().filter((m) => m.version <= version)) fs.writeFileSync(path.join(oldMigrations, `00${m.version}_${m.name}.sql`), m.sql);
  const home = freshHome();
  return { home, old: openDatabase(home, { migrationsDir: oldMigrations }) };
}

describe('migration 004 (policyLr)', () => {
  it('gives every run stored before it a policy learning rate equal to its lr', () => {
    const { home, old } = openAtVersion(3);
    const config = { ...presetOf(requireTask('bandit-25g-near')).configs.kl, lr: 0.002 };
    const [id] = insertRuns(old, [sampleRun({ config })]);
    old.prepare("UPDATE runs SET config = json_remove(config, '$.policyLr')").run();
    old.close();
    const db = openDatabase(home);
    expect(schemaVersion(db)).toBe(loadMigrations().length);
    expect(getRun(db, id as number).config).toEqual({ ...config, policyLr: 0.002 });
    db.close();
  });
});

describe('migration 005 (policyLossSamples)', () => {
  it('gives every run stored before it one policy sample per state, as it trained', () => {
    const { home, old } = openAtVersion(4);
    const config = presetOf(requireTask('bandit-25g-far')).configs.dtql;
    const [id, kept] = insertRuns(old, [sampleRun({ config }), sampleRun({ config: { ...config, policyLossSamples: 8 } })]);
    old.prepare("UPDATE runs SET config = json_remove(config, '$.policyLossSamples') WHERE id = ?").run(id);
    old.close();
    const db = openDatabase(home);
    expect(schemaVersion(db)).toBe(loadMigrations().length);
    expect(getRun(db, id as number).config).toEqual({ ...config, policyLossSamples: 1 });
    expect(getRun(db, kept as number).config.policyLossSamples).toBe(8);
    db.close();
  });
});

describe('migration 006 (pretrainCritic, fakeScoreFromDiffusion)', () => {
  it('marks every run stored before it as having pretrained its critic and started its fake score from the diffusion model', () => {
    const { home, old } = openAtVersion(5);
    const config = presetOf(requireTask('hopper-medium-v2')).configs.kl;
    const toy = presetOf(requireTask('bandit-25g-hard')).configs.kl;
    const [id, kept] = insertRuns(old, [sampleRun({ config }), sampleRun({ config: toy })]);
    old.prepare("UPDATE runs SET config = json_remove(config, '$.pretrainCritic', '$.fakeScoreFromDiffusion') WHERE id = ?").run(id);
    old.close();
    const db = openDatabase(home);
    expect(schemaVersion(db)).toBe(loadMigrations().length);
    expect(getRun(db, id as number).config).toEqual({ ...config, pretrainCritic: true, fakeScoreFromDiffusion: true });
    expect(getRun(db, kept as number).config).toMatchObject({ pretrainCritic: false, fakeScoreFromDiffusion: false });
    db.close();
  });
});

describe('runs', () => {
  it('inserts queued runs with tags and reads them back', () => {
    const db = openDatabase(freshHome());
    const [id] = insertRuns(db, [sampleRun({ name: 'a "quoted", name', tags: ['x', 'b,c'] })]);
    const run = getRun(db, id as number);
    expect(run).toMatchObject({ name: 'a "quoted", name', status: 'queued', stepsDone: 0, stepsTotal: 3500, tags: ['b,c', 'x'] });
    expect(run.config.batchSize).toBe(10_000);
    db.close();
  });

  it('inserts all runs of a request or none', () => {
    const db = openDatabase(freshHome());
    const bad = sampleRun({ algo: 'nope' as 'dtql' });
    expect(() => insertRuns(db, [sampleRun(), bad])).toThrow(/CHECK constraint/);
    expect(listRuns(db).total).toBe(0);
    db.close();
  });

  it('reports an unknown run id as not found', () => {
    const db = openDatabase(freshHome());
    expect(() => getRun(db, 42)).toThrow('no run with id 42');
    db.close();
  });
});

describe('migration 008 (policyInitLogStd)', () => {
  it('gives every run stored before it the official initial log-std of 0, as it trained', () => {
    const { home, old } = openAtVersion(7);
    const config = presetOf(requireTask('bandit-25g-far')).configs.dtql;
    const [id, kept] = insertRuns(old, [sampleRun({ config }), sampleRun({ config: { ...config, policyInitLogStd: -1.5 } })]);
    old.prepare("UPDATE runs SET config = json_remove(config, '$.policyInitLogStd') WHERE id = ?").run(id);
    old.close();
    const db = openDatabase(home);
    expect(schemaVersion(db)).toBe(loadMigrations().length);
    expect(getRun(db, id as number).config).toEqual({ ...config, policyInitLogStd: 0 });
    expect(getRun(db, kept as number).config.policyInitLogStd).toBe(-1.5);
    db.close();
  });
});

describe('migration 009 (train_seconds)', () => {
  it('gives every ended run stored before it its start-to-finish span as training time, and unstarted runs none', () => {
    const { home, old } = openAtVersion(8);
    const config = presetOf(requireTask('bandit-25g-far')).configs.dtql;
    const [ended, queued] = insertRuns(old, [sampleRun({ config }), sampleRun({ config })]);
    old.prepare('UPDATE runs SET started_at = 1000, finished_at = 91000 WHERE id = ?').run(ended);
    old.close();
    const db = openDatabase(home);
    expect(getRun(db, ended as number)).toMatchObject({ durationSec: 90, wallSec: 90 });
    expect(getRun(db, queued as number)).toMatchObject({ durationSec: null, wallSec: null });
    db.close();
  });
});
