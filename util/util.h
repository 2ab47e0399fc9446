/* util/util.h — the floor every room stands on: exit statuses, errors (and the
 * one fatal path, which names the MPI rank when there is one), checked
 * allocation, leveled logging, a monotonic timer, a progress reporter,
 * whole-file I/O, and a seeded RNG. Nothing here knows about models, kernels or
 * MPI. */
#ifndef SEAL_UTIL_H
#define SEAL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#define SEAL_VERSION "0.1.0"

/* C11's _Noreturn, spelled so that C++ (CUDA sources) reads it too. */
#ifdef __cplusplus
#define SEAL_NORETURN [[noreturn]]
#else
#define SEAL_NORETURN _Noreturn
#endif

/* ---- errors ------------------------------------------------------------ */

/* The exit statuses of the seal binary (seal --help, docs/running.md). */
enum {
  SEAL_EXIT_OK = 0,
  SEAL_EXIT_ERROR = 1,    /* any failure: every fatal error (SEAL_DIE) exits with it */
  SEAL_EXIT_USAGE = 2,    /* a bad command line */
  SEAL_EXIT_PREEMPTED = 3 /* stopped by SIGTERM/SIGUSR1 after a checkpoint: resume it */
};

/* A recoverable error: functions that can fail on bad input fill one of these
 * and return -1 (or NULL), so callers and tests can see the message without the
 * process dying. */
typedef struct {
  char msg[1024];
} seal_error;

/* Formats into e (when e is not NULL) and returns -1, so that
 * `return seal_errorf(e, "...")` reads naturally. */
