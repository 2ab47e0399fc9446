/* tests/evaluator/test_labelfree.c — the label-free rewards' arithmetic: token
 * statistics against double-precision values worked out with Python's math
 * module (the formulas of model/logit_stats.h written out directly: softmax,
 * then -sum p log p and -log V - mean(log p)), the majority vote with ties and
 * normalisation, and the rank correlations against the textbook formulas
 * (average ranks + Pearson; tau-b by counting pairs) evaluated in Python. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "evaluator/grade.h"
#include "evaluator/labelfree.h"
#include "model/logit_stats.h"

START_TEST(token_statistics_match_the_definitions) {
  const float z[] = {2.0f, -1.0f, 0.5f, 3.25f};
  seal_logit_stats s = seal_logit_stats_row(z, 4);
  ck_assert_double_eq_tol(s.self_certainty, 0.9871379856981763, 1e-12);
  ck_assert_double_eq_tol(s.entropy, 0.7466009645182898, 1e-12);
  /* uniform: nothing to be sure of */
  const float u[] = {0, 0, 0, 0, 0};
  s = seal_logit_stats_row(u, 5);
  ck_assert_double_eq_tol(s.self_certainty, 0.0, 1e-15);
  ck_assert_double_eq_tol(s.entropy, log(5.0), 1e-12);
  /* extreme logits stay finite (no exp overflow) */
  const float big[] = {100.0f, -100.0f, 0.0f};
  s = seal_logit_stats_row(big, 3);
  ck_assert_double_eq_tol(s.self_certainty, 98.90138771133189, 1e-9);
  ck_assert(s.entropy >= 0 && s.entropy < 1e-30);
  /* one token: certain by definition */
  const float one[] = {-7.0f};
  s = seal_logit_stats_row(one, 1);
  ck_assert_double_eq(s.self_certainty, 0.0);
  ck_assert_double_eq(s.entropy, 0.0);
}
END_TEST

START_TEST(non_finite_logits_give_nan) {
  const float z[] = {1.0f, NAN, 0.0f};
  seal_logit_stats s = seal_logit_stats_row(z, 3);
  ck_assert(isnan(s.self_certainty) && isnan(s.entropy));
  const float inf[] = {INFINITY, 0.0f};
  s = seal_logit_stats_row(inf, 2);
  ck_assert(isnan(s.self_certainty) && isnan(s.entropy));
}
END_TEST

START_TEST(answer_means_over_tokens) {
  seal_answer_certainty a = {0};
  ck_assert(isnan(seal_answer_mean_self_certainty(&a)));
  seal_answer_certainty_add(&a, (seal_logit_stats){1.0, 0.5});
  seal_answer_certainty_add(&a, (seal_logit_stats){3.0, 1.5});
  ck_assert_double_eq_tol(seal_answer_mean_self_certainty(&a), 2.0, 1e-15);
  ck_assert_double_eq_tol(seal_answer_mean_entropy(&a), 1.0, 1e-15);
}
END_TEST

START_TEST(majority_counts_agreeing_answers) {
  const char *a[] = {"paris", "lyon", "paris", "", "paris"};
  seal_majority m = seal_majority_vote(a, 5);
  ck_assert_int_eq(m.index, 0);
  ck_assert_int_eq(m.count, 3);
  ck_assert_double_eq_tol(seal_majority_reward(a, 5), 0.6, 1e-15);
}
END_TEST

START_TEST(majority_ties_go_to_the_first_seen) {
  /* Counter(["b","a","a","b"]).most_common(1) == [("b", 2)]: first seen wins */
  const char *a[] = {"b", "a", "a", "b"};
  seal_majority m = seal_majority_vote(a, 4);
  ck_assert_int_eq(m.index, 0);
  ck_assert_int_eq(m.count, 2);
  /* no answers at all: no majority, reward 0 */
  const char *none[] = {"", ""};
  m = seal_majority_vote(none, 2);
  ck_assert_int_eq(m.index, -1);
  ck_assert_double_eq(seal_majority_reward(none, 2), 0.0);
  /* empty answers never outvote real ones */
  const char *mostly_empty[] = {"", "", "x"};
  ck_assert_int_eq(seal_majority_vote(mostly_empty, 3).index, 2);
}
END_TEST

