/* tests/kernels/test_cpu_q8.c — the "cpu:q8" backend: base matrices in int8
 * blocks of 32 with a half scale (util/q8.h), activations in float32
 * (kernels/cpu/matmul_q8.c).
 *
 * What each op must give, and why the bounds hold:
 * - storing: every value within half a step of its block's scale d (d is the
 *   block's largest magnitude over 127, rounded to a half: 2^-11 relative), in
 *   GGUF's block_q8_0 layout, rows padded to whole blocks;
 * - the products against a double-precision reference on the *dequantised*
 *   weights (to_host's values, themselves checked against the originals):
 *   exact up to float32 summation where the weights are dequantised (many
 *   rows, input gradient); where the input rows are quantised too (few rows)
 *   each input x_i moves by at most d_x/2 (its block's step d_x = amax/127), so
 *   an output moves by at most sum_i |w_i| d_x(i) / 2, plus summation;
 * - the portable and the AVX2 integer kernels do the same arithmetic in the
 *   same order: equal bit for bit. */
#include <immintrin.h>
#include <string.h>

#include "cpu_test_helpers.h"
#include "util/q8.h"

/* float32 summation over a few hundred products, relative to sum |w_i x_i| */
#define SUM_TOL 1e-5

static seal_backend *q8_backend(void) {
  seal_error e = {{0}};
  seal_backend *cpu = seal_backend_create("cpu:q8", &e);
  ck_assert_msg(cpu != NULL, "cpu:q8 backend: %s", e.msg);
  ck_assert_int_eq(cpu->weight, SEAL_Q8);
  ck_assert_int_eq(cpu->act, SEAL_F32);
  seal_backend *be = seal_backend_profiled(cpu, 0, NULL);
  seal_backend_profile_into(be, &test_op_calls);
  return be;
}

/* A random [rows, cols] matrix uploaded row by row as Q8 (rows padded to
 * whole blocks); *deq gets the values it holds, read back with to_host. */
static void *q8_matrix(seal_backend *be, seal_rng *r, int rows, int cols, double scale,
                       float **deq) {
  float *x = test_randn(r, (size_t)rows * cols, scale);
  const size_t row_bytes = seal_matrix_bytes(SEAL_Q8, 1, (size_t)cols);
  char *d = be->ops->alloc(be, seal_matrix_bytes(SEAL_Q8, (size_t)rows, (size_t)cols));
  for (int i = 0; i < rows; i++)
    be->ops->to_device(be, d + i * row_bytes, SEAL_Q8, x + (size_t)i * cols, (size_t)cols);
  for (int i = 0; i < rows; i++)
    be->ops->to_host(be, x + (size_t)i * cols, d + i * row_bytes, SEAL_Q8, (size_t)cols);
  *deq = x;
  return d;
}

/* The largest half-step of any 32-block of row x[n] quantised with float32
 * scales (the few-rows kernels' input rounding), per position: step[i]. */
static void input_half_steps(double *step, const float *x, int n) {
  for (int b = 0; b < n; b += SEAL_Q8_BLOCK) {
    double amax = 0;
    for (int i = b; i < n && i < b + SEAL_Q8_BLOCK; i++) amax = fmax(amax, fabs(x[i]));
    for (int i = b; i < n && i < b + SEAL_Q8_BLOCK; i++) step[i] = amax / 127 / 2 * (1 + 1e-4);
  }
}

/* out[N,O] against x W^T (+ bias) in double: within `quantised inputs`'s bound
 * when the input rows are quantised, else float32 summation only. */
