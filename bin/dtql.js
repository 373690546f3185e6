#!/usr/bin/env node
// The `dtql` command: the CLI as the build wrote it (npm install runs the build; so does npm test).
import fs from 'node:fs';

const cli = new URL('../out/node/cli.js', import.meta.url);
if (!fs.existsSync(cli)) {
  process.stderr.write('dtql: the CLI is not built yet: run `npm run build:node` (npm install does it) in the checkout\n');
  process.exit(2);
}
await import(cli.href);
