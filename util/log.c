/* util/log.c — leveled logging, the monotonic clock and progress reporting. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int log_threshold = -1; /* -1: not yet read from SEAL_LOG */

static int threshold_from_env(void) {
  const char *s = getenv("SEAL_LOG");
  if (!s) return SEAL_LOG_INFO;
  if (!strcasecmp(s, "debug")) return SEAL_LOG_DEBUG;
  if (!strcasecmp(s, "warn")) return SEAL_LOG_WARN;
  if (!strcasecmp(s, "error")) return SEAL_LOG_ERROR;
  return SEAL_LOG_INFO;
}

void seal_log_set_level(seal_log_level level) { log_threshold = (int)level; }

bool seal_log_enabled(seal_log_level level) {
  if (log_threshold < 0) log_threshold = threshold_from_env();
  return (int)level >= log_threshold;
}

void seal_log(seal_log_level level, const char *fmt, ...) {
  if (!seal_log_enabled(level)) return;
  static const char *names[] = {"debug", "info", "warn", "error"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int rank = seal_get_rank();
  if (rank >= 0)
    fprintf(stderr, "seal[%d] %s: %s\n", rank, names[level], msg);
  else
    fprintf(stderr, "seal %s: %s\n", names[level], msg);
}

double seal_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void seal_progress_begin(seal_progress *p, const char *label, long total) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->total = total;
  p->start = p->last_print = seal_now();
  p->interval = 10.0;
  p->tty = isatty(STDERR_FILENO);
  const char *q = getenv("SEAL_QUIET");
  p->quiet = q && *q && strcmp(q, "0") != 0;
}

static void progress_print(seal_progress *p, const char *extra, bool final) {
  double el = seal_now() - p->start;
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 0.0;
  double eta = (frac > 0 && frac < 1) ? el / frac - el : 0.0;
  if (p->tty) {
    char bar[31];
    int fill = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %ld/%ld %.0fs eta %.0fs %s\033[K", p->label, bar, p->done, p->total,
            el, eta, extra);
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s: %ld/%ld (%.0f%%) %.1fs elapsed, eta %.0fs %s\n", p->label, p->done,
            p->total, 100 * frac, el, eta, extra);
  }
  fflush(stderr);
}

void seal_progress_update(seal_progress *p, long done, const char *fmt, ...) {
  p->done = done;
  if (p->quiet) return;
  double now = seal_now();
  double gap = p->tty ? 0.2 : p->interval;
  if (now - p->last_print < gap && done < p->total) return;
  p->last_print = now;
  char extra[256] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(extra, sizeof extra, fmt, ap);
    va_end(ap);
  }
  progress_print(p, extra, false);
}

void seal_progress_end(seal_progress *p) {
  if (p->quiet) return;
  progress_print(p, "done", true);
}
