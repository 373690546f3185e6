/*
 * Kernels for the tfjs wasm backend that work directly on the buffers of the wasm heap (no
 * copies): single-precision matrix products in OpenBLAS (the wasm matMul runs 128-bit SIMD without
 * FMA, about a third of what this CPU's vector units give a BLAS), the element-wise parts of
 * dense layers and optimizers in layers.c, and a whole network's forward pass, layer after layer.
 * Every size is checked against the arrays before any write. Large forward kernels, or two
 * networks at once, can take a second core for a thread that asks for it (rows.c).
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

/* out = op(a) op(b), split by rows when large and this thread asked for it. */
static void product_by_rows(const float *a, const float *b, float *out, int64_t m, int64_t k, int64_t n, bool trans_a, bool trans_b) {
  struct product p = {a, b, out, m, k, n, trans_a, trans_b};
  for_row_ranges(product_rows, &p, m, PRODUCT_ROW_BLOCK, m * k * n >= SPLIT_MIN_PRODUCT);
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
  for (int64_t i = 0; i < batch; i++) product_by_rows(a + (i % a_batches) * m * k, b + (i % b_batches) * k * n, out + i * m * n, m, k, n, trans_a, trans_b);
  return NULL;
}

/* The element-wise part of a forward layer: out = act(mm + bias), or with gamma and beta mish(LayerNorm(mm + bias) gamma + beta). */
struct forward_layer {
  float *out;
  const float *mm, *bias, *gamma, *beta;
  int64_t cols;
  int activation;
  float eps;
  /* Set by a half that ran out of memory: [0] the first half's, [1] the rest's. */
  bool failed[2];
};

static void bias_act_rows(void *context, int64_t first, int64_t end) {
  const struct forward_layer *f = context;
  bias_act_forward(f->out + first * f->cols, f->mm + first * f->cols, f->bias, end - first, f->cols, f->activation);
}

static void bias_layer_norm_mish_rows(void *context, int64_t first, int64_t end) {
  struct forward_layer *f = context;
  f->failed[first == 0 ? 0 : 1] = bias_layer_norm_mish_forward(f->out + first * f->cols, f->mm + first * f->cols, f->bias, f->gamma, f->beta, end - first, f->cols, f->eps) != 0;
}

/* One forward layer's element-wise part over `rows`, split by rows when large; returns -1 when out of memory. */
static int forward_layer_by_rows(struct forward_layer *f, int64_t rows) {
  const bool large = rows * f->cols >= SPLIT_MIN_ELEMENTS;
  if (f->gamma) for_row_ranges(bias_layer_norm_mish_rows, f, rows, 1, large);
  else for_row_ranges(bias_act_rows, f, rows, 1, f->activation != ACTIVATION_NONE && large);
  return f->failed[0] || f->failed[1] ? -1 : 0;
}

#define MAX_LAYERS 16
/* A layer kind beside the activations (native-mlp.ts): bias + LayerNorm + Mish, with the norm's gamma and beta. */
#define LAYER_NORM_MISH 3

/*
 * One network's forward pass on x [rows, in_width]: per layer its product and, but for the last
 * layer (whose output is `out`), its output, one after another in the workspace, as native-mlp.ts
 * plans them for the backward pass. Parameters per layer: weight [in, out] and bias, then with
 * LayerNorm its gamma and beta.
 */
struct network {
  const float *x;
  float *workspace, *out;
  float *params[4 * MAX_LAYERS];
  int codes[MAX_LAYERS];
  int64_t widths[MAX_LAYERS];
  int layers;
  int64_t rows, in_width;
  float eps;
  bool failed;
};

static void network_forward(struct network *net) {
  const float *input = net->x;
  float *at = net->workspace;
  int64_t width = net->in_width;
  float *const *p = net->params;
  for (int i = 0; i < net->layers; i++) {
    const int64_t n = net->widths[i];
    const bool last = i == net->layers - 1, norm = net->codes[i] == LAYER_NORM_MISH;
    float *product = at;
    float *output = last ? net->out : product + net->rows * n;
    product_by_rows(input, p[0], product, net->rows, width, n, false, false);
    struct forward_layer f = {output, product, p[1], norm ? p[2] : NULL, norm ? p[3] : NULL, n, norm ? ACTIVATION_MISH : net->codes[i], net->eps, {false, false}};
    if (forward_layer_by_rows(&f, net->rows) != 0) net->failed = true;
    p += norm ? 4 : 2;
    at += net->rows * n * (last ? 1 : 2);
    input = output;
    width = n;
  }
}

