/* tests/kernels/test_cpu_lora.c — lora_forward and lora_backward (kernels/cpu/lora.c)
 * against a double-precision reference over the shapes their paths split on:
 * ranks 1 to 64 (seal's kernels) and 65 (cblas_sgemm), every row count from 1
 * to 40, 127 and 300 (sgemm's rows), widths that are not multiples of 8 and span
 * several work items, each with the AVX2 kernels and with the plain ones; the
 * accumulating outputs (+=), dh written over (=), dx NULL; and the same bits
 * whatever the thread count. */
#include <omp.h>
#include <string.h>

#include "cpu_test_helpers.h"

#define LORA_TOL 1e-5

/* Widths: not multiples of 8, and more than one 64-column work item. */
enum { LI = 141, LO = 93 };

static const int ranks[] = {1, 8, 16, 32, 64, 65};

typedef struct {
  int N, I, O, r;
  float scale;
  float *x, *A, *B, *out, *dout, *dA, *dB, *dx; /* the inputs, random */
} lora_case;

static lora_case lora_case_make(seal_rng *g, int N, int I, int O, int r) {
  lora_case c = {N, I, O, r, 1.75f, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  c.x = test_randn(g, (size_t)N * I, 1), c.A = test_randn(g, (size_t)r * I, 0.5);
  c.B = test_randn(g, (size_t)O * r, 0.5), c.out = test_randn(g, (size_t)N * O, 1);
  c.dout = test_randn(g, (size_t)N * O, 1), c.dA = test_randn(g, (size_t)r * I, 1);
  c.dB = test_randn(g, (size_t)O * r, 1), c.dx = test_randn(g, (size_t)N * I, 1);
  return c;
}

static void lora_case_free(lora_case *c) {
  free(c->x), free(c->A), free(c->B), free(c->out), free(c->dout), free(c->dA), free(c->dB);
  free(c->dx);
}

/* h_ref [N, r] = x A^T; out_ref [N, O] = out + scale h B^T. */
static void forward_ref(const lora_case *c, double *h_ref, double *out_ref) {
  int N = c->N, I = c->I, O = c->O, r = c->r;
  for (int n = 0; n < N; n++)
    for (int k = 0; k < r; k++) {
      double s = 0;
      for (int i = 0; i < I; i++) s += (double)c->x[n * I + i] * c->A[k * I + i];
      h_ref[n * r + k] = s;
    }
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      double s = 0;
      for (int k = 0; k < r; k++) s += h_ref[n * r + k] * c->B[o * r + k];
      out_ref[n * O + o] = c->out[n * O + o] + c->scale * s;
    }
}

/* From h (the forward's, as float): dh = scale dout B; dB += scale dout^T h;
 * dA += dh^T x; dx += dh A, each in double. */
static void backward_ref(const lora_case *c, const float *h, double *dh, double *dA, double *dB,
                         double *dx) {
  int N = c->N, I = c->I, O = c->O, r = c->r;
  for (int n = 0; n < N; n++)
    for (int k = 0; k < r; k++) {
      double s = 0;
      for (int o = 0; o < O; o++) s += (double)c->dout[n * O + o] * c->B[o * r + k];
      dh[n * r + k] = c->scale * s;
    }
  for (int o = 0; o < O; o++)
    for (int k = 0; k < r; k++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += (double)c->dout[n * O + o] * h[n * r + k];
      dB[o * r + k] = c->dB[o * r + k] + c->scale * s;
    }
  for (int k = 0; k < r; k++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int n = 0; n < N; n++) s += dh[n * r + k] * c->x[n * I + i];
      dA[k * I + i] = c->dA[k * I + i] + s;
    }
  for (int n = 0; n < N; n++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int k = 0; k < r; k++) s += dh[n * r + k] * c->A[k * I + i];
      dx[n * I + i] = c->dx[n * I + i] + s;
    }
}

