import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository (or the packaged app's root): two folders up from this module, both as a source
 * file (src/core) and inside a bundle of the build (out/node, out/main). Files the code reads at
 * run time (migrations, MJCF models, the UI build) are found from here.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
