import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BrowserWindow, app, dialog, ipcMain, session, type IpcMainInvokeEvent } from 'electron';
import { IPC_CALL_CHANNEL, IPC_EVENT_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL } from '../api/ipc-transport';
import { importOptionsSchema } from '../api/contract';
import { toApiError } from '../api/errors';
import { dispatch } from '../api/dispatch';
import { createService, type Service } from '../engine/service';
import { EventHub } from '../engine/events';
import { RunManager, defaultConcurrency } from '../engine/run-manager';
import { utilityTraining } from './utility-training';
import { openDatabase } from '../store/db';
import { APP_NAME, ensureHome, resolveHome } from '../store/home';
import { acquireInstanceLock } from '../store/instance-lock';
import { isAppUrl, secureWindowOptions } from './window';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const rendererUrl = process.env.ELECTRON_RENDERER_URL ?? pathToFileURL(path.join(here, '..', 'renderer', 'index.html')).href;

// Electron's userData is named after the app; the CLI's default data folder uses the same name.
app.setName(APP_NAME);

/** better-sqlite3 compiled for Electron's ABI by scripts/electron-native.mjs, kept apart from the Node build. */
function electronSqliteBinding(): string | undefined {
  const file = path.join(repoRoot, 'native', 'electron', 'better_sqlite3.node');
  return fs.existsSync(file) ? file : undefined;
}

function startBackend(): Service {
  const home = ensureHome(resolveHome(process.env.DTQL_HOME ?? app.getPath('userData')));
  const binding = electronSqliteBinding();
  const lock = acquireInstanceLock(home, 'desktop', binding ? { nativeBinding: binding } : {});
  const db = openDatabase(home, binding ? { nativeBinding: binding } : {});
  const events = new EventHub();
  const concurrency = process.env.DTQL_CONCURRENCY ? Number(process.env.DTQL_CONCURRENCY) : undefined;
  const runs = new RunManager(db, home, events, concurrency !== undefined && Number.isInteger(concurrency) && concurrency >= 0 ? concurrency : defaultConcurrency(), utilityTraining);
  app.on('before-quit', (event) => {
    if (runs.activeRunIds.length === 0) return;
    // Let training processes stop with a checkpoint before the store closes.
    event.preventDefault();
    void runs.shutdown().finally(() => app.quit());
  });
  app.on('will-quit', () => {
    db.close();
    lock.release();
  });
  runs.schedule();
  return createService({ db, home, mode: 'desktop', runs }, events);
}

function createWindow(service: Service): BrowserWindow {
  const win = new BrowserWindow(secureWindowOptions(path.join(here, '..', 'preload', 'index.cjs')));
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  win.webContents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url, rendererUrl)) event.preventDefault();
  });
  win.webContents.on('will-redirect', (event) => event.preventDefault());
  const unsubscribe = service.events.subscribe((event) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT_CHANNEL, event);
  });
  win.on('closed', unsubscribe);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(rendererUrl);
  return win;
}

/** Only the app's own page may call the back end; params are validated by each handler. */
const fromAppWindow = (event: IpcMainInvokeEvent): boolean => Boolean(event.senderFrame && isAppUrl(event.senderFrame.url, rendererUrl));
const NOT_FROM_APP = { ok: false, error: { code: 'unauthorized', message: 'calls are only accepted from the app window' } } as const;

app.on('web-contents-created', (_event, contents) => {
  contents.on('will-attach-webview', (event) => event.preventDefault());
});

void app.whenReady().then(() => {
  let service: Service;
  try {
    service = startBackend();
  } catch (err) {
    dialog.showErrorBox('DTQL Workbench cannot open its data folder', (err as Error).message);
    app.exit(2);
    return;
  }
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ipcMain.handle(IPC_CALL_CHANNEL, (event, method: unknown, params: unknown) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    return dispatch(service.handlers, method, params);
  });
  ipcMain.handle(IPC_IMPORT_CHANNEL, async (event, options: unknown) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    try {
      const parsed = importOptionsSchema.safeParse(options);
      if (!parsed.success) return { ok: false, error: { code: 'bad_input', message: parsed.error.issues.map((i) => i.message).join('; ') } };
      const window = BrowserWindow.fromWebContents(event.sender);
      const dialogOptions = { properties: ['openFile' as const], filters: [{ name: 'HDF5 datasets', extensions: ['hdf5', 'h5'] }] };
      const choice = window ? await dialog.showOpenDialog(window, dialogOptions) : await dialog.showOpenDialog(dialogOptions);
      const file = choice.filePaths[0];
      if (choice.canceled || !file) return { ok: true, result: null };
      return { ok: true, result: await service.importFile(file, parsed.data) };
    } catch (err) {
      const error = toApiError(err);
      return { ok: false, error: { code: error.code, message: error.message } };
    }
  });
  ipcMain.handle(IPC_EXPORT_CHANNEL, async (event, kind: unknown, filter: unknown) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    try {
      // Validate before asking for a file, so a bad request never opens a dialog.
      service.checkExport(kind, filter);
      const window = BrowserWindow.fromWebContents(event.sender);
      const options = { defaultPath: `dtql-${String(kind)}.csv`, filters: [{ name: 'CSV', extensions: ['csv'] }] };
      const choice = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
      if (choice.canceled || !choice.filePath) return { ok: true, result: null };
      const written = await service.exportFile(kind, filter, choice.filePath);
      return { ok: true, result: written.file };
    } catch (err) {
      const error = toApiError(err);
      return { ok: false, error: { code: error.code, message: error.message } };
    }
  });
  createWindow(service);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(service);
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
