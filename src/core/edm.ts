import * as tf from '@tensorflow/tfjs';
import type { Rng } from './rng';

/** EDM constants of the official code (OFFICIAL-CODE.md §2). */
export const SIGMA_MIN = 0.002;
export const SIGMA_MAX = 80;
export const SIGMA_DATA = 0.5;
/** The truncated log-logistic sigma law: loc = ln(sigma_data), scale = 0.5. */
export const LOGISTIC_LOC = Math.log(SIGMA_DATA);
export const LOGISTIC_SCALE = 0.5;

const logisticCdf = (x: number): number => 1 / (1 + Math.exp(-(Math.log(x) - LOGISTIC_LOC) / LOGISTIC_SCALE));
export const SIGMA_CDF_MIN = logisticCdf(SIGMA_MIN);
export const SIGMA_CDF_MAX = logisticCdf(SIGMA_MAX);

/** sigma = exp(loc + scale * logit(p)), p = u * (cdf_max - cdf_min) + cdf_min, in float64 (then stored as float32). */
export function sigmaFromUniform(u: number): number {
  const p = u * (SIGMA_CDF_MAX - SIGMA_CDF_MIN) + SIGMA_CDF_MIN;
  return Math.exp(LOGISTIC_LOC + LOGISTIC_SCALE * Math.log(p / (1 - p)));
}

/** One sigma per sample from the truncated log-logistic law, as a float32 column [n]. */
export function sampleSigma(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigmaFromUniform(rng.uniform());
  return out;
}

export interface EdmCoefficients {
  cSkip: tf.Tensor2D;
  cOut: tf.Tensor2D;
  cIn: tf.Tensor2D;
  cNoise: tf.Tensor2D;
}

/** EDM preconditioning for sigma [B, 1]; c_noise = ln(sigma)/4 as the official code computes it. */
export function edmCoefficients(sigma: tf.Tensor): EdmCoefficients {
  const sigmaSq = tf.square(sigma);
  const total = tf.add(sigmaSq, SIGMA_DATA * SIGMA_DATA);
  return {
    cSkip: tf.div(SIGMA_DATA * SIGMA_DATA, total) as tf.Tensor2D,
    cOut: tf.div(tf.mul(sigma, SIGMA_DATA), tf.sqrt(total)) as tf.Tensor2D,
    cIn: tf.rsqrt(total) as tf.Tensor2D,
    cNoise: tf.div(tf.log(sigma), 4) as tf.Tensor2D,
  };
}

/** Anything that maps (x_in, s, c_noise) to F: the score network, or the KL baseline's fake score. */
export interface Denoisable {
  forward(xIn: tf.Tensor, states: tf.Tensor, cNoise: tf.Tensor): tf.Tensor2D;
}

export interface Denoised {
  coefficients: EdmCoefficients;
  xNoisy: tf.Tensor2D;
  netInput: tf.Tensor2D;
  F: tf.Tensor2D;
  unclamped: tf.Tensor2D;
  denoised: tf.Tensor2D;
}

/**
 * The EDM denoiser D(x + sigma eps): c_skip x_sigma + c_out F(c_in x_sigma, s, c_noise), clamped to
 * [-clampTo, clampTo] where the official model uses clip_denoised (D4RL), unclamped for the toys.
 */
export function denoise(net: Denoisable, x: tf.Tensor, states: tf.Tensor, sigma: tf.Tensor, eps: tf.Tensor, clampTo: number | null): Denoised {
  const coefficients = edmCoefficients(sigma);
  const xNoisy = tf.add(x, tf.mul(sigma, eps)) as tf.Tensor2D;
  const netInput = tf.mul(coefficients.cIn, xNoisy) as tf.Tensor2D;
  const F = net.forward(netInput, states, coefficients.cNoise);
  const unclamped = tf.add(tf.mul(coefficients.cSkip, xNoisy), tf.mul(coefficients.cOut, F)) as tf.Tensor2D;
  const denoised = clampTo === null ? unclamped : (tf.clipByValue(unclamped, -clampTo, clampTo) as tf.Tensor2D);
  return { coefficients, xNoisy, netInput, F, unclamped, denoised };
}

/**
 * The diffusion loss mean(((D - x) / c_out)^2) over B x A: behaviour cloning with dataset actions,
 * the trust-region loss (paper Eq. 5) with policy actions. Gradients reach x both through x_sigma
 * and through the regression target; nothing is detached (OFFICIAL-CODE.md §4.3).
 */
export function diffusionLoss(net: Denoisable, x: tf.Tensor, states: tf.Tensor, sigma: tf.Tensor, eps: tf.Tensor, clampTo: number | null): { loss: tf.Scalar; parts: Denoised; error: tf.Tensor2D } {
  const parts = denoise(net, x, states, sigma, eps, clampTo);
  const error = tf.div(tf.sub(parts.denoised, x), parts.coefficients.cOut) as tf.Tensor2D;
  return { loss: tf.mean(tf.square(error)) as tf.Scalar, parts, error };
}

/**
 * The diffusion loss's gradient at the denoiser's output D, given `upstream` at the loss, in the
 * order of the tape's own gradient ops: the mean's upstream / N, the square's 2 error, the
 * division by c_out. (The regression target's part of x's gradient is its negative.)
 */
export function denoisedGradient(error: tf.Tensor, cOut: tf.Tensor, upstream: tf.Tensor | number): tf.Tensor {
  return tf.div(tf.mul(tf.div(upstream, error.size), tf.mul(error, 2)), cOut);
}

/** The gradient at the unclamped denoiser: the clamp passes it where the denoiser was inside the box. */
export function unclampedGradient(dDenoised: tf.Tensor, unclamped: tf.Tensor, clampTo: number | null): tf.Tensor {
  if (clampTo === null) return dDenoised;
  return tf.where(tf.logicalAnd(tf.greaterEqual(unclamped, -clampTo), tf.lessEqual(unclamped, clampTo)), dDenoised, tf.zerosLike(dDenoised));
}

/**
 * The diffusion loss's gradient at the network's output F, for a loss from diffusionLoss with
 * `clampTo` (x itself held fixed), as the tape computes it: the same bits.
 */
export function diffusionOutputGradient(parts: Denoised, error: tf.Tensor, clampTo: number | null): tf.Tensor2D {
  const { cOut } = parts.coefficients;
  return tf.mul(unclampedGradient(denoisedGradient(error, cOut, 1), parts.unclamped, clampTo), cOut) as tf.Tensor2D;
}
