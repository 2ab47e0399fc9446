/* comm/workqueue.c — the coordinator/worker protocol (docs/distribution.md).
 *
 * Messages on c->world, every one a packed [header][bytes] of MPI_BYTE, sized with
 * MPI_Improbe/MPI_Get_count so payloads and results of any size up to 2 GiB pass:
 *   TAG_ITEM    0 -> r   header {item, attempt, len}, then the payload
 *   TAG_RESULT  r -> 0   header {item, status, len}, then the result
 *   TAG_DONE    0 -> r   header {0, code, 0}: leave the queue, return code
 * A worker holds at most one item; its result is its request for the next one. */
#include "comm/workqueue.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_ITEM = 7101, TAG_RESULT = 7102, TAG_DONE = 7103 };
enum { STATUS_OK = 0, STATUS_FAILED = 1, STATUS_ABANDONED = 2 };

typedef struct {
  int64_t item, code, len; /* code: attempt (ITEM), status (RESULT), return code (DONE) */
} wq_header;

#define WQ_MAX_BYTES ((size_t)INT_MAX - sizeof(wq_header)) /* one MPI message, int count */
#define WQ_MIN_WAIT_NS 20000L                              /* first poll interval: 20 us */
#define WQ_MAX_WAIT_NS 1000000L                            /* longest poll interval: 1 ms */

/* ---- messages -------------------------------------------------------------- */

static void send_packed(MPI_Comm comm, int dest, int tag, int64_t item, int64_t code,
                        const void *data, size_t len) {
  SEAL_CHECK(len <= WQ_MAX_BYTES, "work queue message of %zu bytes exceeds 2 GiB", len);
  wq_header h = {item, code, (int64_t)len};
  char *buf = seal_malloc(sizeof h + len); /* [header][len bytes] */
  memcpy(buf, &h, sizeof h);
  if (len) memcpy(buf + sizeof h, data, len);
  MPI_CHECK(MPI_Send(buf, (int)(sizeof h + len), MPI_BYTE, dest, tag, comm));
  free(buf);
}

/* Receives a probed message; returns the packed buffer (header first) and fills h. */
static char *recv_packed(MPI_Message *msg, MPI_Status *st, wq_header *h) {
  int count = 0;
  MPI_CHECK(MPI_Get_count(st, MPI_BYTE, &count));
  if (count < (int)sizeof *h)
    SEAL_DIE(
        "work queue: message from rank %d with tag %d has %d bytes, less than "
        "its %zu-byte header",
        st->MPI_SOURCE, st->MPI_TAG, count, sizeof *h);
  char *buf = seal_malloc((size_t)count);
  MPI_CHECK(MPI_Mrecv(buf, count, MPI_BYTE, msg, MPI_STATUS_IGNORE));
  memcpy(h, buf, sizeof *h);
  if (h->len < 0 || (size_t)h->len != (size_t)count - sizeof *h)
    SEAL_DIE("work queue: message from rank %d says %lld bytes but carries %zu", st->MPI_SOURCE,
             (long long)h->len, (size_t)count - sizeof *h);
  return buf;
}

