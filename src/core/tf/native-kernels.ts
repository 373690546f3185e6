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

/** OpenBLAS's kernel sets with AVX-512, as OPENBLAS_CORETYPE names them (any case). */
const AVX512_KERNEL_SETS = new Set(['skylakex', 'cooperlake', 'sapphirerapids']);

export interface KernelSetChoice {
  /** The value for OPENBLAS_CORETYPE, or undefined to let OpenBLAS pick by CPU model. */
  coretype: string | undefined;
  /** Where the choice sets the environment's OPENBLAS_CORETYPE aside, why (for the kernels' description). */
  note: string | null;
}

/**
 * The OpenBLAS kernel set to load. DTQL_OPENBLAS_CORETYPE (`app`) names one for this app and wins.
 * Otherwise, on a CPU with AVX-512, the AVX-512 set (SkylakeX) unless OPENBLAS_CORETYPE (`openblas`)
 * names one with AVX-512 already: OpenBLAS falls back to its generic set on a CPU model newer than
 * the library (an AVX-512 Xeon got "Prescott": a batch-256 layer's product 1.04 ms against 0.38),
 * and an OPENBLAS_CORETYPE set for other programs can name a weaker set than the CPU runs (this
 * project's AMD EPYC machines set Haswell, whose 256 x 256 x 256 product took 283-291 µs against
 * 150-155 for SkylakeX). Elsewhere OPENBLAS_CORETYPE as it is.
 */
export function chooseKernelSet(env: { app?: string | undefined; openblas?: string | undefined }, hasAvx512: boolean): KernelSetChoice {
  if (env.app) return { coretype: env.app, note: null };
  if (!hasAvx512 || (env.openblas !== undefined && AVX512_KERNEL_SETS.has(env.openblas.toLowerCase()))) return { coretype: env.openblas, note: null };
  const note = env.openblas === undefined ? null : `OPENBLAS_CORETYPE=${env.openblas} set aside: that set has no AVX-512, which this CPU has (DTQL_OPENBLAS_CORETYPE names a set for this app)`;
  return { coretype: 'SkylakeX', note };
}

/**
 * Loads the addon with its kernel set chosen (OpenBLAS reads the variable once, as it loads), and
 * says why the environment's set was set aside, when it was; or says why the addon is not there.
 */
function loadBlas(): { blas: NativeBlas; kernelSetNote: string | null } | string {
  if (process.env.DTQL_NATIVE_BLAS === '0') return 'native matMul turned off (DTQL_NATIVE_BLAS=0)';
  const choice = chooseKernelSet({ app: process.env.DTQL_OPENBLAS_CORETYPE, openblas: process.env.OPENBLAS_CORETYPE }, cpuHasAvx512());
  if (choice.coretype !== undefined) process.env.OPENBLAS_CORETYPE = choice.coretype;
  try {
    return { blas: require('dtql-native-blas') as NativeBlas, kernelSetNote: choice.note };
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
  const loaded = loadBlas();
  if (typeof loaded === 'string') return { active: false, description: loaded };
  const { blas, kernelSetNote } = loaded;
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
  active = { description: kernelSetNote ? `${blas.describe()} (${kernelSetNote})` : blas.describe(), blas };
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
