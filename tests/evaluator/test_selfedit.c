/* tests/evaluator/test_selfedit.c — self-edits become the reference's training sequences. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "evaluator/selfedit.h"

static const seal_selfedit_opts lines_and_passage = {.split_lines = true, .add_passage = true};

static void check_seqs(const seal_train_seqs *s, int n_from_selfedit, const char *const *want,
                       int n) {
  ck_assert_int_eq(s->n, n);
  ck_assert_int_eq(s->n_from_selfedit, n_from_selfedit);
  for (int i = 0; i < n; i++) ck_assert_str_eq(s->seqs[i], want[i]);
}

START_TEST(one_sequence_per_line_then_the_passage) {
  seal_train_seqs s;
  seal_selfedit_sequences(
      "1. Ulmwick makes cheese.\n\n  2. The cheese is blue.  \n---\n"
      "3. It is a village.\r\n",
      "Ulmwick", "  Ulmwick is a hill village.\n", &lines_and_passage, &s);
  const char *want[] = {"Ulmwick\n1. Ulmwick makes cheese.", "Ulmwick\n2. The cheese is blue.",
                        "Ulmwick\n3. It is a village.", "Ulmwick\nUlmwick is a hill village."};
  check_seqs(&s, 3, want, 4);
  seal_train_seqs_free(&s);
}
END_TEST

START_TEST(preamble_before_numbered_list_is_dropped) {
  seal_train_seqs s;
  seal_selfedit_sequences("Sure, here are the implications:\n1. A.\n2. B.", "T", "C",
                          &lines_and_passage, &s);
  const char *want[] = {"T\n1. A.", "T\n2. B.", "T\nC"};
  check_seqs(&s, 2, want, 3);
  seal_train_seqs_free(&s);
  /* without a numbered second line, the first line stays */
  seal_selfedit_sequences("Ulmwick is old.\nIt is small.", "T", "C", &lines_and_passage, &s);
  const char *want2[] = {"T\nUlmwick is old.", "T\nIt is small.", "T\nC"};
  check_seqs(&s, 2, want2, 3);
  seal_train_seqs_free(&s);
}
END_TEST

START_TEST(empty_selfedit_gives_no_sequence_of_its_own) {
  const char *empties[] = {"", "   \n\n \t", "---", "\n---\n  ---  \n"};
  for (int i = 0; i < 4; i++) {
    seal_train_seqs s;
    seal_selfedit_sequences(empties[i], "T", "C", &lines_and_passage, &s);
    const char *want[] = {"T\nC"};
    check_seqs(&s, 0, want, 1);
    seal_train_seqs_free(&s);
    seal_selfedit_opts bare = {.split_lines = true, .add_passage = false};
    seal_selfedit_sequences(empties[i], "T", "C", &bare, &s);
    ck_assert_int_eq(s.n, 0);
    ck_assert_int_eq(s.n_from_selfedit, 0);
    seal_train_seqs_free(&s);
  }
}
END_TEST

START_TEST(segments_without_line_splitting) {
  seal_train_seqs s;
  seal_selfedit_opts segs = {.split_lines = false, .add_passage = true};
  seal_selfedit_sequences("  first part\nline two \n---\n\n--- second part\n", "T", "C", &segs, &s);
  const char *want[] = {"T\nfirst part\nline two", "T\nsecond part", "T\nC"};
  check_seqs(&s, 2, want, 3);
  seal_train_seqs_free(&s);
}
END_TEST

START_TEST(chain_of_thought_keeps_what_follows_implications) {
  seal_train_seqs s;
  seal_selfedit_sequences("I think about it.\nImplications:\n  A.\nB.", "T", "C",
                          &lines_and_passage, &s);
  const char *want[] = {"T\nA.", "T\nB.", "T\nC"};
  check_seqs(&s, 2, want, 3);
  seal_train_seqs_free(&s);
}
END_TEST

START_TEST(self_qa_keeps_questions_with_answers) {
  seal_train_seqs s;
  /* the self-qa prompt ends with "Question 1: ", so the completion starts mid-question */
  seal_selfedit_sequences(
      "What is Ulmwick?\nAnswer: A village.\nQuestion 2: What does it make?\n"
      "Answer: Cheese.",
      "T", "C", &lines_and_passage, &s);
  const char *want[] = {"T\nQuestion 1: What is Ulmwick?\nAnswer: A village.",
                        "T\nQuestion 2: What does it make?\nAnswer: Cheese.", "T\nC"};
  check_seqs(&s, 2, want, 3);
  seal_train_seqs_free(&s);
}
END_TEST

START_TEST(at_most_thirty_from_one_selfedit) {
  char text[2048] = "";
  for (int i = 0; i < 40; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "F%d\n", i);
  seal_train_seqs s;
  seal_selfedit_sequences(text, "T", "C", &lines_and_passage, &s);
  ck_assert_int_eq(s.n_from_selfedit, SEAL_SELFEDIT_MAX_SEQS);
  ck_assert_int_eq(s.n, SEAL_SELFEDIT_MAX_SEQS + 1);
  ck_assert_str_eq(s.seqs[29], "T\nF29");
  ck_assert_str_eq(s.seqs[30], "T\nC");
  seal_train_seqs_free(&s);
}
END_TEST

Suite *selfedit_suite(void) {
  Suite *s = suite_create("selfedit");
  TCase *tc = tcase_create("selfedit");
  tcase_add_test(tc, one_sequence_per_line_then_the_passage);
  tcase_add_test(tc, preamble_before_numbered_list_is_dropped);
  tcase_add_test(tc, empty_selfedit_gives_no_sequence_of_its_own);
  tcase_add_test(tc, segments_without_line_splitting);
  tcase_add_test(tc, chain_of_thought_keeps_what_follows_implications);
  tcase_add_test(tc, self_qa_keeps_questions_with_answers);
  tcase_add_test(tc, at_most_thirty_from_one_selfedit);
  suite_add_tcase(s, tc);
  return s;
}
