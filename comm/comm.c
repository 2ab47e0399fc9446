/* comm/comm.c — joining the MPI job, checked MPI calls, broadcasts from rank 0. */
#include "comm/comm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_DEFAULT_MAX_CHUNK ((size_t)1 << 30)

static size_t max_chunk = SEAL_DEFAULT_MAX_CHUNK;

void seal_comm_set_max_chunk(size_t elements) {
  max_chunk = (elements == 0 || elements > (size_t)INT_MAX) ? SEAL_DEFAULT_MAX_CHUNK : elements;
}

size_t seal_comm_max_chunk(void) { return max_chunk; }

static void print_rank_prefixed(const char *file, int line, const char *msg) {
  int rank = seal_get_rank();
  if (rank >= 0)
    fprintf(stderr, "seal: error: [rank %d] %s:%d: %s\n", rank, file, line, msg);
  else
    fprintf(stderr, "seal: error: %s:%d: %s\n", file, line, msg);
  fflush(stderr);
}

/* MPI_Abort needs MPI alive; when it is not (failure before init or after
 * finalize) exiting is all that is left. */
static _Noreturn void abort_job(int code) {
  int initialized = 0, finalized = 0, size = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    /* A job of one rank has no one to take down: end it quietly, without
     * MPI_Abort's banner after the message that matters. */
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1) {
      MPI_Finalize();
      exit(code ? code : 1);
    }
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
  }
  exit(code ? code : 1);
}

void seal_comm_abort_at(const char *file, int line, int code, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_rank_prefixed(file, line, msg);
  abort_job(code);
}

void seal_mpi_fail(int rc, const char *call, const char *file, int line) {
  char err[MPI_MAX_ERROR_STRING + 1];
  int len = 0;
  if (MPI_Error_string(rc, err, &len) != MPI_SUCCESS) snprintf(err, sizeof err, "code %d", rc);
  err[len < 0 ? 0 : (len > MPI_MAX_ERROR_STRING ? MPI_MAX_ERROR_STRING : len)] = '\0';
  char msg[2048];
  snprintf(msg, sizeof msg, "%s failed: %s", call, err);
  print_rank_prefixed(file, line, msg);
  abort_job(1);
}

int seal_comm_init(int *argc, char ***argv, seal_comm *c, seal_error *e) {
  memset(c, 0, sizeof *c);
  int initialized = 0;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS)
    return seal_errorf(e, "comm: MPI_Initialized failed");
  if (initialized) {
    if (MPI_Query_thread(&c->thread_level) != MPI_SUCCESS)
      return seal_errorf(e, "comm: MPI_Query_thread failed");
  } else {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &c->thread_level) != MPI_SUCCESS)
      return seal_errorf(e, "comm: MPI_Init_thread failed (is this an MPI launch gone wrong?)");
    c->owns_mpi = 1;
  }
  /* From here on every failure comes back to MPI_CHECK instead of aborting inside
   * MPI with a message that does not say where. */
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &c->world));
  MPI_CHECK(MPI_Comm_set_errhandler(c->world, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(c->world, &c->rank));
  MPI_CHECK(MPI_Comm_size(c->world, &c->size));
  seal_set_rank(c->rank);
  MPI_CHECK(MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &c->node));
  MPI_CHECK(MPI_Comm_set_errhandler(c->node, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(c->node, &c->local_rank));
  MPI_CHECK(MPI_Comm_size(c->node, &c->local_size));
  if (c->thread_level < MPI_THREAD_FUNNELED)
    seal_warn(
        "comm: MPI provides thread level %d, below MPI_THREAD_FUNNELED; seal makes MPI "
        "calls from one thread only, which works with most MPIs at this level",
        c->thread_level);
  seal_debug("comm: rank %d of %d, local rank %d of %d, thread level %d", c->rank, c->size,
             c->local_rank, c->local_size, c->thread_level);
  return 0;
}

void seal_comm_finalize(seal_comm *c) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (c->node != MPI_COMM_NULL && c->node != 0) MPI_CHECK(MPI_Comm_free(&c->node));
  if (c->world != MPI_COMM_NULL && c->world != 0) MPI_CHECK(MPI_Comm_free(&c->world));
  if (c->owns_mpi) MPI_CHECK(MPI_Finalize());
  c->owns_mpi = 0;
}

void seal_comm_barrier(seal_comm *c) { MPI_CHECK(MPI_Barrier(c->world)); }

void seal_comm_bcast_raw(seal_comm *c, void *data, size_t n) {
  char *p = data;
  for (size_t off = 0; off < n;) {
    size_t count = n - off < max_chunk ? n - off : max_chunk;
    MPI_CHECK(MPI_Bcast(p + off, (int)count, MPI_BYTE, 0, c->world));
    off += count;
  }
}

void seal_comm_bcast_bytes(seal_comm *c, const void *data, size_t n, void **out, size_t *out_len) {
  unsigned long long len = c->rank == 0 ? (unsigned long long)n : 0;
  MPI_CHECK(MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, 0, c->world));
  char *copy = seal_malloc((size_t)len + 1);
  if (c->rank == 0 && len > 0) memcpy(copy, data, (size_t)len);
  seal_comm_bcast_raw(c, copy, (size_t)len);
  copy[len] = '\0';
  *out = copy;
  *out_len = (size_t)len;
}

char *seal_comm_bcast_string(seal_comm *c, const char *s) {
  void *out = NULL;
  size_t len = 0;
  const char *src = (c->rank == 0 && s) ? s : "";
  seal_comm_bcast_bytes(c, src, c->rank == 0 ? strlen(src) : 0, &out, &len);
  return out;
}
