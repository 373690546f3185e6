import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { useNativeUpdates, type NativeUpdates } from './fused-updates';
import { registerNativeMlp, type NativeLayers } from './native-mlp';
import { replaceWasmKernel } from './kernels';
import { onWasmHeap } from './wasm-heap';

/** The native addon (native/blas) on Float32Arrays, here views of the wasm heap: OpenBLAS sgemm, layers.c. */
interface NativeBlas extends NativeLayers, NativeUpdates {
  describe(): string;
  /** Whether this thread's large forward kernels may use the addon's helper thread; returns the previous setting. */
  splitRows(enabled: boolean): boolean;
}

const require = createRequire(import.meta.url);
let active: { description: string; blas: NativeBlas } | null = null;

/** Whether the native kernels run (matrix products in OpenBLAS, so transposed operands cost nothing). */
export function nativeKernelsActive(): boolean {
  return active !== null;
}

/** Whether the CPU has AVX-512 (Linux: its flags in /proc/cpuinfo; elsewhere unknown, so no). */
function cpuHasAvx512(): boolean {
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * OpenBLAS picks its kernels by CPU model, and on a model newer than the library it falls back to
 * a generic set ("Prescott": SSE3): measured here, forcing that set took the 1024³ product from about
 * 89 to 35 GFLOP/s and a batch-256 layer's from 0.38 to 1.04 ms. On a CPU with AVX-512, ask for the
 * AVX-512 set (SkylakeX, as fast here as the Cooperlake set OpenBLAS picks on its own) unless the
 * user chose one. It must be set before the library loads, which reads it once.
 */
function preferVectorKernels(): void {
  if (process.env.OPENBLAS_CORETYPE === undefined && cpuHasAvx512()) process.env.OPENBLAS_CORETYPE = 'SkylakeX';
}

/** Loads the addon, or says why it is not there. */
function loadBlas(): NativeBlas | string {
  if (process.env.DTQL_NATIVE_BLAS === '0') return 'native matMul turned off (DTQL_NATIVE_BLAS=0)';
  preferVectorKernels();
  try {
    return require('dtql-native-blas') as NativeBlas;
  } catch (err) {
    return `native matMul not built (${(err as Error).message.split('\n')[0]}); install OpenBLAS (Debian: libopenblas-dev) and run npm install again`;
  }
}

const sizeOf = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * Replaces the wasm backend's BatchMatMul with OpenBLAS working on the tensors' heap buffers in
 * place: XNNPACK in wasm has 128-bit vectors and no FMA, about a third of what this CPU gives a
 * BLAS (`dtql bench` reports both). Shapes the addon does not cover (general
 * batch broadcasting, other dtypes) still go to the wasm kernel. Also registers the addon's
 * network kernels and runs the optimizer updates of every size in it. Returns a description
 * of the kernels in use, or why the wasm ones stay.
 */
export function useNativeKernels(): { active: boolean; description: string } {
  if (active) return { active: true, description: active.description };
  const blas = loadBlas();
  if (typeof blas === 'string') return { active: false, description: blas };
  const replaced = replaceWasmKernel('BatchMatMul', (fallback) => (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const [ra, rb] = [a.shape.length, b.shape.length];
    const m = (transposeA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
    const k = (transposeA ? a.shape[ra - 2] : a.shape[ra - 1]) as number;
    const kb = (transposeB ? b.shape[rb - 1] : b.shape[rb - 2]) as number;
    const n = (transposeB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
    const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    const [aBatches, bBatches] = [sizeOf(outerA), sizeOf(outerB)];
    const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    const batch = sizeOf(outer);
    // Each side's batch either whole or a single matrix repeated: what the addon's `i % batches` covers;
    // empty products stay with wasm (BLAS has nothing to do and the addon refuses zero sizes).
    const covered = [aBatches, bBatches].every((count) => count === 1 || count === batch);
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || k !== kb || !covered || batch * m * k * n === 0) return fallback(args);
    const [out] = onWasmHeap(args.backend, [[...outer, m, n]], [a, b], ([o, av, bv]) => blas.sgemm(av as Float32Array, bv as Float32Array, o as Float32Array, batch, m, k, n, transposeA, transposeB, aBatches, bBatches));
    return out as tf.TensorInfo;
  });
  if (!replaced) return { active: false, description: 'the wasm backend has no BatchMatMul kernel to replace' };
  registerNativeMlp(blas);
  useNativeUpdates(blas);
  active = { description: blas.describe(), blas };
  return { active: true, description: active.description };
}

/**
 * Runs `fn` with this thread's large forward kernels (products of 4M multiply-adds or more, bias +
 * activation or bias + LayerNorm + Mish over 64K values or more) split in two by rows, half on the
 * addon's helper thread: for evaluation actions, which score 1,024 or more samples with the critic
 * while the training threads of the process wait. Every row is computed by the same code either
 * way: the same bits.
 */
export function withBothCores<T>(fn: () => T): T {
  if (!active) return fn();
  const { blas } = active;
  const previous = blas.splitRows(true);
  try {
    return fn();
  } finally {
    blas.splitRows(previous);
  }
}
