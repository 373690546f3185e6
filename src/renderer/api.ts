import { createApiClient, type ApiClient } from '../api/client';
import { createHttpTransport } from '../api/http-transport';
import { createIpcTransport, type DtqlBridge } from '../api/ipc-transport';

declare global {
  interface Window {
    dtqlBridge?: DtqlBridge;
  }
}

const TOKEN_KEY = 'dtql.token';

/**
 * The served-mode token arrives once in the page URL; it is kept for this tab only and removed
 * from the address bar so it does not end up in history or screenshots.
 */
function takeToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.toString());
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The one API client of the UI: IPC inside Electron, HTTP + WebSocket in a browser. */
export const api: ApiClient = createApiClient(
  window.dtqlBridge ? createIpcTransport(window.dtqlBridge) : createHttpTransport(window.location.origin, takeToken()),
);
