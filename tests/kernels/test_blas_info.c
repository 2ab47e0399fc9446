/* tests/kernels/test_blas_info.c — telling OpenBLAS's fallback kernels from the
 * processor's own (the Intel machine of issue 15 ran "Prescott" with AVX-512). */
#include <check.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"

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

Suite *blas_info_suite(void) {
  Suite *s = suite_create("blas_info");
  TCase *tc = tcase_create("blas_info");
  tcase_add_test(tc, fallback_kernels_on_a_newer_cpu_are_flagged);
  tcase_add_test(tc, matching_kernels_are_not_flagged);
  tcase_add_test(tc, this_process_reports_a_core);
  suite_add_tcase(s, tc);
  return s;
}
