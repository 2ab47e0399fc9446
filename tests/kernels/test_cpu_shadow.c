/* tests/kernels/test_cpu_shadow.c — the float32 "cpu" backend's shadows
 * (kernels/cpu/shadow.c): decoding's few-rows product read from Q4_1 or Q8_0
 * blocks when a matrix's float32 values are exactly theirs.
 *
 * What must hold, and why the checks are what they are:
 * - a shadow changes the bytes read, never a result: the product from the
 *   blocks is the float32 few-rows product's bits (the blocks widen back to
 *   the matrix's values, and the kernel and blocking are few_rows_f32's), so
 *   the checks are bit for bit against a backend with SEAL_CPU_SHADOW=0, at
 *   N = 1..8, O not a multiple of 4, several I, on 1 and 3 threads; and
 *   within 1e-5 of a double reference relative to the output's scale, the
 *   float32 few-rows test's bound (test_cpu_ops.c), as float32 summation of
 *   at most 1536 products of unit-scale values stays well inside it;
 *   the portable widening (processors without AVX2) is checked the same way;
 * - a shadow is made only where it is exact: block values (Q4 and Q8) get
 *   one, random values, a matrix exact but for one value of its last block,
 *   and rows that are not whole blocks get none;
 * - a write into a matrix drops its shadow (lora_merge, copy, to_device,
 *   fill, each into part of the matrix): the next product is the float32
 *   path's on the new values, bit for bit, where a stale shadow would give the
 *   old ones; a write beside the matrix keeps it. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_test_helpers.h"
#include "util/q4.h"
#include "util/q8.h"

#define FWD_TOL 1e-5

/* A float32 "cpu" backend (not behind the profiler: the shadows are in its
 * own state), with shadows on or off. */
static seal_backend *f32_backend(bool shadows) {
  if (shadows)
    unsetenv("SEAL_CPU_SHADOW");
  else
    setenv("SEAL_CPU_SHADOW", "0", 1);
  seal_error e = {{0}};
  seal_backend *be = seal_cpu_backend_create(SEAL_F32, &e);
  ck_assert_msg(be != NULL, "cpu backend: %s", e.msg);
  unsetenv("SEAL_CPU_SHADOW");
  return be;
}

typedef enum { VALUES_Q4, VALUES_Q8, VALUES_RANDOM } values_kind;

/* W[O, I] random (scale 0.3), and for Q4 / Q8 rounded to the values of
 * their blocks, as a model read from such a GGUF file holds (I % 32 == 0). */
static float *matrix(seal_rng *r, values_kind kind, int O, int I) {
  size_t n = (size_t)O * I;
  float *W = test_randn(r, n, 0.3);
  if (kind == VALUES_RANDOM) return W;
  void *blocks = seal_malloc(n * sizeof(float));
  if (kind == VALUES_Q4)
    seal_cpu_q4_quantize(blocks, W, n), seal_cpu_q4_dequantize(W, blocks, n);
  else
    seal_cpu_q8_quantize(blocks, W, n), seal_cpu_q8_dequantize(W, blocks, n);
  free(blocks);
  return W;
}

/* be's product out[N, O] equals plain's (shadows off) bit for bit. */
static void assert_same_bits(seal_backend *be, seal_backend *plain, const float *x, const float *W,
                             const float *bias, int N, int I, int O, const char *what) {
  float *got = seal_malloc((size_t)N * O * sizeof(float));
  float *want = seal_malloc((size_t)N * O * sizeof(float));
  be->ops->matmul(be, got, x, W, bias, N, I, O);
  plain->ops->matmul(plain, want, x, W, bias, N, I, O);
  ck_assert_msg(memcmp(got, want, (size_t)N * O * sizeof(float)) == 0,
                "%s (N=%d I=%d O=%d): other bits than the float32 path's", what, N, I, O);
  free(got), free(want);
}

