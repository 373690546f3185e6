import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../core/repo-root';

/**
 * The one place better-sqlite3 is loaded, by the process that owns the store: Electron's main
 * process or a Node process (served mode, the CLI). Training processes never come here.
 *
 * Electron runs another ABI than Node. In a checkout, `npm run electron:native` builds the module
 * for Electron into native/electron/ (the Node build in node_modules stays for the CLI and the
 * tests); a packaged app carries a module that electron-builder already rebuilt for Electron.
 */
const ELECTRON_BUILD = path.join(REPO_ROOT, 'native', 'electron', 'better_sqlite3.node');

export function sqliteBinding(versions: NodeJS.ProcessVersions = process.versions, exists: (file: string) => boolean = fs.existsSync): string | undefined {
  if (!('electron' in versions)) return undefined;
  return exists(ELECTRON_BUILD) ? ELECTRON_BUILD : undefined;
}

export function openSqlite(file: string, options: Database.Options = {}): Database.Database {
  const nativeBinding = sqliteBinding();
  return new Database(file, nativeBinding ? { ...options, nativeBinding } : options);
}
