// The first step of `npm test`: names, once and at the top, the optional parts this machine lacks
// and what each absence skips, with the one command that adds it; and makes sure a browser exists
// for the end-to-end tests (the system Chromium where there is one, else Playwright's own).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { electronBinary, systemChromium } from './local-tools.mjs';

const require = createRequire(import.meta.url);
const onPath = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function nativeBlas() {
  try {
    require('dtql-native-blas');
    return true;
  } catch {
    return false;
  }
}

/** The browser the end-to-end tests drive; installs Playwright's Chromium where the system has none. */
function browser() {
  const system = systemChromium();
  if (system) return `the system Chromium (${system})`;
  const { chromium } = require('@playwright/test');
  if (!fs.existsSync(chromium.executablePath())) {
    process.stdout.write('No system Chromium: installing Playwright\'s (npx playwright install chromium)...\n');
    const install = spawnSync(process.execPath, [require.resolve('@playwright/test/cli'), 'install', 'chromium'], { stdio: 'inherit' });
    if (install.status !== 0) {
      process.stderr.write('npm test: no browser for the end-to-end tests: Playwright\'s Chromium could not be installed (offline?). Install Chromium (Debian: sudo apt-get install chromium) or set DTQL_CHROMIUM to one.\n');
      process.exit(1);
    }
  }
  return `Playwright's Chromium (${chromium.executablePath()})`;
}

const parts = [
  { name: 'Redis (redis-server)', present: onPath('redis-server'), skips: 'the remote-worker tests are skipped', add: 'sudo apt-get install redis-server (macOS: brew install redis)' },
  { name: 'native kernels: OpenBLAS matMul and layers (native/blas)', present: nativeBlas(), skips: 'training runs at plain wasm speed (tests still pass)', add: 'sudo apt-get install libopenblas-dev && npm install' },
  { name: 'Electron binary', present: electronBinary() !== null, skips: 'the Electron run of the end-to-end specs is skipped (served mode runs them)', add: 'npm install electron without ELECTRON_SKIP_BINARY_DOWNLOAD' },
  { name: 'openssl', present: onPath('openssl'), skips: 'the Redis TLS test is skipped', add: 'sudo apt-get install openssl' },
];

const lines = [`End-to-end browser: ${browser()}`];
const missing = parts.filter((p) => !p.present);
if (missing.length === 0) lines.push('Optional parts: all present, nothing is skipped for want of them.');
else {
  lines.push(`Optional parts missing (${missing.length}):`);
  for (const p of missing) lines.push(`  - ${p.name}: ${p.skips}. Add it: ${p.add}`);
}
process.stdout.write(`${lines.join('\n')}\n\n`);
