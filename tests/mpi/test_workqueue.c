/* tests/mpi/test_workqueue.c — the coordinator/worker work queue under 1, 2 and 3
 * ranks: every item's result arrives exactly once and is right; rank 0 works too and
 * the workers keep going while it is busy; large payloads and results; retries of
 * failed items on another rank; stopping early and abandoning an item leave exactly
 * the reported items done; with item costs the costliest items go out first (on
 * every rank, in the order each rank gets them) and each is still reported exactly
 * once; bad arguments are refused on every rank.
 *
 * Ranks share a scratch directory (made by rank 0, its name broadcast) in which the
 * work function leaves a trace of what it did: which rank attempted each item, which
 * items it completed. Rank 0 checks those traces against what it was told. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "comm/workqueue.h"

#define N_ITEMS 37

static int failures;
static int my_rank;

#define EXPECT(cond, ...)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      failures++;                                                              \
      fprintf(stderr, "[rank %d] %s:%d: FAIL: ", my_rank, __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

enum {
  MODE_PAYLOADS = 1 << 0, /* rank 0 sends payloads; item 3 returns a 2 MiB result */
  MODE_FAILURES = 1 << 1, /* item 7 always fails, item 11 fails on its first attempt */
  MODE_SLOW_0 = 1 << 2,   /* item 0 takes 250 ms */
  MODE_ABANDON = 1 << 3,  /* item 20 is abandoned (work returns 1) */
};

typedef struct {
  char dir[512]; /* this scenario's shared scratch directory */
  int mode;
  /* rank 0's record of what on_result said */
  int count[N_ITEMS], ok[N_ITEMS], worker[N_ITEMS];
  int n_reported, reported_before_item0, stop_after;
  volatile int stop;
  int wrong; /* results whose content was wrong */
} wq_test;

static void sleep_ms(double ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6)};
  nanosleep(&ts, NULL);
}

/* ---- deterministic payloads and results ----------------------------------- */

static size_t payload_len(int item) {
  return item % 5 == 0 ? ((size_t)1 << 20) + (size_t)item * 1000 : 100 + (size_t)item;
}

static unsigned char payload_byte(int item, size_t j) {
  return (unsigned char)(item * 31 + j * 7 + (j >> 9));
}

static char *make_payload(int item) {
  size_t n = payload_len(item);
  char *p = seal_malloc(n);
  for (size_t j = 0; j < n; j++) p[j] = (char)payload_byte(item, j);
  return p;
}

/* The result any rank must produce for item: depends on the item only. */
static void expected_result(int item, int mode, seal_buf *out) {
  uint64_t v = seal_seed_derive(42, (uint64_t)item, 0, 0, 0);
  seal_buf_printf(out, "item %d value %016llx", item, (unsigned long long)v);
  if (mode & MODE_PAYLOADS) {
    char *p = make_payload(item);
    seal_buf_printf(out, " payload %zu %016llx", payload_len(item),
                    (unsigned long long)seal_fnv1a(p, payload_len(item), 0));
    free(p);
    if (item == 3) {
      for (size_t j = 0; j < ((size_t)2 << 20); j++) {
        char ch = (char)('a' + (j * 13 + j / 4096) % 26);
        seal_buf_append(out, &ch, 1);
      }
    }
  }
}

/* ---- traces in the shared directory --------------------------------------- */

static void append_line(const char *dir, const char *name, int item, const char *line) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s.%d", dir, name, item);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  SEAL_CHECK(fd >= 0, "cannot open %s", path);
  SEAL_CHECK(write(fd, line, strlen(line)) == (ssize_t)strlen(line), "cannot write %s", path);
  close(fd);
}

/* The ranks that attempted item, in order; returns how many. */
static int read_attempts(const char *dir, int item, int *ranks, int cap) {
  char path[700];
  snprintf(path, sizeof path, "%s/attempt.%d", dir, item);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int n = 0, r;
  while (n < cap && fscanf(f, "%d", &r) == 1) ranks[n++] = r;
  fclose(f);
  return n;
}

static int completed(const char *dir, int item) {
  char path[700];
  snprintf(path, sizeof path, "%s/done.%d", dir, item);
  return access(path, F_OK) == 0;
}

