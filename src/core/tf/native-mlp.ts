import * as tf from '@tensorflow/tfjs';
import { LAYER_NORM_EPS, sharedOutput } from './kernels';
import { onWasmHeap, type WasmKernelBackend } from './wasm-heap';

type F = Float32Array;

/** The addon's functions a network needs (native/blas), on row-major float32 buffers: outputs first, then inputs, then sizes. */
export interface NativeLayers {
  sgemm(a: F, b: F, out: F, batch: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, aBatches: number, bBatches: number): void;
  biasActGrad(dx: F, dbias: F, dy: F, x: F, bias: F, rows: number, cols: number, activation: number): void;
  biasLayerNormMishGrad(dx: F, dbias: F, dgamma: F, dbeta: F, dy: F, x: F, bias: F, gamma: F, beta: F, rows: number, cols: number, eps: number): void;
  /** A whole network's forward pass (the loop is in C): per layer its product, then its bias and activation or LayerNorm + Mish. */
  mlpForward(out: F, workspace: F, params: F[], x: F, kinds: number[], widths: number[], rows: number, inWidth: number, eps: number): void;
  /** Two networks of one shape on one input, each on its own core where the thread asked for the helper (withBothCores). */
  mlpPairForward(out1: F, workspace1: F, params1: F[], out2: F, workspace2: F, params2: F[], x: F, kinds: number[], widths: number[], rows: number, inWidth: number, eps: number): void;
}

/** What follows a layer's product: bias + an activation, or bias + LayerNorm (with its affine parameters) + Mish. */
export type LayerKind = 'none' | 'relu' | 'mish' | 'layerNormMish';
const KIND_CODE: Record<LayerKind, number> = { none: 0, relu: 1, mish: 2, layerNormMish: 3 };
const LAYER_NORM_MISH = KIND_CODE.layerNormMish;
/** A layer's parameters: weight and bias, and with LayerNorm its gamma and beta. All but the weight get their gradients from the backward chain. */
const paramsPerLayer = (code: number): number => (code === LAYER_NORM_MISH ? 4 : 2);

/** One layer's tensors: weight [in, out] and bias [out]; with LayerNorm, its weight and bias [out] too. */
export type MlpLayerTensors = { weight: tf.Tensor; bias: tf.Tensor } & ({ kind: Exclude<LayerKind, 'layerNormMish'> } | { kind: 'layerNormMish'; norm: { weight: tf.Tensor; bias: tf.Tensor } });

const MLP = 'DtqlMlp';
const MLP_GRAD = 'DtqlMlpGrad';
const MLP_WEIGHT_GRAD = 'DtqlMlpWeightGrad';
const MLP_REPLAY = 'DtqlMlpReplay';
const MLP_PAIR = 'DtqlMlpPair';

/**
 * Where one network's layers keep what the backward pass needs. The forward workspace holds, per
 * layer, its product (before the bias) and, but for the last layer, its output. The backward
 * workspace holds, per layer, the gradient at its product and, but for the first layer, the
 * gradient at its input. Offsets in floats.
 */
interface Layer {
  code: number;
  inWidth: number;
  outWidth: number;
  /** Index of the layer's weight among the network's parameters; its bias (and gamma, beta) follow. */
  param: number;
  product: number;
  /** -1 for the last layer, whose output is the kernel's. */
  output: number;
  dProduct: number;
  /** -1 for the first layer, whose input gradient is the backward kernel's dx. */
  dInput: number;
}

interface Plan {
  rows: number;
  layers: Layer[];
  workspace: number;
  dWorkspace: number;
}

