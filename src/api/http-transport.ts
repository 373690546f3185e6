import { CHECKPOINT_ROUTE, EXPORT_ROUTE, UPLOAD_ROUTE, type MethodName } from './contract';
import type { Transport } from './client';
import type { CallReply } from './dispatch';
import { encodeCall, withQuery } from './routes';

/**
 * HTTP + WebSocket transport for a browser talking to `dtql serve`. The access token, when the
 * server needs one, goes in the Authorization header; the WebSocket, which cannot carry headers,
 * relies on the same-origin cookie the server set when the page was opened with the token.
 */
function failure(payload: unknown, status: number): CallReply {
  const error = (payload as { error?: unknown } | null)?.error ?? { code: 'internal', message: `HTTP ${status}` };
  return { ok: false, error: error as Extract<CallReply, { ok: false }>['error'] };
}

export function createHttpTransport(baseUrl: string, token: string | null): Transport {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const listeners = new Set<(event: unknown) => void>();
  let socket: WebSocket | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;

  /**
   * Fetches a file and saves it with the browser's own download (a link to it, clicked once and
   * released); the name is the server's (Content-Disposition) unless given.
   */
  const saveFetched = async (url: string, name: string | null): Promise<CallReply> => {
    const response = await fetch(new URL(url, baseUrl), { headers });
    if (!response.ok) return failure(await response.json().catch(() => null), response.status);
    const fileName = name ?? /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'download';
    const link = document.createElement('a');
    link.href = URL.createObjectURL(await response.blob());
    link.download = fileName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    return { ok: true, result: fileName };
  };

  const connect = (): void => {
    const url = new URL('/api/events', baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url);
    socket.onmessage = (msg) => {
      let event: unknown;
      try {
        event = JSON.parse(String(msg.data));
      } catch {
        return;
      }
      for (const listener of listeners) listener(event);
    };
    socket.onclose = () => {
      socket = null;
      if (listeners.size > 0) retry = setTimeout(connect, 1000);
    };
  };

  return {
    async call(name: MethodName, params: unknown): Promise<CallReply> {
      const { verb, url, body } = encodeCall(name, (params ?? {}) as Record<string, unknown>);
      // Only a request with a body declares JSON: an empty JSON body is rejected by the server.
      const init: RequestInit = body === undefined ? { method: verb, headers } : { method: verb, headers: { ...headers, 'content-type': 'application/json' }, body };
      const response = await fetch(new URL(url, baseUrl), init);
      const payload = (await response.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
      if (response.ok) return { ok: true, result: payload };
      return failure(payload, response.status);
    },
    download: (kind, filter) => saveFetched(withQuery(EXPORT_ROUTE.replace(':kind', kind), filter as Record<string, unknown>), `dtql-${kind}.csv`),
    downloadCheckpoint: (runId, format) => saveFetched(`${CHECKPOINT_ROUTE.replace(':id', String(runId))}?format=${format}`, null),
    fileAccess: 'upload',
    importDataset(file, options, onProgress): Promise<CallReply> {
      if (!file) return Promise.resolve({ ok: false, error: { code: 'bad_input', message: 'choose a file to import' } });
      // XMLHttpRequest, not fetch: only it reports upload progress.
      return new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', new URL(withQuery(UPLOAD_ROUTE, { filename: file.name, name: options.name }), baseUrl));
        for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
        xhr.setRequestHeader('content-type', 'application/octet-stream');
        xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
        xhr.onload = () => {
          let payload: unknown = null;
          try {
            payload = JSON.parse(xhr.responseText);
          } catch {
            payload = null;
          }
          resolve(xhr.status >= 200 && xhr.status < 300 ? { ok: true, result: payload } : failure(payload, xhr.status));
        };
        xhr.onerror = () => resolve({ ok: false, error: { code: 'internal', message: 'the upload failed: the connection to the server broke' } });
        xhr.send(file);
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      if (!socket) connect();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          if (retry) clearTimeout(retry);
          socket?.close();
          socket = null;
        }
      };
    },
  };
}
