/**
 * The installers (electron-builder.yml) against the build output. electron-builder needs
 * Electron's binary, which these machines cannot download, so the test packages the app for real
 * around a stand-in Electron folder (`--dir`, no installer, no rebuild of native modules for
 * Electron's ABI) and reads what went into the archive. Runs after `npm run build` (npm test
 * builds first).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listPackage } from '@electron/asar';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_ENTRIES } from '../../scripts/build-node.mjs';
import { REPO_ROOT } from '../helpers';

interface BuilderConfig {
  appId: string;
  productName: string;
  icon: string;
  linux: { target: string[]; icon: string };
  mac: { target: string; icon: string };
  win: { target: string; icon: string };
}

const config = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'electron-builder.yml'), 'utf8')) as BuilderConfig;
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { main: string; scripts: Record<string, string> };

/** Files under `dir`, relative to it, with forward slashes. */
function walk(dir: string, prefix = ''): string[] {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? walk(dir, rel) : [rel];
  });
}

let work: string;
let resources: string;
let packed: string[];

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'dtql-installer-'));
  const electronDist = path.join(work, 'electron-dist');
  fs.mkdirSync(electronDist);
  fs.writeFileSync(path.join(electronDist, 'electron'), '#!/bin/sh\n', { mode: 0o755 });
  const result = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, 'node_modules', 'electron-builder', 'cli.js'), '--dir', '--linux', '--x64', `--config.electronDist=${electronDist}`, '--config.npmRebuild=false', `--config.directories.output=${path.join(work, 'out')}`],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' } },
  );
  expect(result.status, result.stderr + result.stdout).toBe(0);
  resources = path.join(work, 'out', 'linux-unpacked', 'resources');
  // listPackage names entries with a leading separator.
  packed = listPackage(path.join(resources, 'app.asar'), { isPack: false }).map((f) => f.split(path.sep).join('/').replace(/^\//, ''));
}, 180_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('installers (electron-builder.yml)', () => {
  it('names the app, its icon and the four installer kinds', () => {
    expect(config.appId).toMatch(/^[a-z]+(\.[a-z]+)+$/);
    expect(config.productName).toBe('DTQL Workbench');
    expect(config.linux.target).toEqual(expect.arrayContaining(['AppImage', 'deb']));
    expect(config.mac.target).toBe('dmg');
    expect(config.win.target).toBe('nsis');
    expect(pkg.scripts.dist).toMatch(/electron-builder/);
    for (const icon of new Set([config.icon, config.linux.icon, config.mac.icon, config.win.icon])) {
      const bytes = fs.readFileSync(path.join(REPO_ROOT, icon));
      expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
      // electron-builder makes the macOS and Windows icons from a PNG of at least 512 x 512.
      expect(bytes.readUInt32BE(16)).toBeGreaterThanOrEqual(512);
      expect(bytes.readUInt32BE(20)).toBeGreaterThanOrEqual(512);
    }
  });

  it('packs every entry point the app starts, and what they read at run time', () => {
    const needed = [
      pkg.main,
      'out/preload/index.cjs',
      'out/renderer/index.html',
      ...Object.keys(NODE_ENTRIES).map((name) => `out/node/${name}.js`),
      // The chunks the entries import.
      ...walk(path.join(REPO_ROOT, 'out', 'node')).filter((f) => f.endsWith('.js')).map((f) => `out/node/${f}`),
      ...walk(path.join(REPO_ROOT, 'migrations')).map((f) => `migrations/${f}`),
      ...walk(path.join(REPO_ROOT, 'resources', 'mjcf')).map((f) => `resources/mjcf/${f}`),
      'package.json',
    ];
    for (const file of needed) {
      expect(fs.existsSync(path.join(REPO_ROOT, file)), `${file} is in the build`).toBe(true);
      expect(packed, `${file} is packed`).toContain(file);
    }
  });

  it('packs no source, test, script, source map or dev-only dependency', () => {
    const appFiles = packed.filter((f) => !f.startsWith('node_modules/') && path.extname(f) !== '');
    expect(appFiles.length).toBeGreaterThan(10);
    for (const file of appFiles) {
      expect(file, `${file} should not be packed`).toMatch(/^(out\/(main|preload|renderer|node)\/|migrations\/|resources\/mjcf\/|package\.json$)/);
      expect(file).not.toMatch(/\.(map|ts|tsx)$/);
    }
    // Build and test tools stay out (type packages may come in as a dependency of a dependency).
    for (const tool of ['electron', 'electron-builder', 'electron-vite', 'vite', 'esbuild', 'vitest', 'typescript', 'eslint', '@playwright/test', 'tsx']) {
      expect(packed, `${tool} is packed`).not.toContain(`node_modules/${tool}/package.json`);
    }
    expect(packed).toContain('node_modules/better-sqlite3/package.json');
  });

  it('unpacks every native module and WebAssembly file from the archive', () => {
    const natives = packed.filter((f) => /\.(node|wasm)$/.test(f));
    expect(natives).toEqual(expect.arrayContaining(['node_modules/better-sqlite3/build/Release/better_sqlite3.node']));
    expect(natives.some((f) => f.startsWith('node_modules/@tensorflow/tfjs-backend-wasm/') && f.endsWith('.wasm'))).toBe(true);
    for (const file of natives) expect(fs.existsSync(path.join(resources, 'app.asar.unpacked', file)), `${file} is unpacked`).toBe(true);
  });
});
