import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqliteBinding } from '../../src/store/sqlite';
import { REPO_ROOT } from '../helpers';

const ELECTRON_BUILD = path.join(REPO_ROOT, 'native', 'electron', 'better_sqlite3.node');

describe('the one better-sqlite3 loader', () => {
  it('uses the Node build in Node', () => {
    expect(sqliteBinding({ ...process.versions }, () => true)).toBeUndefined();
  });

  it('uses the Electron build of a checkout inside Electron', () => {
    expect(sqliteBinding({ ...process.versions, electron: '41.7.1' }, (file) => file === ELECTRON_BUILD)).toBe(ELECTRON_BUILD);
  });

  it('inside a packaged app (no checkout build) uses the module electron-builder rebuilt in place', () => {
    expect(sqliteBinding({ ...process.versions, electron: '41.7.1' }, () => false)).toBeUndefined();
  });
});
