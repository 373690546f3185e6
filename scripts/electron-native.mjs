// Builds better-sqlite3 for Electron's ABI into native/electron/, leaving node_modules' Node build
// (used by the CLI, served mode and the tests) untouched. Electron's main process passes the result
// to better-sqlite3 as `nativeBinding`. Needs the Electron headers, so it runs only where Electron
// itself could be installed (a machine with internet access).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const electronVersion = require('electron/package.json').version;
const sqliteVersion = require('better-sqlite3/package.json').version;
const outDir = path.join(root, 'native', 'electron');
const stamp = path.join(outDir, 'built-for.json');
const wanted = JSON.stringify({ electron: electronVersion, betterSqlite3: sqliteVersion, arch: process.arch });

if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted && fs.existsSync(path.join(outDir, 'better_sqlite3.node'))) {
  process.exit(0);
}

const work = path.join(root, '.cache', 'electron-sqlite');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const source = path.dirname(require.resolve('better-sqlite3/package.json'));
for (const entry of ['package.json', 'binding.gyp', 'src', 'deps']) {
  fs.cpSync(path.join(source, entry), path.join(work, entry), { recursive: true });
}
console.log(`building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (${process.arch})...`);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(
  process.execPath,
  [nodeGyp, 'rebuild', '--release', `--target=${electronVersion}`, `--arch=${process.arch}`, '--dist-url=https://electronjs.org/headers'],
  { cwd: work, stdio: 'inherit' },
);
if (result.status !== 0) {
  console.error('could not build better-sqlite3 for Electron; the desktop app cannot open its database (served mode still works)');
  process.exit(result.status ?? 1);
}
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(work, 'build', 'Release', 'better_sqlite3.node'), path.join(outDir, 'better_sqlite3.node'));
fs.writeFileSync(stamp, wanted);
console.log(`wrote ${path.relative(root, outDir)}/better_sqlite3.node`);
