/* comm/comm.h — the MPI job a seal process belongs to: who am I (rank, local rank
 * on my node), checked MPI calls that name the call and rank and abort the whole
 * job instead of hanging it, and broadcasts from rank 0.
 *
 * Every MPI call in seal goes through MPI_CHECK. The communicators made here use
 * MPI_ERRORS_RETURN so that a failure reaches MPI_CHECK, which dies with the MPI
 * error string; in a job, dying is MPI_Abort (the die handler seal_comm_init
 * installs): one rank's failure ends every rank, none is left waiting in a
 * collective. See docs/distribution.md for the protocol. */
#ifndef SEAL_COMM_H
#define SEAL_COMM_H

#include <mpi.h>
#include <stddef.h>

#include "util/util.h"

typedef struct {
  int rank, size;             /* in world */
  int local_rank, local_size; /* among the ranks on this node (shared memory) */
  MPI_Comm world;             /* a private duplicate of MPI_COMM_WORLD: seal's tags never
                                 meet anyone else's messages */
  MPI_Comm node;              /* the ranks on this node */
  int owns_mpi;               /* 1 when seal_comm_init called MPI_Init_thread, so
                                 seal_comm_finalize calls MPI_Finalize */
  int thread_level;           /* what MPI_Init_thread provided */
} seal_comm;

/* Initialises MPI (MPI_THREAD_FUNNELED: only the thread that called this makes MPI
 * calls; seal's work queue keeps to that), or joins an MPI that is already
 * initialised. Sets seal_set_rank(rank) so every message names the rank, and
 * installs the die handler that makes any fatal error (SEAL_DIE, a failed
 * MPI_CHECK, CUDA_CHECK or NCCL_CHECK) end every rank of the job with
 * MPI_Abort, exit status 1. Works without mpiexec too (a singleton job of one
 * rank). Returns 0, or -1 with e filled. */
int seal_comm_init(int *argc, char ***argv, seal_comm *c, seal_error *e);

/* Frees the communicators and finalises MPI when seal_comm_init initialised it.
 * Collective: every rank calls it. */
void seal_comm_finalize(seal_comm *c);

/* Called by MPI_CHECK on failure: names the call and the MPI error, and dies
 * (SEAL_DIE's path, which aborts the job). */
_Noreturn void seal_mpi_fail(int rc, const char *call, const char *file, int line);

/* Checks an MPI call; on failure dies with the call, the rank and
 * MPI_Error_string, which aborts the job (MPI_Abort) rather than let it hang. */
#define MPI_CHECK(call)                                                                        \
  do {                                                                                         \
    int mpi_check_rc_ = (call);                                                                \
    if (mpi_check_rc_ != MPI_SUCCESS) seal_mpi_fail(mpi_check_rc_, #call, __FILE__, __LINE__); \
  } while (0)

/* Waits at a barrier on c->world. */
void seal_comm_barrier(seal_comm *c);

/* The largest element count handed to one MPI call; longer buffers are sent in
 * chunks of at most this many elements (MPI counts are int). Default 2^30. Tests
 * lower it to exercise the chunking on small buffers; 0 restores the default. */
void seal_comm_set_max_chunk(size_t elements);
size_t seal_comm_max_chunk(void);

/* Broadcasts n bytes in place from rank 0 (n must be the same on every rank),
 * chunked for n > INT_MAX. */
void seal_comm_bcast_raw(seal_comm *c, void *data, size_t n);

/* Broadcasts a byte buffer of any length from rank 0: rank 0 passes (data, n);
 * every rank (rank 0 included) gets a fresh seal_malloc'd copy in *out (always
 * NUL-terminated one past the end) and its length in *out_len. */
void seal_comm_bcast_bytes(seal_comm *c, const void *data, size_t n, void **out, size_t *out_len);

/* Broadcasts a string from rank 0 (s is read on rank 0 only; NULL is sent as "").
 * Returns a fresh copy on every rank; free it. */
char *seal_comm_bcast_string(seal_comm *c, const char *s);

#endif