/* Networks [first, end) of an array: two of them split like rows go one to each core. */
static void networks_forward(void *context, int64_t first, int64_t end) {
  struct network *nets = context;
  for (int64_t i = first; i < end; i++) network_forward(&nets[i]);
}

static int range_error(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return 0;
}

/* The layers' kinds and output widths (arrays of numbers), and x [rows, in_width] with eps; throws and returns 0 when they make no network. */
static int read_layers(napi_env env, napi_value x, napi_value codes, napi_value widths, napi_value rows, napi_value in_width, napi_value eps, struct network *net) {
  uint32_t count, width_count;
  size_t x_length;
  double epsilon;
  if (!float_view(env, x, (float **)&net->x, &x_length)) return 0;
  if (napi_get_array_length(env, codes, &count) != napi_ok || napi_get_array_length(env, widths, &width_count) != napi_ok || napi_get_value_int64(env, rows, &net->rows) != napi_ok ||
      napi_get_value_int64(env, in_width, &net->in_width) != napi_ok || napi_get_value_double(env, eps, &epsilon) != napi_ok) {
    napi_throw_type_error(env, NULL, "dtql_blas: a network takes arrays of layer kinds and widths, then rows, input width and eps");
    return 0;
  }
  if (count < 1 || count > MAX_LAYERS || width_count != count) return range_error(env, "dtql_blas: a network has 1 to 16 layers, a width for each");
  if (net->rows < 1 || net->in_width < 1 || x_length != (size_t)(net->rows * net->in_width)) return range_error(env, "dtql_blas: the network's input does not match its rows and width");
  net->layers = (int)count;
  net->eps = (float)epsilon;
  for (uint32_t i = 0; i < count; i++) {
    napi_value code, width;
    int32_t c;
    if (napi_get_element(env, codes, i, &code) != napi_ok || napi_get_value_int32(env, code, &c) != napi_ok || napi_get_element(env, widths, i, &width) != napi_ok ||
        napi_get_value_int64(env, width, &net->widths[i]) != napi_ok)
      return range_error(env, "dtql_blas: layer kinds and widths must be numbers");
    if (c < ACTIVATION_NONE || c > LAYER_NORM_MISH || net->widths[i] < 1) return range_error(env, "dtql_blas: unknown layer kind or width below 1");
    net->codes[i] = c;
  }
  return 1;
}

/* A network's output, workspace and parameters (an array of Float32Arrays), each checked against its layers; throws and returns 0 on any mismatch. */
static int read_network(napi_env env, napi_value out, napi_value workspace, napi_value params, struct network *net) {
  size_t out_length, workspace_length;
  uint32_t param_count;
  if (!float_view(env, out, &net->out, &out_length) || !float_view(env, workspace, &net->workspace, &workspace_length)) return 0;
  if (napi_get_array_length(env, params, &param_count) != napi_ok) {
    napi_throw_type_error(env, NULL, "dtql_blas: a network's parameters must be an array of Float32Arrays");
    return 0;
  }
  int64_t planned = 0, width = net->in_width;
  uint32_t next = 0;
  for (int i = 0; i < net->layers; i++) {
    const int64_t n = net->widths[i];
    const int count = net->codes[i] == LAYER_NORM_MISH ? 4 : 2;
    if (next + (uint32_t)count > param_count) return range_error(env, "dtql_blas: too few parameters for the network's layers");
    for (int j = 0; j < count; j++, next++) {
      napi_value value;
      size_t length;
      if (napi_get_element(env, params, next, &value) != napi_ok || !float_view(env, value, &net->params[next], &length)) return 0;
      if (length != (size_t)(j == 0 ? width * n : n)) return range_error(env, "dtql_blas: a parameter's size does not match its layer");
    }
    planned += net->rows * n * (i == net->layers - 1 ? 1 : 2);
    width = n;
  }
  if (next != param_count) return range_error(env, "dtql_blas: more parameters than the network's layers take");
  if (out_length != (size_t)(net->rows * width) || workspace_length != (size_t)planned) return range_error(env, "dtql_blas: the network's output or workspace has the wrong size");
  net->failed = false;
  return 1;
}

