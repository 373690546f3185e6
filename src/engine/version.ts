import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../core/repo-root';

/** The package version, read once from package.json at the repository root. */
export const APP_VERSION: string = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