static void sleep_ns(long ns) {
  struct timespec ts = {0, ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Like MPI_Mprobe, but sleeps between polls: a blocking probe spins on a core, and on
 * CPU runs the ranks share cores with the ranks that compute. */
static void wait_message(MPI_Comm comm, int source, int tag, MPI_Message *msg, MPI_Status *st) {
  long wait = WQ_MIN_WAIT_NS;
  for (;;) {
    int flag = 0;
    MPI_CHECK(MPI_Improbe(source, tag, comm, &flag, msg, st));
    if (flag) return;
    sleep_ns(wait);
    wait = wait * 2 > WQ_MAX_WAIT_NS ? WQ_MAX_WAIT_NS : wait * 2;
  }
}

/* ---- worker side (ranks > 0) ---------------------------------------------- */

static int status_of(int rc) {
  if (rc == 0) return STATUS_OK;
  if (rc == 1) return STATUS_ABANDONED;
  return STATUS_FAILED;
}

static int run_worker(seal_comm *c, seal_work_fn work, void *user) {
  for (;;) {
    MPI_Message msg;
    MPI_Status st;
    wq_header h;
    wait_message(c->world, 0, MPI_ANY_TAG, &msg, &st);
    char *buf = recv_packed(&msg, &st, &h);
    if (st.MPI_TAG == TAG_DONE) {
      free(buf);
      return (int)h.code;
    }
    if (st.MPI_TAG != TAG_ITEM) SEAL_DIE("work queue: unexpected tag %d from rank 0", st.MPI_TAG);
    int item = (int)h.item;
    seal_debug("work queue: item %d attempt %lld", item, (long long)h.code);
    seal_buf result = {0};
    int status = status_of(work(user, item, h.len ? buf + sizeof h : NULL, (size_t)h.len, &result));
    free(buf);
    if (result.len > WQ_MAX_BYTES) {
      seal_buf_free(&result);
      seal_buf_printf(&result, "item %d: result of more than 2 GiB cannot be sent to rank 0", item);
      status = STATUS_FAILED;
    }
    send_packed(c->world, 0, TAG_RESULT, item, status, result.data, result.len);
    seal_buf_free(&result);
  }
}

/* ---- rank 0's own items, on a helper thread ------------------------------- */

/* The coordinator (calling thread) posts one item at a time; the helper runs it and
 * posts the result back. It never calls MPI. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t posted, finished_cv;
  int has_item, quit; /* coordinator -> helper */
  int item;
  const void *payload;
  size_t len;
  int finished, status; /* helper -> coordinator */
  seal_buf result;
  seal_work_fn work;
  void *user;
  void (*init)(void *user);
  void *init_user; /* what init receives */
  int omp_threads; /* the calling thread's OpenMP thread count, for the helper too */
} local_worker;

static void *local_worker_main(void *arg) {
  local_worker *lw = arg;
  /* A new thread starts from the process's default thread count, not from what
   * the rank chose (cmd_share_cores): an item run here would then use another
   * number of threads than on a worker rank's main thread. */
  omp_set_num_threads(lw->omp_threads);
  if (lw->init) lw->init(lw->init_user);
  pthread_mutex_lock(&lw->mu);
  for (;;) {
    while (!lw->has_item && !lw->quit) pthread_cond_wait(&lw->posted, &lw->mu);
    if (!lw->has_item) break; /* quit */
    lw->has_item = 0;
    int item = lw->item;
    const void *payload = lw->payload;
    size_t len = lw->len;
    pthread_mutex_unlock(&lw->mu);
    seal_buf result = {0};
    int status = status_of(lw->work(lw->user, item, payload, len, &result));
    pthread_mutex_lock(&lw->mu);
    lw->result = result;
    lw->status = status;
    lw->finished = 1;
    pthread_cond_signal(&lw->finished_cv);
  }
  pthread_mutex_unlock(&lw->mu);
  return NULL;
}

static void local_post(local_worker *lw, int item, const void *payload, size_t len) {
  pthread_mutex_lock(&lw->mu);
  lw->item = item;
  lw->payload = payload;
  lw->len = len;
  lw->has_item = 1;
  pthread_cond_signal(&lw->posted);
  pthread_mutex_unlock(&lw->mu);
}

/* Takes the helper's result when there is one, waiting at most wait_ns for it. */
static int local_take(local_worker *lw, long wait_ns, int *status, seal_buf *result) {
  pthread_mutex_lock(&lw->mu);
  if (!lw->finished && wait_ns > 0) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until); /* finished_cv waits on the monotonic clock */
    until.tv_nsec += wait_ns;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&lw->finished_cv, &lw->mu, &until);
  }
  int got = lw->finished;
  if (got) {
    *status = lw->status;
    *result = lw->result;
    memset(&lw->result, 0, sizeof lw->result);
    lw->finished = 0;
  }
  pthread_mutex_unlock(&lw->mu);
  return got;
}

/* ---- coordinator (rank 0) ------------------------------------------------- */

typedef struct {
  seal_comm *c;
  int n, max_attempts;
  const void *const *payloads;
  const size_t *lens;
  seal_result_fn on_result;
  void *user;
  volatile int *stop;
  int *attempts;    /* [n] attempts started */
  int *last_failed; /* [n] rank whose attempt last failed, -1 when none did */
  int *retry;       /* [n] FIFO of failed items waiting for another attempt */
  int n_retry;
  const double *cost; /* [n] rank 0's expected costs, or NULL (index order) */
  int *order;         /* [n] fresh items in the order they are handed out */
  int next_fresh;     /* order[0..next_fresh) have been handed out at least once */
  int *busy;          /* [size] item each rank runs, -1 when idle */
  int in_flight, reported, stopped;
  local_worker lw;
} coordinator;

