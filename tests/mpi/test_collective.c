/* tests/mpi/test_collective.c — comm basics and the collectives under 1, 2 and 3
 * ranks: exact all-reduce sums (values exactly representable, so any summation order
 * gives the same bits), chunking of long buffers, refusal of mismatched lengths on
 * every rank, broadcasts, agreement on checksums (a disagreement is reported on every
 * rank, naming the ranks, without hanging), per-rank timing gathers, the rank-to-GPU
 * map, and the NCCL decision (the same answer on every rank; on a machine where every
 * rank owns a GPU, a device all-reduce). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/collective.h"
#include "comm/comm.h"

#ifdef SEAL_HAVE_NCCL
#include <cuda_runtime.h>
#endif

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

/* Every rank got the same return value. */
static int same_everywhere(seal_comm *c, int v) {
  int lo = v, hi = v;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, c->world));
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, c->world));
  return lo == hi;
}

static void test_comm_basics(seal_comm *c) {
  EXPECT(c->size >= 1 && c->rank >= 0 && c->rank < c->size, "rank %d of %d", c->rank, c->size);
  EXPECT(seal_get_rank() == c->rank, "seal_get_rank() is %d", seal_get_rank());
  /* mpiexec on one machine: every rank is on this node */
  EXPECT(c->local_size == c->size && c->local_rank == c->rank, "local rank %d of %d", c->local_rank,
         c->local_size);
  EXPECT(seal_comm_gpu_for_rank(c, 2) == c->local_rank % 2, "gpu for rank with 2 GPUs");
  EXPECT(seal_comm_gpu_for_rank(c, 0) == -1, "gpu for rank without GPUs");
}

/* rank r contributes (r+1)*(i%97) + r/4: sums are small multiples of 1/4, exact. */
static float contribution(int r, size_t i) { return (float)((r + 1) * (int)(i % 97)) + 0.25f * r; }

static void check_allreduce(seal_comm *c, size_t n, const char *what) {
  float *buf; /* [n] */
  SEAL_ALLOC_ARRAY(buf, n);
  for (size_t i = 0; i < n; i++) buf[i] = contribution(c->rank, i);
  seal_error e = {{0}};
  int rc = seal_allreduce_sum_f32(c, buf, n, &e);
  EXPECT(rc == 0, "%s: allreduce returned %d: %s", what, rc, e.msg);
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    double want = 0;
    for (int r = 0; r < c->size; r++) want += contribution(r, i);
    if (buf[i] != (float)want && bad++ < 3)
      EXPECT(0, "%s: element %zu is %.9g, want %.9g", what, i, buf[i], want);
  }
  EXPECT(bad == 0, "%s: %d wrong elements of %zu", what, bad, n);
  free(buf);
}

