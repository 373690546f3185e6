import * as tf from '@tensorflow/tfjs';
import { LAYER_NORM_EPS } from './kernels';
import { onWasmHeap } from './wasm-heap';

type F = Float32Array;

/** The addon's dense-layer kernels (native/blas/src/layers.c) on row-major [rows, cols] buffers: outputs, inputs, sizes. */
export interface NativeLayers {
  biasAct(out: F, x: F, bias: F, rows: number, cols: number, activation: number): void;
  biasActGrad(dx: F, dbias: F, dy: F, x: F, bias: F, rows: number, cols: number, activation: number): void;
  biasLayerNormMish(out: F, x: F, bias: F, gamma: F, beta: F, rows: number, cols: number, eps: number): void;
  biasLayerNormMishGrad(dx: F, dbias: F, dgamma: F, dbeta: F, dy: F, x: F, bias: F, gamma: F, beta: F, rows: number, cols: number, eps: number): void;
}

export type Activation = 'none' | 'relu' | 'mish';
const ACTIVATION_CODE: Record<Activation, number> = { none: 0, relu: 1, mish: 2 };

const BIAS_ACT = 'DtqlBiasAct';
const BIAS_ACT_GRAD = 'DtqlBiasActGrad';
const BIAS_LAYER_NORM_MISH = 'DtqlBiasLayerNormMish';
const BIAS_LAYER_NORM_MISH_GRAD = 'DtqlBiasLayerNormMishGrad';

const dims = (x: tf.TensorInfo): [number, number] => [x.shape[0] as number, x.shape[1] as number];

/** Registers the addon's layer kernels on the wasm backend (each reads and writes the heap in place). */
export function registerNativeLayers(native: NativeLayers): void {
  if (tf.getKernel(BIAS_ACT, 'wasm')) return;
  const kernel = (kernelName: string, kernelFunc: tf.KernelFunc) => tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  kernel(BIAS_ACT, ({ inputs, backend, attrs }) => {
    const { x, bias } = inputs as Record<'x' | 'bias', tf.TensorInfo>;
    const [rows, cols] = dims(x);
    const [out] = onWasmHeap(backend, [[rows, cols]], [x, bias], (views) => native.biasAct(...(views as [F, F, F]), rows, cols, (attrs as { activation: number }).activation));
    return out as tf.TensorInfo;
  });
  kernel(BIAS_ACT_GRAD, ({ inputs, backend, attrs }) => {
    const { dy, x, bias } = inputs as Record<'dy' | 'x' | 'bias', tf.TensorInfo>;
    const [rows, cols] = dims(x);
    return onWasmHeap(backend, [[rows, cols], [cols]], [dy, x, bias], (views) => native.biasActGrad(...(views as [F, F, F, F, F]), rows, cols, (attrs as { activation: number }).activation));
  });
  kernel(BIAS_LAYER_NORM_MISH, ({ inputs, backend }) => {
    const { x, bias, gamma, beta } = inputs as Record<'x' | 'bias' | 'gamma' | 'beta', tf.TensorInfo>;
    const [rows, cols] = dims(x);
    const [out] = onWasmHeap(backend, [[rows, cols]], [x, bias, gamma, beta], (views) => native.biasLayerNormMish(...(views as [F, F, F, F, F]), rows, cols, LAYER_NORM_EPS));
    return out as tf.TensorInfo;
  });
  kernel(BIAS_LAYER_NORM_MISH_GRAD, ({ inputs, backend }) => {
    const { dy, x, bias, gamma, beta } = inputs as Record<'dy' | 'x' | 'bias' | 'gamma' | 'beta', tf.TensorInfo>;
    const [rows, cols] = dims(x);
    return onWasmHeap(backend, [[rows, cols], [cols], [cols], [cols]], [dy, x, bias, gamma, beta], (views) =>
      native.biasLayerNormMishGrad(...(views as [F, F, F, F, F, F, F, F, F]), rows, cols, LAYER_NORM_EPS),
    );
  });
}

/** Whether the active backend has the native layer kernels. */
export function nativeLayersActive(): boolean {
  return tf.getKernel(BIAS_ACT, tf.getBackend()) !== undefined;
}

const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}) => tf.engine().runKernel(name, inputs, attrs);

/** act(x + bias) for x [rows, cols] as one kernel, its gradient (x and bias) as one more. */
const biasActOps = Object.fromEntries(
  (Object.keys(ACTIVATION_CODE) as Activation[]).map((activation) => {
    const attrs = { activation: ACTIVATION_CODE[activation] };
    const op = tf.customGrad((x, bias, save) => {
      (save as tf.GradSaveFunc)([x as tf.Tensor, bias as tf.Tensor]);
      return {
        value: run(BIAS_ACT, { x: x as tf.Tensor, bias: bias as tf.Tensor }, attrs) as tf.Tensor,
        gradFunc: (dy, [sx, sb]) => run(BIAS_ACT_GRAD, { dy: dy as tf.Tensor, x: sx as tf.Tensor, bias: sb as tf.Tensor }, attrs) as tf.Tensor[],
      };
    });
    return [activation, op];
  }),
) as Record<Activation, (x: tf.Tensor, bias: tf.Tensor) => tf.Tensor>;

export function nativeBiasAct(x: tf.Tensor, bias: tf.Tensor, activation: Activation): tf.Tensor2D {
  return biasActOps[activation](x, bias) as tf.Tensor2D;
}

/** Mish(LayerNorm(x + bias) gamma + beta) as one kernel, its gradient (all four inputs) as one more. */
const biasLayerNormMishOp = tf.customGrad((x, bias, gamma, beta, save) => {
  const inputs = { x, bias, gamma, beta } as Record<'x' | 'bias' | 'gamma' | 'beta', tf.Tensor>;
  (save as tf.GradSaveFunc)(Object.values(inputs));
  return {
    value: run(BIAS_LAYER_NORM_MISH, inputs) as tf.Tensor,
    gradFunc: (dy, [sx, sb, sg, sbt]) => run(BIAS_LAYER_NORM_MISH_GRAD, { dy: dy as tf.Tensor, x: sx as tf.Tensor, bias: sb as tf.Tensor, gamma: sg as tf.Tensor, beta: sbt as tf.Tensor }) as tf.Tensor[],
  };
}) as (x: tf.Tensor, bias: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;

export function nativeBiasLayerNormMish(x: tf.Tensor, bias: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  return biasLayerNormMishOp(x, bias, gamma, beta) as tf.Tensor2D;
}