/* True the first time any rank asks about item (an exclusive create). */
static int first_time_anywhere(const char *dir, int item) {
  char path[700];
  snprintf(path, sizeof path, "%s/first.%d", dir, item);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

/* ---- work and results ------------------------------------------------------ */

static int test_work(void *user, int item, const void *payload, size_t len, seal_buf *result) {
  wq_test *t = user;
  char line[32];
  snprintf(line, sizeof line, "%d\n", my_rank);
  append_line(t->dir, "attempt", item, line);
  sleep_ms(item == 0 && (t->mode & MODE_SLOW_0) ? 250 : 1 + (item * 7) % 5);
  if ((t->mode & MODE_FAILURES) && item == 7) {
    seal_buf_printf(result, "item 7 always fails (rank %d)", my_rank);
    return -1;
  }
  if ((t->mode & MODE_FAILURES) && item == 11 && first_time_anywhere(t->dir, 11)) {
    seal_buf_printf(result, "item 11 fails once (rank %d)", my_rank);
    return -1;
  }
  if ((t->mode & MODE_ABANDON) && item == 20) return 1;
  if (t->mode & MODE_PAYLOADS) {
    /* the payload must be rank 0's bytes for this item */
    char *want = make_payload(item);
    int same = len == payload_len(item) && payload && memcmp(payload, want, len) == 0;
    free(want);
    if (!same) {
      seal_buf_printf(result, "item %d: wrong payload (%zu bytes)", item, len);
      return -1;
    }
  } else if (payload || len) {
    seal_buf_printf(result, "item %d: payload where none was sent", item);
    return -1;
  }
  expected_result(item, t->mode, result);
  append_line(t->dir, "done", item, "1\n");
  return 0;
}

static void test_on_result(void *user, int item, int ok, const void *result, size_t len,
                           int worker_rank) {
  wq_test *t = user;
  EXPECT(item >= 0 && item < N_ITEMS, "result for item %d", item);
  if (item < 0 || item >= N_ITEMS) return;
  t->count[item]++;
  t->ok[item] = ok;
  t->worker[item] = worker_rank;
  t->n_reported++;
  if (item == 0) t->reported_before_item0 = t->n_reported - 1;
  if (ok) {
    seal_buf want = {0};
    expected_result(item, t->mode, &want);
    if (len != want.len || memcmp(result, want.data, len) != 0) {
      t->wrong++;
      fprintf(stderr, "item %d: result of %zu bytes differs from the expected %zu\n", item, len,
              want.len);
    }
    seal_buf_free(&want);
  }
  if (t->stop_after > 0 && t->n_reported == t->stop_after) t->stop = 1;
}

/* ---- scenarios -------------------------------------------------------------- */

static char *base_dir; /* broadcast from rank 0 */

static void setup(seal_comm *c, wq_test *t, const char *name, int mode) {
  memset(t, 0, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "%s/%s", base_dir, name);
  t->mode = mode;
  for (int i = 0; i < N_ITEMS; i++) t->worker[i] = -1;
  if (c->rank == 0) SEAL_CHECK(mkdir(t->dir, 0755) == 0, "cannot make %s", t->dir);
  seal_comm_barrier(c);
}

static int run_queue(seal_comm *c, wq_test *t, int with_payloads, const seal_workqueue_opts *opts) {
  char *payloads[N_ITEMS] = {0};
  size_t lens[N_ITEMS] = {0};
  if (with_payloads && c->rank == 0) {
    for (int i = 0; i < N_ITEMS; i++) {
      payloads[i] = make_payload(i);
      lens[i] = payload_len(i);
    }
  }
  seal_error e = {{0}};
  int rc = seal_workqueue_run(
      c, N_ITEMS, with_payloads && c->rank == 0 ? (const void *const *)payloads : NULL,
      with_payloads && c->rank == 0 ? lens : NULL, test_work, test_on_result, t, opts, &e);
  if (rc < 0) fprintf(stderr, "[rank %d] work queue error: %s\n", c->rank, e.msg);
  for (int i = 0; i < N_ITEMS; i++) free(payloads[i]);
  return rc;
}

/* Each item reported exactly once, successfully, with the right result, attempted once. */
static void expect_all_right(wq_test *t, const char *what) {
  EXPECT(t->n_reported == N_ITEMS, "%s: %d results for %d items", what, t->n_reported, N_ITEMS);
  EXPECT(t->wrong == 0, "%s: %d wrong results", what, t->wrong);
  for (int i = 0; i < N_ITEMS; i++) {
    int ranks[8];
    EXPECT(t->count[i] == 1 && t->ok[i], "%s: item %d reported %d times, ok %d", what, i,
           t->count[i], t->ok[i]);
    int n = read_attempts(t->dir, i, ranks, 8);
    EXPECT(n == 1 && ranks[0] == t->worker[i],
           "%s: item %d attempted %d times (rank %d, "
           "reported from rank %d)",
           what, i, n, n ? ranks[0] : -1, t->worker[i]);
  }
}

static void test_basic(seal_comm *c) {
  wq_test t;
  setup(c, &t, "basic", MODE_SLOW_0);
  double t0 = seal_now();
  int rc = run_queue(c, &t, 0, NULL);
  EXPECT(rc == 0, "basic: run returned %d", rc);
  if (c->rank != 0) return;
  expect_all_right(&t, "basic");
  EXPECT(t.worker[0] == 0, "basic: item 0 ran on rank %d, not on the coordinator", t.worker[0]);
  if (c->size > 1) {
    /* While rank 0 spends 250 ms on item 0, the workers must keep getting items. */
    EXPECT(t.reported_before_item0 >= 5, "basic: only %d results arrived while rank 0 was busy",
           t.reported_before_item0);
    for (int r = 0; r < c->size; r++) {
      int ran = 0;
      for (int i = 0; i < N_ITEMS; i++) ran += t.worker[i] == r;
      EXPECT(ran > 0, "basic: rank %d ran no item", r);
    }
  }
  seal_info("basic: %d items on %d ranks in %.3f s, %d results while rank 0 ran item 0", N_ITEMS,
            c->size, seal_now() - t0, t.reported_before_item0);
}

static void test_payloads(seal_comm *c) {
  wq_test t;
  setup(c, &t, "payloads", MODE_PAYLOADS);
  int rc = run_queue(c, &t, 1, NULL);
  EXPECT(rc == 0, "payloads: run returned %d", rc);
  if (c->rank == 0) expect_all_right(&t, "payloads");
}

static void test_failures(seal_comm *c) {
  wq_test t;
  setup(c, &t, "failures", MODE_FAILURES);
  int rc = run_queue(c, &t, 0, NULL); /* default: 2 attempts */
  EXPECT(rc == 0, "failures: run returned %d", rc);
  if (c->rank != 0) return;
  EXPECT(t.n_reported == N_ITEMS, "failures: %d results", t.n_reported);
  EXPECT(t.wrong == 0, "failures: %d wrong results", t.wrong);
  for (int i = 0; i < N_ITEMS; i++) {
    int ranks[8];
    int n = read_attempts(t.dir, i, ranks, 8);
    EXPECT(t.count[i] == 1, "failures: item %d reported %d times", i, t.count[i]);
    if (i == 7 || i == 11) {
      EXPECT(n == 2, "failures: item %d attempted %d times, want 2", i, n);
      if (n == 2 && c->size > 1)
        EXPECT(ranks[0] != ranks[1], "failures: item %d retried on the rank it failed on (%d)", i,
               ranks[0]);
      if (n == 2)
        EXPECT(t.worker[i] == ranks[1],
               "failures: item %d reported from rank %d, "
               "its last attempt ran on %d",
               i, t.worker[i], ranks[1]);
      EXPECT(t.ok[i] == (i == 11), "failures: item %d ok=%d", i, t.ok[i]);
    } else {
      EXPECT(n == 1 && t.ok[i], "failures: item %d attempted %d times, ok %d", i, n, t.ok[i]);
    }
  }
}

/* The failed item's result (the error message) reaches on_result. */
static char failed_text[256];
static void record_failure_text(void *user, int item, int ok, const void *result, size_t len,
                                int worker_rank) {
  if (!ok && item == 7)
    snprintf(failed_text, sizeof failed_text, "%.*s", (int)len, (const char *)result);
  test_on_result(user, item, ok, result, len, worker_rank);
}

static void test_failure_message_and_attempts(seal_comm *c) {
  wq_test t;
  setup(c, &t, "attempts3", MODE_FAILURES);
  seal_workqueue_opts opts = {.max_attempts = 3};
  seal_error e = {{0}};
  int rc =
      seal_workqueue_run(c, N_ITEMS, NULL, NULL, test_work, record_failure_text, &t, &opts, &e);
  EXPECT(rc == 0, "attempts3: run returned %d (%s)", rc, e.msg);
  if (c->rank != 0) return;
  int ranks[8];
  EXPECT(read_attempts(t.dir, 7, ranks, 8) == 3, "attempts3: item 7 not attempted 3 times");
  EXPECT(strstr(failed_text, "item 7 always fails") != NULL,
         "attempts3: failed item's message did not reach on_result: '%s'", failed_text);
  EXPECT(t.ok[11] == 1 && t.count[11] == 1, "attempts3: item 11 not recovered");
}

/* Items reported == items completed == items started (plus the abandoned one). */
static void expect_partial(wq_test *t, const char *what, int abandoned) {
  for (int i = 0; i < N_ITEMS; i++) {
    int ranks[8];
    int started = read_attempts(t->dir, i, ranks, 8);
    int done = completed(t->dir, i);
    EXPECT(t->count[i] <= 1, "%s: item %d reported %d times", what, i, t->count[i]);
    EXPECT(done == t->count[i], "%s: item %d completed %d, reported %d", what, i, done,
           t->count[i]);
    EXPECT(started == (t->count[i] || i == abandoned), "%s: item %d started %d times, reported %d",
           what, i, started, t->count[i]);
    if (t->count[i]) EXPECT(t->ok[i], "%s: item %d reported failed", what, i);
  }
  EXPECT(t->wrong == 0, "%s: %d wrong results", what, t->wrong);
}

static void test_stop(seal_comm *c) {
  wq_test t;
  setup(c, &t, "stop", 0);
  t.stop_after = 10;
  seal_workqueue_opts opts = {.stop = &t.stop};
  int rc = run_queue(c, &t, 0, &opts);
  EXPECT(rc == 1, "stop: run returned %d, want 1", rc);
  if (c->rank != 0) return;
  /* When the 10th result arrives, at most size-1 other items are in flight. */
  EXPECT(t.n_reported >= 10 && t.n_reported <= 10 + c->size - 1,
         "stop: %d results after stopping at 10 with %d ranks", t.n_reported, c->size);
  expect_partial(&t, "stop", -1);
}

static void test_abandon(seal_comm *c) {
  wq_test t;
  setup(c, &t, "abandon", MODE_ABANDON);
  int rc = run_queue(c, &t, 0, NULL);
  EXPECT(rc == 1, "abandon: run returned %d, want 1", rc);
  if (c->rank != 0) return;
  EXPECT(t.count[20] == 0, "abandon: abandoned item 20 was reported");
  EXPECT(t.n_reported >= 20 && t.n_reported < N_ITEMS, "abandon: %d results", t.n_reported);
  expect_partial(&t, "abandon", 20);
}

static void test_bad_arguments(seal_comm *c) {
  wq_test t;
  setup(c, &t, "bad", 0);
  seal_error e = {{0}};
  /* rank 0 gives payloads without lengths: refused everywhere, nothing runs */
  const void *payloads[N_ITEMS] = {0};
  int rc = seal_workqueue_run(c, N_ITEMS, c->rank == 0 ? payloads : NULL, NULL, test_work,
                              test_on_result, &t, NULL, &e);
  EXPECT(rc == -1, "bad: payloads without lens returned %d", rc);
  EXPECT(e.msg[0] != '\0', "bad: no error message");
  if (c->rank == 0) EXPECT(strstr(e.msg, "lens") != NULL, "bad: message '%s'", e.msg);
  /* ranks disagree on the number of items */
  e.msg[0] = '\0';
  rc = seal_workqueue_run(c, N_ITEMS + (c->rank == c->size - 1 ? c->size - 1 : 0), NULL, NULL,
                          test_work, test_on_result, &t, NULL, &e);
  EXPECT(rc == (c->size > 1 ? -1 : 0), "bad: differing n_items returned %d", rc);
  if (c->size > 1) EXPECT(strstr(e.msg, "n_items") != NULL, "bad: message '%s'", e.msg);
  if (c->size > 1 && c->rank == 0)
    EXPECT(t.n_reported == 0, "bad: %d items ran after a refusal", t.n_reported);
  /* no items at all */
  wq_test t0;
  setup(c, &t0, "empty", 0);
  rc = seal_workqueue_run(c, 0, NULL, NULL, test_work, test_on_result, &t0, NULL, &e);
  EXPECT(rc == 0 && t0.n_reported == 0, "bad: empty queue returned %d with %d results", rc,
         t0.n_reported);
}

/* An item's OpenMP thread count must not depend on where it runs (issue 11):
 * rank 0's helper thread, a new thread, would start from the process default
 * while every rank's main thread runs with what the rank chose
 * (cmd_share_cores), and CPU kernels whose sums depend on the thread count
 * then give rank-dependent bits. Each item reports omp_get_max_threads(). */
static int threads_work(void *user, int item, const void *payload, size_t len, seal_buf *result) {
  (void)user, (void)item, (void)payload, (void)len;
  seal_buf_printf(result, "%d", omp_get_max_threads());
  return 0;
}

static int thread_counts[N_ITEMS], thread_ranks[N_ITEMS];
static void threads_result(void *user, int item, int ok, const void *result, size_t len,
                           int worker_rank) {
  (void)user;
  char text[16];
  snprintf(text, sizeof text, "%.*s", (int)len, (const char *)result);
  thread_counts[item] = ok ? atoi(text) : -1;
  thread_ranks[item] = worker_rank;
}

static void test_openmp_threads(seal_comm *c) {
  int before = omp_get_max_threads();
  omp_set_num_threads(3); /* what every rank's main thread chose; never the default here */
  seal_error e = {{0}};
  memset(thread_counts, 0, sizeof thread_counts);
  int rc = seal_workqueue_run(c, N_ITEMS, NULL, NULL, threads_work, threads_result, NULL, NULL, &e);
  omp_set_num_threads(before);
  EXPECT(rc == 0, "openmp threads: run returned %d: %s", rc, e.msg);
  if (c->rank != 0) return;
  int on_rank0 = 0;
  for (int i = 0; i < N_ITEMS; i++) {
    EXPECT(thread_counts[i] == 3, "openmp threads: item %d ran with %d threads on rank %d, not 3",
           i, thread_counts[i], thread_ranks[i]);
    on_rank0 += thread_ranks[i] == 0;
  }
  EXPECT(on_rank0 > 0, "openmp threads: no item ran on rank 0's helper thread");
}

/* ---- item costs: the costliest items are handed out first ------------------ */

/* Eleven cost values over the 37 items, so that ties (broken by index) occur. */
static double item_cost(int item) { return (double)((item * 17) % 11); }

/* The order the queue must hand items out in, by a plain selection: each time
 * the costliest item left, the lowest index among equals. */
static void expected_cost_order(int *order) {
  int taken[N_ITEMS] = {0};
  for (int pos = 0; pos < N_ITEMS; pos++) {
    int best = -1;
    for (int i = 0; i < N_ITEMS; i++)
      if (!taken[i] && (best < 0 || item_cost(i) > item_cost(best))) best = i;
    taken[best] = 1;
    order[pos] = best;
  }
}

/* The items this rank's work function got, in the order it got them (one
 * rank runs its items one after another, in the order they were handed out). */
static int got_items[N_ITEMS], n_got;
static int order_counts[N_ITEMS];

static int order_work(void *user, int item, const void *payload, size_t len, seal_buf *result) {
  (void)user, (void)payload, (void)len;
  if (n_got < N_ITEMS) got_items[n_got++] = item;
  sleep_ms(1 + item % 3);
  seal_buf_printf(result, "item %d", item);
  return 0;
}

static void order_result(void *user, int item, int ok, const void *result, size_t len,
                         int worker_rank) {
  (void)user, (void)worker_rank;
  char want[32];
  snprintf(want, sizeof want, "item %d", item);
  EXPECT(ok && len == strlen(want) && memcmp(result, want, len) == 0, "cost order: item %d result",
         item);
  order_counts[item]++;
}

static void test_cost_order(seal_comm *c) {
  double cost[N_ITEMS];
  for (int i = 0; i < N_ITEMS; i++) cost[i] = item_cost(i);
  int want[N_ITEMS], pos_of[N_ITEMS];
  expected_cost_order(want);
  for (int p = 0; p < N_ITEMS; p++) pos_of[want[p]] = p;
  n_got = 0;
  memset(order_counts, 0, sizeof order_counts);
  /* only rank 0's costs count: the others pass none */
  seal_workqueue_opts opts = {.cost = c->rank == 0 ? cost : NULL};
  seal_error e = {{0}};
  int rc = seal_workqueue_run(c, N_ITEMS, NULL, NULL, order_work, order_result, NULL, &opts, &e);
  EXPECT(rc == 0, "cost order: run returned %d: %s", rc, e.msg);
  /* Fresh items leave in one global order, so every rank gets its items in it. */
  for (int k = 1; k < n_got; k++)
    EXPECT(pos_of[got_items[k - 1]] < pos_of[got_items[k]],
           "cost order: rank %d got item %d (cost %g) before item %d (cost %g)", c->rank,
           got_items[k - 1], cost[got_items[k - 1]], got_items[k], cost[got_items[k]]);
  if (c->rank != 0) return;
  EXPECT(n_got > 0 && got_items[0] == want[0],
         "cost order: rank 0 (served first) began with item %d, not the costliest, %d",
         n_got ? got_items[0] : -1, want[0]);
  if (c->size == 1) EXPECT(n_got == N_ITEMS, "cost order: one rank ran %d items", n_got);
  for (int i = 0; i < N_ITEMS; i++)
    EXPECT(order_counts[i] == 1, "cost order: item %d reported %d times", i, order_counts[i]);
}

/* Costs that do not order anything are refused on every rank, before any item runs. */
static void test_bad_cost(seal_comm *c) {
  double cost[N_ITEMS] = {0};
  cost[5] = NAN;
  seal_workqueue_opts opts = {.cost = cost};
  seal_error e = {{0}};
  memset(order_counts, 0, sizeof order_counts);
  int rc = seal_workqueue_run(c, N_ITEMS, NULL, NULL, order_work, order_result, NULL, &opts, &e);
  EXPECT(rc == -1, "bad cost: a NaN cost returned %d", rc);
  if (c->rank == 0)
    EXPECT(strstr(e.msg, "cost of item 5") != NULL, "bad cost: message '%s'", e.msg);
  int ran = 0;
  for (int i = 0; i < N_ITEMS; i++) ran += order_counts[i];
  EXPECT(ran == 0, "bad cost: %d items ran after a refusal", ran);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  seal_comm c;
  seal_error e = {{0}};
  if (seal_comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "FAIL test_workqueue: %s\n", e.msg);
    return 1;
  }
  my_rank = c.rank;
  char tmpl[] = "/tmp/seal-test-workqueue-XXXXXX";
  if (c.rank == 0) SEAL_CHECK(mkdtemp(tmpl) != NULL, "mkdtemp failed");
  base_dir = seal_comm_bcast_string(&c, tmpl);

  double t0 = seal_now();
  test_basic(&c);
  test_payloads(&c);
  test_failures(&c);
  test_failure_message_and_attempts(&c);
  test_stop(&c);
  test_abandon(&c);
  test_bad_arguments(&c);
  test_openmp_threads(&c);
  test_cost_order(&c);
  test_bad_cost(&c);

  int total = failures;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, c.world));
  if (c.rank == 0) {
    nftw(base_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%s test_workqueue: %d ranks, %d failed checks, %.2f s\n", total ? "FAIL" : "PASS",
           c.size, total, seal_now() - t0);
    fflush(stdout);
  }
  free(base_dir);
  seal_comm_finalize(&c);
  return total ? 1 : 0;
}
