/*
 * Kernels for the tfjs wasm backend that work directly on the buffers of the wasm heap (no
 * copies): single-precision matrix products in OpenBLAS (the wasm matMul runs 128-bit SIMD without
 * FMA, about a third of what this CPU's vector units give a BLAS), and the element-wise parts of
 * dense layers and optimizers in layers.c. Every size is checked against the arrays before any write.
 * Large forward kernels can take a second core for a thread that asks for it (rows.c).
 */
#include <cblas.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "layers.h"
#include "rows.h"

extern void openblas_set_num_threads(int);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

#define CHECK(call)                                   \
  if ((call) != napi_ok) {                            \
    napi_throw_error(env, NULL, "dtql_blas: " #call); \
    return NULL;                                      \
  }

static int float_view(napi_env env, napi_value value, float **data, size_t *length) {
  napi_typedarray_type type;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "dtql_blas: expected a Float32Array");
    return 0;
  }
  *data = (float *)raw;
  return 1;
}

/* The arguments of a layer kernel: Float32Arrays, then `ints` sizes (positive integers), then `floats` numbers. */
struct kernel_args {
  float *arrays[12];
  size_t lengths[12];
  int64_t ints[2];
  double floats[8];
};

/*
 * Reads a kernel's arguments and checks each array's length, one letter of `lengths` per array:
 * 'A' rows x cols and 'C' cols (the two sizes, which then follow the arrays), 'N' as long as the
 * first array. Throws and returns 0 on anything else.
 */
static int read_args(napi_env env, napi_callback_info info, const char *lengths, size_t ints, size_t floats, struct kernel_args *out) {
  napi_value argv[24];
  size_t argc = 24;
  const size_t arrays = strlen(lengths);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != arrays + ints + floats) {
    napi_throw_type_error(env, NULL, "dtql_blas: wrong number of arguments");
    return 0;
  }
  for (size_t i = 0; i < arrays; i++)
    if (!float_view(env, argv[i], &out->arrays[i], &out->lengths[i])) return 0;
  for (size_t i = 0; i < ints; i++)
    if (napi_get_value_int64(env, argv[arrays + i], &out->ints[i]) != napi_ok || out->ints[i] < 1) {
      napi_throw_range_error(env, NULL, "dtql_blas: sizes must be positive integers");
      return 0;
    }
  for (size_t i = 0; i < floats; i++)
    if (napi_get_value_double(env, argv[arrays + ints + i], &out->floats[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "dtql_blas: expected a number");
      return 0;
    }
  for (size_t i = 0; i < arrays; i++) {
    const size_t expected = lengths[i] == 'A' ? (size_t)(out->ints[0] * out->ints[1]) : lengths[i] == 'C' ? (size_t)out->ints[1] : out->lengths[0];
    if (out->lengths[i] != expected) {
      napi_throw_range_error(env, NULL, "dtql_blas: array sizes do not match the layer");
      return 0;
    }
  }
  return 1;
}

/* An activation code (0 none, 1 relu, 2 mish), or -1 after throwing. */
static int activation_of(napi_env env, double code) {
  if (code == ACTIVATION_NONE || code == ACTIVATION_RELU || code == ACTIVATION_MISH) return (int)code;
  napi_throw_range_error(env, NULL, "dtql_blas: unknown activation");
  return -1;
}

/* One row-major product out = op(a) op(b), op(a) m x k, op(b) k x n. */
struct product {
  const float *a, *b;
  float *out;
  int64_t m, k, n;
  bool trans_a, trans_b;
};

/* Rows [first, end) of a product: each output row depends on its own row of op(a) only. */
static void product_rows(void *context, int64_t first, int64_t end) {
  const struct product *p = context;
  const float *a = p->trans_a ? p->a + first : p->a + first * p->k;
  cblas_sgemm(CblasRowMajor, p->trans_a ? CblasTrans : CblasNoTrans, p->trans_b ? CblasTrans : CblasNoTrans, (int)(end - first), (int)p->n, (int)p->k, 1.0f, a,
              p->trans_a ? (int)p->m : (int)p->k, p->b, p->trans_b ? (int)p->k : (int)p->n, 0.0f, p->out + first * p->n, (int)p->n);
}

