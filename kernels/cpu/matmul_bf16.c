/* kernels/cpu/matmul_bf16.c — the base-matrix ops of the "cpu:bf16" backend,
 * whose frozen base matrices (embedding, linear layers, LM head) are stored as
 * bfloat16 while activations, LoRA parameters and everything else stay
 * float32 (kernels/ops.h, "wt").
 *
 * Why: decoding is bound by the bytes of weights each token reads (540 MB in
 * float32 for SmolLM2-135M); bfloat16 halves them. Widening a bfloat16 is a
 * shift, exact, so every product here equals the float32 product with the
 * bf16-rounded weights up to summation order:
 * - few rows (decoding): the weights are widened inside the dot products
 *   (matmul.c's 4x2 AVX2 kernel with bf16 loads), one pass over the bf16
 *   bytes (the bandwidth-bound case);
 * - many rows (prefill, training): a tile of the weight is widened into a
 *   float32 scratch that stays in L2, and cblas_sgemm runs on it (the
 *   compute-bound case: widening is a small fraction of the product). The
 *   tiles are spread over the OpenMP threads; OpenBLAS runs single-threaded
 *   inside a parallel region. */
#include <immintrin.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "util/bf16.h"

/* Bytes of float32 scratch a tile may take: well inside one core's L2. */
#define TILE_BYTES ((size_t)256 << 10)

__attribute__((target_clones("avx512f", "avx2", "default"))) static void widen(float *dst,
                                                                               const uint16_t *src,
                                                                               size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; i++) dst[i] = seal_bf16_to_f32(src[i]);
}

void seal_cpu_bf16_to_f32(float *dst, const void *src, size_t n) {
  const uint16_t *s = src; /* [n] */
  const size_t chunk = (size_t)1 << 16;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t at = 0; at < n; at += chunk) widen(dst + at, s + at, n - at < chunk ? n - at : chunk);
}

/* Widens rows r0..r0+nr-1, columns c0..c0+nc-1 of W (row length ld) into
 * tile[nr, nc]. */
static void widen_tile(float *tile, const uint16_t *W, int ld, int r0, int nr, int c0, int nc) {
  for (int r = 0; r < nr; r++)
    widen(tile + (size_t)r * nc, W + (size_t)(r0 + r) * ld + c0, (size_t)nc);
}

/* One thread's float32 tile of rows x cols, freed by the caller; dies naming
 * the op when there is no memory. */
static float *tile_alloc(int rows, int cols, const char *op) {
  float *tile = malloc((size_t)rows * cols * sizeof(float));
  SEAL_CHECK(tile, "%s (bf16 weights): out of memory for a %d x %d tile", op, rows, cols);
  return tile;
}

/* Rows of a tile nc wide that fit TILE_BYTES, a multiple of 16, at least 16. */
static int tile_rows(int nc) {
  size_t r = TILE_BYTES / sizeof(float) / (size_t)(nc > 0 ? nc : 1);
  r = r / 16 * 16;
  return r < 16 ? 16 : (int)(r > 4096 ? 4096 : r);
}

/* 8 bf16 weights widened to float32: zero-extend to 32 bits, shift into the
 * top half. */
