/** The kinds of failure every adapter maps the same way: HTTP status, CLI exit code, UI message. */
export type ApiErrorCode = 'bad_input' | 'not_found' | 'unauthorized' | 'conflict' | 'too_large' | 'busy' | 'storage' | 'internal';

export const HTTP_STATUS: Record<ApiErrorCode, number> = {
  bad_input: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  internal: 500,
  busy: 503,
  storage: 507,
};

/** An error whose message a user can act on; `code` says whose fault it was. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badInput = (message: string): ApiError => new ApiError('bad_input', message);
export const notFound = (message: string): ApiError => new ApiError('not_found', message);
export const tooLarge = (message: string): ApiError => new ApiError('too_large', message);

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What a storage failure means to a user, or null when `err` is not one: SQLite's and the file
 * system's codes for a locked store, a full disk and a read-only data folder.
 */
export function storageProblem(err: unknown): ApiError | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const detail = messageOf(err);
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED') {
    return new ApiError('busy', `the store is locked by another process (${detail}); nothing was changed, try again`);
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return new ApiError('storage', `the disk holding the data folder is full (${detail})`);
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_') || code === 'EROFS') {
    return new ApiError('storage', `the data folder is read-only (${detail})`);
  }
  if (code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_') || code === 'EIO') return new ApiError('storage', `the data folder could not be written (${detail})`);
  if (storeDamaged(err)) return new ApiError('storage', `the database is damaged (${detail}); ${RESTORE_ADVICE}`);
  return null;
}

export const RESTORE_ADVICE = 'restore it from a backup (README, "Backup and restore"), or move it away to start an empty store';

/** Whether SQLite found the store's file damaged (corrupt pages, or not a database at all). */
export function storeDamaged(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_') || code === 'SQLITE_NOTADB');
}

/** Normalises anything thrown into an ApiError, keeping the message of unexpected errors. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return storageProblem(err) ?? new ApiError('internal', messageOf(err));
}

/** Exit status of the CLI contract: 2 for bad input or usage, 1 when the work failed. */
export function exitCodeOf(err: unknown): number {
  const code = err instanceof ApiError ? err.code : 'internal';
  return code === 'internal' ? 1 : 2;
}
