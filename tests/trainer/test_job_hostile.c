/* tests/trainer/test_job_hostile.c — job files a careless or hostile user may
 * pass (issue 11): deep YAML nesting is refused before libyaml spends minutes on
 * it, and only regular files are read (/dev/zero or a FIFO never blocks or
 * grows without bound). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/job.h"

START_TEST(deep_flow_nesting_refused_fast) {
  const int depth = 100000; /* 200 KB: six minutes in libyaml's scanner */
  char *yaml = seal_malloc(2 * (size_t)depth + 16);
  strcpy(yaml, "model: [");
  size_t n = strlen(yaml);
  for (int i = 1; i < depth; i++) yaml[n++] = i % 2 ? '{' : '[';
  for (int i = 0; i < depth; i++) yaml[n++] = ']';
  yaml[n] = '\0';
  seal_job job;
  seal_error e;
  double t0 = seal_now();
  ck_assert_int_eq(seal_job_parse(yaml, "deep.yaml", &job, &e), -1);
  ck_assert_msg(seal_now() - t0 < 2.0, "took %.1f s", seal_now() - t0);
  ck_assert_msg(strstr(e.msg, "deep.yaml:1:72: brackets nested more than 64 deep"), "%s", e.msg);
  free(yaml);
}
END_TEST

START_TEST(job_files_must_be_regular) {
  seal_job job;
  seal_error e;
  alarm(20); /* a FIFO used to block forever */
  ck_assert_int_eq(seal_job_load("/dev/zero", &job, &e), -1);
  ck_assert_msg(strstr(e.msg, "/dev/zero: not a regular file"), "%s", e.msg);
  char dir[] = "/tmp/seal-job-hostile-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *fifo = seal_path_join(dir, "job.yaml");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_int_eq(seal_job_load(fifo, &job, &e), -1);
  ck_assert_msg(strstr(e.msg, "a FIFO"), "%s", e.msg);
  alarm(0);
  unlink(fifo);
  rmdir(dir);
  free(fifo);
}
END_TEST

Suite *job_hostile_suite(void) {
  Suite *s = suite_create("job_hostile");
  TCase *tc = tcase_create("hostile");
  tcase_add_test(tc, deep_flow_nesting_refused_fast);
  tcase_add_test(tc, job_files_must_be_regular);
  suite_add_tcase(s, tc);
  return s;
}
