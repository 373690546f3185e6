/**
 * The KL-regularised baseline DQL-KL (paper Appendix D; notes section 8): an implicit one-step
 * generator distilled from the diffusion model with the DMD gradient. This file holds its loss;
 * the training loop arrives with the trust-region-versus-KL issue.
 */
import * as tf from '@tensorflow/tfjs';
import { denoise, type Denoisable, type Denoised } from '../edm';
import { stopGradient } from '../tf/kernels';

/** The generator's input noise scale and its (raw, not ln/4) time input (notes 3.4). */
export const GENERATION_SIGMA = 2.5;

export interface DmdLossParts {
  loss: tf.Scalar;
  real: Denoised;
  fake: Denoised;
  weightingFactor: tf.Tensor2D;
  grad: tf.Tensor2D;
}

/**
 * DMD distillation loss (notes 8.3): with one sigma and one noise shared by both denoisers,
 * g = (D_fake - D_real) / mean_j |a - D_real|, and L = 0.5 mean(a - stopgrad(a - g))^2, so that
 * dL/da = g / (B A). The denoisers see a detached copy of the action, so only the final expression carries gradient.
 */
export function dmdLoss(
  real: Denoisable,
  fake: Denoisable,
  action: tf.Tensor2D,
  states: tf.Tensor,
  sigma: tf.Tensor,
  eps: tf.Tensor,
  clampTo: number | null,
): DmdLossParts {
  const a = stopGradient(action);
  const realParts = denoise(real, a, states, sigma, eps, clampTo);
  const fakeParts = denoise(fake, a, states, sigma, eps, clampTo);
  const weightingFactor = tf.mean(tf.abs(tf.sub(a, realParts.denoised)), 1, true) as tf.Tensor2D;
  const grad = stopGradient(tf.div(tf.sub(fakeParts.denoised, realParts.denoised), weightingFactor)) as tf.Tensor2D;
  const loss = tf.mul(0.5, tf.mean(tf.square(tf.sub(action, tf.sub(a, grad))))) as tf.Scalar;
  return { loss, real: realParts, fake: fakeParts, weightingFactor, grad };
}
