import type * as tf from '@tensorflow/tfjs';

/** The part of the wasm backend a kernel needs to work on tensor buffers in its heap. */
export interface WasmKernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(tensor: tf.TensorInfo): Float32Array;
}

/**
 * Allocates float32 outputs of these shapes on the wasm heap and hands `compute` views of the
 * outputs, then of the inputs, taken after every allocation (one can grow the heap and detach older
 * views). Native code then reads and writes the tensors in place, without copies.
 */
export function onWasmHeap(backend: unknown, outputShapes: number[][], inputs: tf.TensorInfo[], compute: (views: Float32Array[]) => void): tf.TensorInfo[] {
  const wasm = backend as WasmKernelBackend;
  const outputs = outputShapes.map((shape) => wasm.makeOutput(shape, 'float32'));
  compute([...outputs, ...inputs].map((t) => wasm.typedArrayFromHeap(t)));
  return outputs;
}
