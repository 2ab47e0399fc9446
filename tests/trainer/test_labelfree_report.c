/* tests/trainer/test_labelfree_report.c — the label-free report of `seal eval`
 * from a run state's self-edit records: rank correlations and choice agreement
 * per signal against values worked out by hand (below), the entropy taken in
 * reward orientation (minus), unrecorded signals left out, and records that are
 * not scorings (generated, out of range) skipped. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/labelfree_report.h"

static void add(seal_run_state *st, int context, int sample, int repeat, double label,
                const char *metrics) {
  seal_selfedit_record r = {.context_id = context,
                            .sample = sample,
                            .repeat = repeat,
                            .reward = repeat < 0 ? NAN : 0.5,
                            .label_reward = repeat < 0 ? NAN : label,
                            .ok = 1,
                            .attempts = 1,
                            .metrics = (char *)metrics,
                            .text = (char *)"edit"};
  seal_run_state_add_selfedit(st, 0, &r);
}

/* Round 0: contexts 4 and 1 (out of order), k = 2, one repeat:
 *   context 4: labels 0.5, 1.0; self-certainty 0.2, 0.9; entropy 3.0, 1.0
 *   context 1: labels 0.0, 0.5; self-certainty 0.7, 0.1; entropy 2.0, 2.5
 * Self-certainty ranks [2, 4, 3, 1] against label ranks [2.5, 4, 1, 2.5]:
 * Spearman 1.5 / sqrt(5 * 4.5) = 0.316228; tau-b: 3 concordant, 2 discordant,
 * one pair tied in the labels: 1 / sqrt(6 * 5) = 0.182574. The choices:
 * context 1 the labels keep sample 1, self-certainty sample 0 (labelled 0.0);
 * context 4 both keep sample 1: agreement 1/2, the label-free choices' labels
 * (0.0 + 1.0) / 2, the labels' own (0.5 + 1.0) / 2. Minus the entropy ranks
 * them [1, 4, 3, 2]: the same Spearman (the entropy itself would give minus
 * it), and within each context the choices of self-certainty. */
static void fill(seal_run_state *st) {
  seal_run_state_init(st);
  add(st, 4, 0, -1, 0, NULL); /* generated: not a scoring */
  add(st, 4, 0, 0, 0.5, "{\"em\":0,\"self_certainty\":0.2,\"entropy\":3.0,\"majority\":null}");
  add(st, 4, 1, 0, 1.0, "{\"em\":1,\"self_certainty\":0.9,\"entropy\":1.0,\"majority\":null}");
  add(st, 1, 0, 0, 0.0, "{\"em\":0,\"self_certainty\":0.7,\"entropy\":2.0,\"majority\":null}");
  add(st, 1, 1, 0, 0.5, "{\"em\":0,\"self_certainty\":0.1,\"entropy\":2.5}");
  add(st, 1, 1, 3, 1.0, "{\"self_certainty\":99}"); /* repeat 3 of 1: not this job's */
}

START_TEST(report_matches_hand_computation) {
  seal_run_state st;
  fill(&st);
  seal_labelfree_row rows[SEAL_N_SIGNALS];
  int n = seal_labelfree_report(&st, 0, 2, 1, rows);
  ck_assert_int_eq(n, 2); /* majority was never recorded */
  ck_assert_int_eq(rows[0].signal, SEAL_SIGNAL_SELF_CERTAINTY);
  ck_assert_int_eq(rows[1].signal, SEAL_SIGNAL_ENTROPY);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(rows[i].round, 0);
    ck_assert_int_eq(rows[i].n_pairs, 4);
    ck_assert_int_eq(rows[i].n_contexts, 2);
    ck_assert_double_eq_tol(rows[i].spearman, 1.5 / sqrt(22.5), 1e-12);
    ck_assert_double_eq_tol(rows[i].agreement, 0.5, 1e-15);
    ck_assert_double_eq_tol(rows[i].label_of_choice, 0.5, 1e-15);
    ck_assert_double_eq_tol(rows[i].label_of_best, 0.75, 1e-15);
  }
  ck_assert_double_eq_tol(rows[0].kendall, 1 / sqrt(30.0), 1e-12);
  /* no round 1: no rows */
  ck_assert_int_eq(seal_labelfree_report(&st, 1, 2, 1, rows), 0);
  seal_run_state_free(&st);
}
END_TEST

START_TEST(report_rides_on_the_policy_rows) {
  seal_run_state st;
  fill(&st);
  seal_eval_row rows[2] = {{.policy_round = -1}, {.policy_round = 0}};
  seal_labelfree_attach(&st, 2, 1, rows, 2);
  ck_assert_ptr_null(rows[0].labelfree);
  ck_assert_ptr_nonnull(rows[1].labelfree);
  json_error_t je;
  json_t *a = json_loads(rows[1].labelfree, 0, &je);
  ck_assert_int_eq(json_array_size(a), 2);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 1), "signal")), "entropy");
  ck_assert_double_eq_tol(
      json_number_value(json_object_get(json_array_get(a, 0), "choice_agreement")), 0.5, 1e-15);
  json_decref(a);
  free(rows[1].labelfree);
  seal_run_state_free(&st);
}
END_TEST

Suite *labelfree_report_suite(void) {
  Suite *s = suite_create("labelfree_report");
  TCase *tc = tcase_create("labelfree_report");
  tcase_add_test(tc, report_matches_hand_computation);
  tcase_add_test(tc, report_rides_on_the_policy_rows);
  suite_add_tcase(s, tc);
  return s;
}