/* n floats of NaN: where the op must write over (=), not add. */
static float *nans(size_t n) {
  float *x = seal_malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = NAN;
  return x;
}

static void check_forward(seal_backend *be, const lora_case *c) {
  size_t nh = (size_t)c->N * c->r, no = (size_t)c->N * c->O;
  double *h_ref = test_zeros_d(nh), *out_ref = test_zeros_d(no);
  forward_ref(c, h_ref, out_ref);
  float *h = nans(nh), *out = test_copy(c->out, no);
  be->ops->lora_forward(be, out, h, c->x, c->A, c->B, c->N, c->I, c->O, c->r, c->scale);
  char what[64];
  snprintf(what, sizeof what, "h N=%d r=%d", c->N, c->r);
  TEST_ASSERT_CLOSE(what, h, h_ref, nh, LORA_TOL);
  snprintf(what, sizeof what, "out N=%d r=%d", c->N, c->r);
  TEST_ASSERT_CLOSE(what, out, out_ref, no, LORA_TOL);
  free(h_ref), free(out_ref), free(h), free(out);
}

/* The backward from the forward's h, with dx or (with_dx false) NULL, which
 * must leave dA and dB as they are with it. */
static void check_backward(seal_backend *be, const lora_case *c, bool with_dx) {
  int N = c->N, I = c->I, O = c->O, r = c->r;
  size_t nh = (size_t)N * r, nA = (size_t)r * I, nB = (size_t)O * r, nx = (size_t)N * I;
  float *h = nans(nh), *out = test_copy(c->out, (size_t)N * O);
  be->ops->lora_forward(be, out, h, c->x, c->A, c->B, N, I, O, r, c->scale);
  double *dh_ref = test_zeros_d(nh), *dA_ref = test_zeros_d(nA), *dB_ref = test_zeros_d(nB);
  double *dx_ref = test_zeros_d(nx);
  backward_ref(c, h, dh_ref, dA_ref, dB_ref, dx_ref);
  float *dh = nans(nh), *dA = test_copy(c->dA, nA), *dB = test_copy(c->dB, nB);
  float *dx = test_copy(c->dx, nx);
  be->ops->lora_backward(be, with_dx ? dx : NULL, dA, dB, dh, c->dout, c->x, c->A, c->B, h, N, I, O,
                         r, c->scale);
  char what[64];
  snprintf(what, sizeof what, "dh N=%d r=%d", N, r);
  TEST_ASSERT_CLOSE(what, dh, dh_ref, nh, LORA_TOL);
  snprintf(what, sizeof what, "dA N=%d r=%d", N, r);
  TEST_ASSERT_CLOSE(what, dA, dA_ref, nA, LORA_TOL);
  snprintf(what, sizeof what, "dB N=%d r=%d", N, r);
  TEST_ASSERT_CLOSE(what, dB, dB_ref, nB, LORA_TOL);
  if (with_dx) {
    snprintf(what, sizeof what, "dx N=%d r=%d", N, r);
    TEST_ASSERT_CLOSE(what, dx, dx_ref, nx, LORA_TOL);
  } else {
    ck_assert_msg(memcmp(dx, c->dx, nx * sizeof(float)) == 0, "dx NULL: dx was written");
  }
  free(h), free(out), free(dh_ref), free(dA_ref), free(dB_ref), free(dx_ref);
  free(dh), free(dA), free(dB), free(dx);
}

/* Every rank, N = 1..40 (seal's kernels up to SEAL_CPU_LORA_SGEMM_ROWS - 1, sgemm
 * above), 127 and 300, with
 * the AVX2 kernels; the plain ones at N = 1..9, 40, 127 and 300. */