static void check_product(const float *out, const float *x, const float *W, const float *bias,
                          int N, int I, int O, bool quantised_inputs, const char *what) {
  double *step = test_zeros_d((size_t)I);
  for (int n = 0; n < N; n++) {
    input_half_steps(step, x + (size_t)n * I, I);
    for (int o = 0; o < O; o++) {
      double s = bias ? bias[o] : 0, mag = fabs(s), bound = 0;
      for (int i = 0; i < I; i++) {
        double w = W[(size_t)o * I + i], xi = x[(size_t)n * I + i];
        s += w * xi, mag += fabs(w * xi), bound += fabs(w) * step[i];
      }
      double tol = (quantised_inputs ? bound : 0) + SUM_TOL * mag + 1e-30;
      double got = out[(size_t)n * O + o];
      ck_assert_msg(fabs(got - s) <= tol, "%s: out[%d,%d] = %.9g, expected %.9g within %.3g", what,
                    n, o, got, s, tol);
    }
  }
  free(step);
}

static bool has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

/* One shape through the op (whichever path it takes), each explicit path, and
 * portable == AVX2 bit for bit. */
static void check_matmul(seal_backend *be, seal_rng *r, int N, int I, int O, bool with_bias) {
  float *Wd, *x = test_randn(r, (size_t)N * I, 1), *bias = with_bias ? test_randn(r, O, 1) : NULL;
  void *W = q8_matrix(be, r, O, I, 0.3, &Wd);
  const size_t n_out = (size_t)N * O;
  float *out = seal_malloc((n_out ? n_out : 1) * sizeof(float));
  float *port = seal_malloc((n_out ? n_out : 1) * sizeof(float));
  char what[96];
  snprintf(what, sizeof what, "q8 matmul %dx%dx%d%s", N, I, O, with_bias ? " + bias" : "");
  for (size_t i = 0; i < n_out; i++) out[i] = NAN; /* '=' must overwrite */
  be->ops->matmul(be, out, x, W, bias, N, I, O);
  check_product(out, x, Wd, bias, N, I, O, N <= SEAL_CPU_FEW_ROWS, what);
  seal_cpu_matmul_q8_by(SEAL_CPU_Q8_DEQUANT_SGEMM, out, x, W, bias, N, I, O);
  check_product(out, x, Wd, bias, N, I, O, false, what);
  for (size_t i = 0; i < n_out; i++) port[i] = NAN;
  seal_cpu_matmul_q8_by(SEAL_CPU_Q8_INT8_PORTABLE, port, x, W, bias, N, I, O);
  check_product(port, x, Wd, bias, N, I, O, true, what);
  if (has_avx2()) {
    for (size_t i = 0; i < n_out; i++) out[i] = NAN;
    seal_cpu_matmul_q8_by(SEAL_CPU_Q8_INT8_AVX2, out, x, W, bias, N, I, O);
    for (size_t i = 0; i < n_out; i++)
      ck_assert_msg(memcmp(&out[i], &port[i], sizeof(float)) == 0,
                    "%s: AVX2 %.9g, portable %.9g at %zu", what, out[i], port[i], i);
  }
  be->ops->free(be, W);
  free(x), free(Wd), free(bias), free(out), free(port);
}

