// The processes the tests start (the CLI, training workers, worker threads) run the build's
// JavaScript, as they do for a user: build it from the sources under test first (well under a second).
import { buildNode } from '../scripts/build-node.mjs';

export default async function setup(): Promise<void> {
  await buildNode();
}
