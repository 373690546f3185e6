/** Parent to training process; the other way go run events (run-events.ts). */
export interface WorkerCommand {
  type: 'control';
  command: 'pause' | 'resume' | 'stop';
}
