import { describeIssues } from '../common/config';
import { apiEventSchema, apiMethods, datasetSchema, type ApiEvent, type CheckpointFormat, type DatasetDto, type ExportKind, type ImportOptions, type MethodName, type ParamsOf, type ResultOf, type RunFilter } from './contract';
import type { CallReply } from './dispatch';
import { ApiError } from './errors';

/** Moves one call and the event stream; IPC in Electron, HTTP + WebSocket in a browser. */
export interface Transport {
  call(method: MethodName, params: unknown): Promise<CallReply>;
  subscribe(listener: (event: unknown) => void): () => void;
  /** Saves a CSV export where the user chooses (a download, or a save dialog); null when cancelled. */
  download(kind: ExportKind, filter: RunFilter): Promise<CallReply>;
  /** Saves a run's newest checkpoint where the user chooses; the result names where, or is null when cancelled. */
  downloadCheckpoint(runId: number, format: CheckpointFormat): Promise<CallReply>;
  /** How a dataset file is chosen: the app's own open dialog, or a file the page uploads. */
  readonly fileAccess: 'dialog' | 'upload';
  /** Imports a dataset: `file` is uploaded (served mode), or a dialog asks for one (Electron). */
  importDataset(file: File | null, options: ImportOptions, onProgress?: (fraction: number) => void): Promise<CallReply>;
}

export type ApiClient = { [M in MethodName]: (params: ParamsOf<M>) => Promise<ResultOf<M>> } & {
  onEvent(listener: (event: ApiEvent) => void): () => void;
  /** Saves the CSV of the runs a filter selects; resolves to where it went, or null when cancelled. */
  exportCsv(kind: ExportKind, filter: RunFilter): Promise<string | null>;
  /** Saves a run's newest checkpoint (safetensors or the app's own layout); resolves to where it went, or null when cancelled. */
  saveCheckpoint(runId: number, format: CheckpointFormat): Promise<string | null>;
  readonly fileAccess: 'dialog' | 'upload';
  /** Imports a dataset file; null when the user cancelled the dialog. */
  importDataset(file: File | null, options: ImportOptions, onProgress?: (fraction: number) => void): Promise<DatasetDto | null>;
};

/** Builds the typed client; results and events are validated so a contract drift fails loudly. */
export function createApiClient(transport: Transport): ApiClient {
  const client: Record<string, unknown> = {};
  for (const name of Object.keys(apiMethods) as MethodName[]) {
    client[name] = async (params: unknown) => {
      const reply = await transport.call(name, params ?? {});
      if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
      const parsed = apiMethods[name].result.safeParse(reply.result);
      if (!parsed.success) throw new ApiError('internal', `unexpected reply from ${name}: ${describeIssues(parsed.error)}`);
      return parsed.data;
    };
  }
  client.onEvent = (listener: (event: ApiEvent) => void) =>
    transport.subscribe((raw) => {
      const parsed = apiEventSchema.safeParse(raw);
      if (parsed.success) listener(parsed.data);
    });
  client.exportCsv = async (kind: ExportKind, filter: RunFilter) => {
    const reply = await transport.download(kind, filter);
    if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
    return reply.result === null ? null : String(reply.result);
  };
  client.saveCheckpoint = async (runId: number, format: CheckpointFormat) => {
    const reply = await transport.downloadCheckpoint(runId, format);
    if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
    return reply.result === null ? null : String(reply.result);
  };
  client.fileAccess = transport.fileAccess;
  client.importDataset = async (file: File | null, options: ImportOptions, onProgress?: (fraction: number) => void) => {
    const reply = await transport.importDataset(file, options, onProgress);
    if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
    if (reply.result === null) return null;
    const parsed = datasetSchema.safeParse(reply.result);
    if (!parsed.success) throw new ApiError('internal', `unexpected reply from importDataset: ${describeIssues(parsed.error)}`);
    return parsed.data;
  };
  return client as ApiClient;
}
