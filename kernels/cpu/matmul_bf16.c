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
 *   float32 scratch that stays in L2, and cblas_sgemm runs on it
 *   (weight_tiles.c, shared with matmul_q8.c; the compute-bound case:
 *   widening is a small fraction of the product). */
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

/* tile[nr, nc] = rows r0..r0+nr-1, columns c0..c0+nc-1 of W (rows I long),
 * widened. */
static void widen_tile(float *tile, const void *W_, int I, int r0, int nr, int c0, int nc) {
  const uint16_t *W = W_; /* [O, I] */
  for (int r = 0; r < nr; r++)
    widen(tile + (size_t)r * nc, W + (size_t)(r0 + r) * I + c0, (size_t)nc);
}

/* W[r0:r0+nr, :] = rows rounded to bf16. */
static void narrow_rows(void *W_, const float *rows, int I, int r0, int nr) {
  uint16_t *W = (uint16_t *)W_ + (size_t)r0 * I; /* [nr, I] */
  for (size_t k = 0; k < (size_t)nr * I; k++) W[k] = seal_f32_to_bf16(rows[k]);
}

static const seal_cpu_compact bf16_tiles = {"bf16", TILE_BYTES, widen_tile, narrow_rows};

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

void seal_cpu_matmul_bf16(float *out, const float *inp, const void *weight, const float *bias,
                          int N, int I, int O) {
  if (N <= SEAL_CPU_FEW_ROWS)
    few_rows_bf16(out, inp, weight, bias, N, I, O);
  else
    seal_cpu_compact_matmul(&bf16_tiles, out, inp, weight, bias, N, I, O);
}

void seal_cpu_matmul_backward_input_bf16(float *dinp, const float *dout, const void *weight, int N,
                                         int I, int O, int accumulate) {
  seal_cpu_compact_backward_input(&bf16_tiles, dinp, dout, weight, N, I, O, accumulate);
}

void seal_cpu_lora_merge_bf16(void *W, const float *A, const float *B, int O, int I, int r,
                              float scale) {
  seal_cpu_compact_lora_merge(&bf16_tiles, W, A, B, O, I, r, scale);
}

void seal_cpu_embedding_bf16(float *out, const int32_t *ids, const void *table, int N, int C) {
  seal_cpu_compact_embedding(&bf16_tiles, out, ids, table, N, C);
}
