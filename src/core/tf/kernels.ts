import * as tf from '@tensorflow/tfjs';

let fastMatMulGradient = false;

/**
 * Replaces the BatchMatMul gradient with one that materialises the transposes. The wasm backend
 * runs XNNPACK only when neither operand is transposed; the stock gradient transposes inside the
 * matMul and falls to a naive loop, 10x slower (platform-notes.md). Each input's gradient stays
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