static void test_allreduce(seal_comm *c) {
  check_allreduce(c, 1000, "allreduce");
  seal_comm_set_max_chunk(7); /* 103 = 14 chunks of 7 and one of 5 */
  EXPECT(seal_comm_max_chunk() == 7, "chunk limit not set");
  check_allreduce(c, 103, "allreduce in chunks");
  seal_comm_set_max_chunk(1 << 18);
  check_allreduce(c, (1 << 20) + 3, "allreduce of 1M floats in chunks");
  seal_comm_set_max_chunk(0);
  EXPECT(seal_comm_max_chunk() == ((size_t)1 << 30), "chunk limit not restored");
  check_allreduce(c, 0, "allreduce of nothing");

  /* the last rank passes one element more: refused on every rank, nothing changed */
  float buf[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  seal_error e = {{0}};
  size_t n = 8 + (c->size > 1 && c->rank == c->size - 1);
  int rc = seal_allreduce_sum_f32(c, buf, n, &e);
  EXPECT(same_everywhere(c, rc), "mismatched allreduce: ranks returned different values");
  if (c->size > 1) {
    EXPECT(rc == -1, "mismatched allreduce returned %d", rc);
    EXPECT(strstr(e.msg, "different lengths") != NULL, "message '%s'", e.msg);
    EXPECT(buf[0] == 1 && buf[7] == 8, "mismatched allreduce changed the buffer");
  } else {
    EXPECT(rc == 0 && buf[0] == 1, "one-rank allreduce is the identity");
  }
  /* a NULL buffer on one rank is refused everywhere */
  rc = seal_allreduce_sum_f32(c, c->rank == 0 ? NULL : buf, 4, &e);
  EXPECT(rc == -1 && same_everywhere(c, rc), "NULL buffer on rank 0 returned %d", rc);
}

static void test_broadcasts(seal_comm *c) {
  float buf[50]; /* [50] */
  for (int i = 0; i < 50; i++) buf[i] = c->rank == 0 ? 0.5f * i - 3 : -1e30f;
  seal_error e = {{0}};
  seal_comm_set_max_chunk(16);
  EXPECT(seal_bcast_f32(c, buf, 50, &e) == 0, "bcast_f32: %s", e.msg);
  int bad = 0;
  for (int i = 0; i < 50; i++) bad += buf[i] != 0.5f * i - 3;
  EXPECT(bad == 0, "bcast_f32: %d wrong elements", bad);

  const char bytes[] = "h\xc3\xa9llo\0world, with a NUL inside and more than sixteen bytes";
  void *got = NULL;
  size_t len = 0;
  seal_comm_bcast_bytes(c, c->rank == 0 ? bytes : NULL, c->rank == 0 ? sizeof bytes : 0, &got,
                        &len);
  EXPECT(len == sizeof bytes && memcmp(got, bytes, len) == 0, "bcast_bytes: %zu bytes", len);
  EXPECT(((char *)got)[len] == '\0', "bcast_bytes: not NUL-terminated");
  free(got);
  seal_comm_set_max_chunk(0);

  char *s = seal_comm_bcast_string(c, c->rank == 0 ? "runs/demo" : "wrong");
  EXPECT(strcmp(s, "runs/demo") == 0, "bcast_string gave '%s'", s);
  free(s);
  s = seal_comm_bcast_string(c, NULL);
  EXPECT(strcmp(s, "") == 0, "bcast_string of NULL gave '%s'", s);
  free(s);
}

static void test_agree(seal_comm *c) {
  seal_error e = {{0}};
  uint64_t checksum = seal_fnv1a("policy", 6, 0);
  int rc = seal_comm_agree_u64(c, checksum, &e);
  EXPECT(rc == 0, "agree on equal values returned %d: %s", rc, e.msg);

  /* the last rank differs: every rank returns -1 and names it */
  e.msg[0] = '\0';
  rc = seal_comm_agree_u64(c, checksum + (c->rank == c->size - 1 && c->size > 1), &e);
  EXPECT(same_everywhere(c, rc), "agree: ranks returned different values");
  if (c->size > 1) {
    char want[32];
    snprintf(want, sizeof want, "rank %d has", c->size - 1);
    EXPECT(rc == -1, "agree with rank %d differing returned %d", c->size - 1, rc);
    EXPECT(strstr(e.msg, want) != NULL, "agree message '%s' does not name rank %d", e.msg,
           c->size - 1);
    EXPECT(strstr(e.msg, "rank 0 has") == NULL, "agree message blames rank 0: '%s'", e.msg);
  } else {
    EXPECT(rc == 0, "agree on one rank returned %d", rc);
  }
  /* every rank but 0 differs */
  rc = seal_comm_agree_u64(c, (uint64_t)c->rank * 1000, &e);
  EXPECT(rc == (c->size > 1 ? -1 : 0), "agree with all differing returned %d", rc);
  if (c->size == 3)
    EXPECT(strstr(e.msg, "2 of 3") && strstr(e.msg, "rank 1 has") && strstr(e.msg, "rank 2 has"),
           "agree message '%s'", e.msg);
}

static void test_timings(seal_comm *c) {
  double mine = 1.5 * c->rank + 0.25;
  double *all = NULL; /* [size] on rank 0 */
  if (c->rank == 0) SEAL_ALLOC_ARRAY(all, c->size);
  seal_gather_f64(c, mine, all);
  if (c->rank == 0) {
    for (int r = 0; r < c->size; r++)
      EXPECT(all[r] == 1.5 * r + 0.25, "gathered timing of rank %d is %g", r, all[r]);
  }
  free(all);
  /* rank 1 is the slowest when there is one */
  seal_rank_stats st;
  double v = c->rank == 1 ? 10.0 : 1.0 + c->rank;
  seal_rank_stats_of(c, v, &st);
  double sum = 0;
  for (int r = 0; r < c->size; r++) sum += r == 1 ? 10.0 : 1.0 + r;
  EXPECT(st.min == 1.0 && st.min_rank == 0, "min %g on rank %d", st.min, st.min_rank);
  EXPECT(st.max == (c->size > 1 ? 10.0 : 1.0) && st.max_rank == (c->size > 1 ? 1 : 0),
         "max %g on rank %d", st.max, st.max_rank);
  EXPECT(st.mean == sum / c->size, "mean %g, want %g", st.mean, sum / c->size);
}

static void test_nccl_decision(seal_comm *c) {
  seal_nccl *nc = NULL;
  seal_error e = {{0}};
  int rc = seal_nccl_init(c, &nc, &e);
  EXPECT(rc == 0 || rc == 1, "nccl init returned %d: %s", rc, e.msg);
  EXPECT(same_everywhere(c, rc), "ranks disagree whether to use NCCL");
  if (rc == 1) {
    EXPECT(nc == NULL && strstr(e.msg, "NCCL not used") != NULL, "fallback without reason: '%s'",
           e.msg);
    if (c->rank == 0) seal_info("collective: %s", e.msg);
    EXPECT(seal_allreduce_sum_f32_device(NULL, NULL, 4, NULL, &e) == -1,
           "device allreduce without NCCL succeeded");
    return;
  }
#ifdef SEAL_HAVE_NCCL
  enum { N = 4099 };
  float host[N]; /* [N] */
  for (int i = 0; i < N; i++) host[i] = contribution(c->rank, (size_t)i);
  float *dev = NULL;
  EXPECT(cudaMalloc((void **)&dev, sizeof host) == cudaSuccess, "cudaMalloc");
  EXPECT(cudaMemcpy(dev, host, sizeof host, cudaMemcpyHostToDevice) == cudaSuccess, "to device");
  EXPECT(seal_allreduce_sum_f32_device(nc, dev, N, NULL, &e) == 0, "device allreduce: %s", e.msg);
  EXPECT(cudaMemcpy(host, dev, sizeof host, cudaMemcpyDeviceToHost) == cudaSuccess, "to host");
  cudaFree(dev);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    double want = 0;
    for (int r = 0; r < c->size; r++) want += contribution(r, (size_t)i);
    bad += host[i] != (float)want;
  }
  EXPECT(bad == 0, "device allreduce: %d wrong elements", bad);
  if (c->rank == 0) seal_info("collective: NCCL device allreduce on %d ranks", c->size);
#endif
  seal_nccl_free(nc);
}

int main(int argc, char **argv) {
  seal_comm c;
  seal_error e = {{0}};
  if (seal_comm_init(&argc, &argv, &c, &e) != 0) {
    fprintf(stderr, "FAIL test_collective: %s\n", e.msg);
    return 1;
  }
  my_rank = c.rank;
  double t0 = seal_now();
  test_comm_basics(&c);
  test_allreduce(&c);
  test_broadcasts(&c);
  test_agree(&c);
  test_timings(&c);
  test_nccl_decision(&c);

  int total = failures;
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, c.world));
  if (c.rank == 0) {
    printf("%s test_collective: %d ranks, %d failed checks, %.2f s\n", total ? "FAIL" : "PASS",
           c.size, total, seal_now() - t0);
    fflush(stdout);
  }
  seal_comm_finalize(&c);
  return total ? 1 : 0;
}
