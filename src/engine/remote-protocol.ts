import { z } from 'zod';
import { Redis } from 'ioredis';
import { ApiError, messageOf } from '../api/errors';
import { algoSchema, trainConfigSchema } from '../core/config';
import { progressSchema } from '../api/contract';

/**
 * What travels through Redis between the store's owner (the desktop app, served mode, or a CLI
 * sweep) and remote workers. Jobs go through one BullMQ queue; everything a run produces comes
 * back on one Redis stream per store, applied to SQLite in order with the stream position saved
 * in the same transaction, so a closed app catches up exactly once when it opens again.
 */

/** The BullMQ queue every worker takes runs from. */
export const RUN_QUEUE = 'dtql-runs';

/** Redis keys of one store (a store id is a UUID kept in its SQLite `meta` table). */
export const remoteKeys = (storeId: string) => ({
  events: `dtql:${storeId}:events`,
  checkpoint: (runId: number) => `dtql:${storeId}:checkpoint:${runId}`,
  control: (runId: number) => `dtql:${storeId}:control:${runId}`,
});

/** The job id of a run: one live job per run (BullMQ ids may not contain ':'). */
export const jobIdOf = (storeId: string, runId: number) => `${storeId}-run-${runId}`;

/** A queued run, as a worker needs it to train without the store. */
export const runJobSchema = z.object({
  storeId: z.string().uuid(),
  runId: z.number().int().positive(),
  name: z.string(),
  task: z.string(),
  algo: algoSchema,
  preset: z.string(),
  seed: z.number().int(),
  config: trainConfigSchema,
});
export type RunJob = z.infer<typeof runJobSchema>;

const metricRowSchema = z.object({ name: z.string(), step: z.number().int(), wallTime: z.number(), value: z.number() });

/** Events on a store's stream. `token` names one training attempt; events of a superseded attempt are ignored. */
export const remoteEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'),
    runId: z.number().int(),
    token: z.string(),
    worker: z.string(),
    host: z.string(),
    pid: z.number().int(),
    backend: z.string(),
    backendReason: z.string(),
    versions: z.record(z.string(), z.string()),
  }),
  z.object({ type: z.literal('metrics'), runId: z.number().int(), token: z.string(), stepsDone: z.number().int(), rows: z.array(metricRowSchema) }),
  z.object({ type: z.literal('progress'), token: z.string(), progress: progressSchema }),
  z.object({ type: z.literal('checkpoint'), runId: z.number().int(), token: z.string(), step: z.number().int(), sha256: z.string() }),
  z.object({ type: z.literal('samples'), runId: z.number().int(), token: z.string(), step: z.number().int(), actions: z.string() }),
  z.object({ type: z.literal('status'), runId: z.number().int(), token: z.string(), status: z.enum(['running', 'paused']) }),
  z.object({
    type: z.literal('ended'),
    runId: z.number().int(),
    token: z.string(),
    status: z.enum(['completed', 'stopped', 'failed', 'diverged', 'interrupted']),
    error: z.string().nullable(),
    stepsDone: z.number().int(),
    finalMetrics: z.record(z.string(), z.number()),
    bestScore: z.number().nullable(),
    finalScore: z.number().nullable(),
  }),
]);
export type RemoteEvent = z.infer<typeof remoteEventSchema>;

/** A Redis URL as shown to people (messages, settings): any password replaced by ***. */
export function redactedRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * A connection to Redis that proves it works before anything relies on it: an unreachable
 * server, a wrong password or a TLS mismatch become one clear error naming the URL (password
 * hidden). BullMQ needs `maxRetriesPerRequest: null` on connections it blocks on.
 */
export async function connectRedis(url: string, options: { blocking?: boolean; timeoutMs?: number } = {}): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiError('bad_input', `not a Redis URL: ${JSON.stringify(url.slice(0, 100))} (use redis://[user:password@]host:port or rediss:// for TLS)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new ApiError('bad_input', `not a Redis URL: ${parsed.protocol}// (use redis:// or rediss://)`);
  const shown = redactedRedisUrl(url);
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: options.blocking ? null : 1, connectTimeout: options.timeoutMs ?? 5000, enableOfflineQueue: true });
  // ioredis reports the cause (a refused AUTH, say) as an error event before "Connection is closed".
  let cause: unknown = null;
  redis.on('error', (err: unknown) => {
    cause ??= err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const text = messageOf(cause ?? err);
    const reason = /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(text)
      ? `it refused the credentials (${text})`
      : /certificate|self[- ]signed|CERT_|TLS|SSL/i.test(text)
        ? `its TLS certificate is not trusted here (${text}); point NODE_EXTRA_CA_CERTS at the CA file that signed it`
        : `it cannot be reached (${text})`;
    throw new ApiError('bad_input', `Redis at ${shown}: ${reason}`);
  }
  return redis;
}
