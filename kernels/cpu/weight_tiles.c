/* kernels/cpu/weight_tiles.c — the many-row ops on compact base matrices
 * (bf16 on "cpu:bf16", Q8 and Q4_1 blocks on "cpu:q8" and "cpu:q4") and their
 * embedding lookup: a tile of the weight is expanded into a float32 scratch
 * that stays in cache, and cblas_sgemm runs on it (the compute-bound case:
 * expanding is a small fraction of the product). The tiles are spread over the
 * OpenMP threads; OpenBLAS runs single-threaded inside a parallel region.
 * matmul_bf16.c, matmul_q8.c and matmul_q4.c differ only in how a tile is
 * expanded and stored back (seal_cpu_compact). */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* One thread's float32 tile of rows x cols, freed by the caller; dies naming
 * the op and the dtype when there is no memory (+1: never a malloc(0)). */
static float *tile_alloc(const seal_cpu_compact *w, int rows, int cols, const char *op) {
  float *tile = malloc((size_t)rows * cols * sizeof(float) + 1);
  SEAL_CHECK(tile, "%s (%s weights): out of memory for a %d x %d tile", op, w->dtype, rows, cols);
  return tile;
}

/* Rows of a tile nc wide that fit w->tile_bytes, a multiple of 16, at least 16. */
static int tile_rows(const seal_cpu_compact *w, int nc) {
  size_t r = w->tile_bytes / sizeof(float) / (size_t)(nc > 0 ? nc : 1);
  r = r / 16 * 16;
  return r < 16 ? 16 : (int)(r > 4096 ? 4096 : r);
}

void seal_cpu_compact_matmul(const seal_cpu_compact *w, float *out, const float *inp,
                             const void *weight, const float *bias, int N, int I, int O) {
  const int P = tile_rows(w, I); /* weight rows a tile */
  const int tiles = (O + P - 1) / P;
#pragma omp parallel
  {
    float *tile = tile_alloc(w, P, I, "matmul"); /* [P, I] */
#pragma omp for schedule(dynamic)
    for (int t = 0; t < tiles; t++) {
      int o0 = t * P, np = O - o0 < P ? O - o0 : P;
      w->load(tile, weight, I, o0, np, 0, I);
      if (bias)
        for (int n = 0; n < N; n++)
          memcpy(out + (size_t)n * O + o0, bias + o0, (size_t)np * sizeof(float));
      /* out[:, o0:o0+np] (+)= inp[N, I] @ tile[np, I]^T */
      seal_cpu_sgemm(0, 1, N, np, I, 1.0f, inp, I, tile, I, bias ? 1.0f : 0.0f, out + o0, O);
    }
    free(tile);
  }
}

/* Columns of dinp one thread owns at a time in the input gradient (whole Q8
 * blocks, so a tile never starts inside one). */
#define GRAD_COLS 64

void seal_cpu_compact_backward_input(const seal_cpu_compact *w, float *dinp, const float *dout,
                                     const void *weight, int N, int I, int O, int accumulate) {
  const int R = tile_rows(w, GRAD_COLS);
  const int panels = (I + GRAD_COLS - 1) / GRAD_COLS;
#pragma omp parallel
  {
    float *tile = tile_alloc(w, R, GRAD_COLS, "matmul_backward_input"); /* [R, GRAD_COLS] */
#pragma omp for schedule(dynamic)
    for (int p = 0; p < panels; p++) {
      int i0 = p * GRAD_COLS, nc = I - i0 < GRAD_COLS ? I - i0 : GRAD_COLS;
      /* dinp[:, i0:i0+nc] (+)= sum over row chunks of dout[:, o0:o0+nr] @ W[o0:o0+nr, i0:i0+nc] */
      for (int o0 = 0; o0 < O; o0 += R) {
        int nr = O - o0 < R ? O - o0 : R;
        w->load(tile, weight, I, o0, nr, i0, nc);
        float beta = o0 > 0 || accumulate ? 1.0f : 0.0f;
        seal_cpu_sgemm(0, 0, N, nc, nr, 1.0f, dout + o0, O, tile, nc, beta, dinp + i0, I);
      }
      if (O == 0 && !accumulate)
        for (int n = 0; n < N; n++)
          memset(dinp + (size_t)n * I + i0, 0, (size_t)nc * sizeof(float));
    }
    free(tile);
  }
}

void seal_cpu_compact_lora_merge(const seal_cpu_compact *w, void *W, const float *A, const float *B,
                                 int O, int I, int r, float scale) {
  const int R = tile_rows(w, I);
  const int tiles = (O + R - 1) / R;
#pragma omp parallel
  {
    float *tile = tile_alloc(w, R, I, "lora_merge"); /* [R, I] */
#pragma omp for schedule(dynamic)
    for (int t = 0; t < tiles; t++) {
      int o0 = t * R, nr = O - o0 < R ? O - o0 : R;
      w->load(tile, W, I, o0, nr, 0, I);
      /* tile += scale * B[o0:o0+nr, :] @ A */
      seal_cpu_sgemm(0, 0, nr, I, r, scale, B + (size_t)o0 * r, r, A, I, 1.0f, tile, I);
      w->store(W, tile, I, o0, nr);
    }
    free(tile);
  }
}

void seal_cpu_compact_embedding(const seal_cpu_compact *w, float *out, const int32_t *ids,
                                const void *table, int N, int C) {
  /* out [N, C] f32; table [V, C] in w's dtype */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    SEAL_CHECK(ids[n] >= 0, "embedding: token id %d at row %d is negative", (int)ids[n], n);
    w->load(out + (size_t)n * C, table, C, ids[n], 1, 0, C);
  }
}
