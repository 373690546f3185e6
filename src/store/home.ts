import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { badInput } from '../api/errors';

/** Product name; also the Electron app name, so the CLI default equals Electron's userData. */
export const APP_NAME = 'DTQL Workbench';

/** The per-user data folder Electron's `app.getPath('userData')` gives for APP_NAME. */
export function defaultHome(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', APP_NAME);
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), APP_NAME);
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), APP_NAME);
}

/** `--home`, else DTQL_HOME, else the per-user default. */
export function resolveHome(flag?: string): string {
  const chosen = flag ?? process.env.DTQL_HOME ?? defaultHome();
  if (chosen.trim() === '' || chosen.includes('\0')) throw badInput('the data folder (--home / DTQL_HOME) must be a non-empty path');
  return path.resolve(chosen);
}

/** Creates the data folder if needed and proves it is a writable folder; a bad one is bad input. */
export function ensureHome(dir: string): string {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch {
    stat = undefined;
  }
  if (stat && !stat.isDirectory()) throw badInput(`data folder ${dir} exists but is not a folder`);
  if (!stat) {
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw badInput(`cannot create data folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    throw badInput(`data folder ${dir} is not readable and writable`);
  }
  return dir;
}
