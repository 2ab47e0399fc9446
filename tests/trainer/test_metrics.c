/* tests/trainer/test_metrics.c — metrics lines (NaN as null, no empty events)
 * and the reward/accuracy plot drawn from them. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/metrics.h"

START_TEST(events_are_json_lines_and_nan_is_null) {
  char path[] = "/tmp/seal-metrics-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  seal_metrics m;
  seal_error e;
  ck_assert_int_eq(seal_metrics_open(&m, path, &e), 0);
  seal_metrics_emit(&m, "round",
                    json_pack("{s:i,s:o}", "round", 0, "mean_reward", seal_json_real(NAN)));
  seal_metrics_emit(&m, "bad", NULL); /* refused quietly, nothing written */
  seal_metrics_close(&m);
  char *text = seal_read_file(path, NULL, &e);
  ck_assert_ptr_nonnull(strstr(text, "\"event\":\"round\""));
  ck_assert_ptr_nonnull(strstr(text, "\"mean_reward\":null"));
  ck_assert_ptr_null(strstr(text, "\"bad\""));
  free(text);
  unlink(path);
}
END_TEST

START_TEST(plot_draws_reward_and_accuracy_per_round) {
  char path[] = "/tmp/seal-metrics-XXXXXX";
  int fd = mkstemp(path);
  const char *lines =
      "{\"event\":\"round\",\"round\":0,\"mean_reward\":0.25}\n"
      "{\"event\":\"round\",\"round\":1,\"mean_reward\":0.5}\n"
      "{\"event\":\"eval\",\"condition\":\"seal-round-0\",\"accuracy\":0.1}\n"
      "{\"event\":\"eval\",\"condition\":\"seal-round-2\",\"accuracy\":0.75}\n"
      "{\"event\":\"eval\",\"condition\":\"base\",\"accuracy\":0.9}\n"
      "{\"event\":\"round\",\"round\":2,\"mean_re"; /* a line cut by a crash */
  ck_assert(write(fd, lines, strlen(lines)) == (ssize_t)strlen(lines));
  close(fd);
  char *svg = seal_asprintf("%s.svg", path);
  seal_error e;
  ck_assert_int_eq(seal_metrics_plot(path, svg, &e), 0);
  char *text = seal_read_file(svg, NULL, &e);
  ck_assert_ptr_nonnull(strstr(text, "<svg"));
  /* W=640, pad=50, xmax=2: round r at x = 50 + 540 r / 2; y = 350 - 300 v */
  ck_assert_ptr_nonnull(strstr(text, "points=\"50.0,275.0 320.0,200.0 \"")); /* reward */
  ck_assert_ptr_nonnull(strstr(text, "points=\"50.0,320.0 590.0,125.0 \"")); /* accuracy */
  ck_assert_ptr_null(strstr(text, "80.0")); /* base is not a round */
  ck_assert_int_eq(seal_metrics_plot("/nonexistent/m.jsonl", svg, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/m.jsonl"));
  free(text);
  unlink(svg);
  unlink(path);
  free(svg);
}
END_TEST

/* Hostile metrics paths are refused at once; each used to block forever (a
 * FIFO opened for reading or appending) or read without end (/dev/zero). */
START_TEST(plot_and_open_refuse_fifos_and_devices) {
  char dir[] = "/tmp/seal-metrics-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *fifo = seal_path_join(dir, "metrics.jsonl"), *svg = seal_path_join(dir, "plot.svg");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  seal_error e;
  ck_assert_int_eq(seal_metrics_plot(fifo, svg, &e), -1);
  ck_assert_msg(strstr(e.msg, "metrics.jsonl: not a regular file (a FIFO)"), "%s", e.msg);
  ck_assert_int_eq(seal_metrics_plot("/dev/zero", svg, &e), -1);
  ck_assert_msg(strstr(e.msg, "/dev/zero: not a regular file (a character device)"), "%s", e.msg);
  seal_metrics m;
  ck_assert_int_eq(seal_metrics_open(&m, fifo, &e), -1);
  ck_assert_msg(strstr(e.msg, "metrics.jsonl: not a regular file (a FIFO)"), "%s", e.msg);
  ck_assert_ptr_null(m.f);
  ck_assert_int_eq(seal_metrics_open(&m, "/dev/zero", &e), -1);
  ck_assert_msg(strstr(e.msg, "/dev/zero: not a regular file"), "%s", e.msg);
  ck_assert(!seal_file_exists(svg));
  unlink(fifo);
  rmdir(dir);
  free(fifo), free(svg);
}
END_TEST

Suite *metrics_suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, events_are_json_lines_and_nan_is_null);
  tcase_add_test(tc, plot_draws_reward_and_accuracy_per_round);
  tcase_add_test(tc, plot_and_open_refuse_fifos_and_devices);
  suite_add_tcase(s, tc);
  return s;
}
