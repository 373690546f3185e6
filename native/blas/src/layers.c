/*
 * The element-wise parts of a dense layer and of the optimizer, one pass each over row-major
 * float32 buffers: bias + activation, bias + LayerNorm + Mish, their gradients, Adam and the soft
 * target update. In tfjs each is 3-15 kernels, and at the networks' sizes (256 x 256) dispatch
 * costs more than the arithmetic.
 *
 * Every function is compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time. The
 * arithmetic is written out (no libm in the loops, sums in 16 fixed lanes, no FMA contraction:
 * binding.gyp passes -ffp-contract=off), so every variant gives the same bits.
 */
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#define LANES 16

/* e^x for x in [-87, 88] (clamped), relative error about 1e-7: 2^k e^r with |r| <= ln2/2 and a
 * degree-7 Taylor polynomial, branch-free so the loops around it vectorise. */
static inline float exp_bounded(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float shifted = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
  const float k = shifted - 12582912.0f;
  float r = x - k * 0.693145751953125f;
  r = r - k * 1.428606765330187045e-6f;
  const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f + r * (1.38888889e-3f + r * 1.98412698e-4f))))));
  union {
    float f;
    int32_t i;
  } scale;
  scale.i = ((int32_t)k + 127) << 23;
  return p * scale.f;
}

/* Mish(x) = x tanh(softplus(x)); with n = e^x, tanh(softplus(x)) = n (n + 2) / (n (n + 2) + 2).
 * Above x = 20 it is 1 in float32, so n is taken at min(x, 20) and stays finite. */
static inline float exp_for_mish(float x) { return exp_bounded(x < 20.0f ? x : 20.0f); }

static inline float tanh_softplus(float n) {
  const float q = n * (n + 2.0f);
  return q / (q + 2.0f);
}

/* d/dx Mish(x) = t + x (1 - t^2) sigmoid(x), t = tanh(softplus(x)), sigmoid(x) = n / (n + 1). */
static inline float mish_slope(float x) {
  const float n = exp_for_mish(x);
  const float t = tanh_softplus(n);
  return t + x * (1.0f - t * t) * (n / (n + 1.0f));
}

static inline float activate(float x, int activation) {
  if (activation == ACTIVATION_RELU) return x > 0.0f ? x : 0.0f;
  if (activation == ACTIVATION_MISH) return x * tanh_softplus(exp_for_mish(x));
  return x;
}

static inline float slope(float x, int activation) {
  if (activation == ACTIVATION_RELU) return x > 0.0f ? 1.0f : 0.0f;
  if (activation == ACTIVATION_MISH) return mish_slope(x);
  return 1.0f;
}

/* The lanes' sum, in order. */
static inline float lanes_total(const float acc[LANES]) {
  float total = 0.0f;
  for (int l = 0; l < LANES; l++) total += acc[l];
  return total;
}

/* Sums in 16 fixed lanes, then the lanes in order: the same bits on every variant. */
static inline float lane_sum(const float *restrict x, int64_t n) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += x[i + l];
  for (; i < n; i++) acc[i % LANES] += x[i];
  return lanes_total(acc);
}

/* The sum of x[i] y[i], in lanes as lane_sum. */
static inline float lane_dot(const float *restrict x, const float *restrict y, int64_t n) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += x[i + l] * y[i + l];
  for (; i < n; i++) acc[i % LANES] += x[i] * y[i];
  return lanes_total(acc);
}

/* One activation's rows. Called with a constant `activation`, so each loop is compiled for it alone: with
 * the choice inside the loop, the vectorised code computed Mish (its exponential) for every kind and
 * selected, so adding a bias cost as much as a Mish (about 50 us for 256 x 256, 5 us now). */
static inline void bias_act_rows(float *restrict out, const float *restrict mm, const float *restrict bias, int64_t rows, int64_t cols, int activation) {
  for (int64_t r = 0; r < rows; r++) {
    const float *row = mm + r * cols;
    float *o = out + r * cols;
    for (int64_t c = 0; c < cols; c++) o[c] = activate(row[c] + bias[c], activation);
  }
}

