/* tests/kernels/test_cpu_q4.c — the "cpu:q4" backend: base matrices in 4-bit
 * blocks of 32 with a half scale and a half minimum (util/q4.h, GGUF's Q4_1),
 * activations in float32 (kernels/cpu/matmul_q4.c).
 *
 * What each op must give, and why the bounds hold:
 * - storing: every value within half a step of what its block gives back
 *   (the step d = (max - min) / 15, rounded to a half: 2^-11 relative), plus
 *   the rounding of the minimum to a half (2^-11 of |min|) and float32's of
 *   d * q + m; in GGUF's block_q4_1 layout (element j in byte j's low nibble,
 *   element j + 16 in its high one), rows padded to whole blocks; a block
 *   stored from the values another block gives back is that block again, bit
 *   for bit, when the block uses q = 0 and q = 15 (as every block of a Q4_1
 *   file does: docs/perf.md, "4-bit base matrices", counts them);
 * - the products against a double-precision reference on the *dequantised*
 *   weights (to_host's values, themselves checked against the originals):
 *   exact up to float32 summation where the weights are dequantised (many
 *   rows, input gradient); where the input rows are quantised too (few rows)
 *   each input x_i moves by at most d_x/2 (its block's step d_x = amax/127),
 *   so an output moves by at most sum_i |w_i| d_x(i) / 2, plus summation. The
 *   few-row kernels sum d q_i x_i and m x_i apart, and the two may cancel, so
 *   their summation is bounded relative to sum_i (|d q_i| + |m|) |x_i|;
 * - the portable and the AVX2 integer kernels do the same arithmetic in the
 *   same order: equal bit for bit. */
#include <string.h>

#include "cpu_test_helpers.h"
#include "util/q4.h"

/* float32 summation over a few hundred products, relative to the sum of the
 * terms' magnitudes */
#define SUM_TOL 1e-5

static seal_backend *q4_backend(void) {
  seal_error e = {{0}};
  seal_backend *cpu = seal_backend_create("cpu:q4", &e);
  ck_assert_msg(cpu != NULL, "cpu:q4 backend: %s", e.msg);
  ck_assert_int_eq(cpu->weight, SEAL_Q4);
  ck_assert_int_eq(cpu->act, SEAL_F32);
  seal_backend *be = seal_backend_profiled(cpu, 0, NULL);
  seal_backend_profile_into(be, &test_op_calls);
  return be;
}

/* A random [rows, cols] matrix uploaded row by row as Q4 (rows padded to
 * whole blocks); *deq gets the values it holds, read back with to_host. */
static void *q4_matrix(seal_backend *be, seal_rng *r, int rows, int cols, double scale,
                       float **deq) {
  float *x = test_randn(r, (size_t)rows * cols, scale);
  const size_t row_bytes = seal_matrix_bytes(SEAL_Q4, 1, (size_t)cols);
  char *d = be->ops->alloc(be, seal_matrix_bytes(SEAL_Q4, (size_t)rows, (size_t)cols));
  for (int i = 0; i < rows; i++)
    be->ops->to_device(be, d + i * row_bytes, SEAL_Q4, x + (size_t)i * cols, (size_t)cols);
  for (int i = 0; i < rows; i++)
    be->ops->to_host(be, x + (size_t)i * cols, d + i * row_bytes, SEAL_Q4, (size_t)cols);
  *deq = x;
  return d;
}

/* The largest half-step of any 32-block of row x[n] quantised to int8 with
 * float32 scales (the few-rows kernels' input rounding), per position. */
static void input_half_steps(double *step, const float *x, int n) {
  for (int b = 0; b < n; b += SEAL_Q4_BLOCK) {
    double amax = 0;
    for (int i = b; i < n && i < b + SEAL_Q4_BLOCK; i++) amax = fmax(amax, fabs(x[i]));
    for (int i = b; i < n && i < b + SEAL_Q4_BLOCK; i++) step[i] = amax / 127 / 2 * (1 + 1e-4);
  }
}

/* |d q_i| + |m| of weight row w's value i: the size of the two terms the
 * few-row kernels sum apart. */
static double term_size(const seal_q4_block *w, int i) {
  const seal_q4_block *b = &w[i / SEAL_Q4_BLOCK];
  return fabs(seal_f16_bits_to_f32(b->d) * seal_q4_get(b, i % SEAL_Q4_BLOCK)) +
         fabs(seal_f16_bits_to_f32(b->m));
}

