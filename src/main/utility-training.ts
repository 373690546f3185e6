import { utilityProcess } from 'electron';
import type { SpawnTraining } from '../engine/local/training-process';

/** Training processes as Electron utility processes (training never runs in the main process). */
export const utilityTraining: SpawnTraining = (entry, args) => {
  const child = utilityProcess.fork(entry, args, { stdio: ['ignore', 'ignore', 'pipe'], serviceName: 'DTQL training' });
  let alive = true;
  child.on('exit', () => {
    alive = false;
  });
  return {
    get pid() {
      return child.pid;
    },
    send: (command) => {
      if (!alive) return false;
      child.postMessage(command);
      return true;
    },
    onMessage: (listener) => child.on('message', (message: unknown) => listener(message)),
    // A utility process reports only an exit code.
    onExit: (listener) => child.on('exit', (code) => listener(code, null)),
    onStderr: (listener) => child.stderr?.on('data', (chunk: Buffer) => listener(chunk.toString())),
    kill: () => {
      child.kill();
    },
  };
};