static void check_products(values_kind kind, int I, int O) {
  seal_backend *be = f32_backend(true), *plain = f32_backend(false);
  seal_rng r;
  seal_rng_seed(&r, (uint64_t)(31 * I + O + kind));
  enum { MAX_N = SEAL_CPU_FEW_ROWS };
  float *W = be->ops->alloc(be, (size_t)O * I * sizeof(float));
  float *host = matrix(&r, kind, O, I);
  be->ops->to_device(be, W, SEAL_F32, host, (size_t)O * I);
  float *x = test_randn(&r, (size_t)MAX_N * I, 1), *bias = test_randn(&r, O, 1);
  float *out = seal_malloc((size_t)MAX_N * O * sizeof(float));
  float *again = seal_malloc((size_t)MAX_N * O * sizeof(float));
  double *ref = test_zeros_d((size_t)MAX_N * O);
  int before = omp_get_max_threads();
  for (int N = 1; N <= MAX_N; N++) {
    const float *b = N % 2 ? bias : NULL;
    omp_set_num_threads(1);
    assert_same_bits(be, plain, x, W, b, N, I, O, kind == VALUES_Q4 ? "q4 values" : "q8 values");
    be->ops->matmul(be, out, x, W, b, N, I, O);
    test_ref_matmul(ref, x, host, b, N, I, O);
    TEST_ASSERT_CLOSE("shadow product", out, ref, (size_t)N * O, FWD_TOL);
    omp_set_num_threads(3);
    be->ops->matmul(be, again, x, W, b, N, I, O);
    ck_assert_msg(memcmp(out, again, (size_t)N * O * sizeof(float)) == 0,
                  "shadow product at N=%d: other bits with 3 threads", N);
  }
  omp_set_num_threads(before);
  seal_cpu_shadow_counts c = seal_cpu_shadows_count(be);
  ck_assert_int_eq(c.q4, kind == VALUES_Q4);
  ck_assert_int_eq(c.q8, kind == VALUES_Q8);
  ck_assert_int_eq(c.none, 0);
  size_t block = kind == VALUES_Q4 ? sizeof(seal_q4_block) : sizeof(seal_q8_block);
  ck_assert_uint_eq(c.bytes, (size_t)O * (I / 32) * block);
  ck_assert_int_eq(seal_cpu_shadows_count(plain).q4 + seal_cpu_shadows_count(plain).q8, 0);
  be->ops->free(be, W);
  free(host), free(x), free(bias), free(out), free(again), free(ref);
  seal_backend_destroy(be), seal_backend_destroy(plain);
}

START_TEST(q4_values_give_the_float32_bits) {
  check_products(VALUES_Q4, 96, 70);   /* O % 4 == 2: the last rows by the plain kernel */
  check_products(VALUES_Q4, 576, 37);  /* a chunk and a part, O % 4 == 1 */
  check_products(VALUES_Q4, 1536, 67); /* the down projection's I */
}
END_TEST

START_TEST(q8_values_give_the_float32_bits) {
  check_products(VALUES_Q8, 96, 70);
  check_products(VALUES_Q8, 576, 41);
}
END_TEST

/* The portable widening (a processor without AVX2, FMA and F16C), into a
 * scratch for few_rows_f32's kernel: the same bits, made and multiplied. */
START_TEST(the_portable_route_gives_the_same_bits) {
  seal_cpu_shadow_allow_avx2(false);
  check_products(VALUES_Q4, 96, 70);
  check_products(VALUES_Q8, 576, 41);
  seal_cpu_shadow_allow_avx2(true);
}
END_TEST

/* Makes (or not) the shadow of W[O, I] holding `host` and returns the counts. */
static seal_cpu_shadow_counts try_matrix(const float *host, int O, int I) {
  seal_backend *be = f32_backend(true), *plain = f32_backend(false);
  seal_rng r;
  seal_rng_seed(&r, 5);
  float *W = be->ops->alloc(be, (size_t)O * I * sizeof(float));
  be->ops->to_device(be, W, SEAL_F32, host, (size_t)O * I);
  float *x = test_randn(&r, (size_t)3 * I, 1);
  assert_same_bits(be, plain, x, W, NULL, 3, I, O, "a matrix tried");
  seal_cpu_shadow_counts c = seal_cpu_shadows_count(be);
  be->ops->free(be, W);
  free(x);
  seal_backend_destroy(be), seal_backend_destroy(plain);
  return c;
}

START_TEST(only_exact_matrices_get_a_shadow) {
  enum { O = 13, I = 64 };
  seal_rng r;
  seal_rng_seed(&r, 9);
  float *W = matrix(&r, VALUES_RANDOM, O, I);
  seal_cpu_shadow_counts c = try_matrix(W, O, I);
  ck_assert_msg(c.q4 == 0 && c.q8 == 0 && c.none == 1, "random values: a shadow");
  free(W);
  const values_kind kinds[2] = {VALUES_Q4, VALUES_Q8};
  for (int k = 0; k < 2; k++) {
    W = matrix(&r, kinds[k], O, I);
    ck_assert_int_eq(try_matrix(W, O, I).none, 0);
    /* one value of the last block 1 ulp off: no format holds it */
    float *last = &W[(size_t)O * I - 1];
    *last = nextafterf(*last, INFINITY);
    c = try_matrix(W, O, I);
    ck_assert_msg(c.q4 == 0 && c.q8 == 0 && c.none == 1, "kind %d: a shadow for an inexact block",
                  k);
    free(W);
  }
  /* block values in rows that are not whole blocks (I = 48: a block and a half) */
  enum { I_PART = 48 };
  W = matrix(&r, VALUES_Q8, 1, O * I_PART); /* whole blocks of the flat matrix... */
  c = try_matrix(W, O, I_PART);             /* ...but its rows are not */
  ck_assert_msg(c.q4 == 0 && c.q8 == 0 && c.none == 1, "rows of 48: a shadow");
  free(W);
}
END_TEST

