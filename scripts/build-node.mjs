// Builds the Node side's entry points (the CLI, training and remote-run processes, and the worker
// threads) into out/node as plain ES modules, so every process runs compiled JavaScript: no
// TypeScript compiler at run time. Packages stay external (node_modules is there at run time);
// shared code goes into chunks. `npm install` runs this (prepare); the tests run it first.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const NODE_ENTRIES = {
  cli: 'src/cli/main.ts',
  'run-worker': 'src/engine/local/run-worker.ts',
  'remote-run': 'src/engine/remote/remote-run.ts',
  'critic-worker': 'src/engine/training/critic-worker.ts',
  'inspect-worker': 'src/engine/datasets/inspect-worker.ts',
  'generate-worker': 'src/engine/datasets/generate-worker.ts',
};

export async function buildNode() {
  const outdir = path.join(root, 'out', 'node');
  fs.rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: NODE_ENTRIES,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.19',
    packages: 'external',
    sourcemap: 'linked',
    // Chunks beside the entries: modules find the repository two folders up (import.meta.url).
    chunkNames: '[name]-[hash]',
    logLevel: 'warning',
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildNode();
