/* comm/comm.c — joining the MPI job (and making a fatal error end all of it),
 * checked MPI calls, broadcasts from rank 0. */
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

/* The die handler while seal is in an MPI job (util's seal_set_die_handler):
 * a fatal error on any rank ends every rank with MPI_Abort, status 1, instead
 * of leaving the others waiting for it in a collective. MPI_Abort needs MPI
 * alive; when it is not (a failure after finalize) exiting is all that is
 * left. */
static void abort_job(void) {
  int initialized = 0, finalized = 0, size = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) {
    /* A job of one rank has no one to take down: end it quietly, without
     * MPI_Abort's banner after the message that matters. */
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1) {
      MPI_Finalize();
      exit(SEAL_EXIT_ERROR);
    }
    MPI_Abort(MPI_COMM_WORLD, SEAL_EXIT_ERROR); /* mpirun then exits with it too */
  }
  exit(SEAL_EXIT_ERROR);
}

void seal_mpi_fail(int rc, const char *call, const char *file, int line) {
  char err[MPI_MAX_ERROR_STRING + 1];
  int len = 0;
  if (MPI_Error_string(rc, err, &len) != MPI_SUCCESS) snprintf(err, sizeof err, "code %d", rc);
  err[len < 0 ? 0 : (len > MPI_MAX_ERROR_STRING ? MPI_MAX_ERROR_STRING : len)] = '\0';
  seal_die_at(file, line, "%s failed: %s", call, err);
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
  seal_set_die_handler(abort_job);
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
  if (c->owns_mpi) {
    MPI_CHECK(MPI_Finalize());
    seal_set_die_handler(NULL); /* no job left to abort */
  }
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
