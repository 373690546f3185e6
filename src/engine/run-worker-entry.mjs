// A training process: registers the tsx loader (a forked process starts without it), then runs
// the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./run-worker.ts');
