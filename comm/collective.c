/* comm/collective.c — all-reduce, broadcast, agreement and timing gathers over MPI;
 * the NCCL device path when seal is built with it (SEAL_HAVE_NCCL). */
#include "comm/collective.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef SEAL_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

/* Every rank checks that all ranks passed the same element count and a usable
 * buffer, in one small allreduce, before the real collective: a mismatch would
 * otherwise hang the job or corrupt the result. */
static int agree_on_size(seal_comm *c, const void *buf, size_t n, const char *what, seal_error *e) {
  long long v[3] = {(buf || n == 0) ? 1 : 0, (long long)n, -(long long)n}; /* MIN of each */
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_LONG_LONG, MPI_MIN, c->world));
  if (v[1] != -v[2])
    return seal_errorf(e, "%s: ranks passed different lengths (from %lld to %lld; this rank %zu)",
                       what, v[1], -v[2], n);
  if (!v[0])
    return seal_errorf(e, "%s: a rank passed a NULL buffer for %zu elements%s", what, n,
                       buf ? "" : " (this one)");
  return 0;
}

int seal_allreduce_sum_f32(seal_comm *c, float *buf, size_t n, seal_error *e) {
  if (agree_on_size(c, buf, n, "allreduce", e) != 0) return -1;
  size_t chunk = seal_comm_max_chunk();
  for (size_t off = 0; off < n; off += chunk) {
    size_t count = n - off < chunk ? n - off : chunk;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)count, MPI_FLOAT, MPI_SUM, c->world));
  }
  return 0;
}

int seal_bcast_f32(seal_comm *c, float *buf, size_t n, seal_error *e) {
  if (agree_on_size(c, buf, n, "broadcast", e) != 0) return -1;
  size_t chunk = seal_comm_max_chunk();
  for (size_t off = 0; off < n; off += chunk) {
    size_t count = n - off < chunk ? n - off : chunk;
    MPI_CHECK(MPI_Bcast(buf + off, (int)count, MPI_FLOAT, 0, c->world));
  }
  return 0;
}

int seal_comm_agree_u64(seal_comm *c, uint64_t value, seal_error *e) {
  uint64_t *all; /* [size] every rank's value, the same array on every rank */
  SEAL_ALLOC_ARRAY(all, c->size);
  MPI_CHECK(MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, c->world));
  seal_buf list = {0};
  int differ = 0;
  for (int r = 1; r < c->size; r++) {
    if (all[r] == all[0]) continue;
    if (differ < 16)
      seal_buf_printf(&list, "%srank %d has 0x%016" PRIx64, differ ? ", " : "", r, all[r]);
    differ++;
  }
  int rc = 0;
  if (differ) {
    rc = seal_errorf(e, "ranks disagree: %d of %d differ from rank 0's 0x%016" PRIx64 ": %s%s",
                     differ, c->size, all[0], list.data, differ > 16 ? ", ..." : "");
  }
  seal_buf_free(&list);
  free(all);
  return rc;
}

void seal_gather_f64(seal_comm *c, double value, double *out) {
  MPI_CHECK(
      MPI_Gather(&value, 1, MPI_DOUBLE, c->rank == 0 ? out : NULL, 1, MPI_DOUBLE, 0, c->world));
}

void seal_rank_stats_of(seal_comm *c, double value, seal_rank_stats *out) {
  struct {
    double value;
    int rank;
  } lo = {value, c->rank}, hi = {value, c->rank};
  double sum = value;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE_INT, MPI_MINLOC, c->world));
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE_INT, MPI_MAXLOC, c->world));
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, c->world));
  out->min = lo.value;
  out->min_rank = lo.rank;
  out->max = hi.value;
  out->max_rank = hi.rank;
  out->mean = sum / c->size;
}

int seal_comm_gpu_for_rank(const seal_comm *c, int device_count) {
  return device_count > 0 ? c->local_rank % device_count : -1;
}

/* ---- NCCL ------------------------------------------------------------------ */

#ifdef SEAL_HAVE_NCCL

/* Checks an NCCL call; on failure dies (which aborts the job) with the call and
 * NCCL's own words. */