START_TEST(majority_after_normalisation) {
  /* the knowledge domain's canonical answer is the SQuAD normalisation */
  const char *raw[] = {"The Eiffel Tower.", "eiffel tower", "Louvre", "an Eiffel  tower!"};
  char *norm[4];
  for (int i = 0; i < 4; i++) norm[i] = seal_squad_normalize(raw[i]);
  ck_assert_double_eq_tol(seal_majority_reward((const char *const *)norm, 4), 0.75, 1e-15);
  for (int i = 0; i < 4; i++) free(norm[i]);
}
END_TEST

START_TEST(rank_correlations_with_ties) {
  const double x[] = {1, 2, 2, 3, 5, 0.5}, y[] = {2, 1, 4, 4, 6, 3};
  ck_assert_double_eq_tol(seal_spearman(x, y, 6), 0.6617647058823529, 1e-12);
  ck_assert_double_eq_tol(seal_kendall_tau_b(x, y, 6), 0.5, 1e-12);
  /* perfect and reversed orders */
  const double a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 40}, c[] = {4, 3, 2, 1};
  ck_assert_double_eq_tol(seal_spearman(a, b, 4), 1.0, 1e-12);
  ck_assert_double_eq_tol(seal_kendall_tau_b(a, c, 4), -1.0, 1e-12);
}
END_TEST

START_TEST(rank_correlations_undefined_cases) {
  const double x[] = {1, 1, 1}, y[] = {1, 2, 3};
  ck_assert(isnan(seal_spearman(x, y, 3))); /* constant side */
  ck_assert(isnan(seal_kendall_tau_b(x, y, 3)));
  /* a longer constant side, whose rank mean does not come out exact in
   * floating point (a round where every labelled reward is 0) */
  double zeros[12] = {0}, ramp[12];
  for (int i = 0; i < 12; i++) ramp[i] = 0.1 * i;
  ck_assert(isnan(seal_spearman(ramp, zeros, 12)));
  ck_assert(isnan(seal_spearman(zeros, ramp, 12)));
  ck_assert(isnan(seal_kendall_tau_b(ramp, zeros, 12)));
  const double p[] = {1, NAN, 3}, q[] = {2, 5, NAN};
  ck_assert(isnan(seal_spearman(p, q, 3))); /* one pair left */
  const double r[] = {1, NAN, 3, 4}, s[] = {1, 9, 2, 3};
  ck_assert_double_eq_tol(seal_spearman(r, s, 4), 1.0, 1e-12); /* the NaN pair dropped */
}
END_TEST

START_TEST(choice_agreement_per_context) {
  /* 3 contexts x k=2 samples x 1 repeat */
  const double labels[] = {0.2, 0.8, /**/ 0.5, 0.5, /**/ 1.0, 0.0};
  const double free_[] = {0.1, 0.9, /**/ 0.3, 0.7, /**/ 2.0, 1.0};
  double label_of_choice;
  double agree = seal_choice_agreement(free_, labels, 3, 2, 1, &label_of_choice);
  /* context 0 agrees (1), context 1: labels tie -> sample 0, free picks 1 (no),
   * context 2 agrees (0) */
  ck_assert_double_eq_tol(agree, 2.0 / 3.0, 1e-15);
  ck_assert_double_eq_tol(label_of_choice, (0.8 + 0.5 + 1.0) / 3.0, 1e-15);
  const double none[] = {NAN, NAN};
  ck_assert(isnan(seal_choice_agreement(none, none, 1, 2, 1, NULL)));
}
END_TEST

Suite *labelfree_suite(void) {
  Suite *s = suite_create("labelfree");
  TCase *tc = tcase_create("labelfree");
  tcase_add_test(tc, token_statistics_match_the_definitions);
  tcase_add_test(tc, non_finite_logits_give_nan);
  tcase_add_test(tc, answer_means_over_tokens);
  tcase_add_test(tc, majority_counts_agreeing_answers);
  tcase_add_test(tc, majority_ties_go_to_the_first_seen);
  tcase_add_test(tc, majority_after_normalisation);
  tcase_add_test(tc, rank_correlations_with_ties);
  tcase_add_test(tc, rank_correlations_undefined_cases);
  tcase_add_test(tc, choice_agreement_per_context);
  suite_add_tcase(s, tc);
  return s;
}
