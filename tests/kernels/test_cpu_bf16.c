/* tests/kernels/test_cpu_bf16.c — the "cpu:bf16" backend: base matrices in
 * bfloat16, activations in float32 (kernels/cpu/matmul_bf16.c). Widening a
 * bfloat16 is exact, so each op must equal the float32 op on the bf16-rounded
 * matrix up to summation order: every case compares with a double-precision
 * reference on the rounded values, at shapes that cross the few-rows switch,
 * the tile edges and the threads' shares. */
#include <string.h>

#include "cpu_test_helpers.h"
#include "util/bf16.h"

#define BF16_TOL 1e-5

/* The bf16 backend, behind the profiler so that its calls are counted. */
static seal_backend *bf16_backend(void) {
  seal_error e = {{0}};
  seal_backend *cpu = seal_backend_create("cpu:bf16", &e);
  ck_assert_msg(cpu != NULL, "cpu:bf16 backend: %s", e.msg);
  ck_assert_int_eq(cpu->weight, SEAL_BF16);
  ck_assert_int_eq(cpu->act, SEAL_F32);
  seal_backend *be = seal_backend_profiled(cpu, 0, NULL);
  seal_backend_profile_into(be, &test_op_calls);
  return be;
}

/* A random [rows, cols] matrix uploaded as bf16; *rounded gets the float32
 * values it holds (freshly allocated). */
static void *bf16_matrix(seal_backend *be, seal_rng *r, size_t n, double scale, float **rounded) {
  float *x = test_randn(r, n, scale);
  void *d = be->ops->alloc(be, n * sizeof(uint16_t));
  be->ops->to_device(be, d, SEAL_BF16, x, n);
  for (size_t i = 0; i < n; i++) x[i] = seal_bf16_to_f32(seal_f32_to_bf16(x[i]));
  *rounded = x;
  return d;
}

static void check_matmul(seal_backend *be, seal_rng *r, int N, int I, int O, bool with_bias) {
  float *Wr, *x = test_randn(r, (size_t)N * I, 1), *bias = with_bias ? test_randn(r, O, 1) : NULL;
  void *W = bf16_matrix(be, r, (size_t)O * I, 0.3, &Wr);
  float *out = seal_malloc((size_t)N * O * sizeof(float));
  double *ref = test_zeros_d((size_t)N * O);
  for (size_t i = 0; i < (size_t)N * O; i++) out[i] = NAN; /* '=' must overwrite */
  be->ops->matmul(be, out, x, W, bias, N, I, O);
  test_ref_matmul(ref, x, Wr, bias, N, I, O);
  char what[64];
  snprintf(what, sizeof what, "bf16 matmul %dx%dx%d%s", N, I, O, with_bias ? " + bias" : "");
  TEST_ASSERT_CLOSE(what, out, ref, (size_t)N * O, BF16_TOL);
  be->ops->free(be, W);
  free(x), free(Wr), free(bias), free(out), free(ref);
}

