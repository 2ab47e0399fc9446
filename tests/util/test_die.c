/* tests/util/test_die.c — the one fatal path (util/error.c): what SEAL_DIE
 * prints for a user (the rank and the message, no source file:line), what it
 * prints at debug level (the file:line as a log line before it), and how it
 * ends the process (exit status 1, or the die handler). Each case dies in a
 * child process whose stderr and exit status the test reads. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

/* What the child printed on stderr and how it ended. */
typedef struct {
  char err[4096];
  int status; /* exit status, or -1 when killed by a signal */
} died;

typedef void (*dying_fn)(void);

static died run_dying(dying_fn f) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    f();
    _exit(99); /* f returned: SEAL_DIE did not end the process */
  }
  close(fds[1]);
  died d = {{0}, -1};
  size_t len = 0;
  ssize_t got;
  while ((got = read(fds[0], d.err + len, sizeof d.err - 1 - len)) > 0) len += (size_t)got;
  close(fds[0]);
  int ws = 0;
  ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
  d.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
  return d;
}

static void die_on_rank_3(void) {
  seal_set_rank(3);
  seal_log_set_level(SEAL_LOG_INFO);
  SEAL_DIE("%s: round is %d", "checkpoint.h5", -5);
}

START_TEST(die_prints_rank_and_message_only_and_exits_1) {
  died d = run_dying(die_on_rank_3);
  ck_assert_int_eq(d.status, SEAL_EXIT_ERROR);
  ck_assert_str_eq(d.err, "seal: error: [rank 3] checkpoint.h5: round is -5\n");
}
END_TEST

static void die_at_debug_level(void) {
  seal_log_set_level(SEAL_LOG_DEBUG);
  SEAL_CHECK(1 + 1 == 3, "arithmetic is off");
}

START_TEST(debug_level_names_the_source_line) {
  died d = run_dying(die_at_debug_level);
  ck_assert_int_eq(d.status, SEAL_EXIT_ERROR);
  /* __FILE__ is relative to the source root (CMakeLists.txt's prefix map) */
  ck_assert_msg(strstr(d.err, "seal debug: fatal error raised at tests/util/test_die.c:") == d.err,
                "stderr: %s", d.err);
  ck_assert_msg(strstr(d.err, "\nseal: error: arithmetic is off\n") != NULL, "stderr: %s", d.err);
}
END_TEST

static void handler_exits_7(void) {
  fputs("handler ran\n", stderr);
  _exit(7);
}
static void die_through_handler(void) {
  seal_log_set_level(SEAL_LOG_INFO);
  seal_set_die_handler(handler_exits_7);
  SEAL_DIE("gone");
}

START_TEST(die_handler_ends_the_process_after_the_message) {
  died d = run_dying(die_through_handler);
  ck_assert_int_eq(d.status, 7);
  ck_assert_str_eq(d.err, "seal: error: gone\nhandler ran\n");
}
END_TEST

static void handler_returns(void) { fputs("handler returned\n", stderr); }
static void die_through_returning_handler(void) {
  seal_log_set_level(SEAL_LOG_INFO);
  seal_set_die_handler(handler_returns);
  SEAL_DIE("still fatal");
}

START_TEST(a_handler_that_returns_still_exits_1) {
  died d = run_dying(die_through_returning_handler);
  ck_assert_int_eq(d.status, SEAL_EXIT_ERROR);
  ck_assert_str_eq(d.err, "seal: error: still fatal\nhandler returned\n");
}
END_TEST

/* The handler fails too (as an MPI call can while aborting): the second
 * SEAL_DIE on the same thread ends the process at once instead of waiting. */
static void handler_dies(void) { SEAL_DIE("again"); }
static void die_twice(void) {
  seal_log_set_level(SEAL_LOG_INFO);
  seal_set_die_handler(handler_dies);
  SEAL_DIE("first");
}

START_TEST(a_fatal_error_inside_the_handler_exits_at_once) {
  died d = run_dying(die_twice);
  ck_assert_int_eq(d.status, SEAL_EXIT_ERROR);
  ck_assert_str_eq(d.err, "seal: error: first\n");
}
END_TEST

Suite *die_suite(void) {
  Suite *s = suite_create("die");
  TCase *tc = tcase_create("fatal_path");
  tcase_add_test(tc, die_prints_rank_and_message_only_and_exits_1);
  tcase_add_test(tc, debug_level_names_the_source_line);
  tcase_add_test(tc, die_handler_ends_the_process_after_the_message);
  tcase_add_test(tc, a_handler_that_returns_still_exits_1);
  tcase_add_test(tc, a_fatal_error_inside_the_handler_exits_at_once);
  suite_add_tcase(s, tc);
  return s;
}
