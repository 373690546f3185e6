import { createRequire } from 'node:module';
import type { Device } from '../tasks';

const require = createRequire(import.meta.url);

/**
 * The device runs train on here, as far as can be told without loading TensorFlow: a GPU where
 * `@tensorflow/tfjs-node-gpu` is installed (its install fetched the CUDA build of libtensorflow),
 * else the CPU. It picks the default preset for the UI and the CLI alike.
 */
export function trainingDevice(resolve: (id: string) => string = require.resolve): Device {
  try {
    resolve('@tensorflow/tfjs-node-gpu');
    return 'gpu';
  } catch {
    return 'cpu';
  }
}
