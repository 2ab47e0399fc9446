/* tests/evaluator/test_arc_data.c — ARC Prize challenges and solutions load, and
 * every kind of bad data is named by file, task and place. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_fixtures.h"

#define DATA ARC_FIX "data/"

START_TEST(challenges_and_solutions_load_in_file_order) {
  seal_arc_data d;
  seal_error e;
  ck_assert_msg(seal_arc_load(DATA "challenges.json", DATA "solutions.json", &d, &e) == 0, "%s",
                e.msg);
  ck_assert_int_eq(d.n, 2);
  ck_assert(d.has_solutions);
  const seal_arc_task *b2 = &d.tasks[0], *a1 = &d.tasks[1];
  ck_assert_str_eq(b2->id, "b2"); /* the file's order, not sorted */
  ck_assert_ptr_eq(seal_arc_find(&d, "a1"), a1);
  ck_assert_ptr_null(seal_arc_find(&d, "zz"));
  ck_assert_int_eq(b2->n_train, 2);
  ck_assert_int_eq(b2->n_test, 2); /* two test inputs stay one task */
  const char *in0[] = {"10", "02"}, *out1[] = {"221"}, *t1[] = {"0", "1"}, *s1[] = {"0", "2"};
  seal_arc_grid g = arc_grid_of(2, in0);
  arc_assert_grid_eq(&b2->train[0].in, &g, "b2 train[0].input");
  seal_arc_grid_free(&g);
  g = arc_grid_of(1, out1);
  arc_assert_grid_eq(&b2->train[1].out, &g, "b2 train[1].output");
  seal_arc_grid_free(&g);
  g = arc_grid_of(2, t1);
  arc_assert_grid_eq(&b2->test_in[1], &g, "b2 test[1].input");
  seal_arc_grid_free(&g);
  g = arc_grid_of(2, s1);
  arc_assert_grid_eq(&b2->test_out[1], &g, "b2 solution 1");
  seal_arc_grid_free(&g);
  ck_assert(a1->test_out[0].h == 1 && a1->test_out[0].w == 2 && a1->test_out[0].v[1] == 4);
  seal_arc_data_free(&d);
  /* without solutions the test outputs are unknown */
  ck_assert_msg(seal_arc_load(DATA "challenges.json", NULL, &d, &e) == 0, "%s", e.msg);
  ck_assert(!d.has_solutions && d.tasks[0].test_out == NULL && d.tasks[1].test_out == NULL);
  seal_arc_data_free(&d);
}
END_TEST

START_TEST(test_outputs_in_the_challenges_count_as_solutions) {
  const char *ch =
      "{\"x\": {\"train\": [{\"input\": [[1]], \"output\": [[2]]}], \"test\": [{\"input\": [[3]], "
      "\"output\": [[4]]}]}, \"y\": {\"train\": [{\"input\": [[1]], \"output\": [[2]]}], "
      "\"test\": [{\"input\": [[5]]}]}}";
  seal_arc_data d;
  seal_error e;
  ck_assert_msg(seal_arc_parse(ch, strlen(ch), "ch.json", NULL, 0, NULL, &d, &e) == 0, "%s", e.msg);
  ck_assert(d.tasks[0].test_out && d.tasks[0].test_out[0].v[0] == 4);
  ck_assert_ptr_null(d.tasks[1].test_out);
  ck_assert(!d.has_solutions); /* y has none */
  seal_arc_data_free(&d);
  /* a solutions file replaces them */
  const char *sol = "{\"x\": [[[7]]], \"y\": [[[8]]]}";
  ck_assert(seal_arc_parse(ch, strlen(ch), "ch.json", sol, strlen(sol), "sol.json", &d, &e) == 0);
  ck_assert(d.has_solutions && d.tasks[0].test_out[0].v[0] == 7 &&
            d.tasks[1].test_out[0].v[0] == 8);
  seal_arc_data_free(&d);
}
END_TEST

/* A one-task challenge with the given train and test arrays. */
#define TASK(train, test) "{\"t1\": {\"train\": " train ", \"test\": " test "}}"
#define DEMO "{\"input\": [[1, 2]], \"output\": [[3]]}"
#define TEST "[{\"input\": [[1]]}]"

