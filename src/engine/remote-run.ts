/**
 * One remote run in its own process, started by `dtql worker` for each job. It trains in a
 * private scratch store with the same trainer as local runs, starting from the newest checkpoint
 * in Redis (a run handed over from a dead worker), and streams every metric, checkpoint,
 * evaluation sample and its end back to the store's owner. Argv: JOB_BASE64 WORKER_NAME SCRATCH;
 * env DTQL_REDIS_URL (kept out of argv, where other users could read a password).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { messageOf } from '../api/errors';
import { openDatabase } from '../store/db';
import { insertCheckpoint } from '../store/checkpoints';
import { getRun, insertRuns } from '../store/runs';
import { decodeCheckpoint, sha256, writeRunCheckpoint } from './checkpoint';
import { connectRedis, remoteKeys, runJobSchema, type RemoteEvent } from './remote-protocol';
import { trainRun } from './trainer';

const [jobText, workerArg, scratchRoot] = process.argv.slice(2);
const worker = workerArg ?? os.hostname();
const job = runJobSchema.parse(JSON.parse(Buffer.from(jobText ?? '', 'base64').toString('utf8')));
const keys = remoteKeys(job.storeId);
const token = crypto.randomUUID();
const redis: Redis = await connectRedis(process.env.DTQL_REDIS_URL ?? '', { blocking: true });

// Events leave in order: each waits for the one before.
let outbox: Promise<unknown> = Promise.resolve();
const emit = (event: RemoteEvent, extra?: (multi: ReturnType<Redis['multi']>) => void) => {
  outbox = outbox.then(() => {
    const multi = redis.multi();
    extra?.(multi);
    multi.xadd(keys.events, '*', 'event', JSON.stringify(event));
    return multi.exec();
  });
};

// The store's owner asks for pause or stop through a key; polled off the training loop.
let command: 'pause' | 'stop' | null = null;
const poll = setInterval(() => {
  void redis.get(keys.control(job.runId)).then(
    (value) => (command = value === 'pause' || value === 'stop' ? value : null),
    () => undefined,
  );
}, 500);
let started = false;
const home = fs.mkdtempSync(path.join(scratchRoot ?? os.tmpdir(), `run-${job.runId}-`));
// The worker that started this process died or lost the job: stop at once, its next holder resumes.
process.on('disconnect', () => {
  fs.rmSync(home, { recursive: true, force: true });
  process.exit(3);
});
const db = openDatabase(home);
try {
  const [localId] = insertRuns(db, [{ name: job.name, task: job.task, algo: job.algo, preset: job.preset, config: job.config, seed: job.seed, tags: [], datasetId: null }]) as [number];
  // The newest checkpoint of the run (written by whichever worker trained it last), if any.
  const saved = await redis.getBuffer(keys.checkpoint(job.runId));
  if (saved) {
    const { meta } = decodeCheckpoint(saved);
    const step = meta.pretrainStepsDone + meta.trainStepsDone;
    const file = writeRunCheckpoint(home, localId, step, saved);
    insertCheckpoint(db, { runId: localId, step, path: file, sha256: sha256(saved), bytes: saved.length });
  }
  let failure: unknown = null;
  await trainRun(db, home, localId, {
    worker,
    control: () => command,
    onStatus: (status) => {
      // The first 'running' comes right after the scratch store recorded the backend: announce the attempt.
      if (status === 'running' && !started) {
        started = true;
        const run = getRun(db, localId);
        emit({ type: 'started', runId: job.runId, token, worker, host: os.hostname(), pid: process.pid, backend: run.backend ?? '', backendReason: run.backendReason ?? '', versions: run.versions });
      } else emit({ type: 'status', runId: job.runId, token, status });
    },
    onFlush: (rows, stepsDone) => emit({ type: 'metrics', runId: job.runId, token, stepsDone, rows }),
    onCheckpoint: ({ step, sha256: digest, buffer }) =>
      emit({ type: 'checkpoint', runId: job.runId, token, step, sha256: digest }, (multi) => multi.set(keys.checkpoint(job.runId), buffer)),
    onSamples: (step, actions) => emit({ type: 'samples', runId: job.runId, token, step, actions: Buffer.from(actions.buffer, actions.byteOffset, actions.byteLength).toString('base64') }),
    onProgress: (progress) => emit({ type: 'progress', token, progress: { ...progress, runId: job.runId } }),
  }).catch((err: unknown) => (failure = err));
  // The scratch store holds the honest end (the trainer records failures too); report it as it is.
  const run = getRun(db, localId);
  const status = run.status === 'queued' || run.status === 'running' || run.status === 'paused' ? null : run.status;
  emit({
    type: 'ended',
    runId: job.runId,
    token,
    status: status ?? 'failed',
    error: status ? run.error : messageOf(failure),
    stepsDone: run.stepsDone,
    finalMetrics: run.finalMetrics,
    bestScore: run.bestScore,
    finalScore: run.finalScore,
  });
  await outbox;
} finally {
  clearInterval(poll);
  db.close();
  fs.rmSync(home, { recursive: true, force: true });
  await outbox.catch(() => undefined);
  redis.disconnect();
}
// The IPC channel to the worker would keep this process alive; its end is reported, so leave.
process.exit(0);
