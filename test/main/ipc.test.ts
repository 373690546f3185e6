/**
 * The Electron main process's IPC surface and the preload bridge, without an Electron binary:
 * the real handlers and the real back end, driven through a registrar and dialogs of the test's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { IpcMainInvokeEvent } from 'electron';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IPC_CALL_CHANNEL, IPC_CHECKPOINT_CHANNEL, IPC_EVENT_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL } from '../../src/api/ipc-transport';
import { encodeCheckpoint, sha256, writeRunCheckpoint } from '../../src/engine/training/checkpoint';
import { insertCheckpoint } from '../../src/store/checkpoints';
import { readSafetensors, smallAgentState } from '../checkpoints';
import { createService } from '../../src/engine/service';
import { planRuns } from '../../src/engine/plan';
import { registerIpcHandlers, type FileDialogs } from '../../src/main/ipc';
import { openDatabase, type Db } from '../../src/store/db';
import { insertRuns } from '../../src/store/runs';
import { REPO_ROOT, tempHomes } from '../helpers';

const APP_URL = 'file:///opt/dtql/out/renderer/index.html';
const freshHome = tempHomes();
const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

type Handler = (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown;

function setup() {
  const home = freshHome();
  const db = openDatabase(home);
  dbs.push(db);
  insertRuns(db, planRuns({ task: 'bandit-25g-far', algo: 'dtql', preset: 'quick', seeds: [1], tags: [], overrides: {} }));
  const handlers = new Map<string, Handler>();
  const opened: string[] = [];
  const saveTo = path.join(home, 'chosen.csv');
  const dialogs: FileDialogs = {
    chooseDatasetFile: async () => {
      opened.push('open');
      return null;
    },
    chooseSaveTarget: async (_event, name) => {
      opened.push(`save ${name}`);
      return name.endsWith('.csv') ? saveTo : path.join(home, name);
    },
  };
  registerIpcHandlers({ handle: (channel, listener) => handlers.set(channel, listener) }, createService({ db, home, mode: 'desktop' }), APP_URL, dialogs);
  const call = (channel: string, frameUrl: string | null, ...args: unknown[]) =>
    (handlers.get(channel) as Handler)({ senderFrame: frameUrl === null ? null : { url: frameUrl } } as unknown as IpcMainInvokeEvent, ...args) as Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }>;
  return { handlers, call, opened, saveTo, db, home };
}

describe('Electron IPC handlers', () => {
  it('register exactly the four channels', () => {
    expect([...setup().handlers.keys()].sort()).toEqual([IPC_CALL_CHANNEL, IPC_CHECKPOINT_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL].sort());
  });

  it('refuse calls from any frame but the app page, on every channel', async () => {
    const { call, opened } = setup();
    for (const frame of ['https://evil.example/', 'file:///etc/passwd', 'file:///opt/dtql/out/renderer/other.html', null]) {
      expect(await call(IPC_CALL_CHANNEL, frame, 'listRuns', {})).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      expect(await call(IPC_EXPORT_CHANNEL, frame, 'runs', {})).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      expect(await call(IPC_IMPORT_CHANNEL, frame, { keep: 'copy' })).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      expect(await call(IPC_CHECKPOINT_CHANNEL, frame, 1, 'safetensors')).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    }
    expect(opened).toEqual([]);
  });

  it('validate every argument, and never open a dialog for a bad one', async () => {
    const { call, opened } = setup();
    expect(await call(IPC_CALL_CHANNEL, APP_URL, 'listRuns', {})).toMatchObject({ ok: true });
    for (const [method, params] of [
      ['nope', {}],
      [42, {}],
      ['__proto__', {}],
      ['getRun', { id: -1 }],
      ['getRun', { id: '1; DROP TABLE runs' }],
      ['updateRun', { id: 1, notes: 'x'.repeat(20_000) }],
      ['createRuns', { task: '../../etc/passwd', algo: 'dtql', seeds: [1] }],
      ['listRuns', { extra: true }],
    ] as const) {
      const reply = await call(IPC_CALL_CHANNEL, APP_URL, method, params);
      expect(reply, JSON.stringify(method)).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    }
    for (const [kind, filter] of [
      ['../secret', {}],
      ['runs', { runs: [-3] }],
      ['runs', 'not an object'],
      ['metrics', { runs: [999] }],
    ] as const) {
      const reply = await call(IPC_EXPORT_CHANNEL, APP_URL, kind, filter);
      expect(reply.ok, `${String(kind)} ${JSON.stringify(filter)}`).toBe(false);
    }
    for (const options of [null, 'copy', { keep: 'delete-everything' }, { keep: 'copy', name: 'x'.repeat(1000) }, { keep: 'copy', extra: 1 }]) {
      expect(await call(IPC_IMPORT_CHANNEL, APP_URL, options), JSON.stringify(options)).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    }
    expect(opened).toEqual([]);
  });

  it('export and import go through the dialogs only for valid requests', async () => {
    const { call, opened, saveTo } = setup();
    expect(await call(IPC_EXPORT_CHANNEL, APP_URL, 'runs', {})).toEqual({ ok: true, result: saveTo });
    expect(fs.readFileSync(saveTo, 'utf8').split('\n')[0]).toMatch(/^run_id,name,task,algo/);
    expect(await call(IPC_IMPORT_CHANNEL, APP_URL, { keep: 'copy' })).toEqual({ ok: true, result: null });
    expect(opened).toEqual(['save dtql-runs.csv', 'open']);
  });

  it("saves a run's newest checkpoint as safetensors or as is, asking where only when there is one to save", async () => {
    const { call, opened, db, home } = setup();
    for (const [id, format] of [[-1, 'safetensors'], ['1', 'safetensors'], [1, 'exe']] as const) {
      expect(await call(IPC_CHECKPOINT_CHANNEL, APP_URL, id, format), `${id} ${format}`).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    }
    expect(await call(IPC_CHECKPOINT_CHANNEL, APP_URL, 99, 'safetensors')).toMatchObject({ ok: false, error: { code: 'not_found', message: 'no run with id 99' } });
    expect(await call(IPC_CHECKPOINT_CHANNEL, APP_URL, 1, 'safetensors')).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringMatching(/run 1 has no checkpoint yet/) } });
    expect(opened).toEqual([]);
    const bytes = encodeCheckpoint(smallAgentState());
    insertCheckpoint(db, { runId: 1, step: 20, path: writeRunCheckpoint(home, 1, 20, bytes), sha256: sha256(bytes), bytes: bytes.length });
    const saved = await call(IPC_CHECKPOINT_CHANNEL, APP_URL, 1, 'safetensors');
    expect(saved).toEqual({ ok: true, result: path.join(home, 'dtql-run-1-step-20.safetensors') });
    expect(readSafetensors(fs.readFileSync(saved.result as string)).tensors.get('params/actor/layer0/bias')?.shape).toEqual([5]);
    const raw = await call(IPC_CHECKPOINT_CHANNEL, APP_URL, 1, 'dtql');
    expect(fs.readFileSync(raw.result as string)).toEqual(bytes);
    expect(opened).toEqual(['save dtql-run-1-step-20.safetensors', 'save dtql-run-1-step-20.dtqlckpt']);
  });
});

describe('preload bridge', () => {
  it('exposes one object with five functions and no ipcRenderer, and only invokes the app channels', async () => {
    const exposed: Record<string, unknown> = {};
    const invoked: string[] = [];
    const subscribed: string[] = [];
    vi.doMock('electron', () => ({
      contextBridge: { exposeInMainWorld: (key: string, value: unknown) => (exposed[key] = value) },
      ipcRenderer: {
        invoke: async (channel: string) => invoked.push(channel),
        on: (channel: string) => subscribed.push(channel),
        removeListener: () => undefined,
      },
    }));
    await import('../../src/preload/index');
    vi.doUnmock('electron');
    expect(Object.keys(exposed)).toEqual(['dtqlBridge']);
    const bridge = exposed.dtqlBridge as Record<string, (...args: unknown[]) => unknown>;
    expect(Object.keys(bridge).sort()).toEqual(['call', 'exportCsv', 'importDataset', 'onEvent', 'saveCheckpoint']);
    expect(Object.values(bridge).every((v) => typeof v === 'function')).toBe(true);
    await expect(bridge.call!(42, {})).rejects.toThrow(/method must be a string/);
    await bridge.call!('listRuns', {});
    await bridge.exportCsv!('runs', {});
    await bridge.importDataset!({ keep: 'copy' });
    await bridge.saveCheckpoint!(1, 'safetensors');
    (bridge.onEvent!(() => undefined) as () => void)();
    expect(invoked).toEqual([IPC_CALL_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL, IPC_CHECKPOINT_CHANNEL]);
    expect(subscribed).toEqual([IPC_EVENT_CHANNEL]);
  });
});

describe('content security policy', () => {
  const pageCsp = (html: string) => /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? '';
  const directives = (csp: string) => new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name as string, values]));

  it("the app page allows only its own scripts: no eval, no inline script, no remote source", () => {
    const csp = directives(pageCsp(fs.readFileSync(path.join(REPO_ROOT, 'src', 'renderer', 'index.html'), 'utf8')));
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    for (const values of csp.values()) for (const v of values) expect(v).not.toMatch(/^(https?:|\*|'unsafe-eval')/);
  });

  it('served mode sends the same policy (plus what only a header can say)', async () => {
    const { CONTENT_SECURITY_POLICY } = await import('../../src/server/security');
    const page = directives(pageCsp(fs.readFileSync(path.join(REPO_ROOT, 'src', 'renderer', 'index.html'), 'utf8')));
    const header = directives(CONTENT_SECURITY_POLICY);
    for (const [name, values] of page) expect(header.get(name), name).toEqual(values);
    expect(header.get('frame-ancestors')).toEqual(["'none'"]);
  });
});
