/* tests/evaluator/test_squad.c — both SQuAD forms load, bad input is named. */
#include <check.h>
#include <string.h>

#include "evaluator/squad.h"

#define FIX "tests/fixtures/knowledge/"

START_TEST(official_form_keeps_titles_and_all_answers) {
  seal_squad s;
  seal_error e;
  ck_assert_msg(seal_squad_load(FIX "official.json", &s, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(s.form, SEAL_SQUAD_OFFICIAL);
  ck_assert_int_eq(s.n_passages, 3); /* one passage per paragraph */
  ck_assert_int_eq(seal_squad_n_questions(&s), 4);
  ck_assert_str_eq(s.passages[0].title, "Glass_Lantern_Guild");
  ck_assert_str_eq(s.passages[1].title, "Glass_Lantern_Guild");
  ck_assert_str_eq(s.passages[2].title, "Brask");
  ck_assert_str_eq(s.passages[1].context, "Its members polish lanterns every spring.");
  const seal_squad_question *q = &s.passages[0].questions[0];
  ck_assert_str_eq(q->id, "q1");
  ck_assert_str_eq(q->question, "Who founded the Glass Lantern Guild?");
  ck_assert_int_eq(q->n_answers, 2);
  ck_assert_str_eq(q->answers[0], "Osk Talamere");
  ck_assert_str_eq(q->answers[1], "Talamere");
  ck_assert_int_eq(s.passages[1].questions[0].n_answers, 3);
  seal_squad_free(&s);
}
END_TEST

START_TEST(grouped_form_is_detected) {
  seal_squad s;
  seal_error e;
  ck_assert_msg(seal_squad_load(FIX "grouped.json", &s, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(s.form, SEAL_SQUAD_GROUPED);
  ck_assert_int_eq(s.n_passages, 2);
  ck_assert_str_eq(s.passages[0].title, "Ulmwick");
  ck_assert_str_eq(s.passages[0].context, "Ulmwick is a hill village known for blue cheese.");
  ck_assert_int_eq(s.passages[0].n_questions, 2);
  ck_assert_ptr_null(s.passages[0].questions[0].id);
  ck_assert_str_eq(s.passages[0].questions[1].answers[0], "a hill village");
  /* "answers" as a list of strings or {"text"} objects */
  ck_assert_int_eq(s.passages[1].questions[0].n_answers, 2);
  ck_assert_str_eq(s.passages[1].questions[0].answers[1], "boats");
  seal_squad_free(&s);
}
END_TEST

START_TEST(invalid_json_names_line_and_column) {
  seal_squad s;
  seal_error e;
  ck_assert_int_eq(seal_squad_load(FIX "bad-syntax.json", &s, &e), -1);
  /* the missing comma is on line 3; jansson places the error at the end of the
   * unexpected token "answer" (column 41) */
  ck_assert_str_eq(e.msg, FIX "bad-syntax.json:3:41: invalid JSON: '}' expected near '\"answer\"'");
  ck_assert_int_eq(s.n_passages, 0);
}
END_TEST

START_TEST(missing_key_names_its_place) {
  seal_squad s;
  seal_error e;
  ck_assert_int_eq(seal_squad_load(FIX "bad-missing.json", &s, &e), -1);
  ck_assert_str_eq(e.msg, FIX
                   "bad-missing.json: data[0].paragraphs[0].qas[0].answers[0]: "
                   "missing key \"text\"");
}
END_TEST

START_TEST(wrong_type_names_its_place) {
  seal_squad s;
  seal_error e;
  ck_assert_int_eq(seal_squad_load(FIX "bad-type.json", &s, &e), -1);
  ck_assert_str_eq(e.msg, FIX
                   "bad-type.json: [0].questions[1].question: expected a string, "
                   "got a number");
}
END_TEST

START_TEST(other_bad_inputs) {
  seal_squad s;
  seal_error e;
  const char *scalar = "42";
  ck_assert_int_eq(seal_squad_parse(scalar, strlen(scalar), "n.json", &s, &e), -1);
  ck_assert_msg(strstr(e.msg, "n.json: top level: expected an object") == e.msg, "%s", e.msg);
  const char *no_q = "[{\"title\": \"t\", \"context\": \"c\", \"questions\": []}]";
  ck_assert_int_eq(seal_squad_parse(no_q, strlen(no_q), "q.json", &s, &e), -1);
  ck_assert_str_eq(e.msg, "q.json: [0].questions: a passage needs at least one question");
  const char *no_ans =
      "{\"data\": [{\"title\": \"t\", \"paragraphs\": [{\"context\": \"c\", "
      "\"qas\": [{\"question\": \"q\", \"answers\": []}]}]}]}";
  ck_assert_int_eq(seal_squad_parse(no_ans, strlen(no_ans), "a.json", &s, &e), -1);
  ck_assert_str_eq(e.msg,
                   "a.json: data[0].paragraphs[0].qas[0].answers: a question needs at least one "
                   "gold answer");
  const char *no_data = "{\"version\": \"1.1\"}";
  ck_assert_int_eq(seal_squad_parse(no_data, strlen(no_data), "d.json", &s, &e), -1);
  ck_assert_str_eq(e.msg, "d.json: top level: missing key \"data\"");
  ck_assert_int_eq(seal_squad_load("tests/fixtures/knowledge/nonexistent.json", &s, &e), -1);
  ck_assert_msg(strstr(e.msg, "nonexistent.json") != NULL, "%s", e.msg);
}
END_TEST

/* The demo's passages (data/demo) are what `make demo` trains and evaluates on:
 * every answer must be a span of its passage, and passages 80-150 words. */
static void check_demo_file(const char *path, int min_passages) {
  seal_squad s;
  seal_error e;
  ck_assert_msg(seal_squad_load(path, &s, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(s.form, SEAL_SQUAD_GROUPED);
  ck_assert_int_ge(s.n_passages, min_passages);
  for (int i = 0; i < s.n_passages; i++) {
    const seal_squad_passage *p = &s.passages[i];
    int words = 0;
    for (const char *c = p->context; *c; c++)
      if (*c != ' ' && (c == p->context || c[-1] == ' ')) words++;
    ck_assert_msg(words >= 80 && words <= 150, "%s: %d words", p->title, words);
    ck_assert_int_ge(p->n_questions, 4);
    for (int q = 0; q < p->n_questions; q++)
      ck_assert_msg(strstr(p->context, p->questions[q].answers[0]) != NULL,
                    "%s: answer \"%s\" is not in the passage", p->title,
                    p->questions[q].answers[0]);
  }
  seal_squad_free(&s);
}

START_TEST(demo_data_is_well_formed) {
  check_demo_file("data/demo/train.json", 8);
  check_demo_file("data/demo/eval.json", 6);
}
END_TEST

Suite *squad_suite(void) {
  Suite *s = suite_create("squad");
  TCase *tc = tcase_create("squad");
  tcase_add_test(tc, official_form_keeps_titles_and_all_answers);
  tcase_add_test(tc, grouped_form_is_detected);
  tcase_add_test(tc, invalid_json_names_line_and_column);
  tcase_add_test(tc, missing_key_names_its_place);
  tcase_add_test(tc, wrong_type_names_its_place);
  tcase_add_test(tc, other_bad_inputs);
  tcase_add_test(tc, demo_data_is_well_formed);
  suite_add_tcase(s, tc);
  return s;
}
