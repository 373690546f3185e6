import * as tf from '@tensorflow/tfjs';
import { onWasmHeap } from './wasm-heap';

let fastMatMulGradient = false;
let sharedIdentity = false;
let rowConcat = false;
let rowSplit = false;

/**
 * Replaces the BatchMatMul gradient with one that materialises the transposes. The wasm backend
 * runs XNNPACK only when neither operand is transposed; the stock gradient transposes inside the
 * matMul and falls to a naive loop, 10x slower (measured when this was written). Each input's gradient stays
 * lazy, so tfjs still skips the ones no variable needs (e.g. dW of a frozen network).
 */
export function useFastMatMulGradient(): void {
  if (fastMatMulGradient) return;
  fastMatMulGradient = true;
  const swapLast = (t: tf.Tensor): tf.Tensor => {
    const perm = t.shape.map((_, i) => i);
    const n = perm.length;
    [perm[n - 2], perm[n - 1]] = [perm[n - 1] as number, perm[n - 2] as number];
    return tf.transpose(t, perm);
  };
  const original = tf.getGradient('BatchMatMul');
  if (!original) throw new Error('tfjs has no BatchMatMul gradient to replace');
  const warn = console.warn;
  console.warn = () => undefined; // tfjs warns that a gradient is overridden; that is the point here.
  try {
    tf.registerGradient({
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
        const [a, b] = saved as [tf.Tensor, tf.Tensor];
        const grad = dy as tf.Tensor;
        if (transposeA || transposeB) return original.gradFunc(dy, saved, attrs);
        return {
          a: () => tf.matMul(grad as tf.Tensor3D, swapLast(b) as tf.Tensor3D),
          b: () => tf.matMul(swapLast(a) as tf.Tensor3D, grad as tf.Tensor3D),
        };
      },
    });
  } finally {
    console.warn = warn;
  }
}

/**
 * Makes the wasm backend's Identity share its input's buffer (one more reference) instead of
 * copying it, as tfjs' own cpu Identity and wasm Reshape do. The engine clones every tensor it
 * saves for a gradient, so a training step copied about 400 tensors for nothing: no wasm kernel
 * writes into an input, and a variable's assign takes a new buffer.
 */
export function useSharedIdentity(): void {
  if (sharedIdentity) return;
  sharedIdentity = replaceWasmKernel('Identity', () => ({ inputs, backend }) => sharedOutput(backend, (inputs as { x: tf.TensorInfo }).x));
}

/** A kernel output that is `x` itself: one more reference to its buffer on the wasm backend, no copy. */
export function sharedOutput(backend: unknown, x: tf.TensorInfo): tf.TensorInfo {
  (backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * Makes the wasm backend's Concat of float32 tensors copy element by element. The stock kernel
 * takes two typed-array views of every row of every input (subarray, then set): the critic's
 * [states, actions] for 1,024 action samples took 115 µs (44 now), and the score network
 * concatenates its three inputs on every pass. Copies either way, so the same values.
 */
export function useRowConcat(): void {
  if (rowConcat) return;
  rowConcat = replaceWasmKernel('Concat', (fallback) => (args) => {
    const inputs = (args.inputs as unknown as tf.TensorInfo[]).filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    const first = inputs[0];
    if (!first || inputs.length < 2 || inputs.some((t) => t.dtype !== 'float32')) return fallback(args);
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, first.shape)[0] as number;
    const shapes = inputs.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const outShape = tf.backend_util.computeOutShape(shapes, axis);
    const widths = inputs.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const rows = tf.util.sizeFromShape(first.shape.slice(0, axis));
    const [out] = onWasmHeap(args.backend, [outShape], inputs, ([target, ...sources]) => {
      const into = target as Float32Array;
      let o = 0;
      for (let r = 0; r < rows; r++) {
        for (let i = 0; i < sources.length; i++) {
          const source = sources[i] as Float32Array;
          const width = widths[i] as number;
          for (let j = 0, from = r * width; j < width; j++) into[o++] = source[from + j] as number;
        }
      }
    });
    return out as tf.TensorInfo;
  });
}

/**
 * Makes the wasm backend's SplitV of a float32 tensor copy element by element, the reverse of
 * useRowConcat: the stock kernel slices each piece with two typed-array views per row, so the
 * gradient of the score network's [x, s, t] input took 111 µs a pass (the pieces of 256 x 30),
 * and the policy's [mu, log std] 41 µs. Copies either way, so the same values.
 */
export function useRowSplit(): void {
  if (rowSplit) return;
  rowSplit = replaceWasmKernel('SplitV', (fallback) => (args) => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    const { numOrSizeSplits, axis: axisAttr } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0) return fallback(args);
    const axis = tf.util.parseAxisParam(axisAttr, x.shape)[0] as number;
    const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, axis);
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const rows = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const widths = sizes.map((size) => size * inner);
    const rowWidth = widths.reduce((a, b) => a + b, 0);
    const shapes = sizes.map((size) => x.shape.map((dim, i) => (i === axis ? size : dim)));
    return onWasmHeap(args.backend, shapes, [x], (views) => {
      const source = views[sizes.length] as Float32Array;
      for (let r = 0; r < rows; r++) {
        let from = r * rowWidth;
        for (let i = 0; i < sizes.length; i++) {
          const target = views[i] as Float32Array;
          const width = widths[i] as number;
          for (let j = 0, o = r * width; j < width; j++) target[o + j] = source[from + j] as number;
          from += width;
        }
      }
    });
  });
}

