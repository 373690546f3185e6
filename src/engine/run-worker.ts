/**
 * One run in its own process (DESIGN.md: a crash, an out-of-memory or a diverged run never takes
 * the app down). Argv: RUN_ID HOME. The parent sends control commands over IPC; this process
 * writes the run's metrics and checkpoints to the store itself and reports progress back.
 */
import { openDatabase } from '../store/db';
import { trainRun } from './trainer';
import type { WorkerCommand, WorkerMessage } from './run-protocol';

const [runIdText, home] = process.argv.slice(2);
const runId = Number(runIdText);
if (!Number.isInteger(runId) || !home) {
  process.stderr.write('usage: run-worker RUN_ID HOME\n');
  process.exit(2);
}

let command: 'pause' | 'stop' | null = null;
const onCommand = (message: WorkerCommand) => {
  if (message.type === 'control') command = message.command === 'resume' ? null : message.command;
};

/** An Electron utility process talks through process.parentPort; a Node child through process.send. */
interface ParentPort {
  on(event: 'message', listener: (event: { data: WorkerCommand }) => void): void;
  postMessage(message: WorkerMessage): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
parentPort?.on('message', (event) => onCommand(event.data));
process.on('message', onCommand);
// Without a parent nobody can resume or watch the run: stop it cleanly, with a checkpoint.
process.on('disconnect', () => {
  command = 'stop';
});

const send = (message: WorkerMessage) => {
  if (parentPort) parentPort.postMessage(message);
  else if (process.connected) process.send?.(message);
};

const db = openDatabase(home);
try {
  const result = await trainRun(db, home, runId, {
    control: () => command,
    onStatus: (status) => send({ type: 'status', runId, status }),
    onProgress: (progress) => send({ type: 'progress', progress }),
  });
  send({ type: 'done', runId, status: result.run.status });
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  db.close();
  process.disconnect?.();
}