function planOf(rows: number, inWidth: number, codes: number[], outWidths: number[]): Plan {
  let workspace = 0;
  let dWorkspace = 0;
  let param = 0;
  let width = inWidth;
  const layers = codes.map((code, i) => {
    const outWidth = outWidths[i] as number;
    const last = i === codes.length - 1;
    const layer: Layer = { code, inWidth: width, outWidth, param, product: workspace, output: last ? -1 : workspace + rows * outWidth, dProduct: dWorkspace, dInput: i === 0 ? -1 : dWorkspace + rows * outWidth };
    workspace += rows * outWidth * (last ? 1 : 2);
    dWorkspace += rows * (outWidth + (i === 0 ? 0 : width));
    param += paramsPerLayer(code);
    width = outWidth;
    return layer;
  });
  return { rows, layers, workspace, dWorkspace };
}

const outWidthsOf = (params: tf.TensorInfo[], codes: number[]): number[] => {
  let index = 0;
  return codes.map((code) => {
    const width = (params[index] as tf.TensorInfo).shape[1] as number;
    index += paramsPerLayer(code);
    return width;
  });
};

function planFor(x: tf.TensorInfo, params: tf.TensorInfo[], codes: number[]): Plan {
  return planOf(x.shape[0] as number, x.shape[1] as number, codes, outWidthsOf(params, codes));
}

const part = (buffer: F, offset: number, length: number): F => buffer.subarray(offset, offset + length);

interface ChainInputs {
  dy: F;
  workspace: F;
  params: F[];
}

interface ChainOutputs {
  dx: F;
  /** The product and input gradients of every layer, for the weight products; null where only dx is asked for. */
  dWorkspace: F | null;
  /** Per layer the bias's gradient, and with LayerNorm gamma's and beta's. */
  small: F[];
}

/** The backward pass over the plan's rows: every layer's product gradient, then the gradient at its input. */
function backwardChain(native: NativeLayers, plan: Plan, input: ChainInputs, output: ChainOutputs & { dWorkspace: F }): void {
  const { rows, layers } = plan;
  let next = output.small.length;
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i] as Layer;
    const n = layer.outWidth;
    const dOutput = layer.output < 0 ? input.dy : part(output.dWorkspace, (layers[i + 1] as Layer).dInput, rows * n);
    const dProduct = part(output.dWorkspace, layer.dProduct, rows * n);
    const product = part(input.workspace, layer.product, rows * n);
    const [weight, bias, gamma, beta] = input.params.slice(layer.param, layer.param + 4) as F[];
    next -= paramsPerLayer(layer.code) - 1;
    const [dBias, dGamma, dBeta] = output.small.slice(next) as [F, F, F];
    if (layer.code === LAYER_NORM_MISH) native.biasLayerNormMishGrad(dProduct, dBias, dGamma, dBeta, dOutput, product, bias as F, gamma as F, beta as F, rows, n, LAYER_NORM_EPS);
    else native.biasActGrad(dProduct, dBias, dOutput, product, bias as F, rows, n, layer.code);
    const dInput = i === 0 ? output.dx : part(output.dWorkspace, layer.dInput, rows * layer.inWidth);
    native.sgemm(dProduct, weight as F, dInput, 1, rows, n, layer.inWidth, false, true, 1, 1);
  }
}

/** Copies rows `indices` of a [*, width] matrix at `from` in `source` to consecutive rows at `to` in `target`, or back (`scatter`). */
function moveRows(source: F, from: number, target: F, to: number, indices: number[], width: number, scatter: boolean): void {
  for (let i = 0; i < indices.length; i++) {
    const row = indices[i] as number;
    const s = scatter ? from + i * width : from + row * width;
    const t = scatter ? to + row * width : to + i * width;
    if (width === 1) target[t] = source[s] as number;
    else target.set(source.subarray(s, s + width), t);
  }
}

const COMPACT_MAX_LIVE = 0.7;

/** Scratch memory for the compacted rows, kept between calls: allocating (and zeroing) it each time cost about as much as the rows it saved. */
let scratch = new Float32Array(0);

function scratchOf(length: number): F {
  if (scratch.length < length) scratch = new Float32Array(length);
  return scratch;
}

