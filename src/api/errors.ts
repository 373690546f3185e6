/** The kinds of failure every adapter maps the same way: HTTP status, CLI exit code, UI message. */
export type ApiErrorCode = 'bad_input' | 'not_found' | 'unauthorized' | 'conflict' | 'internal';

export const HTTP_STATUS: Record<ApiErrorCode, number> = {
  bad_input: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  internal: 500,
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

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Normalises anything thrown into an ApiError, keeping the message of unexpected errors. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError('internal', messageOf(err));
}

/** Exit status of the CLI contract: 2 for bad input or usage, 1 when the work failed. */
export function exitCodeOf(err: unknown): number {
  const code = err instanceof ApiError ? err.code : 'internal';
  return code === 'internal' ? 1 : 2;
}