/* mlpForward(out, workspace, params, x, kinds, widths, rows, inWidth, eps): one network's forward pass, its large kernels split by rows where this thread asked for it. */
static napi_value mlp_forward(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct network net;
  if (argc != 9) {
    napi_throw_type_error(env, NULL, "dtql_blas: mlpForward takes 9 arguments");
    return NULL;
  }
  if (!read_layers(env, argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], &net) || !read_network(env, argv[0], argv[1], argv[2], &net)) return NULL;
  network_forward(&net);
  if (net.failed) napi_throw_error(env, NULL, "dtql_blas: out of memory");
  return NULL;
}

/*
 * mlpPairForward(out1, workspace1, params1, out2, workspace2, params2, x, kinds, widths, rows, inWidth, eps):
 * two networks of the same shape on one input (Q1 and Q2 scoring actions). Where this thread asked
 * for the helper, each runs whole on its own core: no hand-over per kernel, and the small kernels
 * (the first and last layers) run side by side too. The same kernels per network either way.
 */
static napi_value mlp_pair_forward(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct network nets[2];
  if (argc != 12) {
    napi_throw_type_error(env, NULL, "dtql_blas: mlpPairForward takes 12 arguments");
    return NULL;
  }
  if (!read_layers(env, argv[6], argv[7], argv[8], argv[9], argv[10], argv[11], &nets[0])) return NULL;
  nets[1] = nets[0];
  if (!read_network(env, argv[0], argv[1], argv[2], &nets[0]) || !read_network(env, argv[3], argv[4], argv[5], &nets[1])) return NULL;
  for_row_ranges(networks_forward, nets, 2, 1, true);
  if (nets[0].failed || nets[1].failed) napi_throw_error(env, NULL, "dtql_blas: out of memory");
  return NULL;
}

/* biasActGrad(dpre, dbias, dy, mm, bias, rows, cols, activation). */
static napi_value bias_act_grad(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  const int activation = read_args(env, info, "ACAAC", 2, 1, &a) ? activation_of(env, a.floats[0]) : -1;
  if (activation >= 0) bias_act_backward(a.arrays[0], a.arrays[1], a.arrays[2], a.arrays[3], a.arrays[4], a.ints[0], a.ints[1], activation);
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

/* Adam's seven constants, as the update functions take them after their arrays, in float32. */
static struct adam_coefficients adam_coefficients_of(const double *f) {
  return (struct adam_coefficients){(float)f[0], (float)f[1], (float)f[2], (float)f[3], (float)f[4], (float)f[5], (float)f[6]};
}

/* adamStep(p1, m1, v1, p0, m0, v0, grad, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, step size). */
static napi_value adam(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NNNNNNN", 0, 7, &a)) return NULL;
  const struct adam_coefficients c = adam_coefficients_of(a.floats);
  float **x = a.arrays;
  adam_step(x[0], x[1], x[2], x[3], x[4], x[5], x[6], (int64_t)a.lengths[0], &c);
  return NULL;
}

/* adamStepInPlace(p, m, v, grad, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(1 - beta2^t), eps, step size); the caller makes sure no two arrays share memory. */
static napi_value adam_in_place(napi_env env, napi_callback_info info) {
  struct kernel_args a;
  if (!read_args(env, info, "NNNN", 0, 7, &a)) return NULL;
  const struct adam_coefficients c = adam_coefficients_of(a.floats);
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
                   {"biasActGrad", bias_act_grad},
                   {"biasLayerNormMishGrad", bias_layer_norm_mish_grad},
                   {"adamStep", adam},
                   {"softUpdate", soft},
                   {"adamStepInPlace", adam_in_place},
                   {"mlpForward", mlp_forward},
                   {"mlpPairForward", mlp_pair_forward},
                   {"softUpdateInPlace", soft_in_place},
                   {"splitRows", split_rows}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK(napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK(napi_set_named_property(env, exports, functions[i].name, fn));
  }
  return exports;
}
