/* tests/kernels/test_cpu_coverage.c — the CPU op tests against the op list
 * (SEAL_OPS in kernels/ops.h): every op has at least one test registered for
 * it with TEST_OP, and every registered test calls its op; the CPU and the
 * profiling backends' tables have every op. */
#include <string.h>

#include "cpu_test_helpers.h"

seal_op_profile test_op_calls;

/* The registered tests: each runs through run_registered, which knows from its
 * loop index which one it is. Filled while the suites are built, before any
 * test runs (a forked test sees the parent's table). */
#define MAX_OP_TESTS 128
static struct {
  seal_op op;
  const TTest *test; /* the test as written */
  TTest runner;      /* the same name and place, run through run_registered */
} registered[MAX_OP_TESTS];
static int n_registered;

static void run_registered(int i) {
  memset(&test_op_calls, 0, sizeof test_op_calls);
  registered[i].test->fn(i);
  seal_op op = registered[i].op;
  ck_assert_msg(test_op_calls.calls[op] > 0,
                "%s is registered as a test of %s (TEST_OP) but never called it",
                registered[i].test->name, seal_op_names[op]);
}

void test_register_op(TCase *tc, seal_op op, const TTest *test) {
  if (n_registered == MAX_OP_TESTS) {
    fprintf(stderr, "test_register_op: more than %d op tests; raise MAX_OP_TESTS\n", MAX_OP_TESTS);
    abort();
  }
  int i = n_registered++;
  registered[i].op = op;
  registered[i].test = test;
  registered[i].runner = (TTest){test->name, run_registered, test->file, test->line};
  tcase_add_loop_test(tc, &registered[i].runner, i, i + 1);
}

START_TEST(every_op_has_a_cpu_test) {
  ck_assert_msg(n_registered > 0, "no op test is registered (the suites were not built first?)");
  int tests[SEAL_OP_COUNT] = {0};
  for (int i = 0; i < n_registered; i++) tests[registered[i].op]++;
  seal_buf missing = {0};
  for (int op = 0; op < SEAL_OP_COUNT; op++)
    if (!tests[op]) seal_buf_printf(&missing, " %s", seal_op_names[op]);
  ck_assert_msg(missing.len == 0,
                "ops of kernels/ops.h with no CPU test (register one with TEST_OP):%s",
                missing.data);
  seal_buf_free(&missing);
}
END_TEST

START_TEST(tables_have_every_op) {
  seal_op missing = seal_ops_missing(&seal_cpu_ops);
  ck_assert_msg(missing == SEAL_OP_COUNT, "the CPU table lacks %s", seal_op_names[missing]);
  seal_backend *be = test_cpu_backend();
  missing = seal_ops_missing(be->ops);
  ck_assert_msg(missing == SEAL_OP_COUNT, "the profiling table lacks %s", seal_op_names[missing]);
  ck_assert_ptr_eq(seal_backend_base(be)->ops, &seal_cpu_ops);
  seal_backend_destroy(be);
  /* and the name table matches the list */
  for (int op = 0; op < SEAL_OP_COUNT; op++) ck_assert_int_eq(seal_op_find(seal_op_names[op]), op);
  ck_assert_int_eq(seal_op_find("no_such_op"), -1);
}
END_TEST

Suite *cpu_coverage_suite(void) {
  Suite *s = suite_create("cpu_coverage");
  TCase *tc = tcase_create("op_list");
  tcase_add_test(tc, every_op_has_a_cpu_test);
  tcase_add_test(tc, tables_have_every_op);
  suite_add_tcase(s, tc);
  return s;
}
