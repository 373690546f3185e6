import { apiMethods, type MethodName } from './contract';

/**
 * How params travel over HTTP: `:name` segments of the route carry whole numbers, every other
 * param is a JSON value (in the query string for GET and DELETE, the JSON body otherwise).
 */
export function routeOf(name: MethodName): { verb: string; path: string; pathKeys: string[] } {
  const [verb, path] = apiMethods[name].http;
  const pathKeys = [...path.matchAll(/:(\w+)/g)].map((m) => m[1] as string);
  return { verb, path, pathKeys };
}

export function bodyless(verb: string): boolean {
  return verb === 'GET' || verb === 'DELETE';
}

/** The URL and body a client sends for one call. */
export function encodeCall(name: MethodName, params: Record<string, unknown>): { verb: string; url: string; body?: string } {
  const { verb, path, pathKeys } = routeOf(name);
  const rest: Record<string, unknown> = { ...params };
  let url = path;
  for (const key of pathKeys) {
    url = url.replace(`:${key}`, encodeURIComponent(String(rest[key])));
    delete rest[key];
  }
  if (!bodyless(verb)) return { verb, url, body: JSON.stringify(rest) };
  return { verb, url: withQuery(url, rest) };
}

/** `url` with each defined param as a JSON value in the query string. */
export function withQuery(url: string, params: Record<string, unknown>): string {
  const query = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(JSON.stringify(v))}`)
    .join('&');
  return query ? `${url}?${query}` : url;
}

/** Rebuilds the params object on the server; a value that is not valid JSON stays a string and fails validation. */
export function decodeCall(
  pathParams: Record<string, string>,
  query: Record<string, string | string[] | undefined>,
  body: unknown,
): Record<string, unknown> {
  const params: Record<string, unknown> = body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as object) } : {};
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string') continue;
    params[key] = parseJsonOr(value);
  }
  for (const [key, value] of Object.entries(pathParams)) params[key] = /^\d{1,15}$/.test(value) ? Number(value) : value;
  return params;
}

function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
