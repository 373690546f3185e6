import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BrowserWindow, app, dialog, ipcMain, session } from 'electron';
import { IPC_EVENT_CHANNEL } from '../api/ipc-transport';
import { createService, type Service } from '../engine/service';
import { EventHub } from '../engine/events';
import type { RunQueue } from '../engine/local/run-manager';
import { openRunQueue } from '../engine/queues';
import { REDIS_URL_SETTING, getMeta } from '../store/meta';
import { utilityTraining } from './utility-training';
import { openStore } from '../engine/local/recovery';
import { APP_NAME, ensureHome, resolveHome } from '../store/home';
import { acquireInstanceLock } from '../store/instance-lock';
import { registerIpcHandlers } from './ipc';
import { hardenContents, secureWindowOptions } from './window';

const here = path.dirname(fileURLToPath(import.meta.url));
const rendererUrl = process.env.ELECTRON_RENDERER_URL ?? pathToFileURL(path.join(here, '..', 'renderer', 'index.html')).href;

// Electron's userData is named after the app; the CLI's default data folder uses the same name.
app.setName(APP_NAME);

async function startBackend(): Promise<Service> {
  const home = ensureHome(resolveHome(process.env.DTQL_HOME ?? app.getPath('userData')));
  const lock = acquireInstanceLock(home, 'desktop');
  // The window's requests never wait on another process's lock (see setBusyTimeout).
  const db = openStore(home, { busyTimeoutMs: 0 });
  const events = new EventHub();
  const concurrency = process.env.DTQL_CONCURRENCY ? Number(process.env.DTQL_CONCURRENCY) : undefined;
  const local = { concurrency: concurrency !== undefined && Number.isInteger(concurrency) && concurrency >= 0 ? concurrency : undefined, spawnTraining: utilityTraining };
  // With a Redis URL in the settings, runs go to remote workers; if Redis cannot be reached, say so and train here.
  let runs: RunQueue;
  try {
    runs = await openRunQueue(db, home, events, { ...local, redisUrl: getMeta(db, REDIS_URL_SETTING) });
  } catch (err) {
    dialog.showErrorBox('Remote workers unavailable: training on this machine', (err as Error).message);
    runs = await openRunQueue(db, home, events, local);
  }
  let stopped = false;
  app.on('before-quit', (event) => {
    if (stopped) return;
    // Training processes stop with a checkpoint (remote runs go on) before the store closes.
    event.preventDefault();
    stopped = true;
    void runs.shutdown().finally(() => app.quit());
  });
  app.on('will-quit', () => {
    service.close();
    db.close();
    lock.release();
  });
  runs.schedule();
  const service = createService({ db, home, mode: 'desktop', runs, watchStore: true }, events);
  return service;
}

function createWindow(service: Service): BrowserWindow {
  const win = new BrowserWindow(secureWindowOptions(path.join(here, '..', 'preload', 'index.cjs')));
  const unsubscribe = service.events.subscribe((event) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT_CHANNEL, event);
  });
  win.on('closed', unsubscribe);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(rendererUrl);
  return win;
}

// Every web contents the app ever creates (its window included) stays on the app's page.
app.on('web-contents-created', (_event, contents) => hardenContents(contents, rendererUrl));

void app.whenReady().then(async () => {
  let service: Service;
  try {
    service = await startBackend();
  } catch (err) {
    dialog.showErrorBox('DTQL Workbench cannot open its data folder', (err as Error).message);
    app.exit(2);
    return;
  }
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  registerIpcHandlers(ipcMain, service, rendererUrl, {
    chooseDatasetFile: async (event) => {
      const window = BrowserWindow.fromWebContents(event.sender);
      const options = { properties: ['openFile' as const], filters: [{ name: 'HDF5 datasets', extensions: ['hdf5', 'h5'] }] };
      const choice = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
      return choice.canceled ? null : (choice.filePaths[0] ?? null);
    },
    chooseSaveTarget: async (event, defaultName) => {
      const window = BrowserWindow.fromWebContents(event.sender);
      const extension = path.extname(defaultName).slice(1);
      const options = { defaultPath: defaultName, filters: [{ name: extension.toUpperCase(), extensions: [extension] }] };
      const choice = window ? await dialog.showSaveDialog(window, options) : await dialog.showSaveDialog(options);
      return choice.canceled ? null : (choice.filePath ?? null);
    },
  });
  createWindow(service);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(service);
  });
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});
