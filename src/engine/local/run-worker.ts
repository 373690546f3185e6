/**
 * One run's training attempt in its own process (so a crash, an out-of-memory or a diverged run
 * never takes the app down). Argv: the job, as base64 JSON. It never opens the
 * store: every metric, checkpoint, sample and its end go to the parent as run events, which the
 * parent applies. The parent sends pause, resume and stop.
 */
import { messageOf } from '../../api/errors';
import { trainJobSchema, type EndedEvent, type RunEvent, type RunEventSink } from '../training/run-events';
import type { WorkerCommand } from './run-protocol';
import { trainJob } from '../training/trainer';

const parsed = trainJobSchema.safeParse((() => {
  try {
    return JSON.parse(Buffer.from(process.argv[2] ?? '', 'base64').toString('utf8'));
  } catch {
    return null;
  }
})());
if (!parsed.success) {
  process.stderr.write('usage: run-worker JOB (base64 JSON of a training job)\n');
  process.exit(2);
}
const job = parsed.data;

let command: 'pause' | 'stop' | null = null;
const onCommand = (message: WorkerCommand) => {
  if (message.type === 'control') command = message.command === 'resume' ? null : message.command;
};

/** An Electron utility process talks through process.parentPort; a Node child through process.send. */
interface ParentPort {
  on(event: 'message', listener: (event: { data: WorkerCommand }) => void): void;
  postMessage(message: RunEvent): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
parentPort?.on('message', (event) => onCommand(event.data));
process.on('message', onCommand);
// Without its parent nothing this process says can be recorded: the owner's next start-up finds
// the run interrupted, and resume continues from the last recorded checkpoint.
process.on('disconnect', () => process.exit(3));

/** Events to the parent, in order; `flushed` resolves once the channel took the last one. */
class ParentSink implements RunEventSink {
  private last: Promise<void> = Promise.resolve();

  send(event: RunEvent): void {
    if (parentPort) return parentPort.postMessage(event);
    if (!process.connected) throw new Error('the process that owns the store is gone');
    this.last = new Promise((resolve) => process.send?.(event, undefined, {}, () => resolve()));
  }

  flushed(): Promise<void> {
    return this.last;
  }

  async end(event: EndedEvent): Promise<void> {
    this.send(event);
    await this.flushed();
  }
}

try {
  await trainJob(job, new ParentSink(), { control: () => command });
} catch (err) {
  process.stderr.write(`${messageOf(err)}\n`);
  process.exitCode = 1;
} finally {
  process.disconnect?.();
}