VECTOR_CLONES
void bias_act_forward(float *restrict out, const float *restrict mm, const float *restrict bias, int64_t rows, int64_t cols, int activation) {
  if (activation == ACTIVATION_MISH) bias_act_rows(out, mm, bias, rows, cols, ACTIVATION_MISH);
  else if (activation == ACTIVATION_RELU) bias_act_rows(out, mm, bias, rows, cols, ACTIVATION_RELU);
  else bias_act_rows(out, mm, bias, rows, cols, ACTIVATION_NONE);
}

/* The gradient of one activation's rows; a constant `activation` as in bias_act_rows. */
static inline void bias_act_grad_rows(float *restrict dpre, float *restrict dbias, const float *restrict dy, const float *restrict mm, const float *restrict bias, int64_t rows,
                                      int64_t cols, int activation) {
  memset(dbias, 0, (size_t)cols * sizeof(float));
  for (int64_t r = 0; r < rows; r++) {
    const float *row = mm + r * cols;
    const float *g = dy + r * cols;
    float *d = dpre + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      d[c] = g[c] * slope(row[c] + bias[c], activation);
      dbias[c] += d[c];
    }
  }
}

VECTOR_CLONES
void bias_act_backward(float *restrict dpre, float *restrict dbias, const float *restrict dy, const float *restrict mm, const float *restrict bias, int64_t rows, int64_t cols,
                       int activation) {
  if (activation == ACTIVATION_MISH) bias_act_grad_rows(dpre, dbias, dy, mm, bias, rows, cols, ACTIVATION_MISH);
  else if (activation == ACTIVATION_RELU) bias_act_grad_rows(dpre, dbias, dy, mm, bias, rows, cols, ACTIVATION_RELU);
  else bias_act_grad_rows(dpre, dbias, dy, mm, bias, rows, cols, ACTIVATION_NONE);
}

/*
 * One row of LayerNorm (biased variance, as torch), centred: xc = x - mean with x = mm + bias;
 * returns 1 / sqrt(var + eps). The sums ride along the passes that write x and xc, in the lanes and
 * order of lane_sum and lane_dot (the same bits as separate passes, in two passes instead of four);
 * the callers scale xc by the returned value (the forward where Mish reads it, the backward in a pass
 * of its own, which measured faster than scaling inside its gradient loop).
 */
static inline float centre_row(float *restrict xc, const float *restrict mm, const float *restrict bias, int64_t cols, float eps) {
  float acc[LANES] = {0};
  int64_t i = 0;
  for (; i + LANES <= cols; i += LANES)
    for (int l = 0; l < LANES; l++) {
      xc[i + l] = mm[i + l] + bias[i + l];
      acc[l] += xc[i + l];
    }
  for (; i < cols; i++) {
    xc[i] = mm[i] + bias[i];
    acc[i % LANES] += xc[i];
  }
  const float mean = lanes_total(acc) / (float)cols;
  float sq[LANES] = {0};
  for (i = 0; i + LANES <= cols; i += LANES)
    for (int l = 0; l < LANES; l++) {
      xc[i + l] -= mean;
      sq[l] += xc[i + l] * xc[i + l];
    }
  for (; i < cols; i++) {
    xc[i] -= mean;
    sq[i % LANES] += xc[i] * xc[i];
  }
  return 1.0f / sqrtf(lanes_total(sq) / (float)cols + eps);
}

VECTOR_CLONES
int bias_layer_norm_mish_forward(float *restrict out, const float *restrict mm, const float *restrict bias, const float *restrict gamma, const float *restrict beta, int64_t rows,
                                 int64_t cols, float eps) {
  float *xc = malloc((size_t)cols * sizeof(float));
  if (!xc) return -1;
  for (int64_t r = 0; r < rows; r++) {
    const float rstd = centre_row(xc, mm + r * cols, bias, cols, eps);
    float *o = out + r * cols;
    for (int64_t c = 0; c < cols; c++) o[c] = activate((xc[c] * rstd) * gamma[c] + beta[c], ACTIVATION_MISH);
  }
  free(xc);
  return 0;
}