/*
 * sgemm(a, b, out, batch, m, k, n, transposeA, transposeB, aBatches, bBatches):
 * out[i] = op(a[i % aBatches]) op(b[i % bBatches]) for i < batch, all row-major,
 * op(a) m x k, op(b) k x n. Sizes are checked against the arrays before any write.
 */
static napi_value sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, NULL, "dtql_blas: sgemm takes 11 arguments");
    return NULL;
  }
  float *a, *b, *out;
  size_t a_len, b_len, out_len;
  if (!float_view(env, argv[0], &a, &a_len) || !float_view(env, argv[1], &b, &b_len) || !float_view(env, argv[2], &out, &out_len)) return NULL;
  int64_t dims[4];
  for (int i = 0; i < 4; i++) CHECK(napi_get_value_int64(env, argv[3 + i], &dims[i]));
  bool trans_a, trans_b;
  CHECK(napi_get_value_bool(env, argv[7], &trans_a));
  CHECK(napi_get_value_bool(env, argv[8], &trans_b));
  int64_t a_batches, b_batches;
  CHECK(napi_get_value_int64(env, argv[9], &a_batches));
  CHECK(napi_get_value_int64(env, argv[10], &b_batches));
  const int64_t batch = dims[0], m = dims[1], k = dims[2], n = dims[3];
  if (batch < 1 || m < 1 || k < 1 || n < 1 || a_batches < 1 || b_batches < 1 || (size_t)(a_batches * m * k) != a_len ||
      (size_t)(b_batches * k * n) != b_len || (size_t)(batch * m * n) != out_len) {
    napi_throw_range_error(env, NULL, "dtql_blas: sgemm sizes do not match the arrays");
    return NULL;
  }
  for (int64_t i = 0; i < batch; i++) {
    struct product p = {a + (i % a_batches) * m * k, b + (i % b_batches) * k * n, out + i * m * n, m, k, n, trans_a, trans_b};
    for_row_ranges(product_rows, &p, m, m * k * n >= SPLIT_MIN_PRODUCT);
  }
  return NULL;
}

/* A forward layer kernel's arguments, split by rows. */
struct forward_layer {
  struct kernel_args *args;
  int activation;
  /* Set by a half that ran out of memory: [0] the first half's, [1] the rest's. */
  bool failed[2];
};

static void bias_act_rows(void *context, int64_t first, int64_t end) {
  const struct forward_layer *f = context;
  float **x = f->args->arrays;
  const int64_t cols = f->args->ints[1];
  bias_act_forward(x[0] + first * cols, x[1] + first * cols, x[2], end - first, cols, f->activation);
}

/* biasAct(out, mm, bias, rows, cols, activation): out = act(mm + bias). */
static napi_value bias_act(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  const int activation = read_args(env, info, "AAC", 2, 1, &a) ? activation_of(env, a.floats[0]) : -1;
  if (activation < 0) return NULL;
  struct forward_layer f = {&a, activation, {false, false}};
  for_row_ranges(bias_act_rows, &f, a.ints[0], activation != ACTIVATION_NONE && a.ints[0] * a.ints[1] >= SPLIT_MIN_ELEMENTS);
  return NULL;
}

/* biasActGrad(dpre, dbias, dy, mm, bias, rows, cols, activation). */
static napi_value bias_act_grad(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  const int activation = read_args(env, info, "ACAAC", 2, 1, &a) ? activation_of(env, a.floats[0]) : -1;
  if (activation >= 0) bias_act_backward(a.arrays[0], a.arrays[1], a.arrays[2], a.arrays[3], a.arrays[4], a.ints[0], a.ints[1], activation);
  return NULL;
}

static void bias_layer_norm_mish_rows(void *context, int64_t first, int64_t end) {
  struct forward_layer *f = context;
  float **x = f->args->arrays;
  const int64_t cols = f->args->ints[1];
  f->failed[first == 0 ? 0 : 1] = bias_layer_norm_mish_forward(x[0] + first * cols, x[1] + first * cols, x[2], x[3], x[4], end - first, cols, (float)f->args->floats[0]) != 0;
}

