// Worker threads start without the tsx loader the CLI registered; register it, then load the
// TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./inspect-worker.ts');