/**
 * The backward pass on the rows whose output gradient is not all zero, the others' gradients
 * being zero. The policy's Q term differentiates min(Q1, Q2), whose gradient reaches each row
 * through one of the two networks only, so each network's chain runs on about half the rows. Each
 * row's arithmetic is the same either way; the weight products, if asked for, read the full
 * workspace, whose skipped rows are zero as they would have been.
 */
function backwardSkippingIdleRows(native: NativeLayers, plan: Plan, input: ChainInputs, output: ChainOutputs): void {
  const inWidth = (plan.layers[0] as Layer).inWidth;
  const outWidth = (plan.layers[plan.layers.length - 1] as Layer).outWidth;
  const live: number[] = [];
  const idle: number[] = [];
  for (let r = 0; r < plan.rows; r++) (input.dy.subarray(r * outWidth, (r + 1) * outWidth).some((v) => v !== 0) ? live : idle).push(r);
  // Gathering and scattering a row costs about 40% of its chain, so with few idle rows all rows run.
  if (live.length > COMPACT_MAX_LIVE * plan.rows) return backwardChain(native, plan, input, { ...output, dWorkspace: output.dWorkspace ?? scratchOf(plan.dWorkspace) });
  for (const r of idle) {
    output.dx.fill(0, r * inWidth, (r + 1) * inWidth);
    for (const layer of plan.layers) output.dWorkspace?.fill(0, layer.dProduct + r * layer.outWidth, layer.dProduct + (r + 1) * layer.outWidth);
  }
  if (live.length === 0) {
    for (const grad of output.small) grad.fill(0);
    return;
  }
  const compact = planOf(
    live.length,
    inWidth,
    plan.layers.map((layer) => layer.code),
    plan.layers.map((layer) => layer.outWidth),
  );
  // One scratch buffer: the compacted forward workspace, its backward workspace, dy and dx.
  const sizes = [compact.workspace, compact.dWorkspace, live.length * outWidth, live.length * inWidth];
  const memory = scratchOf(sizes.reduce((a, b) => a + b, 0));
  const [workspace, dWorkspace, dy, dx] = sizes.map((size, i) => part(memory, sizes.slice(0, i).reduce((a, b) => a + b, 0), size)) as [F, F, F, F];
  moveRows(input.dy, 0, dy, 0, live, outWidth, false);
  plan.layers.forEach((layer, i) => moveRows(input.workspace, layer.product, workspace, (compact.layers[i] as Layer).product, live, layer.outWidth, false));
  backwardChain(native, compact, { dy, workspace, params: input.params }, { dx, dWorkspace, small: output.small });
  moveRows(dx, 0, output.dx, 0, live, inWidth, true);
  const full = output.dWorkspace;
  if (full) plan.layers.forEach((layer, i) => moveRows(dWorkspace, (compact.layers[i] as Layer).dProduct, full, layer.dProduct, live, layer.outWidth, true));
}

/**
 * Registers a whole network as one wasm kernel over the addon, its backward pass as one more, and
 * each weight's gradient as a product of its own, so that tfjs computes only the weight gradients
 * a caller asks for (none for a frozen critic or score network differentiated in the action).
 * The forward kernel writes what the backward pass needs into a workspace tensor passed as an
 * input: a second output would be handed a zero-filled gradient of its size on every backward pass.
 */