/*
 * With xh = xc rstd, y = xh gamma + beta and out = mish(y): dy = dout mish'(y); dbeta = sum dy;
 * dgamma = sum dy xh; g = dy gamma; dx = rstd (g - mean(g) - xh mean(g xh)); the bias gets the
 * column sum of dx.
 */
VECTOR_CLONES
int bias_layer_norm_mish_backward(float *restrict dpre, float *restrict dbias, float *restrict dgamma, float *restrict dbeta, const float *restrict dout, const float *restrict mm,
                                  const float *restrict bias, const float *restrict gamma, const float *restrict beta, int64_t rows, int64_t cols, float eps) {
  float *xh = malloc(2 * (size_t)cols * sizeof(float));
  if (!xh) return -1;
  float *g = xh + cols;
  memset(dbias, 0, (size_t)cols * sizeof(float));
  memset(dgamma, 0, (size_t)cols * sizeof(float));
  memset(dbeta, 0, (size_t)cols * sizeof(float));
  for (int64_t r = 0; r < rows; r++) {
    const float rstd = centre_row(xh, mm + r * cols, bias, cols, eps);
    const float *up = dout + r * cols;
    for (int64_t c = 0; c < cols; c++) xh[c] *= rstd;
    for (int64_t c = 0; c < cols; c++) {
      const float dy = up[c] * mish_slope(xh[c] * gamma[c] + beta[c]);
      dbeta[c] += dy;
      dgamma[c] += dy * xh[c];
      g[c] = dy * gamma[c];
    }
    const float mean_g = lane_sum(g, cols) / (float)cols;
    const float mean_gx = lane_dot(g, xh, cols) / (float)cols;
    float *d = dpre + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      d[c] = rstd * (g[c] - mean_g - xh[c] * mean_gx);
      dbias[c] += d[c];
    }
  }
  free(xh);
  return 0;
}

/* One value's Adam step, in the composed kernels' order with each operation rounded to float32, so the results equal theirs bit for bit. */
static inline void adam_value(float *p, float *m, float *v, float p0, float m0, float v0, float g, const struct adam_coefficients *c) {
  const float m1 = m0 * c->beta1 + g * c->one_minus_beta1;
  const float v1 = v0 * c->beta2 + (g * g) * c->one_minus_beta2;
  const float denom = sqrtf(v1) / c->bias2_sqrt + c->eps;
  *m = m1;
  *v = v1;
  *p = p0 - (m1 / denom) * c->step_size;
}

VECTOR_CLONES
void adam_step(float *restrict p1, float *restrict m1, float *restrict v1, const float *restrict p0, const float *restrict m0, const float *restrict v0, const float *restrict grad, int64_t n,
               const struct adam_coefficients *c) {
  const struct adam_coefficients k = *c;
  for (int64_t i = 0; i < n; i++) adam_value(p1 + i, m1 + i, v1 + i, p0[i], m0[i], v0[i], grad[i], &k);
}

/* The same step written over the parameter and its moments (separate arrays): no new buffers, and half the memory traffic. */
VECTOR_CLONES
void adam_step_in_place(float *restrict p, float *restrict m, float *restrict v, const float *restrict grad, int64_t n, const struct adam_coefficients *c) {
  const struct adam_coefficients k = *c;
  for (int64_t i = 0; i < n; i++) adam_value(p + i, m + i, v + i, p[i], m[i], v[i], grad[i], &k);
}

VECTOR_CLONES
void soft_update(float *restrict out, const float *restrict source, const float *restrict target, int64_t n, float tau, float one_minus_tau) {
  for (int64_t i = 0; i < n; i++) out[i] = source[i] * tau + target[i] * one_minus_tau;
}

VECTOR_CLONES
void soft_update_in_place(float *restrict target, const float *restrict source, int64_t n, float tau, float one_minus_tau) {
  for (int64_t i = 0; i < n; i++) target[i] = source[i] * tau + target[i] * one_minus_tau;
}
