// `npm start`: builds the UI and the Node entry points, then opens the desktop app when Electron's binary is installed, or
// else starts served mode and prints the URL to open in a browser.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNode } from './build-node.mjs';
import { electronBinary } from './local-tools.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build']);
await buildNode();

const electron = electronBinary();
const extra = process.argv.slice(2);
let child;
if (electron) {
  run(process.execPath, [path.join(root, 'scripts', 'electron-native.mjs')]);
  child = spawn(electron, [root, ...extra], { cwd: root, stdio: 'inherit' });
} else {
  console.log('Electron binary not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD or no network): starting served mode instead.');
  child = spawn(process.execPath, [path.join(root, 'bin', 'dtql.js'), 'serve', ...extra], { cwd: root, stdio: 'inherit' });
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
