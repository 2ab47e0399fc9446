/* tests/util/test_util.c — the util floor: errors, buffers, files, RNG. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

START_TEST(errorf_formats_and_returns_minus_one) {
  seal_error e = {{0}};
  ck_assert_int_eq(seal_errorf(&e, "%s:%d: bad", "f.json", 3), -1);
  ck_assert_str_eq(e.msg, "f.json:3: bad");
  ck_assert_int_eq(seal_errorf(NULL, "ignored"), -1);
}
END_TEST

START_TEST(buf_grows_and_hands_over) {
  seal_buf b = {0};
  for (int i = 0; i < 1000; i++) seal_buf_printf(&b, "%d,", i);
  ck_assert_uint_eq(b.len, strlen(b.data));
  char *s = seal_buf_take(&b);
  ck_assert(strncmp(s, "0,1,2,", 6) == 0);
  ck_assert_ptr_null(b.data);
  free(s);
}
END_TEST

START_TEST(atomic_write_keeps_previous) {
  char dir[] = "/tmp/seal-util-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = seal_path_join(dir, "f.txt");
  seal_error e;
  ck_assert_int_eq(seal_write_file_atomic(path, "one", 3, true, &e), 0);
  ck_assert_int_eq(seal_write_file_atomic(path, "two", 3, true, &e), 0);
  size_t n;
  char *now = seal_read_file(path, &n, &e);
  char *prevpath = seal_asprintf("%s.prev", path);
  char *prev = seal_read_file(prevpath, NULL, &e);
  ck_assert_str_eq(now, "two");
  ck_assert_str_eq(prev, "one");
  ck_assert(!seal_read_file("/nonexistent/x", NULL, &e));
  ck_assert(strstr(e.msg, "/nonexistent/x") != NULL);
  unlink(path);
  unlink(prevpath);
  rmdir(dir);
  free(now), free(prev), free(prevpath), free(path);
}
END_TEST

/* Files read whole are regular files under a size cap: /dev/zero, a FIFO with
 * no writer and a directory are refused at once (none blocks or grows without
 * bound), and a file over the cap is refused before anything is read. */
START_TEST(read_file_takes_only_capped_regular_files) {
  char dir[] = "/tmp/seal-util-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  seal_error e;
  ck_assert_ptr_null(seal_read_file("/dev/zero", NULL, &e));
  ck_assert_msg(strstr(e.msg, "/dev/zero: not a regular file (a character device)"), "%s", e.msg);
  char *fifo = seal_path_join(dir, "fifo");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  ck_assert_ptr_null(seal_read_file(fifo, NULL, &e));
  ck_assert_msg(strstr(e.msg, fifo) && strstr(e.msg, "a FIFO"), "%s", e.msg);
  struct stat st;
  ck_assert_int_eq(seal_open_regular(fifo, &st, &e), -1);
  ck_assert_ptr_null(seal_read_file(dir, NULL, &e));
  ck_assert_msg(strstr(e.msg, "a directory"), "%s", e.msg);
  char *path = seal_path_join(dir, "f.txt");
  ck_assert_int_eq(seal_write_file_atomic(path, "0123456789", 10, false, &e), 0);
  size_t n = 0;
  char *s = seal_read_file_max(path, 10, &n, &e);
  ck_assert_msg(s != NULL, "%s", e.msg);
  ck_assert_uint_eq(n, 10);
  ck_assert_str_eq(s, "0123456789");
  free(s);
  ck_assert_ptr_null(seal_read_file_max(path, 9, &n, &e));
  ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "9-byte limit"), "%s", e.msg);
  /* A stream (standard input) is capped while it is read. */
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_null(seal_read_stream(f, "stdin", 4, &n, &e));
  ck_assert_msg(strstr(e.msg, "stdin: larger than the 4-byte limit"), "%s", e.msg);
  rewind(f);
  s = seal_read_stream(f, "stdin", 10, &n, &e);
  ck_assert(s && n == 10 && !strcmp(s, "0123456789"));
  free(s);
  fclose(f);
  f = fopen("/dev/zero", "rb");
  ck_assert_ptr_null(seal_read_stream(f, "stdin", 1 << 20, &n, &e));
  fclose(f);
  unlink(path);
  unlink(fifo);
  rmdir(dir);
  free(path);
  free(fifo);
}
END_TEST

START_TEST(rng_is_deterministic_and_uniform) {
  seal_rng a, b;
  seal_rng_seed(&a, 42);
  seal_rng_seed(&b, 42);
  double sum = 0;
  for (int i = 0; i < 100000; i++) {
    double u = seal_rng_uniform(&a);
    ck_assert(u >= 0 && u < 1);
    ck_assert(u == seal_rng_uniform(&b));
    sum += u;
  }
  ck_assert(sum / 100000 > 0.49 && sum / 100000 < 0.51);
  ck_assert(seal_seed_derive(1, 2, 3, 4, 5) == seal_seed_derive(1, 2, 3, 4, 5));
  ck_assert(seal_seed_derive(1, 2, 3, 4, 5) != seal_seed_derive(1, 2, 3, 5, 4));
}
END_TEST

START_TEST(utf8_sanitize_replaces_invalid_bytes) {
  const char *cases[][2] = {
      {"plain ascii", "plain ascii"},
      {"caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80"},
      {"a\x80"
       "b",
       "a\xEF\xBF\xBD"
       "b"},                                                    /* stray continuation */
      {"end\xE2\x9C", "end\xEF\xBF\xBD\xEF\xBF\xBD"},           /* cut inside a character */
      {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong */
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
      {"\xFF", "\xEF\xBF\xBD"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = seal_utf8_sanitize(cases[i][0]);
    ck_assert_msg(strcmp(got, cases[i][1]) == 0, "case %zu", i);
    free(got);
  }
}
END_TEST

Suite *util_suite(void) {
  Suite *s = suite_create("util");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, errorf_formats_and_returns_minus_one);
  tcase_add_test(tc, buf_grows_and_hands_over);
  tcase_add_test(tc, atomic_write_keeps_previous);
  tcase_add_test(tc, read_file_takes_only_capped_regular_files);
  tcase_add_test(tc, rng_is_deterministic_and_uniform);
  tcase_add_test(tc, utf8_sanitize_replaces_invalid_bytes);
  suite_add_tcase(s, tc);
  return s;
}
