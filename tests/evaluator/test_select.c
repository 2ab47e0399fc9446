/* tests/evaluator/test_select.c — best-of-k by mean reward, ties to the lowest index. */
#include <check.h>
#include <math.h>

#include "evaluator/select.h"

START_TEST(best_mean_wins) {
  /* [k=3, R=2] */
  const double r[] = {0.2, 0.4, 0.8, 0.6, 0.5, 0.5};
  double means[3];
  seal_best b = seal_select_best(r, 3, 2, means);
  ck_assert_int_eq(b.index, 1);
  ck_assert_double_eq_tol(b.mean, 0.7, 1e-12);
  ck_assert_double_eq_tol(means[0], 0.3, 1e-12);
  ck_assert_double_eq_tol(means[2], 0.5, 1e-12);
}
END_TEST

START_TEST(ties_go_to_the_lowest_index) {
  const double r[] = {0.0, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5};
  seal_best b = seal_select_best(r, 7, 1, NULL);
  ck_assert_int_eq(b.index, 1);
  ck_assert_double_eq(b.mean, 0.5);
  const double zeros[] = {0, 0, 0, 0};
  b = seal_select_best(zeros, 2, 2, NULL);
  ck_assert_int_eq(b.index, 0);
  ck_assert_double_eq(b.mean, 0.0);
}
END_TEST

START_TEST(missing_results_are_left_out) {
  /* sample 0 has one of two repeats; sample 1 has none */
  const double r[] = {NAN, 0.6, NAN, NAN, 0.4, 0.4};
  double means[3];
  seal_best b = seal_select_best(r, 3, 2, means);
  ck_assert_int_eq(b.index, 0);
  ck_assert_double_eq_tol(b.mean, 0.6, 1e-12);
  ck_assert(isnan(means[1]));
  const double none[] = {NAN, NAN};
  b = seal_select_best(none, 2, 1, NULL);
  ck_assert_int_eq(b.index, -1);
}
END_TEST

Suite *select_suite(void) {
  Suite *s = suite_create("select");
  TCase *tc = tcase_create("select");
  tcase_add_test(tc, best_mean_wins);
  tcase_add_test(tc, ties_go_to_the_lowest_index);
  tcase_add_test(tc, missing_results_are_left_out);
  suite_add_tcase(s, tc);
  return s;
}
