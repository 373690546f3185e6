import type { IpcMainInvokeEvent } from 'electron';
import { importOptionsSchema } from '../api/contract';
import type { CallReply } from '../api/dispatch';
import { dispatch } from '../api/dispatch';
import { toApiError } from '../api/errors';
import { IPC_CALL_CHANNEL, IPC_CHECKPOINT_CHANNEL, IPC_EXPORT_CHANNEL, IPC_IMPORT_CHANNEL } from '../api/ipc-transport';
import { writeFileAtomic } from '../engine/training/checkpoint';
import type { Service } from '../engine/service';
import { isAppUrl } from './window';

/** The part of Electron's ipcMain the handlers need (a test passes its own). */
export interface IpcRegistrar {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
}

/** The native file dialogs, as the handlers use them: a chosen path, or null when cancelled. */
export interface FileDialogs {
  chooseDatasetFile(event: IpcMainInvokeEvent): Promise<string | null>;
  /** Where to save a file the app writes (a CSV, a checkpoint), suggesting `defaultName`. */
  chooseSaveTarget(event: IpcMainInvokeEvent, defaultName: string): Promise<string | null>;
}

const NOT_FROM_APP: CallReply = { ok: false, error: { code: 'unauthorized', message: 'calls are only accepted from the app window' } };

function failure(err: unknown): CallReply {
  const error = toApiError(err);
  return { ok: false, error: { code: error.code, message: error.message } };
}

/**
 * The main process's whole IPC surface: four channels, each accepting calls only from the app's
 * own page, and validating every argument before anything happens (before a dialog opens, too).
 */
export function registerIpcHandlers(ipc: IpcRegistrar, service: Service, rendererUrl: string, dialogs: FileDialogs): void {
  const fromAppWindow = (event: IpcMainInvokeEvent): boolean => Boolean(event.senderFrame && isAppUrl(event.senderFrame.url, rendererUrl));
  ipc.handle(IPC_CALL_CHANNEL, (event, method, params) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    return dispatch(service.handlers, method, params);
  });
  ipc.handle(IPC_IMPORT_CHANNEL, async (event, options) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    try {
      const parsed = importOptionsSchema.safeParse(options);
      if (!parsed.success) return { ok: false, error: { code: 'bad_input', message: parsed.error.issues.map((i) => i.message).join('; ') } };
      const file = await dialogs.chooseDatasetFile(event);
      if (!file) return { ok: true, result: null };
      return { ok: true, result: await service.importFile(file, parsed.data) };
    } catch (err) {
      return failure(err);
    }
  });
  ipc.handle(IPC_EXPORT_CHANNEL, async (event, kind, filter) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    try {
      service.checkExport(kind, filter);
      const file = await dialogs.chooseSaveTarget(event, `dtql-${String(kind)}.csv`);
      if (!file) return { ok: true, result: null };
      return { ok: true, result: (await service.exportFile(kind, filter, file)).file };
    } catch (err) {
      return failure(err);
    }
  });
  ipc.handle(IPC_CHECKPOINT_CHANNEL, async (event, runId, format) => {
    if (!fromAppWindow(event)) return NOT_FROM_APP;
    try {
      // Read (and refused, if it cannot be) before the dialog opens.
      const { fileName, bytes } = service.checkpointDownload(runId, format);
      const file = await dialogs.chooseSaveTarget(event, fileName);
      if (!file) return { ok: true, result: null };
      writeFileAtomic(file, bytes);
      return { ok: true, result: file };
    } catch (err) {
      return failure(err);
    }
  });
}