int seal_errorf(seal_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The one fatal path. Prints "seal: error: [rank R] message" (no rank before
 * seal_set_rank) for the user, and the file:line of the C source that gave up
 * as a debug log line before it (SEAL_LOG=debug); then ends the process
 * through the die handler: exit status 1, or, once comm has joined an MPI
 * job, MPI_Abort of every rank with status 1. Safe from any thread: the first
 * fatal error ends the process, a second one at the same time waits for it. */
SEAL_NORETURN void seal_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define SEAL_DIE(...) seal_die_at(__FILE__, __LINE__, __VA_ARGS__)
/* Dies with the message of a seal_error. */
#define SEAL_DIE_ERR(err) seal_die_at(__FILE__, __LINE__, "%s", (err)->msg)
#define SEAL_CHECK(cond, ...)                                  \
  do {                                                         \
    if (!(cond)) seal_die_at(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

/* How a fatal error ends the process, after its message is printed. It must
 * not return (if it does, the process exits with status 1). NULL (the
 * default) is exit(1). Set once, by comm when it joins an MPI job
 * (comm/comm.c), and back to NULL when it leaves. */
typedef void (*seal_die_handler)(void);
void seal_set_die_handler(seal_die_handler handler);

/* The rank printed in messages; -1 (the default) prints none. Process-wide by
 * nature: a process is one rank. */
void seal_set_rank(int rank);
int seal_get_rank(void);

/* ---- checked allocation ------------------------------------------------ */

void *seal_malloc_at(size_t n, const char *file, int line);
void *seal_calloc_at(size_t count, size_t size, const char *file, int line);
void *seal_realloc_at(void *p, size_t n, const char *file, int line);
char *seal_strdup_at(const char *s, const char *file, int line);
#define seal_malloc(n) seal_malloc_at((n), __FILE__, __LINE__)
#define seal_calloc(c, s) seal_calloc_at((c), (s), __FILE__, __LINE__)
#define seal_realloc(p, n) seal_realloc_at((p), (n), __FILE__, __LINE__)
#define seal_strdup(s) seal_strdup_at((s), __FILE__, __LINE__)
/* Allocates an array of n elements of *ptr's type. */
#define SEAL_ALLOC_ARRAY(ptr, n) ((ptr) = seal_calloc((n) ? (n) : 1, sizeof *(ptr)))
/* The number of elements of an array (not a pointer). */
#define SEAL_ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* printf into a freshly allocated string. */
char *seal_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, for building text. */
typedef struct {
  char *data; /* always NUL-terminated when len > 0 or after any append */
  size_t len, cap;
} seal_buf;
void seal_buf_append(seal_buf *b, const void *data, size_t n);
void seal_buf_puts(seal_buf *b, const char *s);
void seal_buf_printf(seal_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over to the caller (never NULL) and empties the buffer. */
char *seal_buf_take(seal_buf *b);
void seal_buf_free(seal_buf *b);

/* ---- logging ----------------------------------------------------------- */

typedef enum { SEAL_LOG_DEBUG, SEAL_LOG_INFO, SEAL_LOG_WARN, SEAL_LOG_ERROR } seal_log_level;
/* The threshold is read once from SEAL_LOG (debug|info|warn|error), default info. */
void seal_log_set_level(seal_log_level level);
/* Whether messages of this level are printed. */
bool seal_log_enabled(seal_log_level level);
void seal_log(seal_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define seal_debug(...) seal_log(SEAL_LOG_DEBUG, __VA_ARGS__)
#define seal_info(...) seal_log(SEAL_LOG_INFO, __VA_ARGS__)
#define seal_warn(...) seal_log(SEAL_LOG_WARN, __VA_ARGS__)

/* ---- time and progress ------------------------------------------------- */

/* Seconds on a monotonic clock. */
double seal_now(void);

/* Progress of long work on stderr: a redrawn bar on a terminal, a plain line
 * every `interval` seconds (and at the end) otherwise. */
typedef struct {
  const char *label;
  long total;
  long done;
  double start, last_print, interval;
  bool tty;
  bool quiet;
} seal_progress;
void seal_progress_begin(seal_progress *p, const char *label, long total);
void seal_progress_update(seal_progress *p, long done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void seal_progress_end(seal_progress *p);

/* ---- files ------------------------------------------------------------- */

/* The most seal_read_file reads: 1 GiB (the largest text inputs, SQuAD's
 * training set and a 7B tokenizer.json, are tens of MB). */
#define SEAL_READ_FILE_CAP ((size_t)1 << 30)
/* Opens a regular file for reading: O_NONBLOCK first, so a FIFO or a device
 * never blocks the open, then fstat; anything but a regular file (a directory,
 * /dev/zero, a FIFO, a socket) is refused with an error naming the path.
 * Returns the descriptor (blocking again, close-on-exec) and fills *st, or -1. */
int seal_open_regular(const char *path, struct stat *st, seal_error *e);
/* Reads a whole regular file (seal_open_regular) of at most SEAL_READ_FILE_CAP
 * bytes; the result is NUL-terminated (not counted in *size). */
char *seal_read_file(const char *path, size_t *size, seal_error *e);
/* The same with another cap. */
char *seal_read_file_max(const char *path, size_t max, size_t *size, seal_error *e);
/* Reads a stream to its end (standard input), refusing more than max bytes;
 * name stands for the stream in messages. */
char *seal_read_stream(FILE *f, const char *name, size_t max, size_t *size, seal_error *e);
/* Writes path.tmp, fsyncs it, keeps the old file as path.prev when keep_prev,
 * then renames into place: a crash leaves either the old or the new file. */
int seal_write_file_atomic(const char *path, const void *data, size_t n, bool keep_prev,
                           seal_error *e);
/* mkdir -p */
int seal_mkdirs(const char *path, seal_error *e);
bool seal_file_exists(const char *path);
/* Joins two path parts with one '/'. */
char *seal_path_join(const char *a, const char *b);

/* ---- random numbers ---------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, good, and its state is four
 * words that a checkpoint can store. */
typedef struct {
  uint64_t s[4];
} seal_rng;
void seal_rng_seed(seal_rng *r, uint64_t seed);
uint64_t seal_rng_u64(seal_rng *r);
/* Uniform in [0, 1). */
double seal_rng_uniform(seal_rng *r);
/* Standard normal (Box-Muller). */
double seal_rng_normal(seal_rng *r);
/* A seed derived from a parent seed and up to four coordinates (e.g. round,
 * context, sample, repeat), independent of who computes it. */
uint64_t seal_seed_derive(uint64_t parent, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* ---- text ------------------------------------------------------------- */

/* A copy of s in which every byte that does not start a valid UTF-8 sequence
 * (stray continuation bytes, overlongs, surrogates, truncated sequences) is
 * replaced by U+FFFD, as Hugging Face's decode does: text that leaves the model
 * can always be written to JSON and HDF5. */
char *seal_utf8_sanitize(const char *s);

/* ---- hashing ----------------------------------------------------------- */

/* FNV-1a over bytes; for checksums that ranks compare. */
uint64_t seal_fnv1a(const void *data, size_t n, uint64_t h);

#endif