/** Replaces a wasm kernel with `make(stock)`, given the kernel it replaces; false where the backend has none. */
export function replaceWasmKernel(kernelName: string, make: (stock: tf.KernelConfig['kernelFunc']) => tf.KernelConfig['kernelFunc']): boolean {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (!stock) return false;
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: make(stock.kernelFunc) });
  return true;
}

/**
 * Mish(x) = x * tanh(softplus(x)), written as x * (1 - u^2)/(1 + u^2) with u = sigmoid(-x): wasm
 * vectorises sigmoid but not tanh/softplus. The hand-written gradient keeps it one fused node.
 * d/dx = t + x * (1 - t^2) * sigmoid(x), where t = tanh(softplus(x)).
 */
export const mish: (x: tf.Tensor) => tf.Tensor = tf.customGrad((x, saveFn) => {
  const input = x as tf.Tensor;
  const save = saveFn as tf.GradSaveFunc;
  const u = tf.sigmoid(tf.neg(input));
  const u2 = tf.square(u);
  const t = tf.div(tf.sub(1, u2), tf.add(1, u2));
  save([input, t, u]);
  return {
    value: tf.mul(input, t),
    gradFunc: (dy, saved) => {
      const [xs, ts, us] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const sig = tf.sub(1, us);
      const derivative = tf.add(ts, tf.mul(tf.mul(xs, tf.sub(1, tf.square(ts))), sig));
      return [tf.mul(dy as tf.Tensor, derivative)];
    },
  };
}) as (x: tf.Tensor) => tf.Tensor;

/** Identity forward, zero gradient: torch's `.detach()` for values that must not be trained through. */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad((x) => ({
  value: tf.clone(x as tf.Tensor),
  gradFunc: (dy) => [tf.zerosLike(dy as tf.Tensor)],
})) as (x: tf.Tensor) => tf.Tensor;

/** LayerNorm's epsilon, as torch's default. */
export const LAYER_NORM_EPS = 1e-5;

/**
 * Mish(LayerNorm(x) * weight + bias) over the last axis (biased variance, eps 1e-5, as torch),
 * as one node with a hand-written gradient: about half the kernels of the composed ops.
 *   xh = (x - mean) r, r = 1/sqrt(var + eps);  y = xh w + b;  out = mish(y)
 *   dy = dout mish'(y);  db = sum(dy);  dw = sum(dy xh);  g = dy w
 *   dx = r (g - mean(g) - xh mean(g xh))
 */
export const layerNormMish: (x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) => tf.Tensor = tf.customGrad((x, weight, bias, saveFn) => {
  const input = x as tf.Tensor;
  const w = weight as tf.Tensor;
  const save = saveFn as tf.GradSaveFunc;
  const centred = tf.sub(input, tf.mean(input, -1, true));
  const r = tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), LAYER_NORM_EPS));
  const xh = tf.mul(centred, r);
  const y = tf.add(tf.mul(xh, w), bias as tf.Tensor);
  const u = tf.sigmoid(tf.neg(y));
  const u2 = tf.square(u);
  const t = tf.div(tf.sub(1, u2), tf.add(1, u2));
  save([xh, r, w, y, t, u]);
  return {
    value: tf.mul(y, t),
    gradFunc: (dout, saved) => {
      const [sxh, sr, sw, sy, st, su] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const dy = tf.mul(dout as tf.Tensor, tf.add(st, tf.mul(tf.mul(sy, tf.sub(1, tf.square(st))), tf.sub(1, su))));
      const rows = dy.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const width = dy.shape[dy.shape.length - 1] as number;
      const flatDy = tf.reshape(dy, [rows, width]);
      const db = tf.sum(flatDy, 0);
      const dw = tf.sum(tf.mul(flatDy, tf.reshape(sxh, [rows, width])), 0);
      const g = tf.mul(dy, sw);
      const dx = tf.mul(sr, tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(sxh, tf.mean(tf.mul(g, sxh), -1, true))));
      return [dx, dw, db];
    },
  };
}) as (x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) => tf.Tensor;
