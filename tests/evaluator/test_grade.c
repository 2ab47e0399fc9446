/* tests/evaluator/test_grade.c — SQuAD normalisation and metrics against the
 * official evaluate-v1.1.py (expected values computed with that script's code). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/grade.h"

static void check_norm(const char *in, const char *want) {
  char *got = seal_squad_normalize(in);
  ck_assert_msg(strcmp(got, want) == 0, "normalize(\"%s\") = \"%s\", want \"%s\"", in, got, want);
  free(got);
}

START_TEST(normalisation_follows_the_official_script) {
  check_norm("The Beatles", "beatles");
  check_norm("  A  cat's   hat!  ", "cats hat"); /* case, punctuation, article, whitespace */
  check_norm("theater", "theater");              /* articles only as whole words */
  check_norm("an apple, the pear and a banana", "apple pear and banana");
  check_norm("the-end", "theend"); /* punctuation goes before articles */
  check_norm("THE", "");
  check_norm("a_the", "athe");                           /* '_' is punctuation */
  check_norm("A\u00a0NUEVO\u2003the\tend", "nuevo end"); /* Unicode whitespace */
  check_norm("\u00c9lan \u2014 the \u2018quoted\u2019 one",
             "\u00e9lan \u2014 \u2018quoted\u2019 one"); /* non-ASCII punctuation stays */
  check_norm("\u00fcber_the the_\u00fcber", "\u00fcberthe the\u00fcber");
  check_norm("x\u0301the", "x\u0301"); /* a combining mark is not a word character */
}
END_TEST

START_TEST(exact_match_and_f1_values) {
  ck_assert_int_eq(seal_exact_match("The Beatles", "beatles"), 1);
  ck_assert_int_eq(seal_exact_match("Beatles!", "the  beatles"), 1);
  ck_assert_int_eq(seal_exact_match("Beatles band", "beatles"), 0);
  ck_assert_double_eq_tol(seal_token_f1("the cat sat", "a cat sat down"), 0.8, 1e-12);
  ck_assert_double_eq_tol(seal_token_f1("cat cat", "cat"), 2.0 / 3.0, 1e-12);
  ck_assert_double_eq(seal_token_f1("", ""), 0.0); /* v1.1: nothing shared gives 0 */
  ck_assert_double_eq(seal_token_f1("dog", "cat"), 0.0);
  ck_assert_double_eq(seal_token_f1("Blue cheese.", "blue cheese"), 1.0);
}
END_TEST

START_TEST(containment_is_by_whole_tokens) {
  ck_assert_int_eq(seal_answer_contained("It was founded in 1712.", "1712"), 1);
  ck_assert_int_eq(seal_answer_contained("The Denver Broncos won", "Denver Broncos"), 1);
  ck_assert_int_eq(seal_answer_contained("1995", "5"), 0);
  ck_assert_int_eq(seal_answer_contained("Broncos", "Denver Broncos"), 0);
  ck_assert_int_eq(seal_answer_contained("", "the"), 1); /* empty gold vs empty prediction */
  ck_assert_int_eq(seal_answer_contained("cheese", "the"), 0);
}
END_TEST

START_TEST(maxima_over_gold_answers) {
  const char *golds[] = {"Osk Talamere", "Talamere", "the founder"};
  ck_assert_int_eq(seal_max_exact_match("talamere", golds, 3), 1);
  ck_assert_int_eq(seal_max_exact_match("Osk", golds, 3), 0);
  ck_assert_double_eq_tol(seal_max_token_f1("Osk", golds, 3), 2.0 / 3.0, 1e-12);
  ck_assert_double_eq_tol(seal_max_token_f1("Founder", golds, 3), 1.0, 1e-12);
  ck_assert_int_eq(seal_max_answer_contained("It was Talamere.", golds, 3), 1);
}
END_TEST

START_TEST(judge_reply_parsing) {
  ck_assert(seal_judge_says_yes("yes"));
  ck_assert(seal_judge_says_yes("Yes."));
  ck_assert(seal_judge_says_yes("The answer is YES"));
  ck_assert(!seal_judge_says_yes("no"));
  ck_assert(!seal_judge_says_yes("Yes or no?")); /* ambiguous counts as no */
  ck_assert(!seal_judge_says_yes("Yesterday"));
  ck_assert(!seal_judge_says_yes("eyes"));
  ck_assert(!seal_judge_says_yes(""));
  const char *golds[] = {"blue cheese", "blue cheese", "cheese"};
  char *g = seal_judge_gold(golds, 3);
  ck_assert_str_eq(g, "blue cheese / cheese");
  free(g);
}
END_TEST

START_TEST(grading_modes_and_reward) {
  const char *golds[] = {"Osk Talamere"};
  const char *pred = "It was Osk Talamere";
  seal_grader em = {SEAL_GRADE_EM, 0}, f1 = {SEAL_GRADE_F1, 0.5}, f1_strict = {SEAL_GRADE_F1, 0.9},
              contains = {SEAL_GRADE_CONTAINS, 0}, judge = {SEAL_GRADE_JUDGE, 0};
  ck_assert_int_eq(seal_grade_correct(&em, pred, golds, 1, NULL), 0);
  /* tokens: it was osk talamere vs osk talamere: p = 1/2, r = 1, F1 = 2/3 */
  ck_assert_int_eq(seal_grade_correct(&f1, pred, golds, 1, NULL), 1);
  ck_assert_int_eq(seal_grade_correct(&f1_strict, pred, golds, 1, NULL), 0);
  ck_assert_int_eq(seal_grade_correct(&contains, pred, golds, 1, NULL), 1);
  ck_assert_int_eq(seal_grade_correct(&judge, pred, golds, 1, "yes"), 1);
  ck_assert_int_eq(seal_grade_correct(&judge, pred, golds, 1, "No, it is not."), 0);
  int correct[] = {1, 0, 1, 1};
  ck_assert_double_eq(seal_grade_reward(correct, 4), 0.75);
  ck_assert_double_eq(seal_grade_reward(correct, 0), 0.0);
  seal_grade_mode m;
  ck_assert_int_eq(seal_grade_mode_parse("contains", &m), 0);
  ck_assert_int_eq(m, SEAL_GRADE_CONTAINS);
  ck_assert_int_eq(seal_grade_mode_parse("exact", &m), -1);
  ck_assert_str_eq(seal_grade_mode_name(SEAL_GRADE_JUDGE), "judge");
}
END_TEST

START_TEST(python_strip) {
  char *s = seal_py_strip("\u3000 \t a b \n\u00a0");
  ck_assert_str_eq(s, "a b");
  free(s);
  s = seal_py_strip(" \n ");
  ck_assert_str_eq(s, "");
  free(s);
}
END_TEST

Suite *grade_suite(void) {
  Suite *s = suite_create("grade");
  TCase *tc = tcase_create("grade");
  tcase_add_test(tc, normalisation_follows_the_official_script);
  tcase_add_test(tc, exact_match_and_f1_values);
  tcase_add_test(tc, containment_is_by_whole_tokens);
  tcase_add_test(tc, maxima_over_gold_answers);
  tcase_add_test(tc, judge_reply_parsing);
  tcase_add_test(tc, grading_modes_and_reward);
  tcase_add_test(tc, python_strip);
  suite_add_tcase(s, tc);
  return s;
}