/* ---- the order of fresh items --------------------------------------------- */

typedef struct {
  double cost;
  int item;
} costed_item;

/* Descending cost, ties in ascending index: a total order, so the result does
 * not depend on qsort's (unstable) algorithm. */
static int by_cost_descending(const void *pa, const void *pb) {
  const costed_item *a = pa, *b = pb;
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  return (a->item > b->item) - (a->item < b->item);
}

/* order[0..n): the items costliest first (cost NULL: 0, 1, ..., n-1). The
 * classic longest-processing-time-first rule: with the longest items started
 * first, the last to finish is a short one, so the ranks end a phase close
 * together instead of one rank running a long item alone. */
static void fresh_order(const double *cost, int n, int *order) {
  if (!cost) {
    for (int i = 0; i < n; i++) order[i] = i;
    return;
  }
  costed_item *ci = seal_malloc((size_t)(n ? n : 1) * sizeof *ci);
  for (int i = 0; i < n; i++) ci[i] = (costed_item){cost[i], i};
  qsort(ci, (size_t)n, sizeof *ci, by_cost_descending);
  for (int i = 0; i < n; i++) order[i] = ci[i].item;
  free(ci);
}

/* The next item for rank r: a retry that did not last fail on r (when there is
 * another rank to take it), else the next fresh item; -1 when none. */
static int pick_item(coordinator *co, int r) {
  for (int i = 0; i < co->n_retry; i++) {
    int item = co->retry[i];
    if (co->c->size == 1 || co->last_failed[item] != r) {
      memmove(co->retry + i, co->retry + i + 1, (size_t)(co->n_retry - i - 1) * sizeof(int));
      co->n_retry--;
      return item;
    }
  }
  return co->next_fresh < co->n ? co->order[co->next_fresh++] : -1;
}

static void dispatch(coordinator *co, int r, int item) {
  const void *payload = co->payloads ? co->payloads[item] : NULL;
  size_t len = co->payloads ? co->lens[item] : 0;
  co->attempts[item]++;
  co->busy[r] = item;
  co->in_flight++;
  seal_debug("work queue: item %d (cost %g) attempt %d -> rank %d", item,
             co->cost ? co->cost[item] : 0.0, co->attempts[item], r);
  if (r == 0)
    local_post(&co->lw, item, len ? payload : NULL, len);
  else
    send_packed(co->c->world, r, TAG_ITEM, item, co->attempts[item], payload, len);
}

static void report(coordinator *co, int item, int ok, const void *data, size_t len, int r) {
  co->reported++;
  if (co->on_result) co->on_result(co->user, item, ok, data, len, r);
}

/* The start of a result as text for a log line; results may be binary. */
static void printable_prefix(const void *data, size_t len, char *out, size_t cap) {
  const unsigned char *p = data;
  size_t n = len < cap - 1 ? len : cap - 1;
  for (size_t i = 0; i < n; i++) out[i] = (p[i] >= 32 && p[i] < 127) ? (char)p[i] : '?';
  out[n] = '\0';
}

static void handle_result(coordinator *co, int r, int item, int status, const void *data,
                          size_t len) {
  if (r < 0 || r >= co->c->size || co->busy[r] != item)
    SEAL_DIE("work queue: rank %d returned item %d, but it was given %d", r, item,
             r >= 0 && r < co->c->size ? co->busy[r] : -1);
  co->busy[r] = -1;
  co->in_flight--;
  if (status == STATUS_OK) {
    report(co, item, 1, data, len, r);
  } else if (status == STATUS_ABANDONED) {
    if (!co->stopped) seal_info("work queue: rank %d abandoned item %d; stopping", r, item);
    co->stopped = 1;
  } else {
    co->last_failed[item] = r;
    char why[201];
    printable_prefix(data, len, why, sizeof why);
    seal_warn("work queue: item %d failed on rank %d (attempt %d of %d): %s", item, r,
              co->attempts[item], co->max_attempts, why);
    if (co->attempts[item] >= co->max_attempts)
      report(co, item, 0, data, len, r);
    else if (!co->stopped)
      co->retry[co->n_retry++] = item;
    /* else: stopped with attempts left; not done, not reported (a resume redoes it) */
  }
}

