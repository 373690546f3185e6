import { describeIssues } from '../common/config';
import { apiMethods, isMethodName, type ApiHandlers, type MethodName, type ResultOf } from './contract';
import { badInput, toApiError, type ApiError } from './errors';

/** The wire shape of a reply, the same over IPC and HTTP. */
export type CallReply = { ok: true; result: unknown } | { ok: false; error: { code: ApiError['code']; message: string } };

/**
 * Validates a call from any transport against the contract and runs it. Unknown methods and bad
 * params become `bad_input` errors naming the field; nothing reaches the handler unvalidated.
 */
export async function dispatch(handlers: ApiHandlers, name: unknown, rawParams: unknown): Promise<CallReply> {
  try {
    if (!isMethodName(name)) throw badInput(`unknown API method ${JSON.stringify(String(name)).slice(0, 80)}`);
    const result = await invoke(handlers, name, rawParams);
    return { ok: true, result };
  } catch (err) {
    const apiError = toApiError(err);
    return { ok: false, error: { code: apiError.code, message: apiError.message } };
  }
}

async function invoke<M extends MethodName>(handlers: ApiHandlers, name: M, rawParams: unknown): Promise<ResultOf<M>> {
  const parsed = apiMethods[name].params.safeParse(rawParams ?? {});
  if (!parsed.success) throw badInput(`invalid request to ${name}: ${describeIssues(parsed.error)}`);
  const handler = handlers[name] as (p: unknown) => Promise<ResultOf<M>> | ResultOf<M>;
  return handler(parsed.data);
}
