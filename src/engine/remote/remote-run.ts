/**
 * One remote run in its own process, started by `dtql worker` for each job. It trains with the
 * same trainer as local runs, starting from the newest checkpoint in Redis (a run handed over from
 * a dead worker), and sends every run event to the store's owner on the store's Redis stream.
 * It has no store of its own: checkpoint files go to a scratch folder and on to Redis.
 * Argv: JOB_BASE64 WORKER_NAME SCRATCH; env DTQL_REDIS_URL (kept out of argv, where other users
 * could read a password).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { messageOf } from '../../api/errors';
import { checkpointFile, decodeCheckpoint, sha256, writeRunCheckpoint } from '../training/checkpoint';
import { connectRedis, remoteKeys, runJobSchema } from './remote-protocol';
import type { EndedEvent, RunEvent, RunEventSink, TrainJob } from '../training/run-events';
import { trainJob } from '../training/trainer';

const [jobText, workerArg, scratchRoot] = process.argv.slice(2);
const worker = workerArg ?? os.hostname();
const job = runJobSchema.parse(JSON.parse(Buffer.from(jobText ?? '', 'base64').toString('utf8')));
const keys = remoteKeys(job.storeId);
const redis: Redis = await connectRedis(process.env.DTQL_REDIS_URL ?? '', { blocking: true });
const home = fs.mkdtempSync(path.join(scratchRoot ?? os.tmpdir(), `run-${job.runId}-`));

/** Events onto the store's stream, in order: each waits for the one before. */
class StreamSink implements RunEventSink {
  private outbox: Promise<unknown> = Promise.resolve();

  send(event: RunEvent): void {
    this.outbox = this.outbox.then(() => {
      const multi = redis.multi();
      // The key holds the newest checkpoint, set in the same transaction as its event.
      if (event.type === 'checkpoint') multi.set(keys.checkpoint(event.runId), fs.readFileSync(checkpointFile(home, event.runId, event.step)));
      multi.xadd(keys.events, '*', 'event', JSON.stringify(event));
      return multi.exec();
    });
  }

  async flushed(): Promise<void> {
    await this.outbox;
  }

  async end(event: EndedEvent): Promise<void> {
    this.send(event);
    await this.flushed();
  }
}

// The store's owner asks for pause or stop through a key; polled off the training loop.
let command: 'pause' | 'stop' | null = null;
const poll = setInterval(() => {
  void redis.get(keys.control(job.runId)).then(
    (value) => (command = value === 'pause' || value === 'stop' ? value : null),
    () => undefined,
  );
}, 500);
// The worker that started this process died or lost the job: stop at once, its next holder resumes.
process.on('disconnect', () => {
  fs.rmSync(home, { recursive: true, force: true });
  process.exit(3);
});
try {
  // The newest checkpoint of the run (written by whichever worker trained it last), if any.
  const checkpoints: TrainJob['checkpoints'] = [];
  const saved = await redis.getBuffer(keys.checkpoint(job.runId));
  if (saved) {
    const { meta } = decodeCheckpoint(saved);
    const step = meta.pretrainStepsDone + meta.trainStepsDone;
    checkpoints.push({ step, path: writeRunCheckpoint(home, job.runId, step, saved), sha256: sha256(saved) });
  }
  const attempt: TrainJob = { ...job, token: crypto.randomUUID(), home, checkpoints, datasetFile: null, worker };
  await trainJob(attempt, new StreamSink(), { control: () => command }).catch((err: unknown) => process.stderr.write(`${messageOf(err)}\n`));
} finally {
  clearInterval(poll);
  fs.rmSync(home, { recursive: true, force: true });
  redis.disconnect();
}
// The IPC channel to the worker would keep this process alive; its end is reported, so leave.
process.exit(0);