static int poll_stop(coordinator *co) {
  if (!co->stopped && co->stop && *co->stop) {
    co->stopped = 1;
    seal_info("work queue: stop requested; finishing the %d item(s) in flight", co->in_flight);
  }
  return co->stopped;
}

/* Receives every result that has arrived; returns how many. */
static int drain_results(coordinator *co) {
  int got = 0;
  for (;;) {
    int flag = 0;
    MPI_Message msg;
    MPI_Status st;
    MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, TAG_RESULT, co->c->world, &flag, &msg, &st));
    if (!flag) return got;
    wq_header h;
    char *buf = recv_packed(&msg, &st, &h);
    handle_result(co, st.MPI_SOURCE, (int)h.item, (int)h.code, h.len ? buf + sizeof h : NULL,
                  (size_t)h.len);
    free(buf);
    got++;
  }
}

static int take_local_result(coordinator *co, long wait_ns) {
  int status;
  seal_buf result;
  if (co->busy[0] < 0 || !local_take(&co->lw, wait_ns, &status, &result)) return 0;
  handle_result(co, 0, co->busy[0], status, result.data, result.len);
  seal_buf_free(&result);
  return 1;
}

static int assign_idle_ranks(coordinator *co) {
  int given = 0;
  for (int r = 0; r < co->c->size && !poll_stop(co); r++) {
    if (co->busy[r] >= 0) continue;
    int item = pick_item(co, r);
    if (item < 0) continue;
    dispatch(co, r, item);
    given++;
  }
  return given;
}

static int run_coordinator(coordinator *co) {
  long wait = WQ_MIN_WAIT_NS;
  for (;;) {
    int events = take_local_result(co, 0) + drain_results(co);
    poll_stop(co);
    events += assign_idle_ranks(co);
    if (co->in_flight == 0) {
      if (co->stopped || co->reported == co->n) break;
      /* Every rank is idle, so any waiting item could have been given to one. */
      SEAL_DIE("work queue: %d of %d items reported, none in flight, none given", co->reported,
               co->n);
    }
    if (events) {
      wait = WQ_MIN_WAIT_NS;
      continue;
    }
    /* Nothing happened: wait for rank 0's own item (the wait ends the moment it
     * finishes) or sleep until the next poll of the workers, backing off to 1 ms. */
    int local_done = 0;
    if (co->busy[0] >= 0)
      local_done = take_local_result(co, wait);
    else
      sleep_ns(wait);
    wait = local_done ? WQ_MIN_WAIT_NS : (wait * 2 > WQ_MAX_WAIT_NS ? WQ_MAX_WAIT_NS : wait * 2);
  }
  int code = co->reported == co->n ? 0 : 1;
  for (int r = 1; r < co->c->size; r++) send_packed(co->c->world, r, TAG_DONE, 0, code, NULL, 0);
  return code;
}