static void for_every_shape(void (*check)(seal_backend *, const lora_case *, int), int seed) {
  seal_backend *be = test_cpu_backend();
  seal_rng g;
  seal_rng_seed(&g, (uint64_t)seed);
  for (int avx2 = 1; avx2 >= 0; avx2--) {
    seal_cpu_lora_allow_avx2(avx2);
    for (size_t k = 0; k < sizeof ranks / sizeof *ranks; k++)
      for (int N = 1; N <= 42; N++) {
        if (!avx2 && N >= 10 && N < 40) continue; /* the plain kernels have no blocks to miss */
        int rows = N == 41 ? 127 : N == 42 ? 300 : N;
        lora_case c = lora_case_make(&g, rows, LI, LO, ranks[k]);
        check(be, &c, N);
        lora_case_free(&c);
      }
  }
  seal_cpu_lora_allow_avx2(true);
  seal_backend_destroy(be);
}

static void forward_case(seal_backend *be, const lora_case *c, int i) {
  (void)i;
  check_forward(be, c);
}

static void backward_case(seal_backend *be, const lora_case *c, int i) {
  check_backward(be, c, i % 3 != 0); /* every third shape without dx */
}

START_TEST(lora_forward_matches_reference_at_every_shape) { for_every_shape(forward_case, 31); }
END_TEST

START_TEST(lora_backward_matches_reference_at_every_shape) { for_every_shape(backward_case, 32); }
END_TEST

/* A shape on lora.c's kernels above the parallel threshold (decoding's 8
 * rows, r = 64, a larger model's MLP widths): h, out, dh, dA, dB, dx bit for
 * bit the same with 1, 2 and 3 threads, and the parallel path against the
 * reference. */
START_TEST(lora_does_not_depend_on_the_thread_count) {
  seal_backend *be = test_cpu_backend();
  seal_rng g;
  seal_rng_seed(&g, 33);
  lora_case c = lora_case_make(&g, SEAL_CPU_LORA_SGEMM_ROWS - 1, 2048, 6144, 64);
  ck_assert((size_t)c.N * c.r * (c.I + c.O) >= SEAL_CPU_LORA_PARALLEL_MIN);
  size_t nh = (size_t)c.N * c.r, no = (size_t)c.N * c.O, nA = (size_t)c.r * c.I;
  size_t nB = (size_t)c.O * c.r, nx = (size_t)c.N * c.I, n = 2 * nh + no + nA + nB + nx;
  float *got[3];
  int before = omp_get_max_threads();
  for (int t = 0; t < 3; t++) {
    omp_set_num_threads(t + 1);
    float *h = got[t] = seal_malloc(n * sizeof(float)), *dh = h + nh, *out = dh + nh;
    float *dA = out + no, *dB = dA + nA, *dx = dB + nB;
    memcpy(out, c.out, no * sizeof(float)), memcpy(dA, c.dA, nA * sizeof(float));
    memcpy(dB, c.dB, nB * sizeof(float)), memcpy(dx, c.dx, nx * sizeof(float));
    be->ops->lora_forward(be, out, h, c.x, c.A, c.B, c.N, c.I, c.O, c.r, c.scale);
    be->ops->lora_backward(be, dx, dA, dB, dh, c.dout, c.x, c.A, c.B, h, c.N, c.I, c.O, c.r,
                           c.scale);
  }
  for (int t = 1; t < 3; t++)
    ck_assert_msg(memcmp(got[t], got[0], n * sizeof(float)) == 0,
                  "LoRA results with %d threads differ from those with 1", t + 1);
  omp_set_num_threads(2);
  check_forward(be, &c);
  check_backward(be, &c, true);
  omp_set_num_threads(before);
  for (int t = 0; t < 3; t++) free(got[t]);
  lora_case_free(&c);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_lora_suite(void) {
  Suite *s = suite_create("cpu_lora");
  TCase *tc = tcase_create("lora");
  tcase_set_timeout(tc, 60);
  TEST_OP(tc, lora_forward, lora_forward_matches_reference_at_every_shape);
  TEST_OP(tc, lora_backward, lora_backward_matches_reference_at_every_shape);
  TEST_OP(tc, lora_backward, lora_does_not_depend_on_the_thread_count);
  suite_add_tcase(s, tc);
  return s;
}
