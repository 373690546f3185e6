import { contextBridge, ipcRenderer } from 'electron';
import { IPC_CALL_CHANNEL, IPC_CHECKPOINT_CHANNEL, IPC_EVENT_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL, type DtqlBridge } from '../api/ipc-transport';

/** The whole surface the sandboxed page gets: one call function, a CSV save, a checkpoint save, a dataset import and one event subscription. */
const bridge: DtqlBridge = {
  call: (method, params) => {
    if (typeof method !== 'string') return Promise.reject(new Error('method must be a string'));
    return ipcRenderer.invoke(IPC_CALL_CHANNEL, method, params);
  },
  exportCsv: (kind, filter) => {
    if (typeof kind !== 'string') return Promise.reject(new Error('kind must be a string'));
    return ipcRenderer.invoke(IPC_EXPORT_CHANNEL, kind, filter);
  },
  saveCheckpoint: (runId, format) => ipcRenderer.invoke(IPC_CHECKPOINT_CHANNEL, runId, format),
  importDataset: (options) => ipcRenderer.invoke(IPC_IMPORT_CHANNEL, options),
  onEvent: (listener) => {
    const handler = (_event: unknown, payload: unknown) => listener(payload);
    ipcRenderer.on(IPC_EVENT_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT_CHANNEL, handler);
    };
  },
};

contextBridge.exposeInMainWorld('dtqlBridge', bridge);