/* biasLayerNormMish(out, mm, bias, gamma, beta, rows, cols, eps). */
static napi_value bias_layer_norm_mish(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "AACCC", 2, 1, &a)) return NULL;
  struct forward_layer f = {&a, ACTIVATION_MISH, {false, false}};
  for_row_ranges(bias_layer_norm_mish_rows, &f, a.ints[0], a.ints[0] * a.ints[1] >= SPLIT_MIN_ELEMENTS);
  if (f.failed[0] || f.failed[1]) napi_throw_error(env, NULL, "dtql_blas: out of memory");
  return NULL;
}

/* biasLayerNormMishGrad(dpre, dbias, dgamma, dbeta, dout, mm, bias, gamma, beta, rows, cols, eps). */
static napi_value bias_layer_norm_mish_grad(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "ACCCAACCC", 2, 1, &a)) return NULL;
  float **x = a.arrays;
  if (bias_layer_norm_mish_backward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], a.ints[0], a.ints[1], (float)a.floats[0]) != 0)
    napi_throw_error(env, NULL, "dtql_blas: out of memory");
  return NULL;
}

/* adamStep(p1, m1, v1, p0, m0, v0, grad, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, step size). */
static napi_value adam(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NNNNNNN", 0, 7, &a)) return NULL;
  const struct adam_coefficients c = {(float)a.floats[0], (float)a.floats[1], (float)a.floats[2], (float)a.floats[3], (float)a.floats[4], (float)a.floats[5], (float)a.floats[6]};
  float **x = a.arrays;
  adam_step(x[0], x[1], x[2], x[3], x[4], x[5], x[6], (int64_t)a.lengths[0], &c);
  return NULL;
}

/* adamStepInPlace(p, m, v, grad, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, step size); the caller makes sure no two arrays share memory. */
static napi_value adam_in_place(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NNNN", 0, 7, &a)) return NULL;
  const struct adam_coefficients c = {(float)a.floats[0], (float)a.floats[1], (float)a.floats[2], (float)a.floats[3], (float)a.floats[4], (float)a.floats[5], (float)a.floats[6]};
  adam_step_in_place(a.arrays[0], a.arrays[1], a.arrays[2], a.arrays[3], (int64_t)a.lengths[0], &c);
  return NULL;
}

/* softUpdateInPlace(target, source, tau, 1 - tau). */
static napi_value soft_in_place(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NN", 0, 2, &a)) return NULL;
  soft_update_in_place(a.arrays[0], a.arrays[1], (int64_t)a.lengths[0], (float)a.floats[0], (float)a.floats[1]);
  return NULL;
}

/* softUpdate(out, source, target, tau, 1 - tau). */
static napi_value soft(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NNN", 0, 2, &a)) return NULL;
  soft_update(a.arrays[0], a.arrays[1], a.arrays[2], (int64_t)a.lengths[0], (float)a.floats[0], (float)a.floats[1]);
  return NULL;
}

/* splitRows(enabled): whether this thread's large forward kernels may use the helper thread (rows.c); returns the previous setting. */
static napi_value split_rows(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool enabled;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || napi_get_value_bool(env, argv[0], &enabled) != napi_ok) {
    napi_throw_type_error(env, NULL, "dtql_blas: splitRows takes one boolean");
    return NULL;
  }
  napi_value previous;
  CHECK(napi_get_boolean(env, set_split_rows(enabled), &previous));
  return previous;
}

/* "OpenBLAS 0.3.21 ... Haswell": the build and the kernels it picked for this CPU. */
static napi_value describe(napi_env env, napi_callback_info info) {
  (void)info;
  char text[512];
  snprintf(text, sizeof text, "%s; kernels for %s", openblas_get_config(), openblas_get_corename());
  napi_value result;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

NAPI_MODULE_INIT() {
  /* The app already trains on two threads of its own; a BLAS thread pool would only contend. */
  openblas_set_num_threads(1);
  const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"sgemm", sgemm},
                   {"describe", describe},
                   {"biasAct", bias_act},
                   {"biasActGrad", bias_act_grad},
                   {"biasLayerNormMish", bias_layer_norm_mish},
                   {"biasLayerNormMishGrad", bias_layer_norm_mish_grad},
                   {"adamStep", adam},
                   {"softUpdate", soft},
                   {"adamStepInPlace", adam_in_place},
                   {"softUpdateInPlace", soft_in_place},
                   {"splitRows", split_rows}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK(napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK(napi_set_named_property(env, exports, functions[i].name, fn));
  }
  return exports;
}
