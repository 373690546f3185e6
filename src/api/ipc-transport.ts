import type { Transport } from './client';
import type { CallReply } from './dispatch';

/** What the preload script exposes on `window.dtqlBridge` (contextBridge, no ipcRenderer). */
export interface DtqlBridge {
  call(method: string, params: unknown): Promise<CallReply>;
  onEvent(listener: (event: unknown) => void): () => void;
}

export const IPC_CALL_CHANNEL = 'dtql:call';
export const IPC_EVENT_CHANNEL = 'dtql:event';

export function createIpcTransport(bridge: DtqlBridge): Transport {
  return {
    call: (method, params) => bridge.call(method, params),
    subscribe: (listener) => bridge.onEvent(listener),
  };
}
