import path from 'node:path';
import { REPO_ROOT } from '../core/repo-root';

/**
 * A process or thread entry point of the build (scripts/build-node.mjs writes them to out/node):
 * the CLI, the desktop app and the tests all start the same compiled JavaScript; nothing compiles
 * TypeScript at run time.
 */
export function engineEntry(name: 'run-worker' | 'remote-run' | 'critic-worker' | 'inspect-worker' | 'generate-worker'): string {
  return path.join(REPO_ROOT, 'out', 'node', `${name}.js`);
}
