// Builds better-sqlite3 for Electron's ABI into native/electron/ with @electron/rebuild, leaving
// node_modules' Node build (the CLI, served mode and the tests use it) untouched: the module is
// copied into a staging folder and rebuilt there. Inside Electron, src/store/sqlite.ts picks the
// result. Needs Electron's headers, so it runs where Electron itself could be installed (a machine
// with internet access); `npm start` runs it before opening the window. Packaged apps need none of
// this: electron-builder rebuilds the module for Electron inside the package.
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

if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === wanted && fs.existsSync(path.join(outDir, 'better_sqlite3.node'))) process.exit(0);

const stage = path.join(root, '.cache', 'electron-native');
fs.rmSync(stage, { recursive: true, force: true });
const moduleDir = path.join(stage, 'node_modules', 'better-sqlite3');
fs.mkdirSync(moduleDir, { recursive: true });
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ name: 'electron-native-stage', private: true, dependencies: { 'better-sqlite3': sqliteVersion } }));
const source = path.dirname(require.resolve('better-sqlite3/package.json'));
for (const entry of ['package.json', 'binding.gyp', 'src', 'deps', 'lib']) fs.cpSync(path.join(source, entry), path.join(moduleDir, entry), { recursive: true });

console.log(`building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (${process.arch}) with @electron/rebuild...`);
const { rebuild } = await import('@electron/rebuild');
try {
  await rebuild({ buildPath: stage, electronVersion, arch: process.arch, onlyModules: ['better-sqlite3'], force: true, buildFromSource: true });
} catch (err) {
  console.error(`could not build better-sqlite3 for Electron (${err.message}); the desktop app cannot open its database (served mode still works)`);
  process.exit(1);
}
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(moduleDir, 'build', 'Release', 'better_sqlite3.node'), path.join(outDir, 'better_sqlite3.node'));
fs.writeFileSync(stamp, wanted);
console.log(`wrote ${path.relative(root, outDir)}/better_sqlite3.node`);
