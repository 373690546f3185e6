import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { torchLinearInit } from '../tf/init';
import { layerNormMish, mish } from '../tf/kernels';
import { keepNativeMlp, nativeMlp, nativeMlpActive, nativeMlpInputGradient, nativeMlpGradients, nativeMlpPair, nativeMlpPass, nativeMlpReplay, type KeptForward, type LayerKind } from '../tf/native-mlp';

export type { KeptForward };

/** A tensor as the golden files and checkpoints carry it: shape plus row-major values. */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

/**
 * The trainable variables of one network under PyTorch state_dict names, so weights can be
 * loaded from the official code's golden files and saved into checkpoints by name. Linear
 * weights are stored [in, out] (torch keeps [out, in]) so the forward matMul needs no transpose.
 */
export class ParamSet {
  readonly byName = new Map<string, tf.Variable>();

  add(name: string, values: Float32Array, shape: number[]): tf.Variable {
    if (this.byName.has(name)) throw new Error(`duplicate parameter ${name}`);
    const initial = tf.tensor(values, shape, 'float32');
    const variable = tf.variable(initial, true);
    initial.dispose();
    this.byName.set(name, variable);
    return variable;
  }

  get(name: string): tf.Variable {
    const v = this.byName.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  get variables(): tf.Variable[] {
    return [...this.byName.values()];
  }

  /** The variables of the parameters `select` picks by name. */
  variablesWhere(select: (name: string) => boolean): ReadonlySet<tf.Variable> {
    return new Set([...this.byName].filter(([name]) => select(name)).map(([, variable]) => variable));
  }

  /** Copies values in, by name; a missing, extra or mis-shaped entry is an error. */
  assign(values: Record<string, NamedArray>): void {
    const names = Object.keys(values);
    if (names.length !== this.byName.size) throw new Error(`expected ${this.byName.size} parameters, got ${names.length}`);
    for (const name of this.byName.keys()) if (!values[name]) throw new Error(`parameter ${name} missing`);
    this.assignSome(values);
  }

  /** Copies values in for the parameters named, leaving the others; an unknown or mis-shaped entry is an error. */
  assignSome(values: Record<string, NamedArray>): void {
    for (const [name, entry] of Object.entries(values)) {
      const variable = this.get(name);
      if (entry.shape.join('x') !== variable.shape.join('x')) throw new Error(`parameter ${name} has shape ${entry.shape} but the network needs ${variable.shape}`);
    }
    for (const [name, entry] of Object.entries(values)) tf.tidy(() => this.get(name).assign(tf.tensor(entry.data, entry.shape, 'float32')));
  }

  /** Loads a torch state_dict (weights [out, in]), transposing Linear weights. */
  assignTorch(stateDict: Record<string, NamedArray>): void {
    const converted: Record<string, NamedArray> = {};
    for (const [name, entry] of Object.entries(stateDict)) {
      const variable = this.byName.get(name);
      if (variable && entry.shape.length === 2) {
        const [rows, cols] = entry.shape as [number, number];
        const t = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = entry.data[r * cols + c] as number;
        converted[name] = { shape: [cols, rows], data: t };
      } else {
        converted[name] = entry;
      }
    }
    this.assign(converted);
  }

  /** The values of every parameter, or of those `select` picks by name. */
  snapshot(select: (name: string) => boolean = () => true): Record<string, NamedArray> {
    const out: Record<string, NamedArray> = {};
    for (const [name, variable] of this.byName) if (select(name)) out[name] = { shape: [...variable.shape], data: variable.dataSync() as Float32Array };
    return out;
  }

  copyFrom(other: ParamSet): void {
    for (const [name, variable] of this.byName) variable.assign(other.get(name));
  }

  dispose(): void {
    for (const v of this.byName.values()) v.dispose();
    this.byName.clear();
  }
}

/** y = x W + b with W [in, out]. */
export interface Linear {
  weight: tf.Variable;
  bias: tf.Variable;
}

export function addLinear(params: ParamSet, name: string, rng: Rng, fanIn: number, fanOut: number): Linear {
  const init = torchLinearInit(rng, fanIn, fanOut);
  return { weight: params.add(`${name}.weight`, init.weight, [fanIn, fanOut]), bias: params.add(`${name}.bias`, init.bias, [fanOut]) };
}

/** LayerNorm's affine parameters. */
export interface Norm {
  weight: tf.Variable;
  bias: tf.Variable;
}

export function addNorm(params: ParamSet, name: string, width: number): Norm {
  return { weight: params.add(`${name}.weight`, new Float32Array(width).fill(1), [width]), bias: params.add(`${name}.bias`, new Float32Array(width), [width]) };
}

export type Activation = Exclude<LayerKind, 'layerNormMish'>;

/** act(x W + b), composed of tfjs ops. */
function dense(x: tf.Tensor, layer: Linear, activation: Activation = 'none'): tf.Tensor2D {
  const y = tf.add(tf.matMul(x as tf.Tensor2D, layer.weight as tf.Tensor2D), layer.bias) as tf.Tensor2D;
  if (activation === 'relu') return tf.relu(y);
  return activation === 'mish' ? (mish(y) as tf.Tensor2D) : y;
}

/** Mish(LayerNorm(x W + b)) with the norm's affine parameters, the critic's hidden layer, composed of tfjs ops. */
function denseLayerNormMish(x: tf.Tensor, layer: Linear, norm: Norm): tf.Tensor2D {
  return layerNormMish(tf.add(tf.matMul(x as tf.Tensor2D, layer.weight as tf.Tensor2D), layer.bias), norm.weight, norm.bias) as tf.Tensor2D;
}

/** One layer of a network: its Linear, what follows the product, and the LayerNorm's parameters where there is one. */
export type MlpLayer = Linear & ({ kind: Activation } | { kind: 'layerNormMish'; norm: Norm });

/** Whether a network runs natively on x: the native kernels take non-empty batches on the backend that has them. */
export const mlpRunsNatively = (x: tf.Tensor): boolean => (x.shape[0] as number) > 0 && nativeMlpActive();

/**
 * A chain of dense layers. Where the native addon runs, the whole network is one kernel and its
 * backward pass one more, plus one product per weight gradient asked for: the same arithmetic
 * as layer by layer, with a tenth of the kernels. Elsewhere (and for an empty batch, which the
 * native kernels refuse) the composed ops, layer by layer. Given a pass kept on this same input
 * (`keepMlp`, weights unchanged since), its output comes back without computing, and with the
 * same gradient.
 */
export function mlp(x: tf.Tensor, layers: MlpLayer[], kept: KeptForward | null = null): tf.Tensor2D {
  if (kept !== null && kept.input === x) return nativeMlpReplay(kept, layers);
  if (mlpRunsNatively(x)) return nativeMlp(x, layers);
  let h = x as tf.Tensor2D;
  for (const layer of layers) h = layer.kind === 'layerNormMish' ? denseLayerNormMish(h, layer, layer.norm) : dense(h, layer, layer.kind);
  return h;
}

/** A forward pass kept for `mlp` on the same input (the caller disposes it), where the native addon runs; null elsewhere. */
export function keepMlp(x: tf.Tensor, layers: MlpLayer[]): KeptForward | null {
  return mlpRunsNatively(x) ? keepNativeMlp(x, layers) : null;
}

/** The network's pass on x in the current scope, for `mlpParamGradients`, where the native addon runs; null elsewhere (the tape differentiates the composed ops). */
export function mlpPass(x: tf.Tensor, layers: MlpLayer[]): KeptForward | null {
  return mlpRunsNatively(x) ? nativeMlpPass(x, layers) : null;
}

/** The gradients at the input and of the network's parameters (by variable name) at the output gradient dy of a pass from `mlpPass`. */
export function mlpGradients(pass: Pick<KeptForward, 'input' | 'workspace'>, layers: MlpLayer[], dy: tf.Tensor): { input: tf.Tensor2D; params: tf.NamedTensorMap } {
  const { input, params } = nativeMlpGradients(pass, layers, dy);
  // The layers' parameters are the ParamSet's variables, so the keys are those variables.
  return { input, params: Object.fromEntries([...params].map(([param, grad]) => [(param as tf.Variable).name, grad])) };
}

/** The gradients of the network's parameters, by variable name, at the output gradient dy of a pass from `mlpPass`. */
export const mlpParamGradients = (pass: Pick<KeptForward, 'input' | 'workspace'>, layers: MlpLayer[], dy: tf.Tensor): tf.NamedTensorMap => mlpGradients(pass, layers, dy).params;

/** The gradient at the input of a pass from `mlpPass`, for the output gradient dy (no weight gradient is computed). */
export function mlpInputGradient(pass: Pick<KeptForward, 'input' | 'workspace'>, layers: MlpLayer[], dy: tf.Tensor): tf.Tensor2D {
  return nativeMlpInputGradient(pass, layers, dy);
}

/** Two networks of the same shape on one input, forward only (no gradient): with the native addon one kernel, each network on its own core under withBothCores. */
export function mlpPairForward(x: tf.Tensor, first: MlpLayer[], second: MlpLayer[]): [tf.Tensor2D, tf.Tensor2D] {
  return mlpRunsNatively(x) ? nativeMlpPair(x, first, second) : [mlp(x, first), mlp(x, second)];
}
