import * as tf from '@tensorflow/tfjs';
import { onWasmHeap, type WasmKernelBackend } from './wasm-heap';

/**
 * The optimizer and target-network updates as one kernel per parameter on the CPU backends (wasm,
 * cpu), for the small parameters (biases, norms, thin layers), where each composed update costs
 * 3-13 kernels whose dispatch outweighs the arithmetic: about a third of a bandit step's kernels.
 * The loop is plain JavaScript, so large matrices stay with the vectorised wasm kernels (an Adam
 * step on 4,096 values: 0.17 ms fused, 0.29 ms composed; on 32,768: 0.63 against 0.18). Every value is rounded to float32 after each operation, in the
 * order the composed kernels use, so the results equal theirs bit for bit: rounding a double
 * result of +, -, *, / or sqrt of floats to float32 is the correctly rounded float32 result.
 */
export const ADAM_STEP_KERNEL = 'DtqlAdamStep';
export const SOFT_UPDATE_KERNEL = 'DtqlSoftUpdate';

const f = Math.fround;

/** The float32 constants of one Adam step, as the composed kernels see them (tensors of scalars). */
export interface AdamCoefficients {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  bias2Sqrt: number;
  eps: number;
  stepSize: number;
}

interface CpuKernelBackend {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** How a kernel reads its inputs and hands back its outputs on one backend. */
interface BufferAccess {
  read(backend: unknown, t: tf.TensorInfo): Float32Array;
  write(backend: unknown, shape: number[], values: Float32Array): tf.TensorInfo;
}

const ACCESS: Record<'wasm' | 'cpu', BufferAccess> = {
  wasm: {
    read: (backend, t) => (backend as WasmKernelBackend).typedArrayFromHeap(t),
    write: (backend, shape, values) => onWasmHeap(backend, [shape], [], ([out]) => out?.set(values))[0] as tf.TensorInfo,
  },
  cpu: {
    read: (backend, t) => (backend as CpuKernelBackend).data.get(t.dataId).values,
    write: (backend, shape, values) => (backend as CpuKernelBackend).makeTensorInfo(shape, 'float32', values),
  },
};

function adamKernel(access: BufferAccess): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { param, m, v, grad } = inputs as Record<'param' | 'm' | 'v' | 'grad', tf.TensorInfo>;
    const c = attrs as unknown as AdamCoefficients;
    const [p0, m0, v0, g] = [param, m, v, grad].map((t) => access.read(backend, t)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const n = p0.length;
    const [p1, m1, v1] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
    // Locals, not attribute lookups, inside the loop: this runs over every parameter each step.
    const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, bias2Sqrt, eps, stepSize } = c;
    for (let i = 0; i < n; i++) {
      const gi = g[i] as number;
      // m = m b1 + g (1 - b1); v = v b2 + g^2 (1 - b2); p -= (m / (sqrt(v) / s2 + eps)) step
      const mi = f(f((m0[i] as number) * beta1) + f(gi * oneMinusBeta1));
      const vi = f(f((v0[i] as number) * beta2) + f(f(gi * gi) * oneMinusBeta2));
      const denom = f(f(f(Math.sqrt(vi)) / bias2Sqrt) + eps);
      m1[i] = mi;
      v1[i] = vi;
      p1[i] = f((p0[i] as number) - f(f(mi / denom) * stepSize));
    }
    return [p1, m1, v1].map((values) => access.write(backend, [...param.shape], values));
  };
}

function softUpdateKernel(access: BufferAccess): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { source, target } = inputs as Record<'source' | 'target', tf.TensorInfo>;
    const { tau, oneMinusTau } = attrs as unknown as { tau: number; oneMinusTau: number };
    const [s, t] = [access.read(backend, source), access.read(backend, target)];
    const out = new Float32Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = f(f((s[i] as number) * tau) + f((t[i] as number) * oneMinusTau));
    return access.write(backend, [...target.shape], out);
  };
}

/** Adam's constants as the addon takes them, after the arrays. */
type AdamArguments = [beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, bias2Sqrt: number, eps: number, stepSize: number];

const adamArguments = (c: AdamCoefficients): AdamArguments => [c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.bias2Sqrt, c.eps, c.stepSize];

/** The addon's updates (native/blas/src/layers.c): outputs first, then inputs, then the constants. */
export interface NativeUpdates {
  adamStep(p1: Float32Array, m1: Float32Array, v1: Float32Array, p0: Float32Array, m0: Float32Array, v0: Float32Array, grad: Float32Array, ...constants: AdamArguments): void;
  softUpdate(out: Float32Array, source: Float32Array, target: Float32Array, tau: number, oneMinusTau: number): void;
  /** The same step written over p, m and v (distinct buffers). */
  adamStepInPlace(p: Float32Array, m: Float32Array, v: Float32Array, grad: Float32Array, ...constants: AdamArguments): void;
  softUpdateInPlace(target: Float32Array, source: Float32Array, tau: number, oneMinusTau: number): void;
}

/** The addon's updates when it is active on the wasm backend: they can also write over a parameter's own buffer. */
let nativeUpdates: NativeUpdates | null = null;