START_TEST(q8_matmul_matches_the_dequantised_product) {
  seal_backend *be = q8_backend();
  seal_rng r;
  seal_rng_seed(&r, 51);
  /* I: one block, padded rows (60, 136 as the tiny models), the real model's
   * 576, none (I = 0: every row is the bias); O odd, past one 32-row chunk */
  const int Is[] = {32, 60, 136, 576, 0};
  for (int N = 1; N <= 9; N++)
    for (size_t k = 0; k < sizeof Is / sizeof *Is; k++) check_matmul(be, &r, N, Is[k], 37, N & 1);
  /* prefill-sized: two tiles and a part (I = 700: 80-row tiles) */
  check_matmul(be, &r, 40, 700, 200, true);
  check_matmul(be, &r, 64, 96, 19, false);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(q8_matmul_backward_input_matches_the_dequantised_product) {
  seal_backend *be = q8_backend();
  seal_rng r;
  seal_rng_seed(&r, 52);
  /* I = 150: panels of 64, 64 and 22 columns, the last block padded; O = 1100:
   * two row chunks */
  enum { N = 40, I = 150, O = 1100 };
  float *Wd;
  void *W = q8_matrix(be, &r, O, I, 1, &Wd);
  test_backward_input_of_compact(be, &r, W, Wd, N, I, O, SUM_TOL, "q8");
  be->ops->free(be, W);
  free(Wd);
  seal_backend_destroy(be);
}
END_TEST

/* |got[i] - want[i]| within half its 32-block's step, the step being the
 * block's largest |want| over 127 as a half (2^-11 relative, and a margin). */
static void check_within_half_step(const float *got, const float *want, int n, const char *what) {
  for (int b = 0; b < n; b += SEAL_Q8_BLOCK) {
    double amax = 0;
    for (int i = b; i < n && i < b + SEAL_Q8_BLOCK; i++) amax = fmax(amax, fabs(want[i]));
    double half_step = amax / 127 / 2 * (1 + 0x1p-10) + 1e-30;
    for (int i = b; i < n && i < b + SEAL_Q8_BLOCK; i++)
      ck_assert_msg(fabs((double)got[i] - want[i]) <= half_step,
                    "%s[%d] = %.9g, stored %.9g: more than half a step (%.3g)", what, i,
                    (double)want[i], (double)got[i], half_step);
  }
}

START_TEST(q8_lora_merge_requantises_the_merged_weight) {
  seal_backend *be = q8_backend();
  seal_rng r;
  seal_rng_seed(&r, 53);
  enum { O = 130, I = 600, R = 4 }; /* I: 18 whole blocks and a padded one */
  float scale = 0.5f, *Wd;
  float *A = test_randn(&r, R * I, 0.5), *B = test_randn(&r, O * R, 0.5);
  void *W = q8_matrix(be, &r, O, I, 0.3, &Wd);
  test_merge_of_compact(be, SEAL_Q8, W, Wd, A, B, O, I, R, scale, check_within_half_step);
  be->ops->free(be, W);
  free(A), free(B), free(Wd);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(q8_embedding_dequantises_rows) {
  seal_backend *be = q8_backend();
  seal_rng r;
  seal_rng_seed(&r, 54);
  enum { V = 13, C = 37 }; /* C: a block and a padded one */
  float *td;
  void *table = q8_matrix(be, &r, V, C, 1, &td);
  test_embedding_of_compact(be, table, td, C);
  be->ops->free(be, table);
  free(td);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(q8_uploads_blocks_of_gguf_q8_0) {
  seal_backend *be = q8_backend();
  seal_rng r;
  seal_rng_seed(&r, 55);
  /* 70 values: two whole blocks and one of 6 (padded with zeros) */
  enum { n = 70 };
  float in[n];
  for (int i = 0; i < 32; i++) in[i] = (float)(i - 16); /* amax 16: d = 16/127 */
  float *rnd = test_randn(&r, n - 32, 2);
  memcpy(in + 32, rnd, (n - 32) * sizeof(float));
  free(rnd);
  ck_assert_uint_eq(seal_matrix_bytes(SEAL_Q8, 1, n), 3 * 34);
  ck_assert_uint_eq(seal_matrix_bytes(SEAL_Q8, 5, 64), 5 * 2 * 34);
  seal_q8_block *d = be->ops->alloc(be, seal_matrix_bytes(SEAL_Q8, 1, n));
  be->ops->to_device(be, d, SEAL_Q8, in, n);
  ck_assert_uint_eq(d[0].d, seal_f32_to_f16_bits(16.0f / 127));
  ck_assert_int_eq(d[0].q[0], -127);
  ck_assert_int_eq(d[0].q[16], 0);
  ck_assert_int_eq(d[0].q[31], 119); /* 15 / (16/127) = 119.06 */
  for (int i = 6; i < 32; i++) ck_assert_int_eq(d[2].q[i], 0);
  float back[n];
  be->ops->to_host(be, back, d, SEAL_Q8, n);
  check_within_half_step(back, in, n, "uploaded");
  /* storing what was read back changes nothing: every block's largest value
   * is +-127 steps, so its scale comes back the same */
  seal_q8_block again[3];
  be->ops->to_device(be, again, SEAL_Q8, back, n);
  ck_assert(memcmp(again, d, sizeof again) == 0);
  be->ops->fill(be, d, SEAL_Q8, -0.75f, n);
  be->ops->to_host(be, back, d, SEAL_Q8, n);
  float want[n];
  for (int i = 0; i < n; i++) want[i] = -0.75f;
  check_within_half_step(back, want, n, "filled");
  ck_assert_int_eq(d[2].q[5], -127);
  ck_assert_int_eq(d[2].q[6], 0);
  be->ops->free(be, d);
  seal_backend_destroy(be);
}
END_TEST

__attribute__((target("f16c"))) static uint16_t hardware_f16(float f) {
  return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

__attribute__((target("f16c"))) static float hardware_f32(uint16_t h) { return _cvtsh_ss(h); }

START_TEST(q8_half_scales_round_to_nearest_even) {
  const struct {
    float f;
    uint16_t h;
  } cases[] = {{1.0f, 0x3c00},
               {-2.0f, 0xc000},
               {65504.0f, 0x7bff},
               {65519.0f, 0x7bff},
               {65520.0f, 0x7c00},
               {0x1p-24f, 0x0001},
               {0x1p-25f, 0x0000},
               {0x1.8p-25f, 0x0001},
               {0x1p-14f, 0x0400},
               {1.0f + 0x1p-11f, 0x3c00},
               {1.0f + 0x3p-11f, 0x3c02},
               {0x1.ffcp-15f, 0x0400}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    ck_assert_msg(seal_f32_to_f16_bits(cases[i].f) == cases[i].h, "%a -> %04x, expected %04x",
                  (double)cases[i].f, seal_f32_to_f16_bits(cases[i].f), cases[i].h);
  ck_assert(isnan(seal_f16_bits_to_f32(seal_f32_to_f16_bits(NAN))));
  /* every half that is not a NaN goes to float32 and back unchanged */
  for (uint32_t h = 0; h < 0x10000; h++)
    if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0)
      ck_assert_uint_eq(seal_f32_to_f16_bits(seal_f16_bits_to_f32((uint16_t)h)), h);
  /* and the software conversion agrees with F16C's on random floats of every
   * magnitude a half covers */
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("f16c")) return;
  seal_rng r;
  seal_rng_seed(&r, 56);
  for (int i = 0; i < 200000; i++) {
    uint32_t u = (uint32_t)seal_rng_u64(&r);
    u = (u & 0x807fffffu) | ((uint32_t)(100 + seal_rng_u64(&r) % 45) << 23); /* 2^-27..2^17 */
    float f;
    memcpy(&f, &u, sizeof f);
    ck_assert_msg(seal_f32_to_f16_bits(f) == hardware_f16(f), "%a: software %04x, F16C %04x",
                  (double)f, seal_f32_to_f16_bits(f), hardware_f16(f));
    ck_assert_float_eq(seal_f16_bits_to_f32(hardware_f16(f)), hardware_f32(hardware_f16(f)));
  }
}
END_TEST

Suite *cpu_q8_suite(void) {
  Suite *s = suite_create("cpu_q8");
  TCase *tc = tcase_create("q8_matrices");
  TEST_OP(tc, matmul, q8_matmul_matches_the_dequantised_product);
  TEST_OP(tc, matmul_backward_input, q8_matmul_backward_input_matches_the_dequantised_product);
  TEST_OP(tc, lora_merge, q8_lora_merge_requantises_the_merged_weight);
  TEST_OP(tc, embedding, q8_embedding_dequantises_rows);
  TEST_OP(tc, to_device, q8_uploads_blocks_of_gguf_q8_0);
  tcase_add_test(tc, q8_half_scales_round_to_nearest_even);
  suite_add_tcase(s, tc);
  return s;
}