export function registerNativeMlp(native: NativeLayers): void {
  if (tf.getKernel(MLP, 'wasm')) return;
  const kernel = (kernelName: string, kernelFunc: tf.KernelFunc) => tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });

  kernel(MLP, ({ inputs, backend, attrs }) => {
    const [x, workspace, ...params] = inputs as unknown as tf.TensorInfo[];
    const codes = (attrs as { codes: number[] }).codes;
    const widths = outWidthsOf(params, codes);
    const [rows, inWidth] = (x as tf.TensorInfo).shape as [number, number];
    const [out] = onWasmHeap(backend, [[rows, widths.at(-1) as number]], [x as tf.TensorInfo, workspace as tf.TensorInfo, ...params], ([y, xv, ws, ...p]) =>
      native.mlpForward(y as F, ws as F, p, xv as F, codes, widths, rows, inWidth, LAYER_NORM_EPS),
    );
    return out as tf.TensorInfo;
  });

  // Two networks of one shape on one input, forward only: inputs [x, workspace1, workspace2, ...params1, ...params2].
  kernel(MLP_PAIR, ({ inputs, backend, attrs }) => {
    const [x, workspace1, workspace2, ...params] = inputs as unknown as tf.TensorInfo[];
    const codes = (attrs as { codes: number[] }).codes;
    const [first, second] = [params.slice(0, params.length / 2), params.slice(params.length / 2)];
    const widths = outWidthsOf(first, codes);
    const [rows, inWidth] = (x as tf.TensorInfo).shape as [number, number];
    const shape = [rows, widths.at(-1) as number];
    return onWasmHeap(backend, [shape, shape], [x as tf.TensorInfo, workspace1 as tf.TensorInfo, workspace2 as tf.TensorInfo, ...first, ...second], ([y1, y2, xv, ws1, ws2, ...p]) =>
      native.mlpPairForward(y1 as F, ws1 as F, p.slice(0, first.length), y2 as F, ws2 as F, p.slice(first.length), xv as F, codes, widths, rows, inWidth, LAYER_NORM_EPS),
    );
  });

  // Outputs: the gradient at x, the backward workspace (empty with `inputOnly`: no weight product will
  // read it), then per layer the bias's (and gamma's, beta's) gradients.
  kernel(MLP_GRAD, ({ inputs, backend, attrs }) => {
    const [dy, x, workspace, ...params] = inputs as unknown as tf.TensorInfo[];
    const { codes, inputOnly } = attrs as { codes: number[]; inputOnly?: boolean };
    const plan = planFor(x as tf.TensorInfo, params, codes);
    const smallShapes = plan.layers.flatMap((layer) => Array.from({ length: paramsPerLayer(layer.code) - 1 }, () => [layer.outWidth]));
    const outShapes = [[plan.rows, (plan.layers[0] as Layer).inWidth], [inputOnly ? 0 : plan.dWorkspace], ...smallShapes];
    return onWasmHeap(backend, outShapes, [dy as tf.TensorInfo, workspace as tf.TensorInfo, ...params], (views) => {
      const [dx, dws] = views as [F, F];
      const small = views.slice(2, 2 + smallShapes.length);
      const [dyv, ws, ...p] = views.slice(2 + smallShapes.length) as F[];
      backwardSkippingIdleRows(native, plan, { dy: dyv as F, workspace: ws as F, params: p }, { dx, dWorkspace: inputOnly ? null : dws, small });
    });
  });

  kernel(MLP_WEIGHT_GRAD, ({ inputs, backend, attrs }) => {
    const { input, dWorkspace } = inputs as Record<'input' | 'dWorkspace', tf.TensorInfo>;
    const { offset, dOffset, rows, inWidth, outWidth } = attrs as Record<'offset' | 'dOffset' | 'rows' | 'inWidth' | 'outWidth', number>;
    const [out] = onWasmHeap(backend, [[inWidth, outWidth]], [input, dWorkspace], ([dw, source, dws]) =>
      native.sgemm(part(source as F, offset, rows * inWidth), part(dws as F, dOffset, rows * outWidth), dw as F, 1, inWidth, rows, outWidth, true, false, 1, 1),
    );
    return out as tf.TensorInfo;
  });

  // A forward pass kept from before (keepNativeMlp): its output again, sharing the buffer, and the same gradient.
  kernel(MLP_REPLAY, ({ inputs, backend }) => sharedOutput(backend, (inputs as unknown as tf.TensorInfo[]).at(-1) as tf.TensorInfo));
  tf.registerGradient({ kernelName: MLP, saveAllInputs: true, gradFunc: mlpGradient });
  tf.registerGradient({ kernelName: MLP_REPLAY, saveAllInputs: true, gradFunc: (dy, saved, attrs) => mlpGradient(dy, saved.slice(0, -1), attrs) });
}

