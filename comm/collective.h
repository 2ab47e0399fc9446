/* comm/collective.h — the collectives seal needs: gradient all-reduce (host memory
 * through MPI; device memory through NCCL when every rank owns its own GPU), proof
 * that every rank holds the same policy (agreement on a checksum), broadcast of
 * float buffers, and per-rank timings for reports.
 *
 * Every function here is collective over c->world: all ranks call it with the same
 * sizes. Buffers longer than INT_MAX elements are handled in chunks. The functions
 * that return int return the same value on every rank; on -1 each rank's e says why. */
#ifndef SEAL_COLLECTIVE_H
#define SEAL_COLLECTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "util/util.h"

/* Sums buf over all ranks, in place: afterwards every rank holds the same sums.
 * buf [n], host memory. Returns 0, or -1 (nothing reduced) when the ranks passed
 * different n, or a rank passed NULL with n > 0. */
int seal_allreduce_sum_f32(seal_comm *c, float *buf, size_t n, seal_error *e);

/* Copies rank 0's buf [n] to every rank. Returns 0, or -1 as above. */
int seal_bcast_f32(seal_comm *c, float *buf, size_t n, seal_error *e);

/* Returns 0 when every rank passed the same value, else -1 on every rank, with e
 * naming each rank whose value differs from rank 0's (e.g. policy checksums after
 * an update, see seal_fnv1a). */
int seal_comm_agree_u64(seal_comm *c, uint64_t value, seal_error *e);

/* Gathers one number per rank on rank 0: out [size] is written on rank 0 only (may
 * be NULL elsewhere). */
void seal_gather_f64(seal_comm *c, double value, double *out);

/* Summary of one number per rank (e.g. seconds spent in a phase), on every rank. */
typedef struct {
  double min, mean, max;
  int min_rank, max_rank;
} seal_rank_stats;
void seal_rank_stats_of(seal_comm *c, double value, seal_rank_stats *out);

/* ---- GPUs ------------------------------------------------------------------ */

/* The GPU this rank should use: its local rank modulo device_count (several ranks
 * share a GPU when there are more ranks than GPUs on a node); -1 without GPUs. */
int seal_comm_gpu_for_rank(const seal_comm *c, int device_count);

/* An NCCL communicator over all ranks, for all-reduce of device memory. */
typedef struct seal_nccl seal_nccl;

/* Collective. Sets up NCCL over c->world on each rank's current CUDA device.
 * Returns 0 with *out set when every rank of the job owns a GPU of its own; returns 1
 * with *out NULL and e holding the reason when NCCL cannot be used (seal built without
 * NCCL, no GPU, or two ranks of a node on one GPU, which NCCL refuses) — the caller
 * then reduces host memory with seal_allreduce_sum_f32. Every rank gets the same
 * answer. NCCL failures abort the job (they name the call, file, line and rank). */
int seal_nccl_init(seal_comm *c, seal_nccl **out, seal_error *e);

/* Sums dev_buf [n] (device memory of this rank's GPU) over all ranks, in place,
 * enqueued on stream (a cudaStream_t; NULL for the default stream): the sums are
 * ready when the stream reaches this point. Returns 0, or -1 without NCCL. */
int seal_allreduce_sum_f32_device(seal_nccl *nc, float *dev_buf, size_t n, void *stream,
                                  seal_error *e);

/* Destroys the communicator (collective); NULL is fine. */
void seal_nccl_free(seal_nccl *nc);

#endif