__attribute__((target("avx2,fma"))) static inline __m256 load8_bf16(const uint16_t *w) {
  __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
  return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/* few_rows_bf16: matmul.c's few-rows kernel (few_rows.inc) with the weights
 * widened as they are loaded: one pass over the bf16 bytes, the
 * bandwidth-bound case where bf16 halves the time. */
#define FEW_ROWS_W uint16_t
#define FEW_ROWS_WIDEN(w) seal_bf16_to_f32(w)
#define FEW_ROWS_LOAD8(p) load8_bf16(p)
#define FEW_ROWS_NAME(x) x##_bf16
#include "kernels/cpu/few_rows.inc"

/* out[N, O] = inp @ weight^T (+ bias), by tiles of weight rows. */
static void many_rows_bf16(float *out, const float *inp, const uint16_t *weight, const float *bias,
                           int N, int I, int O) {
  const int P = tile_rows(I); /* weight rows a tile */
  const int tiles = (O + P - 1) / P;
#pragma omp parallel
  {
    float *tile = tile_alloc(P, I, "matmul"); /* [P, I] */
#pragma omp for schedule(dynamic)
    for (int t = 0; t < tiles; t++) {
      int o0 = t * P, np = O - o0 < P ? O - o0 : P;
      widen_tile(tile, weight, I, o0, np, 0, I);
      if (bias)
        for (int n = 0; n < N; n++)
          memcpy(out + (size_t)n * O + o0, bias + o0, (size_t)np * sizeof(float));
      seal_cpu_sgemm(0, 1, N, np, I, 1.0f, inp, I, tile, I, bias ? 1.0f : 0.0f, out + o0, O);
    }
    free(tile);
  }
}

void seal_cpu_matmul_bf16(float *out, const float *inp, const void *weight, const float *bias,
                          int N, int I, int O) {
  if (N <= SEAL_CPU_FEW_ROWS)
    few_rows_bf16(out, inp, weight, bias, N, I, O);
  else
    many_rows_bf16(out, inp, weight, bias, N, I, O);
}

/* Columns of dinp one thread owns at a time in the input gradient. */
#define GRAD_COLS 64

void seal_cpu_matmul_backward_input_bf16(float *dinp, const float *dout, const void *weight_, int N,
                                         int I, int O, int accumulate) {
  const uint16_t *weight = weight_; /* [O, I] */
  const int R = tile_rows(GRAD_COLS);
  const int panels = (I + GRAD_COLS - 1) / GRAD_COLS;
#pragma omp parallel
  {
    float *tile = tile_alloc(R, GRAD_COLS, "matmul_backward_input"); /* [R, GRAD_COLS] */
#pragma omp for schedule(dynamic)
    for (int p = 0; p < panels; p++) {
      int i0 = p * GRAD_COLS, nc = I - i0 < GRAD_COLS ? I - i0 : GRAD_COLS;
      /* dinp[:, i0:i0+nc] (+)= sum over row chunks of dout[:, o0:o0+nr] @ W[o0:o0+nr, i0:i0+nc] */
      for (int o0 = 0; o0 < O; o0 += R) {
        int nr = O - o0 < R ? O - o0 : R;
        widen_tile(tile, weight, I, o0, nr, i0, nc);
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

void seal_cpu_lora_merge_bf16(void *W_, const float *A, const float *B, int O, int I, int r,
                              float scale) {
  uint16_t *W = W_; /* [O, I] */
  const int R = tile_rows(I);
  const int tiles = (O + R - 1) / R;
#pragma omp parallel
  {
    float *tile = tile_alloc(R, I, "lora_merge"); /* [R, I] */
#pragma omp for schedule(dynamic)
    for (int t = 0; t < tiles; t++) {
      int o0 = t * R, nr = O - o0 < R ? O - o0 : R;
      widen_tile(tile, W, I, o0, nr, 0, I);
      /* tile += scale * B[o0:o0+nr, :] @ A */
      seal_cpu_sgemm(0, 0, nr, I, r, scale, B + (size_t)o0 * r, r, A, I, 1.0f, tile, I);
      for (size_t k = 0; k < (size_t)nr * I; k++) W[(size_t)o0 * I + k] = seal_f32_to_bf16(tile[k]);
    }
    free(tile);
  }
}

void seal_cpu_embedding_bf16(float *out, const int32_t *ids, const void *table_, int N, int C) {
  const uint16_t *table = table_; /* [V, C] */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    SEAL_CHECK(ids[n] >= 0, "embedding: token id %d at row %d is negative", (int)ids[n], n);
    widen(out + (size_t)n * C, table + (size_t)ids[n] * C, (size_t)C);
  }
}