/** Above this many values the composed, vectorised kernels are faster than the JavaScript loops. */
const FUSED_MAX_SIZE = 8192;
/** Per backend, the largest parameter its fused kernels take. */
const fusedMaxSize = new Map<string, number>();

function registerUpdates(backendName: string, adam: tf.KernelFunc, soft: tf.KernelFunc, maxSize: number): void {
  for (const name of [ADAM_STEP_KERNEL, SOFT_UPDATE_KERNEL]) if (tf.getKernel(name, backendName)) tf.unregisterKernel(name, backendName);
  tf.registerKernel({ kernelName: ADAM_STEP_KERNEL, backendName, kernelFunc: adam });
  tf.registerKernel({ kernelName: SOFT_UPDATE_KERNEL, backendName, kernelFunc: soft });
  fusedMaxSize.set(backendName, maxSize);
}

/** Registers the fused updates for a CPU backend; other backends keep the composed kernels. */
export function registerFusedUpdates(backendName: 'wasm' | 'cpu'): void {
  if (fusedMaxSize.has(backendName)) return;
  registerUpdates(backendName, adamKernel(ACCESS[backendName]), softUpdateKernel(ACCESS[backendName]), FUSED_MAX_SIZE);
}

/** Runs the wasm backend's updates in the native addon, for parameters of every size. */
export function useNativeUpdates(native: NativeUpdates): void {
  type F = Float32Array;
  const adam: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const { param, m, v, grad } = inputs as Record<'param' | 'm' | 'v' | 'grad', tf.TensorInfo>;
    const c = attrs as unknown as AdamCoefficients;
    const shape = [...param.shape];
    return onWasmHeap(backend, [shape, shape, shape], [param, m, v, grad], (views) =>
      native.adamStep(...(views as [F, F, F, F, F, F, F]), ...adamArguments(c)),
    );
  };
  const soft: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    const { source, target } = inputs as Record<'source' | 'target', tf.TensorInfo>;
    const { tau, oneMinusTau } = attrs as unknown as { tau: number; oneMinusTau: number };
    const [out] = onWasmHeap(backend, [[...target.shape]], [source, target], (views) => native.softUpdate(...(views as [F, F, F]), tau, oneMinusTau));
    return out as tf.TensorInfo;
  };
  registerUpdates('wasm', adam, soft, Number.POSITIVE_INFINITY);
  nativeUpdates = native;
}

/**
 * Heap views of `written` and `read` for an update in place, or null where it cannot be one: not the
 * addon on the wasm backend, or a buffer that another tensor also holds (a variable assigned from
 * another shares its buffer until its first update; the tape's saved copies share it while they
 * live) or that is among the others. Writing over a parameter saves allocating three new buffers,
 * a kernel and three assignments per parameter each step.
 */
function inPlaceViews(written: tf.Tensor[], read: tf.Tensor[]): { native: NativeUpdates; views: Float32Array[] } | null {
  if (!nativeUpdates || tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as WasmKernelBackend & { refCount(dataId: object): number };
  const all = [...written, ...read];
  if (all.some((t) => t.dtype !== 'float32') || written.some((t) => backend.refCount(t.dataId) !== 1)) return null;
  if (new Set(all.map((t) => t.dataId)).size !== all.length) return null;
  return { native: nativeUpdates, views: all.map((t) => backend.typedArrayFromHeap(t)) };
}

/** One Adam step written over the parameter and its moments, where they own their buffers; returns whether it ran. */
export function adamStepInPlace(param: tf.Variable, m: tf.Variable, v: tf.Variable, grad: tf.Tensor, c: AdamCoefficients): boolean {
  const inPlace = inPlaceViews([param, m, v], [grad]);
  if (!inPlace) return false;
  inPlace.native.adamStepInPlace(...(inPlace.views as [Float32Array, Float32Array, Float32Array, Float32Array]), ...adamArguments(c));
  return true;
}

/** target <- tau source + (1 - tau) target written over the target, where it owns its buffer; returns whether it ran. */
export function softUpdateInPlace(source: tf.Tensor, target: tf.Variable, tau: number): boolean {
  const inPlace = inPlaceViews([target], [source]);
  if (!inPlace) return false;
  inPlace.native.softUpdateInPlace(...(inPlace.views as [Float32Array, Float32Array]), f(tau), f(1 - tau));
  return true;
}

/** Whether a parameter of this many values is updated by the fused kernels on the active backend. */
export function fusedUpdateFor(size: number): boolean {
  return size <= (fusedMaxSize.get(tf.getBackend()) ?? 0);
}

/** Adam's new parameter and moments from one fused kernel. */
export function fusedAdamStep(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, grad: tf.Tensor, c: AdamCoefficients): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(ADAM_STEP_KERNEL, { param, m, v, grad }, c as unknown as tf.NamedAttrMap) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}

/** tau * source + (1 - tau) * target from one fused kernel, the weights rounded as scalar tensors of them would be. */
export function fusedSoftUpdate(source: tf.Tensor, target: tf.Tensor, tau: number): tf.Tensor {
  return tf.engine().runKernel(SOFT_UPDATE_KERNEL, { source, target }, { tau: f(tau), oneMinusTau: f(1 - tau) }) as tf.Tensor;
}
