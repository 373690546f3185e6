/*
 * Single-precision matrix products for the tfjs wasm backend, computed by OpenBLAS directly on
 * the buffers of the wasm heap (no copies): the wasm matMul runs 128-bit SIMD without FMA, about a
 * third of what this CPU's vector units give a BLAS.
 */
#include <cblas.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
    const float *ai = a + (i % a_batches) * m * k;
    const float *bi = b + (i % b_batches) * k * n;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, ai,
                trans_a ? (int)m : (int)k, bi, trans_b ? (int)k : (int)n, 0.0f, out + i * m * n, (int)n);
  }
  return NULL;
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
  napi_value fn;
  CHECK(napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, sgemm, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "sgemm", fn));
  CHECK(napi_create_function(env, "describe", NAPI_AUTO_LENGTH, describe, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "describe", fn));
  return exports;
}