/* ---- writes into a shadowed matrix ------------------------------------------- */

typedef enum { WRITE_LORA_MERGE, WRITE_COPY, WRITE_TO_DEVICE, WRITE_FILL } write_kind;
static const char *const write_names[] = {"lora_merge", "copy", "to_device", "fill"};

/* Writes into rows 2..4 of W[O, I] (all of it for lora_merge) by `how`, with
 * new values that are Q4 block values again, so a shadow made anew would be
 * exact too. */
static void write_into(seal_backend *be, write_kind how, float *W, int O, int I, seal_rng *r) {
  float *fresh = matrix(r, VALUES_Q4, 3, I);
  switch (how) {
    case WRITE_LORA_MERGE: {
      enum { R = 2 };
      float *A = test_randn(r, (size_t)R * I, 1), *B = test_randn(r, (size_t)O * R, 1);
      be->ops->lora_merge(be, W, A, B, O, I, R, 0.5f);
      free(A), free(B);
      break;
    }
    case WRITE_COPY: {
      float *src = be->ops->alloc(be, (size_t)3 * I * sizeof(float));
      be->ops->to_device(be, src, SEAL_F32, fresh, (size_t)3 * I);
      be->ops->copy(be, W + (size_t)2 * I, src, (size_t)3 * I * sizeof(float));
      be->ops->free(be, src);
      break;
    }
    case WRITE_TO_DEVICE:
      be->ops->to_device(be, W + (size_t)2 * I, SEAL_F32, fresh, (size_t)3 * I);
      break;
    case WRITE_FILL:
      be->ops->fill(be, W + (size_t)2 * I + 5, SEAL_F32, 0.25f, (size_t)I);
      break;
  }
  free(fresh);
}

START_TEST(a_write_drops_the_shadow) {
  enum { O = 22, I = 64, N = 2 };
  for (int how = WRITE_LORA_MERGE; how <= WRITE_FILL; how++) {
    seal_backend *be = f32_backend(true), *plain = f32_backend(false);
    seal_rng r;
    seal_rng_seed(&r, (uint64_t)(40 + how));
    /* the matrix, and 32 floats beside it in the same buffer */
    float *buf = be->ops->alloc(be, ((size_t)O * I + 32) * sizeof(float));
    float *W = buf, *host = matrix(&r, VALUES_Q4, O, I), *x = test_randn(&r, (size_t)N * I, 1);
    be->ops->to_device(be, W, SEAL_F32, host, (size_t)O * I);
    assert_same_bits(be, plain, x, W, NULL, N, I, O, "before the write");
    ck_assert_int_eq(seal_cpu_shadows_count(be).q4, 1);
    be->ops->fill(be, buf + (size_t)O * I, SEAL_F32, 1.0f, 32); /* beside it: kept */
    ck_assert_int_eq(seal_cpu_shadows_count(be).q4, 1);
    write_into(be, (write_kind)how, W, O, I, &r);
    ck_assert_msg(seal_cpu_shadows_count(be).q4 + seal_cpu_shadows_count(be).none == 0,
                  "%s into the matrix kept its shadow", write_names[how]);
    assert_same_bits(be, plain, x, W, NULL, N, I, O, write_names[how]);
    be->ops->free(be, buf);
    ck_assert_int_eq(seal_cpu_shadows_count(be).q4 + seal_cpu_shadows_count(be).none, 0);
    free(host), free(x);
    seal_backend_destroy(be), seal_backend_destroy(plain);
  }
}
END_TEST

START_TEST(the_switch_is_checked) {
  setenv("SEAL_CPU_SHADOW", "yes", 1);
  seal_error e = {{0}};
  seal_cpu_backend_create(SEAL_F32, &e); /* dies: a test that expects exit 1 */
}
END_TEST

Suite *cpu_shadow_suite(void) {
  Suite *s = suite_create("cpu_shadow");
  TCase *tc = tcase_create("shadow");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, q4_values_give_the_float32_bits);
  tcase_add_test(tc, q8_values_give_the_float32_bits);
  tcase_add_test(tc, the_portable_route_gives_the_same_bits);
  tcase_add_test(tc, only_exact_matrices_get_a_shadow);
  tcase_add_test(tc, a_write_drops_the_shadow);
  tcase_add_exit_test(tc, the_switch_is_checked, 1);
  suite_add_tcase(s, tc);
  return s;
}