/**
 * The gradient of a network kernel with inputs [x, workspace, ...params]: the backward chain at
 * once (every input's gradient needs it), each weight's product only when tfjs asks for it.
 */
function mlpGradient(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [x, workspace, ...params] = saved as [tf.Tensor, tf.Tensor, ...tf.Tensor[]];
  const codes = (attrs as { codes: number[] }).codes;
  const plan = planFor(x, params, codes);
  const [dx, dWorkspace, ...small] = tf.engine().runKernel(MLP_GRAD, [dy as tf.Tensor, x, workspace, ...params] as unknown as tf.NamedTensorMap, { codes }) as tf.Tensor[];
  // Input 1, the workspace, comes from no variable, so tfjs never asks for its gradient.
  const grads: Record<string, () => tf.Tensor> = { 0: () => dx as tf.Tensor };
  let next = 0;
  plan.layers.forEach((layer, i) => {
    const source = i === 0 ? x : workspace;
    const offset = i === 0 ? 0 : (plan.layers[i - 1] as Layer).output;
    const weightAttrs = { offset, dOffset: layer.dProduct, rows: plan.rows, inWidth: layer.inWidth, outWidth: layer.outWidth };
    grads[2 + layer.param] = () => tf.engine().runKernel(MLP_WEIGHT_GRAD, { input: source, dWorkspace: dWorkspace as tf.Tensor }, weightAttrs) as tf.Tensor;
    for (let j = 1; j < paramsPerLayer(layer.code); j++) {
      const grad = small[next++] as tf.Tensor;
      grads[2 + layer.param + j] = () => grad;
    }
  });
  return grads;
}

/** Whether the active backend runs whole networks natively. */
export function nativeMlpActive(): boolean {
  return tf.getKernel(MLP, tf.getBackend()) !== undefined;
}

const codesOf = (layers: MlpLayerTensors[]): number[] => layers.map((layer) => KIND_CODE[layer.kind]);

const paramsOf = (layers: MlpLayerTensors[]): tf.Tensor[] =>
  layers.flatMap((layer) => (layer.kind === 'layerNormMish' ? [layer.weight, layer.bias, layer.norm.weight, layer.norm.bias] : [layer.weight, layer.bias]));

/** The network on x [rows, in] as one kernel (its gradient: one kernel, and one product per weight asked for). */
export function nativeMlp(x: tf.Tensor, layers: MlpLayerTensors[]): tf.Tensor2D {
  return nativeMlpWithWorkspace(x, layers).output;
}

/** A forward workspace for the network on x, uninitialised: the kernel writes all of it. */
function workspaceFor(x: tf.Tensor, layers: MlpLayerTensors[]): tf.Tensor {
  const plan = planOf(x.shape[0] as number, x.shape[1] as number, codesOf(layers), layers.map((layer) => layer.weight.shape[1] as number));
  const engine = tf.engine();
  return engine.makeTensorFromTensorInfo((engine.backend as unknown as WasmKernelBackend).makeOutput([plan.workspace], 'float32'));
}

function nativeMlpWithWorkspace(x: tf.Tensor, layers: MlpLayerTensors[]): { output: tf.Tensor2D; workspace: tf.Tensor } {
  const workspace = workspaceFor(x, layers);
  return { output: tf.engine().runKernel(MLP, [x, workspace, ...paramsOf(layers)] as unknown as tf.NamedTensorMap, { codes: codesOf(layers) }) as tf.Tensor2D, workspace };
}

