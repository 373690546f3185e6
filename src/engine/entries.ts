import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A worker or process entry in src/engine by file name. The app's main side may run bundled
 * (out/main), where sibling files are not copied: the same two levels up reach the repository
 * from both places, and the entries load the TypeScript sources through tsx.
 */
export function engineEntry(name: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'engine', name);
}
