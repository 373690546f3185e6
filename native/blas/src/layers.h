/* Element-wise kernels of dense layers and optimizers on row-major float32 buffers (layers.c). */
#ifndef DTQL_LAYERS_H
#define DTQL_LAYERS_H

#include <stdint.h>

enum { ACTIVATION_NONE = 0, ACTIVATION_RELU = 1, ACTIVATION_MISH = 2 };

struct adam_coefficients {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, bias2_sqrt, eps, step_size;
};

/* out = act(mm + bias), mm [rows, cols], bias [cols]. */
void bias_act_forward(float *out, const float *mm, const float *bias, int64_t rows, int64_t cols, int activation);
/* dpre = dy act'(mm + bias); dbias = column sums of dpre. */
void bias_act_backward(float *dpre, float *dbias, const float *dy, const float *mm, const float *bias, int64_t rows, int64_t cols, int activation);
/* out = mish(LayerNorm(mm + bias) gamma + beta); returns -1 when out of memory. */
int bias_layer_norm_mish_forward(float *out, const float *mm, const float *bias, const float *gamma, const float *beta, int64_t rows, int64_t cols, float eps);
/* The gradients of the above for dout: with respect to mm (dpre), bias, gamma and beta. */
int bias_layer_norm_mish_backward(float *dpre, float *dbias, float *dgamma, float *dbeta, const float *dout, const float *mm, const float *bias, const float *gamma, const float *beta,
                                  int64_t rows, int64_t cols, float eps);
/* One Adam step: new parameter and moments. */
void adam_step(float *p1, float *m1, float *v1, const float *p0, const float *m0, const float *v0, const float *grad, int64_t n, const struct adam_coefficients *c);
/* The same step written over p, m and v (distinct arrays). */
void adam_step_in_place(float *p, float *m, float *v, const float *grad, int64_t n, const struct adam_coefficients *c);
/* out = tau source + (1 - tau) target. */
void soft_update(float *out, const float *source, const float *target, int64_t n, float tau, float one_minus_tau);
/* target = tau source + (1 - tau) target, over target (distinct from source). */
void soft_update_in_place(float *target, const float *source, int64_t n, float tau, float one_minus_tau);

#endif
