/* tests/trainer/test_continual_matrix.c — the continual protocol's bookkeeping:
 * the lower triangle, the before row, means over sequences that skip cells not
 * measured, forgetting, and the JSON and SVG written from it. The numbers are
 * chosen so each expected value is a sum that can be checked by hand. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/continual_matrix.h"

/* Two sequences of three passages: sequence 1 = sequence 0 + 0.1 in every cell. */
static void fill(seal_continual_matrix *m) {
  seal_continual_matrix_create(m, 2, 3);
  const double after0[3][3] = {{0.5, 0, 0}, {0.4, 0.6, 0}, {0.2, 0.5, 0.7}};
  const double before0[3] = {0.1, 0.0, 0.2};
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 3; i++) {
      seal_continual_set_before(m, s, i, before0[i] + 0.1 * s);
      for (int j = 0; j <= i; j++) seal_continual_set_after(m, s, i, j, after0[i][j] + 0.1 * s);
    }
}

START_TEST(means_diagonal_and_before_row) {
  seal_continual_matrix m;
  fill(&m);
  ck_assert_double_eq_tol(seal_continual_mean_before(&m, 0), 0.15, 1e-12);
  ck_assert_double_eq_tol(seal_continual_mean_after(&m, 0, 0), 0.55, 1e-12);
  ck_assert_double_eq_tol(seal_continual_mean_after(&m, 2, 1), 0.55, 1e-12);
  ck_assert(isnan(seal_continual_mean_after(&m, 0, 2))); /* not seen yet */
  seal_continual_matrix_free(&m);
}
END_TEST

START_TEST(forgetting_is_own_update_minus_last) {
  seal_continual_matrix m;
  fill(&m);
  ck_assert_double_eq_tol(seal_continual_forgetting(&m, 0, 0), 0.5 - 0.2, 1e-12);
  ck_assert_double_eq_tol(seal_continual_forgetting(&m, 1, 1), 0.7 - 0.6, 1e-12);
  ck_assert_double_eq_tol(seal_continual_forgetting(&m, 0, 2), 0.0, 1e-12); /* the last passage */
  ck_assert_double_eq_tol(seal_continual_forgetting(&m, -1, 0), 0.3, 1e-12);
  seal_continual_matrix_free(&m);
}
END_TEST

START_TEST(missing_sequences_are_left_out_of_means) {
  seal_continual_matrix m;
  seal_continual_matrix_create(&m, 3, 2);
  seal_continual_set_after(&m, 0, 1, 0, 0.2);
  seal_continual_set_after(&m, 2, 1, 0, 0.6); /* sequence 1 never measured it */
  ck_assert_double_eq_tol(seal_continual_mean_after(&m, 1, 0), 0.4, 1e-12);
  ck_assert(isnan(seal_continual_mean_before(&m, 0)));
  seal_continual_matrix_free(&m);
}
END_TEST

START_TEST(json_has_the_triangle_and_per_sequence_rows) {
  seal_continual_matrix m;
  fill(&m);
  json_t *o = seal_continual_to_json(&m);
  ck_assert_int_eq((int)json_integer_value(json_object_get(o, "sequences")), 2);
  ck_assert_int_eq((int)json_integer_value(json_object_get(o, "passages")), 3);
  json_t *after = json_object_get(o, "after");
  ck_assert_int_eq((int)json_array_size(after), 3);
  ck_assert(json_is_null(json_array_get(json_array_get(after, 0), 1))); /* above the diagonal */
  ck_assert_double_eq_tol(json_number_value(json_array_get(json_array_get(after, 2), 0)), 0.25,
                          1e-12);
  json_t *per = json_object_get(o, "per_sequence");
  ck_assert_int_eq((int)json_array_size(per), 2);
  json_t *b1 = json_object_get(json_array_get(per, 1), "before");
  ck_assert_double_eq_tol(json_number_value(json_array_get(b1, 2)), 0.3, 1e-12);
  json_decref(o);
  seal_continual_matrix_free(&m);
}
END_TEST

START_TEST(svg_heatmap_draws_every_measured_cell) {
  seal_continual_matrix m;
  fill(&m);
  char path[] = "/tmp/seal-heatmap-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  seal_error e;
  ck_assert_int_eq(seal_continual_write_svg(&m, path, &e), 0);
  size_t n;
  char *svg = seal_read_file(path, &n, &e);
  ck_assert_ptr_nonnull(svg);
  int rects = 0, grey = 0;
  for (const char *p = svg; (p = strstr(p, "<rect x=")); p++) rects++;
  for (const char *p = svg; (p = strstr(p, "#eeeeee")); p++) grey++;
  ck_assert_int_eq(rects, 3 + 9);                   /* the before row and the 3x3 grid */
  ck_assert_int_eq(grey, 3);                        /* the cells above the diagonal */
  ck_assert_ptr_nonnull(strstr(svg, ">55</text>")); /* mean after[0][0] = 0.55 */
  free(svg);
  unlink(path);
  seal_continual_matrix_free(&m);
}
END_TEST

Suite *continual_matrix_suite(void) {
  Suite *s = suite_create("continual_matrix");
  TCase *tc = tcase_create("continual_matrix");
  tcase_add_test(tc, means_diagonal_and_before_row);
  tcase_add_test(tc, forgetting_is_own_update_minus_last);
  tcase_add_test(tc, missing_sequences_are_left_out_of_means);
  tcase_add_test(tc, json_has_the_triangle_and_per_sequence_rows);
  tcase_add_test(tc, svg_heatmap_draws_every_measured_cell);
  suite_add_tcase(s, tc);
  return s;
}