START_TEST(bf16_matmul_equals_f32_on_rounded_weights) {
  seal_backend *be = bf16_backend();
  seal_rng r;
  seal_rng_seed(&r, 41);
  /* few rows (1, 8), just past the switch (9), and tiles: I = 700 makes
   * 80-row tiles, so O = 200 is two full tiles and a partial one */
  const int shapes[][3] = {{1, 33, 19}, {8, 33, 19}, {9, 33, 19}, {40, 700, 200}, {3, 700, 200}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int b = 0; b < 2; b++) check_matmul(be, &r, shapes[s][0], shapes[s][1], shapes[s][2], b);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(bf16_matmul_backward_input_equals_f32_on_rounded_weights) {
  seal_backend *be = bf16_backend();
  seal_rng r;
  seal_rng_seed(&r, 42);
  /* I = 150: panels of 64, 64 and 22 columns; O = 1100: two row chunks */
  enum { N = 40, I = 150, O = 1100 };
  float *Wr;
  void *W = bf16_matrix(be, &r, (size_t)O * I, 1, &Wr);
  test_backward_input_of_compact(be, &r, W, Wr, N, I, O, BF16_TOL, "bf16");
  be->ops->free(be, W);
  free(Wr);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(bf16_lora_merge_rounds_the_merged_weight) {
  seal_backend *be = bf16_backend();
  seal_rng r;
  seal_rng_seed(&r, 43);
  enum { O = 130, I = 600, R = 4 };
  float scale = 0.5f, *Wr;
  float *A = test_randn(&r, R * I, 0.5), *B = test_randn(&r, O * R, 0.5);
  void *W = bf16_matrix(be, &r, (size_t)O * I, 0.3, &Wr);
  be->ops->lora_merge(be, W, A, B, O, I, R, scale);
  float *got = seal_malloc((size_t)O * I * sizeof(float));
  be->ops->to_host(be, got, W, SEAL_BF16, (size_t)O * I);
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++) {
      double s = Wr[o * I + i];
      for (int k = 0; k < R; k++) s += (double)scale * B[o * R + k] * A[k * I + i];
      /* bf16 keeps 8 significant bits: within one unit of the last place */
      double got_v = got[o * I + i], ulp = fmax(fabs(s), 1e-30) / 128;
      ck_assert_msg(fabs(got_v - s) <= ulp, "W[%d,%d] = %g after the merge, expected %g", o, i,
                    got_v, s);
      ck_assert_float_eq(got_v, seal_bf16_to_f32(seal_f32_to_bf16((float)got_v)));
    }
  be->ops->free(be, W);
  free(A), free(B), free(Wr), free(got);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(bf16_embedding_widens_rows_exactly) {
  seal_backend *be = bf16_backend();
  seal_rng r;
  seal_rng_seed(&r, 44);
  enum { V = 13, C = 37, N = 9 };
  float *tr;
  void *table = bf16_matrix(be, &r, V * C, 1, &tr);
  int32_t ids[N] = {3, 0, 12, 3, 7, 1, 12, 5, 9};
  float out[N * C];
  be->ops->embedding(be, out, ids, table, N, C);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) ck_assert_float_eq(out[n * C + c], tr[ids[n] * C + c]);
  be->ops->free(be, table);
  free(tr);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(bf16_uploads_round_to_nearest_even) {
  seal_backend *be = bf16_backend();
  /* 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1);
   * 1 + 3 * 2^-8 goes up to 1 + 2^-6 (even); NaN stays NaN; fill rounds too */
  const float in[5] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, NAN, 65504.0f};
  const float want[4] = {1.0f, 1.0f + 0x1p-6f, -2.5f, 0};
  uint16_t *d = be->ops->alloc(be, sizeof in);
  be->ops->to_device(be, d, SEAL_BF16, in, 5);
  float back[5];
  be->ops->to_host(be, back, d, SEAL_BF16, 5);
  for (int i = 0; i < 3; i++) ck_assert_float_eq(back[i], want[i]);
  ck_assert(isnan(back[3]));
  ck_assert_float_eq(back[4], 65536.0f);
  be->ops->fill(be, d, SEAL_BF16, 1.0f + 0x1p-8f, 5);
  be->ops->to_host(be, back, d, SEAL_BF16, 5);
  for (int i = 0; i < 5; i++) ck_assert_float_eq(back[i], 1.0f);
  be->ops->free(be, d);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_bf16_suite(void) {
  Suite *s = suite_create("cpu_bf16");
  TCase *tc = tcase_create("bf16_matrices");
  TEST_OP(tc, matmul, bf16_matmul_equals_f32_on_rounded_weights);
  TEST_OP(tc, matmul_backward_input, bf16_matmul_backward_input_equals_f32_on_rounded_weights);
  TEST_OP(tc, lora_merge, bf16_lora_merge_rounds_the_merged_weight);
  TEST_OP(tc, embedding, bf16_embedding_widens_rows_exactly);
  TEST_OP(tc, to_device, bf16_uploads_round_to_nearest_even);
  suite_add_tcase(s, tc);
  return s;
}