#define NCCL_CHECK(call)                                                        \
  do {                                                                          \
    ncclResult_t nccl_check_rc_ = (call);                                       \
    if (nccl_check_rc_ != ncclSuccess)                                          \
      SEAL_DIE("%s failed: %s (%s)", #call, ncclGetErrorString(nccl_check_rc_), \
               ncclGetLastError(NULL));                                         \
  } while (0)

struct seal_nccl {
  ncclComm_t comm;
  int device;
};

/* Whether this rank can take part in NCCL: it sees a GPU, and no other rank on its
 * node uses the same one. Writes the reason when not. */
static int rank_owns_gpu(seal_comm *c, int *device, char *why, size_t cap) {
  int count = 0;
  *device = -1;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError(); /* clear the sticky "no device" error for later callers */
    count = 0;
  }
  cudaError_t err = count > 0 ? cudaGetDevice(device) : cudaSuccess;
  if (err != cudaSuccess) SEAL_DIE("cudaGetDevice failed: %s", cudaGetErrorString(err));
  int *devices; /* [local_size] current device of each rank on this node */
  SEAL_ALLOC_ARRAY(devices, c->local_size);
  MPI_CHECK(MPI_Allgather(device, 1, MPI_INT, devices, 1, MPI_INT, c->node));
  int owns = count > 0;
  if (!owns) snprintf(why, cap, "rank %d sees no GPU", c->rank);
  for (int r = 0; owns && r < c->local_size; r++) {
    if (r != c->local_rank && devices[r] == *device) {
      snprintf(why, cap,
               "ranks share a GPU: local ranks %d and %d both use device %d (%d ranks on the "
               "node, %d GPUs visible to rank %d)",
               r < c->local_rank ? r : c->local_rank, r < c->local_rank ? c->local_rank : r,
               *device, c->local_size, count, c->rank);
      owns = 0;
    }
  }
  free(devices);
  return owns;
}

int seal_nccl_init(seal_comm *c, seal_nccl **out, seal_error *e) {
  *out = NULL;
  char why[512] = "";
  int device = -1;
  int owns = rank_owns_gpu(c, &device, why, sizeof why);
  struct {
    int owns, rank;
  } all = {owns, c->rank}; /* MINLOC: 0 and the first rank that cannot, when one cannot */
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_2INT, MPI_MINLOC, c->world));
  if (!all.owns) {
    if (owns)
      seal_errorf(e, "NCCL not used: rank %d cannot use it; reducing host memory with MPI",
                  all.rank);
    else
      seal_errorf(e, "NCCL not used: %s; reducing host memory with MPI", why);
    return 1;
  }
  ncclUniqueId id;
  if (c->rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  seal_comm_bcast_raw(c, &id, sizeof id);
  seal_nccl *nc = seal_calloc(1, sizeof *nc);
  nc->device = device;
  NCCL_CHECK(ncclCommInitRank(&nc->comm, c->size, id, c->rank));
  seal_debug("comm: NCCL ready on device %d", device);
  *out = nc;
  return 0;
}

int seal_allreduce_sum_f32_device(seal_nccl *nc, float *dev_buf, size_t n, void *stream,
                                  seal_error *e) {
  if (!nc) return seal_errorf(e, "allreduce on device: no NCCL communicator");
  if (n == 0) return 0;
  NCCL_CHECK(
      ncclAllReduce(dev_buf, dev_buf, n, ncclFloat, ncclSum, nc->comm, (cudaStream_t)stream));
  return 0;
}

void seal_nccl_free(seal_nccl *nc) {
  if (!nc) return;
  NCCL_CHECK(ncclCommDestroy(nc->comm));
  free(nc);
}

#else /* built without NCCL: every job reduces host memory through MPI */

int seal_nccl_init(seal_comm *c, seal_nccl **out, seal_error *e) {
  (void)c;
  *out = NULL;
  seal_errorf(e, "NCCL not used: seal was built without NCCL; reducing host memory with MPI");
  return 1;
}

int seal_allreduce_sum_f32_device(seal_nccl *nc, float *dev_buf, size_t n, void *stream,
                                  seal_error *e) {
  (void)nc;
  (void)dev_buf;
  (void)n;
  (void)stream;
  return seal_errorf(e, "allreduce on device: seal was built without NCCL");
}

void seal_nccl_free(seal_nccl *nc) { (void)nc; }

#endif
