/* util/error.c — recoverable errors, fatal errors and checked allocation. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Set once at start-up and read everywhere: which rank this process is (every
 * message says so) and how a fatal error ends it (comm installs MPI_Abort). */
static int process_rank = -1;
static seal_die_handler die_handler;

void seal_set_rank(int rank) { process_rank = rank; }
int seal_get_rank(void) { return process_rank; }
void seal_set_die_handler(seal_die_handler handler) { die_handler = handler; }

int seal_errorf(seal_error *e, const char *fmt, ...) {
  if (e) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* Only the first fatal error ends the process. The thread that raised it may
 * fail again inside the die handler (an MPI call that fails while aborting):
 * then it exits at once. Any other thread waits for the first to end the
 * process, so its message is not cut short. */
static void enter_dying_once(void) {
  static atomic_flag dying = ATOMIC_FLAG_INIT;
  static _Thread_local bool this_thread_dying;
  if (!atomic_flag_test_and_set(&dying)) {
    this_thread_dying = true;
    return;
  }
  if (this_thread_dying) _exit(SEAL_EXIT_ERROR);
  for (;;) pause();
}

void seal_die_at(const char *file, int line, const char *fmt, ...) {
  enter_dying_once();
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  seal_debug("fatal error raised at %s:%d", file, line);
  if (process_rank >= 0)
    fprintf(stderr, "seal: error: [rank %d] %s\n", process_rank, msg);
  else
    fprintf(stderr, "seal: error: %s\n", msg);
  fflush(stderr);
  if (die_handler) die_handler();
  exit(SEAL_EXIT_ERROR);
}

void *seal_malloc_at(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p) seal_die_at(file, line, "out of memory allocating %zu bytes", n);
  return p;
}

void *seal_calloc_at(size_t count, size_t size, const char *file, int line) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) seal_die_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
  return p;
}

void *seal_realloc_at(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (!q) seal_die_at(file, line, "out of memory reallocating to %zu bytes", n);
  return q;
}

char *seal_strdup_at(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *d = seal_malloc_at(n, file, line);
  memcpy(d, s, n);
  return d;
}

char *seal_asprintf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = seal_malloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

static void buf_reserve(seal_buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  b->data = seal_realloc(b->data, cap);
  b->cap = cap;
}

void seal_buf_append(seal_buf *b, const void *data, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void seal_buf_puts(seal_buf *b, const char *s) { seal_buf_append(b, s, strlen(s)); }

void seal_buf_printf(seal_buf *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  buf_reserve(b, (size_t)n);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)n;
}

char *seal_buf_take(seal_buf *b) {
  char *s = b->data ? b->data : seal_strdup("");
  b->data = NULL;
  b->len = b->cap = 0;
  return s;
}

void seal_buf_free(seal_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
