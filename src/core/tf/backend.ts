import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerFusedUpdates } from './fused-updates';
import { useFastMatMulGradient, useRowConcat, useRowSplit, useSharedIdentity } from './kernels';
import { useNativeKernels } from './native-kernels';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend that runs the math. */
  name: BackendName;
  /** A short label for people: "tensorflow (CUDA)", "wasm (SIMD)", "cpu". */
  label: string;
  /** Why this backend and not a better one. */
  reason: string;
}

const require = createRequire(import.meta.url);
let active: BackendInfo | null = null;

async function tryNative(pkg: string): Promise<string | null> {
  try {
    await import(/* @vite-ignore */ pkg);
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'failed to load';
  }
}

/**
 * Picks the fastest backend available at run time: native TensorFlow (CUDA first), then
 * WebAssembly, then plain JS. `prefer` forces one (tests pin `wasm` for exact comparisons).
 */
export async function initBackend(prefer?: BackendName): Promise<BackendInfo> {
  if (active && (!prefer || prefer === active.name)) return active;
  const skipped: string[] = [];
  if (!prefer || prefer === 'tensorflow') {
    for (const [pkg, label] of [
      ['@tensorflow/tfjs-node-gpu', 'tensorflow (CUDA)'],
      ['@tensorflow/tfjs-node', 'tensorflow (CPU)'],
    ] as const) {
      const failure = await tryNative(pkg);
      if (failure === null && (await tf.setBackend('tensorflow'))) {
        active = { name: 'tensorflow', label, reason: `${pkg} loaded` };
        return active;
      }
      skipped.push(`${pkg} not available (${failure === null ? 'backend did not initialise' : 'not installed'})`);
    }
  }
  if (!prefer || prefer === 'wasm') {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(`${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}${path.sep}`);
      if (await tf.setBackend('wasm')) {
        registerFusedUpdates('wasm');
        useSharedIdentity();
        useRowConcat();
        useRowSplit();
        const native = useNativeKernels();
        // OpenBLAS takes transposed operands at full speed; only the wasm matMul needs them materialised.
        if (!native.active) useFastMatMulGradient();
        const label = native.active ? 'wasm (SIMD) + native kernels' : 'wasm (SIMD)';
        const reasons = [...skipped, native.active ? `matMul in ${native.description}; layers and optimizer in native/blas` : native.description];
        active = { name: 'wasm', label, reason: prefer === 'wasm' ? `requested; ${reasons.join('; ')}` : reasons.join('; ') };
        return active;
      }
      skipped.push('wasm backend did not initialise');
    } catch (err) {
      skipped.push(`wasm failed: ${(err as Error).message}`);
    }
  }
  await tf.setBackend('cpu');
  registerFusedUpdates('cpu');
  active = { name: 'cpu', label: 'cpu', reason: skipped.length ? skipped.join('; ') : 'requested' };
  return active;
}