/**
 * Two networks of the same shape on one input as one kernel, forward only (it has no gradient):
 * under withBothCores each runs whole on its own core. For scoring actions with Q1 and Q2.
 */
export function nativeMlpPair(x: tf.Tensor, first: MlpLayerTensors[], second: MlpLayerTensors[]): [tf.Tensor2D, tf.Tensor2D] {
  const codes = codesOf(first);
  if (codes.join() !== codesOf(second).join() || first.some((layer, i) => layer.weight.shape.join() !== (second[i] as MlpLayerTensors).weight.shape.join())) {
    throw new Error('nativeMlpPair: the two networks differ in shape');
  }
  return tf.tidy(() => {
    const inputs = [x, workspaceFor(x, first), workspaceFor(x, second), ...paramsOf(first), ...paramsOf(second)];
    return tf.engine().runKernel(MLP_PAIR, inputs as unknown as tf.NamedTensorMap, { codes }) as unknown as [tf.Tensor2D, tf.Tensor2D];
  });
}

/** A network's forward pass on one input with what its backward pass needs: kept outside any scope (keepNativeMlp) for a later pass with unchanged weights, or in the current scope (nativeMlpPass). */
export interface KeptForward {
  input: tf.Tensor;
  output: tf.Tensor2D;
  workspace: tf.Tensor;
}

/** Runs the network and keeps the pass; with `nativeMlpReplay` a later call on the same input costs nothing and differentiates as the first would. */
export function keepNativeMlp(x: tf.Tensor, layers: MlpLayerTensors[]): KeptForward {
  const { output, workspace } = tf.tidy(() => nativeMlpWithWorkspace(x, layers));
  return { input: x, output: tf.keep(output), workspace: tf.keep(workspace) };
}

/** The network's pass on x with what its backward pass needs, in the current scope (for nativeMlpGradients). */
export function nativeMlpPass(x: tf.Tensor, layers: MlpLayerTensors[]): KeptForward {
  return { input: x, ...nativeMlpWithWorkspace(x, layers) };
}

/** The gradient at a pass's input for the output gradient dy: the backward chain alone, no weight product and no backward workspace kept. */
export function nativeMlpInputGradient(pass: Pick<KeptForward, 'input' | 'workspace'>, layers: MlpLayerTensors[], dy: tf.Tensor): tf.Tensor2D {
  const [dx] = tf.engine().runKernel(MLP_GRAD, [dy, pass.input, pass.workspace, ...paramsOf(layers)] as unknown as tf.NamedTensorMap, { codes: codesOf(layers), inputOnly: true }) as tf.Tensor[];
  return dx as tf.Tensor2D;
}

/**
 * The gradients at a pass's input and of every parameter of its network (keyed by the parameter) at
 * the output gradient dy: the kernels the tape would run for them (the backward chain, which gives
 * the input's gradient too, and a product per weight).
 */
export function nativeMlpGradients(pass: Pick<KeptForward, 'input' | 'workspace'>, layers: MlpLayerTensors[], dy: tf.Tensor): { input: tf.Tensor2D; params: Map<tf.Tensor, tf.Tensor> } {
  const params = paramsOf(layers);
  const grads = mlpGradient(dy, [pass.input, pass.workspace, ...params], { codes: codesOf(layers) });
  return { input: (grads[0] as () => tf.Tensor2D)(), params: new Map(params.map((param, i) => [param, (grads[2 + i] as () => tf.Tensor)()])) };
}

/** The kept pass's output again, as a kernel with the network's gradient. The caller vouches that the weights have not changed. */
export function nativeMlpReplay(kept: KeptForward, layers: MlpLayerTensors[]): tf.Tensor2D {
  return tf.engine().runKernel(MLP_REPLAY, [kept.input, kept.workspace, ...paramsOf(layers), kept.output] as unknown as tf.NamedTensorMap, { codes: codesOf(layers) }) as tf.Tensor2D;
}
