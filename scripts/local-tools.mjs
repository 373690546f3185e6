// The programs outside npm's reach that `npm start` and `npm test` look for on this machine, found
// the same way everywhere: the Electron binary and a system Chromium.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The Electron binary's path, or null where it was never downloaded (ELECTRON_SKIP_BINARY_DOWNLOAD, offline installs). */
export function electronBinary() {
  try {
    const binary = require('electron');
    return typeof binary === 'string' && fs.existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}

/** The system Chromium (DTQL_CHROMIUM, else Debian's /usr/bin/chromium), or null where there is none. */
export function systemChromium() {
  const candidate = process.env.DTQL_CHROMIUM ?? '/usr/bin/chromium';
  return fs.existsSync(candidate) ? candidate : null;
}
