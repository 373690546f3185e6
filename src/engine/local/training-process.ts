import { fork } from 'node:child_process';
import type { WorkerCommand } from './run-protocol';

/** A run's training process as the run manager sees it, whichever way it was started. */
export interface TrainingProcess {
  readonly pid: number | undefined;
  /** False once the process is gone or its channel closed. */
  send(command: WorkerCommand): boolean;
  /** What the process sends: run events, checked by the receiver (a process may send anything). */
  onMessage(listener: (message: unknown) => void): void;
  /** `signal` is set where the platform reports one (a Node child killed by a signal). */
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  onStderr(listener: (text: string) => void): void;
  kill(): void;
}

/** Starts `entry args...` in a training process. */
export type SpawnTraining = (entry: string, args: string[]) => TrainingProcess;

/** Node child processes with an IPC channel (and these Node flags): served mode and the CLI. */
export function nodeTraining(execArgv: string[] = process.execArgv): SpawnTraining {
  return (entry, args) => {
    const child = fork(entry, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv });
    // A send racing the process's exit fails with EPIPE; the exit itself settles the run.
    child.on('error', () => undefined);
    return {
      get pid() {
        return child.pid;
      },
      send: (command) => {
        if (!child.connected) return false;
        child.send(command, () => undefined);
        return true;
      },
      onMessage: (listener) => child.on('message', listener),
      // 'close' comes after 'exit' once the IPC channel has delivered every message the child sent.
      onExit: (listener) => child.on('close', listener),
      onStderr: (listener) => child.stderr?.on('data', (chunk: Buffer) => listener(chunk.toString())),
      kill: () => child.kill('SIGKILL'),
    };
  };
}

export const forkTraining = nodeTraining();
