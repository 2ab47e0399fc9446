/* tests/evaluator/test_prompts.c — the prompts render to the reference's exact text. */
#include <check.h>
#include <stdlib.h>

#include "evaluator/prompts.h"

static void check_selfedit(seal_prompt_variant v, const char *want) {
  char *got = seal_prompt_selfedit(v, "Ulmwick", "Ulmwick is 50% cheese.");
  ck_assert_str_eq(got, want);
  free(got);
}

START_TEST(implications_prompt_is_the_papers) {
  check_selfedit(SEAL_PROMPT_IMPLICATIONS,
                 "Let's read the following passage and produce a list of implications derived "
                 "directly or indirectly from the content.\n\nPassage:\nUlmwick\nUlmwick is 50% "
                 "cheese.\n\nImplications:\n");
}
END_TEST

START_TEST(other_variants_are_the_references) {
  check_selfedit(SEAL_PROMPT_IMPLICATIONS_LONG,
                 "Let's read the following passage and produce a long list of implications "
                 "derived directly or indirectly from the content.\n\nPassage:\nUlmwick\nUlmwick "
                 "is 50% cheese.\n\nImplications:\n");
  check_selfedit(SEAL_PROMPT_IMPLICATIONS_VERY_LONG,
                 "Let's read the following passage and produce a very long list of implications "
                 "derived directly or indirectly from the content.\n\nPassage:\nUlmwick\nUlmwick "
                 "is 50% cheese.\n\nImplications:\n");
  check_selfedit(SEAL_PROMPT_REWRITE,
                 "Let's read the following passage and rewrite it in a few different ways, each "
                 "one separated by a newline.\n\nPassage:\nUlmwick\nUlmwick is 50% cheese.\n\n"
                 "Rewritten passages:\n");
  check_selfedit(SEAL_PROMPT_SELF_QA,
                 "Let's read the following passage and rewrite it in a question-answer format."
                 "\n\nPassage:\nUlmwick\nUlmwick is 50% cheese.\n\nQuestion 1: ");
}
END_TEST

START_TEST(variant_names_round_trip) {
  const char *names[] = {"implications", "implications-long", "implications-very-long", "rewrite",
                         "self-qa"};
  for (int v = 0; v < SEAL_PROMPT_N_VARIANTS; v++) {
    seal_prompt_variant got;
    ck_assert_str_eq(seal_prompt_variant_name((seal_prompt_variant)v), names[v]);
    ck_assert_int_eq(seal_prompt_variant_parse(names[v], &got), 0);
    ck_assert_int_eq(got, v);
  }
  seal_prompt_variant got;
  ck_assert_int_eq(seal_prompt_variant_parse("implication", &got), -1);
}
END_TEST

START_TEST(answer_prompt_has_topic_header) {
  char *got = seal_prompt_answer("Ulmwick", "What is Ulmwick known for?");
  ck_assert_str_eq(got,
                   "Let's answer a question directly and concisely.\nQuestion: Topic: Ulmwick\n"
                   "What is Ulmwick known for?\nAnswer:\n");
  free(got);
}
END_TEST

START_TEST(judge_prompt_is_the_references) {
  char *got = seal_prompt_judge("Ulmwick", "What is Ulmwick known for?", "blue cheese",
                                "  Its blue cheese.\n");
  ck_assert_str_eq(
      got,
      "You are a grading assistant. Your job is to determine whether a student's answer "
      "correctly answers the question based solely on the provided gold answer. Do not use any "
      "outside knowledge. The student answer can include additional information, but it must at "
      "least fully convey the gold answer and must not contradict it. Ignore style, phrasing, or "
      "extra details that do not affect correctness. Respond ONLY with 'yes' or 'no'.\n\n"
      "Question: Topic: Ulmwick\nWhat is Ulmwick known for?\nGold answer: blue cheese\n"
      "Student answer: Its blue cheese.\n"
      "Is the student answer correct based solely on the gold answer? Respond 'yes' or 'no'.");
  free(got);
}
END_TEST

Suite *prompts_suite(void) {
  Suite *s = suite_create("prompts");
  TCase *tc = tcase_create("prompts");
  tcase_add_test(tc, implications_prompt_is_the_papers);
  tcase_add_test(tc, other_variants_are_the_references);
  tcase_add_test(tc, variant_names_round_trip);
  tcase_add_test(tc, answer_prompt_has_topic_header);
  tcase_add_test(tc, judge_prompt_is_the_references);
  suite_add_tcase(s, tc);
  return s;
}
