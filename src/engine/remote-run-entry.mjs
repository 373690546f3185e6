// A remote run's process: registers the tsx loader (a forked process starts without it), then
// runs the TypeScript remote run.
import { register } from 'tsx/esm/api';

register();
await import('./remote-run.ts');
