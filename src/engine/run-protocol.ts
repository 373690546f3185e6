import type { Progress } from './trainer';

/** Parent to training process. */
export interface WorkerCommand {
  type: 'control';
  command: 'pause' | 'resume' | 'stop';
}

/** Training process to parent. */
export type WorkerMessage =
  | { type: 'progress'; progress: Progress }
  | { type: 'status'; runId: number; status: 'running' | 'paused' }
  | { type: 'done'; runId: number; status: string };
