import type { Transport } from './client';
import type { CallReply } from './dispatch';

/** What the preload script exposes on `window.dtqlBridge` (contextBridge, no ipcRenderer). */
export interface DtqlBridge {
  call(method: string, params: unknown): Promise<CallReply>;
  onEvent(listener: (event: unknown) => void): () => void;
  /** Asks the main process for a save dialog and writes the CSV there; the result is the path or null. */
  exportCsv(kind: string, filter: unknown): Promise<CallReply>;
  /** Asks the main process for a save dialog and writes a run's newest checkpoint there; the result is the path or null. */
  saveCheckpoint(runId: number, format: string): Promise<CallReply>;
  /** Asks the main process for an open dialog and imports the chosen file; the result is the dataset or null. */
  importDataset(options: unknown): Promise<CallReply>;
}

export const IPC_CALL_CHANNEL = 'dtql:call';
export const IPC_EXPORT_CHANNEL = 'dtql:export';
export const IPC_IMPORT_CHANNEL = 'dtql:import-dataset';
export const IPC_CHECKPOINT_CHANNEL = 'dtql:save-checkpoint';
export const IPC_EVENT_CHANNEL = 'dtql:event';

export function createIpcTransport(bridge: DtqlBridge): Transport {
  return {
    call: (method, params) => bridge.call(method, params),
    subscribe: (listener) => bridge.onEvent(listener),
    download: (kind, filter) => bridge.exportCsv(kind, filter),
    downloadCheckpoint: (runId, format) => bridge.saveCheckpoint(runId, format),
    fileAccess: 'dialog',
    importDataset: (_file, options) => bridge.importDataset(options),
  };
}
