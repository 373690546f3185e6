import { z } from 'zod';
import { Redis } from 'ioredis';
import { ApiError, messageOf } from '../../api/errors';
import { trainConfigSchema } from '../../common/config';
import { runIdSchema, runIdentitySchema } from '../../api/contract';

/**
 * What travels through Redis between the store's owner (the desktop app, served mode, or a CLI
 * sweep) and remote workers. Jobs go through one BullMQ queue; everything a run produces comes
 * back as run events (run-events.ts) on one Redis stream per store, applied to SQLite in order
 * with the stream position saved in the same transaction, so a closed app catches up exactly once
 * when it opens again. A checkpoint's bytes travel beside its event, under the run's key.
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
export const runJobSchema = runIdentitySchema.extend({
  storeId: z.string().uuid(),
  runId: runIdSchema,
  config: trainConfigSchema,
  /** Steps and best score of the run before this job, kept if an attempt fails to start. */
  stepsDone: z.number().int().nonnegative().default(0),
  bestScore: z.number().nullable().default(null),
});
export type RunJob = z.infer<typeof runJobSchema>;

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
