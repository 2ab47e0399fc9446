/* tests/kernels/cpu_test_helpers.h — what the CPU op tests share (test_cpu_ops.c,
 * test_cpu_grad.c, test_cpu_memory.c): registration against the op list, the
 * backend, random tensors, error metrics against a double-precision reference,
 * and central finite differences. */
#ifndef SEAL_TESTS_CPU_TEST_HELPERS_H
#define SEAL_TESTS_CPU_TEST_HELPERS_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"
#include "kernels/profile.h"

/* ---- the op list, test by test (test_cpu_coverage.c) ----------------------
 * Every CPU op test is registered as a test of one op of SEAL_OPS:
 *   TEST_OP(tc, rmsnorm, rmsnorm_matches_reference);
 * It then runs with its backend's calls counted and fails unless it called
 * that op; the cpu_coverage suite fails for any op no test is registered for,
 * so a new op in kernels/ops.h needs a CPU test before the tests pass. */
void test_register_op(TCase *tc, seal_op op, const TTest *test);
#define TEST_OP(tc, op, test) test_register_op((tc), SEAL_OP_##op, (test))

/* The calls made by the test running now, on backends from test_cpu_backend. */
extern seal_op_profile test_op_calls;

/* The CPU backend, behind the profiler so that its calls are counted (the
 * profiler passes each call on unchanged: every test also checks that it
 * does). */
static inline seal_backend *test_cpu_backend(void) {
  seal_error e = {{0}};
  seal_backend *cpu = seal_backend_create("cpu", &e);
  ck_assert_msg(cpu != NULL, "cpu backend: %s", e.msg);
  seal_backend *be = seal_backend_profiled(cpu, 0, NULL);
  seal_backend_profile_into(be, &test_op_calls);
  return be;
}

/* x[n] ~ N(0, scale^2), freshly allocated. */
static inline float *test_randn(seal_rng *r, size_t n, double scale) {
  float *x = seal_malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = (float)(seal_rng_normal(r) * scale);
  return x;
}

static inline double *test_zeros_d(size_t n) { return seal_calloc(n ? n : 1, sizeof(double)); }

static inline float *test_copy(const float *x, size_t n) {
  float *y = seal_malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) y[i] = x[i];
  return y;
}

/* out[N,O] = x[N,I] W[O,I]^T (+ bias) in double: every matmul test's reference. */
static inline void test_ref_matmul(double *out, const float *x, const float *W, const float *bias,
                                   int N, int I, int O) {
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      double s = bias ? bias[o] : 0;
      for (int i = 0; i < I; i++) s += (double)x[(size_t)n * I + i] * W[(size_t)o * I + i];
      out[(size_t)n * O + o] = s;
    }
}

/* max_i |got_i - ref_i| / max_i |ref_i| (the error relative to the tensor's
 * scale, so entries that cancel to near zero do not blow the metric up). */
static inline double test_rel_err(const float *got, const double *ref, size_t n) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - ref[i]);
    if (!(d <= err)) err = d; /* also catches NaN in got */
    if (fabs(ref[i]) > mag) mag = fabs(ref[i]);
  }
  return err / (mag > 0 ? mag : 1e-30);
}

#define TEST_ASSERT_CLOSE(what, got, ref, n, tol)                                           \
  do {                                                                                      \
    double err_ = test_rel_err((got), (ref), (n));                                          \
    if (getenv("SEAL_TEST_VERBOSE")) fprintf(stderr, "%-28s rel err %.3g\n", (what), err_); \
    ck_assert_msg(err_ <= (tol), "%s: relative error %.3g exceeds %.3g", (what), err_,      \
                  (double)(tol));                                                           \
  } while (0)

/* A scalar loss of the op under test, evaluated with the current inputs. */
typedef double (*test_loss_fn)(void *ctx);

/* Central differences of loss with respect to x[n] (which the loss reads),
 * each step h (the actual float step is used, not the nominal one), written
 * into fd[n]. */