/* out[N,O] against x W^T (+ bias) in double, W's values Wd and its blocks
 * Wq: within `quantised inputs`'s bound when the input rows are quantised,
 * else float32 summation only. */
static void check_product(const float *out, const float *x, const float *Wd, const void *Wq,
                          const float *bias, int N, int I, int O, bool quantised_inputs,
                          const char *what) {
  double *step = test_zeros_d((size_t)I);
  const size_t nb = seal_q4_blocks((size_t)I);
  for (int n = 0; n < N; n++) {
    input_half_steps(step, x + (size_t)n * I, I);
    for (int o = 0; o < O; o++) {
      const seal_q4_block *wq = (const seal_q4_block *)Wq + (size_t)o * nb;
      double s = bias ? bias[o] : 0, mag = fabs(s), bound = 0;
      for (int i = 0; i < I; i++) {
        double w = Wd[(size_t)o * I + i], xi = x[(size_t)n * I + i];
        s += w * xi, bound += fabs(w) * step[i];
        mag += (quantised_inputs ? term_size(wq, i) : fabs(w)) * fabs(xi);
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
  void *W = q4_matrix(be, r, O, I, 0.3, &Wd);
  const size_t n_out = (size_t)N * O;
  float *out = seal_malloc((n_out ? n_out : 1) * sizeof(float));
  float *port = seal_malloc((n_out ? n_out : 1) * sizeof(float));
  char what[96];
  snprintf(what, sizeof what, "q4 matmul %dx%dx%d%s", N, I, O, with_bias ? " + bias" : "");
  for (size_t i = 0; i < n_out; i++) out[i] = NAN; /* '=' must overwrite */
  be->ops->matmul(be, out, x, W, bias, N, I, O);
  check_product(out, x, Wd, W, bias, N, I, O, N <= SEAL_CPU_FEW_ROWS, what);
  seal_cpu_matmul_q4_by(SEAL_CPU_Q4_DEQUANT_SGEMM, out, x, W, bias, N, I, O);
  check_product(out, x, Wd, W, bias, N, I, O, false, what);
  for (size_t i = 0; i < n_out; i++) port[i] = NAN;
  seal_cpu_matmul_q4_by(SEAL_CPU_Q4_INT_PORTABLE, port, x, W, bias, N, I, O);
  check_product(port, x, Wd, W, bias, N, I, O, true, what);
  if (has_avx2()) {
    for (size_t i = 0; i < n_out; i++) out[i] = NAN;
    seal_cpu_matmul_q4_by(SEAL_CPU_Q4_INT_AVX2, out, x, W, bias, N, I, O);
    for (size_t i = 0; i < n_out; i++)
      ck_assert_msg(memcmp(&out[i], &port[i], sizeof(float)) == 0,
                    "%s: AVX2 %.9g, portable %.9g at %zu", what, out[i], port[i], i);
  }
  be->ops->free(be, W);
  free(x), free(Wd), free(bias), free(out), free(port);
}

START_TEST(q4_matmul_matches_the_dequantised_product) {
  seal_backend *be = q4_backend();
  seal_rng r;
  seal_rng_seed(&r, 61);
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

START_TEST(q4_matmul_backward_input_matches_the_dequantised_product) {
  seal_backend *be = q4_backend();
  seal_rng r;
  seal_rng_seed(&r, 62);
  /* I = 150: panels of 64, 64 and 22 columns, the last block padded; O = 1100:
   * two row chunks */
  enum { N = 40, I = 150, O = 1100 };
  float *Wd;
  void *W = q4_matrix(be, &r, O, I, 1, &Wd);
  test_backward_input_of_compact(be, &r, W, Wd, N, I, O, SUM_TOL, "q4");
  be->ops->free(be, W);
  free(Wd);
  seal_backend_destroy(be);
}
END_TEST

/* |got[i] - want[i]| within half of its 32-block's step (the block's range
 * over 15, as a half), the minimum's rounding to a half and float32's of
 * d * q + m. */
static void check_within_half_step(const float *got, const float *want, int n, const char *what) {
  for (int b = 0; b < n; b += SEAL_Q4_BLOCK) {
    double lo = want[b], hi = want[b];
    for (int i = b; i < n && i < b + SEAL_Q4_BLOCK; i++)
      lo = fmin(lo, want[i]), hi = fmax(hi, want[i]);
    double bound = (hi - lo) / 15 / 2 * (1 + 0x1p-10) + fabs(lo) * 0x1p-11 +
                   fmax(fabs(lo), fabs(hi)) * 0x1p-22 + 1e-30;
    for (int i = b; i < n && i < b + SEAL_Q4_BLOCK; i++)
      ck_assert_msg(fabs((double)got[i] - want[i]) <= bound,
                    "%s[%d] = %.9g, stored %.9g: more than half a step (%.3g)", what, i,
                    (double)want[i], (double)got[i], bound);
  }
}

START_TEST(q4_lora_merge_requantises_the_merged_weight) {
  seal_backend *be = q4_backend();
  seal_rng r;
  seal_rng_seed(&r, 63);
  enum { O = 130, I = 600, R = 4 }; /* I: 18 whole blocks and a padded one */
  float scale = 0.5f, *Wd;
  float *A = test_randn(&r, R * I, 0.5), *B = test_randn(&r, O * R, 0.5);
  void *W = q4_matrix(be, &r, O, I, 0.3, &Wd);
  test_merge_of_compact(be, SEAL_Q4, W, Wd, A, B, O, I, R, scale, check_within_half_step);
  be->ops->free(be, W);
  free(A), free(B), free(Wd);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(q4_embedding_dequantises_rows) {
  seal_backend *be = q4_backend();
  seal_rng r;
  seal_rng_seed(&r, 64);
  enum { V = 13, C = 37 }; /* C: a block and a padded one */
  float *td;
  void *table = q4_matrix(be, &r, V, C, 1, &td);
  test_embedding_of_compact(be, table, td, C);
  be->ops->free(be, table);
  free(td);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(q4_uploads_blocks_of_gguf_q4_1) {
  seal_backend *be = q4_backend();
  seal_rng r;
  seal_rng_seed(&r, 65);
  /* 70 values: two whole blocks and one of 6 (padded) */
  enum { n = 70 };
  float in[n];
  for (int i = 0; i < 32; i++) in[i] = (float)(i / 2) * 0.5f - 2; /* min -2, step 0.5, max 5.5 */
  in[3] = -1.7f; /* (-1.7 + 2) / 0.5 = 0.6: rounds to 1 */
  float *rnd = test_randn(&r, n - 32, 2);
  memcpy(in + 32, rnd, (n - 32) * sizeof(float));
  free(rnd);
  ck_assert_uint_eq(seal_matrix_bytes(SEAL_Q4, 1, n), 3 * 20);
  ck_assert_uint_eq(seal_matrix_bytes(SEAL_Q4, 5, 64), 5 * 2 * 20);
  seal_q4_block *d = be->ops->alloc(be, seal_matrix_bytes(SEAL_Q4, 1, n));
  be->ops->to_device(be, d, SEAL_Q4, in, n);
  ck_assert_uint_eq(d[0].d, seal_f32_to_f16_bits(0.5f));
  ck_assert_uint_eq(d[0].m, seal_f32_to_f16_bits(-2.0f));
  /* element j in byte j's low nibble, element j + 16 in its high one:
   * element j is j / 2, element j + 16 is 8 + j / 2 */
  for (int j = 0; j < 16; j++)
    ck_assert_uint_eq(d[0].qs[j], (j == 3 ? 1 : j / 2) | (8 + j / 2) << 4);
  for (int j = 6; j < 16; j++) ck_assert_uint_eq(d[2].qs[j], 0); /* padding: q = 0 */
  for (int j = 0; j < 16; j++) ck_assert_uint_eq(d[2].qs[j] >> 4, 0);
  float back[n];
  be->ops->to_host(be, back, d, SEAL_Q4, n);
  check_within_half_step(back, in, n, "uploaded");
  ck_assert_float_eq(back[3], -1.5f);
  /* storing what was read back changes nothing: each block's least value is
   * m and its largest 15 d + m, so its halves come back the same */
  seal_q4_block again[3];
  be->ops->to_device(be, again, SEAL_Q4, back, n);
  ck_assert(memcmp(again, d, sizeof again) == 0);
  be->ops->fill(be, d, SEAL_Q4, -0.75f, n);
  be->ops->to_host(be, back, d, SEAL_Q4, n);
  for (int i = 0; i < n; i++) ck_assert_float_eq(back[i], -0.75f);
  be->ops->free(be, d);
  seal_backend_destroy(be);
}
END_TEST

/* A Q4_1 file's blocks (any halves d >= 0 and m, 4-bit values using 0 and 15)
 * dequantised as model/quant.c does and stored again come back bit for bit:
 * what makes cpu:q4 lossless on the layer matrices of a Q4_1 checkpoint. */
START_TEST(q4_file_blocks_come_back_bit_identical) {
  seal_rng r;
  seal_rng_seed(&r, 66);
  int identical = 0;
  enum { blocks = 20000 };
  for (int k = 0; k < blocks; k++) {
    seal_q4_block file;
    /* d from 2^-14 to 2^2 (normal halves), m within +-16 d (trained weights' m is
     * about -8 d) */
    double d =
        ldexp(1 + (double)(seal_rng_u64(&r) % 1024) / 1024, -14 + (int)(seal_rng_u64(&r) % 16));
    double m = d * ((double)(seal_rng_u64(&r) % 32001) - 16000) / 1000; /* never -0 */
    file.d = seal_f32_to_f16_bits((float)d);
    file.m = seal_f32_to_f16_bits((float)m);
    uint8_t q[SEAL_Q4_BLOCK];
    for (int i = 0; i < SEAL_Q4_BLOCK; i++) q[i] = (uint8_t)(seal_rng_u64(&r) % 16);
    q[seal_rng_u64(&r) % 16] = 0, q[16 + seal_rng_u64(&r) % 16] = 15;
    for (int j = 0; j < 16; j++) file.qs[j] = (uint8_t)(q[j] | q[j + 16] << 4);
    float values[SEAL_Q4_BLOCK];
    const float fd = seal_f16_bits_to_f32(file.d), fm = seal_f16_bits_to_f32(file.m);
    for (int i = 0; i < SEAL_Q4_BLOCK; i++) values[i] = (float)q[i] * fd + fm; /* quant.c's */
    seal_q4_block back;
    ck_assert(seal_q4_quantize_block(&back, values, SEAL_Q4_BLOCK));
    identical += !memcmp(&back, &file, sizeof back);
  }
  ck_assert_int_eq(identical, blocks);
}
END_TEST

/* The backend's conversions (whole blocks vectorised in matmul_q4.c) give
 * util/q4.h's blocks and values exactly, for whole and padded rows. */
START_TEST(q4_backend_conversions_are_util_q4s) {
  seal_rng r;
  seal_rng_seed(&r, 67);
  enum { n = 32 * 40 + 11 };
  float *x = test_randn(&r, n, 0.7), back[n], want[SEAL_Q4_BLOCK];
  x[5] = -0.0f, x[40] = 0x1p-20f; /* a signed zero, a tiny value */
  seal_q4_block blocks[n / 32 + 1];
  seal_cpu_q4_quantize(blocks, x, n);
  seal_cpu_q4_dequantize(back, blocks, n);
  for (int b = 0; b * SEAL_Q4_BLOCK < n; b++) {
    int k = n - b * SEAL_Q4_BLOCK < SEAL_Q4_BLOCK ? n - b * SEAL_Q4_BLOCK : SEAL_Q4_BLOCK;
    seal_q4_block one;
    ck_assert(seal_q4_quantize_block(&one, x + b * SEAL_Q4_BLOCK, k));
    ck_assert_msg(memcmp(&one, &blocks[b], sizeof one) == 0, "block %d differs from util's", b);
    seal_q4_dequantize_block(want, &one, k);
    ck_assert(memcmp(want, back + b * SEAL_Q4_BLOCK, (size_t)k * sizeof(float)) == 0);
  }
  free(x);
}
END_TEST

Suite *cpu_q4_suite(void) {
  Suite *s = suite_create("cpu_q4");
  TCase *tc = tcase_create("q4_matrices");
  TEST_OP(tc, matmul, q4_matmul_matches_the_dequantised_product);
  TEST_OP(tc, matmul_backward_input, q4_matmul_backward_input_matches_the_dequantised_product);
  TEST_OP(tc, lora_merge, q4_lora_merge_requantises_the_merged_weight);
  TEST_OP(tc, embedding, q4_embedding_dequantises_rows);
  TEST_OP(tc, to_device, q4_uploads_blocks_of_gguf_q4_1);
  tcase_add_test(tc, q4_file_blocks_come_back_bit_identical);
  tcase_add_test(tc, q4_backend_conversions_are_util_q4s);
  suite_add_tcase(s, tc);
  return s;
}