static void assert_error_with(const char *ch, const char *sol, const char *want) {
  seal_arc_data d;
  seal_error e;
  int rc =
      seal_arc_parse(ch, strlen(ch), "ch.json", sol, sol ? strlen(sol) : 0, "sol.json", &d, &e);
  ck_assert_msg(rc == -1, "accepted: %s", ch);
  ck_assert_str_eq(e.msg, want);
  ck_assert(d.n == 0 && d.tasks == NULL);
}

static void assert_error(const char *ch, const char *want) { assert_error_with(ch, NULL, want); }

START_TEST(bad_grids_are_named) {
  assert_error(TASK("[{\"input\": [[1, 2], [3]], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: row 1 has 1 cell, row 0 has 2");
  assert_error(TASK("[" DEMO ", {\"input\": [[1]], \"output\": [[1, 10]]}]", TEST),
               "ch.json: task t1: train[1].output: row 0, column 1: 10 is not a colour 0-9");
  assert_error(TASK("[{\"input\": [[-1]], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: row 0, column 0: -1 is not a colour 0-9");
  assert_error(TASK("[{\"input\": [[1.5]], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: row 0, column 0: 1.5 is not a colour 0-9");
  assert_error(TASK("[{\"input\": [[\"1\"]], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: row 0, column 0: expected a colour 0-9, got a "
               "string");
  assert_error(TASK("[{\"input\": [], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: 0 rows (a side must be 1..30)");
  assert_error(TASK("[{\"input\": [[]], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: 0 columns (a side must be 1..30)");
  assert_error(
      TASK("[{\"input\": \"[[1]]\", \"output\": [[1]]}]", TEST),
      "ch.json: task t1: train[0].input: expected a grid (an array of rows), got a string");
  assert_error(TASK("[{\"input\": [1, 2], \"output\": [[1]]}]", TEST),
               "ch.json: task t1: train[0].input: row 0: expected an array of cells, got a number");
  /* 31 rows, and 31 columns */
  seal_buf tall = {0}, wide = {0};
  for (int r = 0; r < 31; r++) seal_buf_puts(&tall, r ? ", [0]" : "[[0]");
  seal_buf_puts(&tall, "]");
  for (int c = 0; c < 31; c++) seal_buf_puts(&wide, c ? ", 0" : "[[0");
  seal_buf_puts(&wide, "]]");
  char *ch = seal_asprintf(TASK("[" DEMO "]", "[{\"input\": %s}]"), tall.data);
  assert_error(ch, "ch.json: task t1: test[0].input: 31 rows (a side must be 1..30)");
  free(ch);
  ch = seal_asprintf(TASK("[{\"input\": [[1]], \"output\": %s}]", TEST), wide.data);
  assert_error(ch, "ch.json: task t1: train[0].output: 31 columns (a side must be 1..30)");
  free(ch);
  seal_buf_free(&tall);
  seal_buf_free(&wide);
}
END_TEST

START_TEST(bad_tasks_are_named) {
  assert_error(TASK("[]", TEST), "ch.json: task t1: no demonstrations (\"train\" is empty)");
  assert_error(TASK("[" DEMO "]", "[]"), "ch.json: task t1: no test inputs (\"test\" is empty)");
  assert_error("{\"t1\": {\"test\": " TEST "}}", "ch.json: task t1: missing key \"train\"");
  assert_error("{\"t1\": {\"train\": [" DEMO "]}}", "ch.json: task t1: missing key \"test\"");
  assert_error(TASK("{}", TEST), "ch.json: task t1: train: expected an array, got an object");
  assert_error(TASK("[" DEMO ", {\"input\": [[1]]}]", TEST),
               "ch.json: task t1: train[1]: missing key \"output\"");
  assert_error(TASK("[" DEMO ", 3]", TEST),
               "ch.json: task t1: train[1]: expected an object, got a number");
  assert_error(TASK("[" DEMO "]", "[{\"output\": [[1]]}]"),
               "ch.json: task t1: test[0]: missing key \"input\"");
  assert_error("{\"t1\": [1]}",
               "ch.json: task t1: expected an object with \"train\" and \"test\", got an array");
  assert_error("[]", "ch.json: expected an object {task_id: ...}, got an array");
  assert_error("{}", "ch.json: no tasks");
  assert_error("{\"t1\": {}, \"t1\": {}}",
               "ch.json:1:15: invalid JSON: duplicate object key near '\"t1\"'");
}
END_TEST

START_TEST(bad_solutions_are_named) {
  const char *two_tests = TASK("[" DEMO "]", "[{\"input\": [[1]]}, {\"input\": [[2]]}]");
  assert_error_with(two_tests, "{\"t1\": [[[1]]]}",
                    "sol.json: task t1: 1 solution for 2 test inputs");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": [[[1]], [[2]]]}",
                    "sol.json: task t1: 2 solutions for 1 test input");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": [[[1]]], \"zz\": [[[1]]]}",
                    "sol.json: task zz: not a task of ch.json");
  assert_error_with("{\"t1\": {\"train\": [" DEMO "], \"test\": " TEST
                    "}, \"t2\": {\"train\": [" DEMO "], \"test\": " TEST "}}",
                    "{\"t1\": [[[1]]]}",
                    "sol.json: task t2: no solution (it is a task of ch.json)");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": [[[12]]]}",
                    "sol.json: task t1: [0]: row 0, column 0: 12 is not a colour 0-9");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": [[1]]}",
                    "sol.json: task t1: [0]: row 0: expected an array of cells, got a number");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": {}}",
                    "sol.json: task t1: expected an array of grids, got an object");
  assert_error_with(TASK("[" DEMO "]", TEST), "[]",
                    "sol.json: expected an object {task_id: ...}, got an array");
  assert_error_with(TASK("[" DEMO "]", TEST), "{\"t1\": [[[1]]",
                    "sol.json:1:13: invalid JSON: ']' expected near end of file");
}
END_TEST

START_TEST(bad_files_are_named) {
  seal_arc_data d;
  seal_error e;
  ck_assert_int_eq(seal_arc_load(DATA "bad-syntax.json", NULL, &d, &e), -1);
  /* the missing comma is on line 3; jansson names the end of the token after it */
  ck_assert_str_eq(e.msg,
                   DATA "bad-syntax.json:3:38: invalid JSON: '}' expected near '\"output\"'");
  ck_assert_int_eq(seal_arc_load(DATA "missing.json", NULL, &d, &e), -1);
  ck_assert_str_eq(e.msg, DATA "missing.json: cannot open: No such file or directory");
  ck_assert_int_eq(seal_arc_load(DATA "challenges.json", DATA "missing.json", &d, &e), -1);
  ck_assert_str_eq(e.msg, DATA "missing.json: cannot open: No such file or directory");
}
END_TEST

START_TEST(demo_tasks_load) {
  /* data/arc-demo: the project's own small tasks for the demo and end-to-end runs */
  const char *splits[][2] = {
      {"data/arc-demo/training-challenges.json", "data/arc-demo/training-solutions.json"},
      {"data/arc-demo/evaluation-challenges.json", "data/arc-demo/evaluation-solutions.json"}};
  int want[] = {6, 4};
  for (int k = 0; k < 2; k++) {
    seal_arc_data d;
    seal_error e;
    ck_assert_msg(seal_arc_load(splits[k][0], splits[k][1], &d, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(d.n, want[k]);
    ck_assert(d.has_solutions);
    for (int i = 0; i < d.n; i++) {
      ck_assert_int_eq(d.tasks[i].n_train, 3);
      for (int j = 0; j < d.tasks[i].n_train; j++)
        ck_assert(d.tasks[i].train[j].in.h <= 6 && d.tasks[i].train[j].out.w <= 6);
    }
    seal_arc_data_free(&d);
  }
}
END_TEST

Suite *arc_data_suite(void) {
  Suite *s = suite_create("arc_data");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, challenges_and_solutions_load_in_file_order);
  tcase_add_test(tc, test_outputs_in_the_challenges_count_as_solutions);
  tcase_add_test(tc, bad_grids_are_named);
  tcase_add_test(tc, bad_tasks_are_named);
  tcase_add_test(tc, bad_solutions_are_named);
  tcase_add_test(tc, bad_files_are_named);
  tcase_add_test(tc, demo_tasks_load);
  suite_add_tcase(s, tc);
  return s;
}