static inline void test_finite_diff(double *fd, test_loss_fn loss, void *ctx, float *x, size_t n,
                                    float h) {
  for (size_t i = 0; i < n; i++) {
    float x0 = x[i];
    float xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    double lp = loss(ctx);
    x[i] = xm;
    double lm = loss(ctx);
    x[i] = x0;
    fd[i] = (lp - lm) / ((double)xp - (double)xm);
  }
}

/* sum_i out[i] * R[i] in double: the test loss L = sum(out * R). */
static inline double test_dot(const float *out, const float *R, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)out[i] * R[i];
  return s;
}

/* matmul_backward_input of a compact base matrix W (bf16, Q8: backend memory)
 * against the double product of Wd[O, I], its values as float32: once
 * overwriting a NaN-filled dinp, once accumulating (+=) onto random values,
 * each within tol (relative L2). dout [N, O] random. Frees nothing of W. */
static inline void test_backward_input_of_compact(seal_backend *be, seal_rng *r, const void *W,
                                                  const float *Wd, int N, int I, int O, double tol,
                                                  const char *what) {
  float *dout = test_randn(r, (size_t)N * O, 1), *prior = test_randn(r, (size_t)N * I, 1);
  double *ref = test_zeros_d((size_t)N * I), *ref_acc = test_zeros_d((size_t)N * I);
  for (int n = 0; n < N; n++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int o = 0; o < O; o++) s += (double)dout[(size_t)n * O + o] * Wd[(size_t)o * I + i];
      ref[(size_t)n * I + i] = s;
      ref_acc[(size_t)n * I + i] = s + prior[(size_t)n * I + i];
    }
  float *dinp = seal_malloc((size_t)N * I * sizeof(float));
  for (size_t i = 0; i < (size_t)N * I; i++) dinp[i] = NAN;
  char label[96];
  be->ops->matmul_backward_input(be, dinp, dout, W, N, I, O, 0);
  snprintf(label, sizeof label, "%s matmul_backward_input =", what);
  TEST_ASSERT_CLOSE(label, dinp, ref, (size_t)N * I, tol);
  be->ops->matmul_backward_input(be, prior, dout, W, N, I, O, 1);
  snprintf(label, sizeof label, "%s matmul_backward_input +=", what);
  TEST_ASSERT_CLOSE(label, prior, ref_acc, (size_t)N * I, tol);
  free(dout), free(prior), free(ref), free(ref_acc), free(dinp);
}

/* Within how far a compact dtype may store a value: got[0..n) against want. */
typedef void (*test_stored_check)(const float *got, const float *want, int n, const char *what);

/* lora_merge on a compact W [O, I] (Wd its float32 values): every merged row,
 * read back, is Wd + scale * B A within what `within` allows for storing it
 * again. A [R, I], B [O, R]. */
static inline void test_merge_of_compact(seal_backend *be, seal_dtype t, void *W, const float *Wd,
                                         const float *A, const float *B, int O, int I, int R,
                                         float scale, test_stored_check within) {
  be->ops->lora_merge(be, W, A, B, O, I, R, scale);
  float *got = seal_malloc((size_t)O * I * sizeof(float)), *want = seal_malloc(I * sizeof(float));
  const size_t row_bytes = seal_matrix_bytes(t, 1, I);
  for (int o = 0; o < O; o++) {
    be->ops->to_host(be, got + (size_t)o * I, (char *)W + o * row_bytes, t, I);
    for (int i = 0; i < I; i++) {
      double s = Wd[o * I + i];
      for (int k = 0; k < R; k++) s += (double)scale * B[o * R + k] * A[k * I + i];
      want[i] = (float)s;
    }
    within(got + (size_t)o * I, want, I, "merged W row");
  }
  free(got), free(want);
}

/* The embedding of a compact table [V >= 13, C] (td its float32 values) gives
 * exactly the rows it holds. */
static inline void test_embedding_of_compact(seal_backend *be, const void *table, const float *td,
                                             int C) {
  enum { N = 9 };
  int32_t ids[N] = {3, 0, 12, 3, 7, 1, 12, 5, 9};
  float *out = seal_malloc((size_t)N * C * sizeof(float));
  be->ops->embedding(be, out, ids, table, N, C);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) ck_assert_float_eq(out[n * C + c], td[ids[n] * C + c]);
  free(out);
}

#endif
