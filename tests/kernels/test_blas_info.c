/* tests/kernels/test_blas_info.c — telling OpenBLAS's fallback kernels from the
 * processor's own (the Intel machine of issue 15 ran "Prescott" with AVX-512),
 * and replacing them without the user's help. */
#include <check.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/threads.h"

START_TEST(fallback_kernels_on_a_newer_cpu_are_flagged) {
  char advice[256];
  ck_assert(seal_cpu_blas_core_is_generic("Prescott", true, true, advice, sizeof advice));
  ck_assert_ptr_nonnull(strstr(advice, "OPENBLAS_CORETYPE=SkylakeX"));
  ck_assert(seal_cpu_blas_core_is_generic("Haswell", true, true, advice, sizeof advice));
  ck_assert(seal_cpu_blas_core_is_generic("Sandybridge", true, false, advice, sizeof advice));
  ck_assert_ptr_nonnull(strstr(advice, "OPENBLAS_CORETYPE=Haswell"));
}
END_TEST

START_TEST(matching_kernels_are_not_flagged) {
  ck_assert(!seal_cpu_blas_core_is_generic("Zen", true, false, NULL, 0));
  ck_assert(!seal_cpu_blas_core_is_generic("SkylakeX", true, true, NULL, 0));
  ck_assert(!seal_cpu_blas_core_is_generic("Cooperlake", true, true, NULL, 0));
  ck_assert(!seal_cpu_blas_core_is_generic("Prescott", false, false, NULL, 0)); /* an old CPU */
  ck_assert(!seal_cpu_blas_core_is_generic("Haswell", true, false, NULL, 0));
}
END_TEST

START_TEST(this_process_reports_a_core) {
  ck_assert(strlen(seal_cpu_blas_core()) > 0);
  ck_assert_ptr_nonnull(strstr(seal_cpu_blas_config(), "OpenBLAS"));
}
END_TEST

/* OpenBLAS's own kernel choice (DYNAMIC_ARCH builds; not in cblas.h): what
 * seal_cpu_blas_use_best_core calls, used here to put the process in the state
 * a processor OpenBLAS does not know leaves it in. */
void gotoblas_dynamic_quit(void);
void gotoblas_dynamic_init(void);

/* This process's OpenBLAS runs `core`'s kernels, as if OPENBLAS_CORETYPE=core
 * had been set at start; the variable stays set when `keep` (the user's choice). */
static void run_core(const char *core, bool keep) {
  setenv("OPENBLAS_CORETYPE", core, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (!keep) unsetenv("OPENBLAS_CORETYPE");
  ck_assert_str_eq(seal_cpu_blas_core(), core);
}

/* These tests change the process's OpenBLAS and its once-only switch: they need
 * Check's default fork mode (each test in its own process). */
static bool forked(void) {
  const char *f = getenv("CK_FORK");
  return !f || strcmp(f, "no") != 0;
}

/* out[64, 80] = x[64, 96] w[80, 96]^T through sgemm (more than the few-rows
 * path's 8 rows), on two threads, against the exact sums of small integers. */
static void check_a_product(void) {
  enum { N = 64, I = 96, O = 80 };
  static float x[N * I], w[O * I], out[N * O];
  for (int i = 0; i < N * I; i++) x[i] = (float)(i % 7) - 3;
  for (int i = 0; i < O * I; i++) w[i] = (float)(i % 5) - 2;
  int before = omp_get_max_threads();
  seal_cpu_threads_set(2); /* OpenMP's and OpenBLAS's */
  seal_backend f32 = {.name = "cpu", .act = SEAL_F32, .weight = SEAL_F32}; /* not created: */
  seal_cpu_matmul(&f32, out, x, w, NULL, N, I, O); /* creating one would switch the kernels */
  seal_cpu_threads_set(before);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      float want = 0;
      for (int i = 0; i < I; i++) want += x[n * I + i] * w[o * I + i];
      ck_assert_float_eq(out[n * O + o], want);
    }
}

START_TEST(generic_kernels_are_replaced_when_the_backend_starts) {
  __builtin_cpu_init();
  if (!forked() || !__builtin_cpu_supports("avx2")) return; /* nothing better to switch to */
  const char *best = __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell";
  run_core("Prescott", false);
  ck_assert(seal_cpu_blas_runs_generic(NULL, 0));
  check_a_product(); /* OpenBLAS's buffers exist before the switch */

  seal_error e = {{0}};
  seal_backend *be = seal_cpu_backend_create(SEAL_F32, &e);
  ck_assert_ptr_nonnull(be);
  ck_assert_str_eq(seal_cpu_blas_core(), best);
  ck_assert(!seal_cpu_blas_runs_generic(NULL, 0));
  ck_assert_ptr_null(getenv("OPENBLAS_CORETYPE"));
  check_a_product(); /* and the new kernels compute with them */
  seal_backend_destroy(be);
}
END_TEST

START_TEST(kernels_the_user_chose_are_kept) {
  __builtin_cpu_init();
  if (!forked() || !__builtin_cpu_supports("avx2")) return;
  run_core("Prescott", true);
  char note[320];
  ck_assert(!seal_cpu_blas_use_best_core(note, sizeof note));
  ck_assert_str_eq(seal_cpu_blas_core(), "Prescott");
}
END_TEST

Suite *blas_info_suite(void) {
  Suite *s = suite_create("blas_info");
  TCase *tc = tcase_create("blas_info");
  tcase_add_test(tc, fallback_kernels_on_a_newer_cpu_are_flagged);
  tcase_add_test(tc, matching_kernels_are_not_flagged);
  tcase_add_test(tc, this_process_reports_a_core);
  tcase_add_test(tc, generic_kernels_are_replaced_when_the_backend_starts);
  tcase_add_test(tc, kernels_the_user_chose_are_kept);
  suite_add_tcase(s, tc);
  return s;
}
