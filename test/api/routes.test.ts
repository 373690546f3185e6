import { describe, expect, it } from 'vitest';
import { METHOD_NAMES } from '../../src/api/contract';
import { dispatch } from '../../src/api/dispatch';
import { decodeCall, encodeCall, routeOf } from '../../src/api/routes';
import type { ApiHandlers } from '../../src/api/contract';

describe('HTTP routes of the contract', () => {
  it('every method has a distinct verb and path', () => {
    const keys = METHOD_NAMES.map((m) => `${routeOf(m).verb} ${routeOf(m).path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('encodes path params into the URL and the rest into the body', () => {
    expect(encodeCall('getRun', { id: 12 })).toEqual({ verb: 'GET', url: '/api/runs/12' });
    const post = encodeCall('createRuns', { task: 't', algo: 'dtql', seeds: [1] });
    expect(post.verb).toBe('POST');
    expect(JSON.parse(post.body as string)).toEqual({ task: 't', algo: 'dtql', seeds: [1] });
  });

  it('decodes to the same params the client encoded', () => {
    const decoded = decodeCall({ id: '12' }, { flag: 'true', name: '"007"' }, undefined);
    expect(decoded).toEqual({ id: 12, flag: true, name: '007' });
  });
});

describe('dispatch', () => {
  const handlers = { getRun: ({ id }: { id: number }) => ({ id }) } as unknown as ApiHandlers;

  it('rejects unknown methods and invalid params as bad input', async () => {
    expect(await dispatch(handlers, 'dropTables', {})).toEqual({ ok: false, error: { code: 'bad_input', message: 'unknown API method "dropTables"' } });
    const reply = await dispatch(handlers, 'getRun', { id: 'x' });
    expect(reply.ok).toBe(false);
    expect(!reply.ok && reply.error.message).toMatch(/getRun: id/);
    expect(await dispatch(handlers, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'bad_input' } });
  });

  it('passes validated params to the handler', async () => {
    expect(await dispatch(handlers, 'getRun', { id: 3 })).toEqual({ ok: true, result: { id: 3 } });
  });
});
