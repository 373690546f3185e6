import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import { CHECKPOINT_ROUTE, EXPORT_ROUTE, METHOD_NAMES, UPLOAD_ROUTE } from '../api/contract';
import { dispatch } from '../api/dispatch';
import { HTTP_STATUS, badInput, toApiError } from '../api/errors';
import { decodeCall, routeOf } from '../api/routes';
import type { Service } from '../engine/service';
import {
  CONTENT_SECURITY_POLICY,
  TOKEN_COOKIE,
  allowedHosts,
  bearerOf,
  cookieOf,
  isLoopbackHost,
  originAllowed,
  tokenMatches,
} from './security';

export interface ServerOptions {
  service: Service;
  host: string;
  port: number;
  token: string | null;
  /** Host names answered besides the bound address's own (a reverse proxy's, a DNS name). */
  allowHosts?: readonly string[];
  /** The built renderer (out/renderer); without it only the API is served. */
  staticDir: string | null;
}

const errorBody = (code: string, message: string) => ({ error: { code, message } });

/** Refuses a bind that other machines could reach unless a token protects it. */
export function assertSafeBind(host: string, token: string | null): void {
  if (!isLoopbackHost(host) && !token) {
    throw badInput(`refusing to serve on ${host} without --token: a non-loopback address is reachable from other machines`);
  }
  if (token !== null && token.length < 8) throw badInput('--token must have at least 8 characters');
}

/** The served-mode HTTP app: the contract's routes, the event socket and the built UI. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { service, host, port, token } = options;
  assertSafeBind(host, token);
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, routerOptions: { maxParamLength: 200 }, forceCloseConnections: true });
  // The Host allow-list needs the bound port, which is only known after listen() for port 0.
  let hosts: ((header: string | undefined) => boolean) | null = null;
  const hostAllowed = (header: string | undefined): boolean => {
    if (!hosts) {
      const address = app.server.address();
      hosts = allowedHosts(host, typeof address === 'object' && address ? address.port : port, options.allowHosts ?? []);
    }
    return hosts(header);
  };

  // Registered before the access hook so a refused upgrade request still gets its socket destroyed.
  await app.register(fastifyWebsocket, { options: { maxPayload: 4096 } });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    if (!hostAllowed(req.headers.host)) {
      return reply.code(403).send(errorBody('unauthorized', `host ${req.headers.host ?? '(none)'} is not served here`));
    }
    if (!originAllowed(req.headers.origin, req.headers.host)) {
      return reply.code(403).send(errorBody('unauthorized', `origin ${req.headers.origin} is not allowed`));
    }
    if (token && !authorized(req, reply, token)) {
      return reply.code(401).send(errorBody('unauthorized', 'missing or wrong access token'));
    }
    return undefined;
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send(errorBody(status === 500 ? 'internal' : 'bad_input', err.message));
  });

  app.get('/api/events', { websocket: true }, (socket) => {
    const unsubscribe = service.events.subscribe((event) => socket.send(JSON.stringify(event)));
    socket.on('close', unsubscribe);
    socket.on('error', unsubscribe);
  });

  for (const name of METHOD_NAMES) {
    const { verb, path: url } = routeOf(name);
    app.route({
      method: verb as 'GET',
      url,
      handler: async (req, reply) => {
        const params = decodeCall(
          req.params as Record<string, string>,
          req.query as Record<string, string | string[] | undefined>,
          req.body,
        );
        // Unchanged curves revalidate with 304 and no body: every open page polls them.
        const version = verb === 'GET' ? service.versionOf(name, params) : null;
        const etag = version === null ? null : `"${createHash('sha1').update(version).digest('base64url')}"`;
        if (etag) {
          reply.header('etag', etag).header('cache-control', 'no-cache');
          if (req.headers['if-none-match'] === etag) return reply.code(304).send();
        }
        const result = await dispatch(service.handlers, name, params);
        if (result.ok) return reply.send(result.result);
        return reply.code(HTTP_STATUS[result.error.code]).send({ error: result.error });
      },
    });
  }
  // Dataset uploads arrive as raw bytes and stream to disk; no other route accepts them.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  app.post(UPLOAD_ROUTE, async (req, reply) => {
    if (!(req.body instanceof Readable)) return reply.code(400).send(errorBody('bad_input', 'send the file as the body, with content-type application/octet-stream'));
    const query = decodeCall({}, req.query as Record<string, string | string[] | undefined>, undefined);
    try {
      const declared = Number(req.headers['content-length']);
      return reply.send(await service.importUpload(req.body, query, Number.isFinite(declared) ? declared : undefined));
    } catch (err) {
      const error = toApiError(err);
      return reply.code(HTTP_STATUS[error.code]).send({ error: { code: error.code, message: error.message } });
    }
  });
  app.get(EXPORT_ROUTE, async (req, reply) => {
    const { kind, ...filter } = decodeCall(req.params as Record<string, string>, req.query as Record<string, string | string[] | undefined>, undefined);
    let stream;
    try {
      stream = service.exportStream(kind, filter);
    } catch (err) {
      const error = toApiError(err);
      return reply.code(HTTP_STATUS[error.code]).send({ error: { code: error.code, message: error.message } });
    }
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="dtql-${String(kind)}.csv"`)
      .send(stream);
  });
  app.get(CHECKPOINT_ROUTE, async (req, reply) => {
    const { id, format } = decodeCall(req.params as Record<string, string>, req.query as Record<string, string | string[] | undefined>, undefined);
    try {
      const { fileName, bytes } = service.checkpointDownload(id, format);
      return reply.type('application/octet-stream').header('content-disposition', `attachment; filename="${fileName}"`).send(bytes);
    } catch (err) {
      const error = toApiError(err);
      return reply.code(HTTP_STATUS[error.code]).send({ error: { code: error.code, message: error.message } });
    }
  });
  app.all('/api/*', async (req, reply) => reply.code(404).send(errorBody('not_found', `no API route ${req.method} ${req.url.split('?')[0]}`)));

  const staticDir = options.staticDir && fs.existsSync(path.join(options.staticDir, 'index.html')) ? options.staticDir : null;
  if (staticDir) {
    await app.register(fastifyStatic, { root: staticDir, index: 'index.html', dotfiles: 'deny' });
  }
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody('not_found', staticDir ? `no file ${req.url.split('?')[0]}` : 'the UI is not built: run `npm run build`'));
  });
  return app;
}

/**
 * Accepts the token from the Authorization header, the session cookie, or (for the page the
 * printed URL opens) a `token` query parameter, which then becomes a same-site cookie so the
 * page's scripts, styles and event socket are authorised too.
 */
function authorized(req: FastifyRequest, reply: FastifyReply, token: string): boolean {
  if (tokenMatches(token, bearerOf(req.headers.authorization))) return true;
  if (tokenMatches(token, cookieOf(req.headers.cookie, TOKEN_COOKIE))) return true;
  const query = req.query as Record<string, unknown> | undefined;
  const fromQuery = typeof query?.token === 'string' ? query.token : null;
  if (req.method === 'GET' && !req.url.startsWith('/api/') && tokenMatches(token, fromQuery)) {
    reply.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`);
    return true;
  }
  return false;
}