static int coordinate(seal_comm *c, int n_items, const void *const *payloads, const size_t *lens,
                      seal_work_fn work, seal_result_fn on_result, void *user,
                      const seal_workqueue_opts *opts) {
  coordinator co = {.c = c,
                    .n = n_items,
                    .payloads = payloads,
                    .lens = lens,
                    .on_result = on_result,
                    .user = user};
  co.max_attempts = opts && opts->max_attempts > 0 ? opts->max_attempts : 2;
  co.stop = opts ? opts->stop : NULL;
  co.cost = opts ? opts->cost : NULL;
  SEAL_ALLOC_ARRAY(co.attempts, n_items);
  SEAL_ALLOC_ARRAY(co.last_failed, n_items);
  SEAL_ALLOC_ARRAY(co.retry, n_items);
  SEAL_ALLOC_ARRAY(co.order, n_items);
  fresh_order(co.cost, n_items, co.order);
  SEAL_ALLOC_ARRAY(co.busy, c->size);
  for (int i = 0; i < n_items; i++) co.last_failed[i] = -1;
  for (int r = 0; r < c->size; r++) co.busy[r] = -1;

  local_worker *lw = &co.lw;
  pthread_mutex_init(&lw->mu, NULL);
  pthread_cond_init(&lw->posted, NULL);
  pthread_condattr_t cattr;
  pthread_condattr_init(&cattr);
  pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC); /* a wall-clock jump must not stall */
  pthread_cond_init(&lw->finished_cv, &cattr);
  pthread_condattr_destroy(&cattr);
  lw->work = work;
  lw->user = user;
  lw->init = opts ? opts->local_thread_init : NULL;
  lw->init_user = opts && opts->local_thread_user ? opts->local_thread_user : user;
  lw->omp_threads = omp_get_max_threads();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, (size_t)64 << 20); /* items may recurse deeply */
  pthread_t helper;
  int prc = pthread_create(&helper, &attr, local_worker_main, lw);
  pthread_attr_destroy(&attr);
  if (prc != 0) SEAL_DIE("work queue: pthread_create failed: %s", strerror(prc));

  int code = run_coordinator(&co);

  pthread_mutex_lock(&lw->mu);
  lw->quit = 1;
  pthread_cond_signal(&lw->posted);
  pthread_mutex_unlock(&lw->mu);
  pthread_join(helper, NULL);
  pthread_cond_destroy(&lw->finished_cv);
  pthread_cond_destroy(&lw->posted);
  pthread_mutex_destroy(&lw->mu);
  seal_buf_free(&lw->result);
  free(co.attempts);
  free(co.last_failed);
  free(co.retry);
  free(co.order);
  free(co.busy);
  return code;
}

/* ---- entry ---------------------------------------------------------------- */

/* Rank 0's item costs, when given, must order the items: finite numbers. */
static int check_costs(const double *cost, int n_items, seal_error *e) {
  for (int i = 0; cost && i < n_items; i++)
    if (!isfinite(cost[i]))
      return seal_errorf(e, "work queue: the cost of item %d is %g; expected a finite number", i,
                         cost[i]);
  return 0;
}

static int check_local_arguments(seal_comm *c, int n_items, const void *const *payloads,
                                 const size_t *lens, seal_work_fn work,
                                 const seal_workqueue_opts *opts, seal_error *e) {
  if (n_items < 0) return seal_errorf(e, "work queue: n_items is %d", n_items);
  if (!work) return seal_errorf(e, "work queue: no work function");
  if (c->rank == 0 && opts && check_costs(opts->cost, n_items, e)) return -1;
  if (c->rank != 0 || !payloads) return 0;
  if (!lens) return seal_errorf(e, "work queue: payloads given without lens");
  for (int i = 0; i < n_items; i++) {
    if (lens[i] > WQ_MAX_BYTES)
      return seal_errorf(e, "work queue: payload of item %d has %zu bytes; the limit is %zu", i,
                         lens[i], WQ_MAX_BYTES);
    if (lens[i] && !payloads[i])
      return seal_errorf(e, "work queue: payload of item %d is NULL but its length is %zu", i,
                         lens[i]);
  }
  return 0;
}

int seal_workqueue_run(seal_comm *c, int n_items, const void *const *payloads, const size_t *lens,
                       seal_work_fn work, seal_result_fn on_result, void *user,
                       const seal_workqueue_opts *opts, seal_error *e) {
  /* Every rank checks its own arguments, then all agree (one allreduce) so that a
   * refusal anywhere makes every rank return -1 instead of leaving some waiting. */
  int ok = check_local_arguments(c, n_items, payloads, lens, work, opts, e) == 0;
  int v[3] = {ok, n_items, -n_items}; /* min: all ok, min n, -(max n) */
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_INT, MPI_MIN, c->world));
  if (!v[0] || v[1] != -v[2]) {
    if (ok && v[1] != -v[2])
      seal_errorf(e, "work queue: ranks disagree on n_items (from %d to %d)", v[1], -v[2]);
    else if (ok)
      seal_errorf(e, "work queue: another rank refused its arguments (see its error)");
    return -1;
  }
  if (c->rank == 0) return coordinate(c, n_items, payloads, lens, work, on_result, user, opts);
  return run_worker(c, work, user);
}
