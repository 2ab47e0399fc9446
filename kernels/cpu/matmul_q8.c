/* kernels/cpu/matmul_q8.c — the base-matrix ops of the "cpu:q8" backend,
 * whose frozen base matrices (embedding, linear layers, LM head) are stored as
 * int8 blocks (util/q8.h: 32 values and a half scale, GGUF's Q8_0) while
 * activations, LoRA parameters and everything else stay float32
 * (kernels/ops.h, "wt").
 *
 * Why: decoding one token reads every base matrix once, 540 MB in float32 for
 * SmolLM2-135M; Q8 reads 34 bytes per 32 weights, 27% of that, and its dot
 * products run on AVX2's integer multiply-adds (32 multiply-adds per
 * maddubs + madd pair), so compute shrinks with the bytes.
 * - few rows (decoding): each input row is quantised per block of 32 to int8
 *   with a float32 scale of its own (as ggml's quantize_row_q8_0), and each
 *   output is sum over blocks of d_w * d_x * (integer dot of the block). The
 *   AVX2 kernel keeps 8 float32 lanes per output (lane j sums the products of
 *   values 4j..4j+3 of every block) and adds them in seal_cpu_sum8's order; the
 *   portable kernel does exactly the same arithmetic, so both give the same
 *   bits.
 * - many rows (prefill, training): a tile of the weight is dequantised into a
 *   float32 scratch that stays in L2 and cblas_sgemm runs on it, as
 *   matmul_bf16.c does: measured faster than the int8 kernel at B8 x T64
 *   (docs/perf.md, "int8 base matrices"), and exact in the activations.
 * - the input gradient, LoRA merge and embedding dequantise (training on a Q8
 *   base works; the merge requantises the merged rows). */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/lanes.h"
#include "util/q8.h"

/* Bytes of float32 scratch a tile may take: about one core's L2 (Zen 3: 512
 * KiB). Each tile is one sgemm call that packs all the input rows again, so
 * fewer, larger tiles pay less of that: at N = 512 (B8 x T64), 1 MiB tiles
 * took the down projection (I = 1536) from 1.5x float32's CPU time to 1.1x,
 * where matmul_bf16.c's 256 KiB tiles cut it into 32-row slices; the other
 * shapes moved within noise (docs/perf.md, "int8 base matrices"). */
#define TILE_BYTES ((size_t)1 << 20)

/* ---- quantising and dequantising -------------------------------------------- */

/* q[32] = src[n] / d rounded, zero past n (n <= 32); returns the scale d, the
 * block's largest magnitude over 127, first rounded to a half when `half` (a
 * weight block) so that q is computed against the scale actually stored. */
static float quantize_block(int8_t *q, const float *src, int n, bool half, uint16_t *d_half) {
  float amax = 0;
#pragma omp simd reduction(max : amax)
  for (int i = 0; i < n; i++) amax = fabsf(src[i]) > amax ? fabsf(src[i]) : amax;
  float d = amax / 127.0f;
  if (half) {
    *d_half = seal_f32_to_f16_bits(d);
    d = seal_f16_bits_to_f32(*d_half);
    SEAL_CHECK(isfinite(d), "q8: a block's largest magnitude %g is past a half scale's range",
               (double)amax);
  }
  const float id = d > 0 ? 1.0f / d : 0.0f;
#pragma omp simd
  for (int i = 0; i < n; i++) {
    /* to nearest even by adding and taking away 1.5 * 2^23 (|v| < 2^22), which
     * vectorises where nearbyintf is a call; |v| <= 127 but for the scale's
     * rounding: clamp */
    float v = (src[i] * id + 0x1.8p23f) - 0x1.8p23f;
    q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
  }
  if (n < SEAL_Q8_BLOCK) memset(q + n, 0, (size_t)(SEAL_Q8_BLOCK - n));
  return d;
}

bool seal_cpu_q8_block_from(void *block_, const float *src) {
  seal_q8_block *block = block_;
  float amax = 0;
  for (int i = 0; i < SEAL_Q8_BLOCK; i++) amax = fabsf(src[i]) > amax ? fabsf(src[i]) : amax;
  /* quantize_block's own test of the scale, asked first (it dies) */
  if (!isfinite(seal_f16_bits_to_f32(seal_f32_to_f16_bits(amax / 127.0f)))) return false;
  quantize_block(block->q, src, SEAL_Q8_BLOCK, true, &block->d);
  return true;
}

/* dst = the blocks of src[n], the last one zero-padded. */
static void quantize_row(seal_q8_block *dst, const float *src, size_t n) {
  for (size_t b = 0; b < seal_q8_blocks(n); b++) {
    size_t at = b * SEAL_Q8_BLOCK, k = n - at < SEAL_Q8_BLOCK ? n - at : SEAL_Q8_BLOCK;
    quantize_block(dst[b].q, src + at, (int)k, true, &dst[b].d);
  }
}

/* dst[n] = the first n values of the blocks at src. */
static void dequantize_row(float *dst, const seal_q8_block *src, size_t n) {
  for (size_t b = 0; b < seal_q8_blocks(n); b++) {
    size_t at = b * SEAL_Q8_BLOCK, k = n - at < SEAL_Q8_BLOCK ? n - at : SEAL_Q8_BLOCK;
    const float d = seal_f16_bits_to_f32(src[b].d);
#pragma omp simd
    for (size_t i = 0; i < k; i++) dst[at + i] = d * (float)src[b].q[i];
  }
}

/* Blocks of 32 one work item of the whole-buffer conversions takes. */
#define CONVERT_CHUNK_BLOCKS 2048

void seal_cpu_q8_quantize(void *dst_, const float *src, size_t n) {
  seal_q8_block *dst = dst_; /* [blocks(n)] */
  const size_t chunk = (size_t)CONVERT_CHUNK_BLOCKS * SEAL_Q8_BLOCK;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t at = 0; at < n; at += chunk)
    quantize_row(dst + at / SEAL_Q8_BLOCK, src + at, n - at < chunk ? n - at : chunk);
}

void seal_cpu_q8_dequantize(float *dst, const void *src_, size_t n) {
  const seal_q8_block *src = src_; /* [blocks(n)] */
  const size_t chunk = (size_t)CONVERT_CHUNK_BLOCKS * SEAL_Q8_BLOCK;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t at = 0; at < n; at += chunk)
    dequantize_row(dst + at, src + at / SEAL_Q8_BLOCK, n - at < chunk ? n - at : chunk);
}

void seal_cpu_q8_fill(void *dst_, float value, size_t n) {
  seal_q8_block *dst = dst_; /* [blocks(n)] */
  float v[SEAL_Q8_BLOCK];
  for (int i = 0; i < SEAL_Q8_BLOCK; i++) v[i] = value;
  for (size_t b = 0; b < seal_q8_blocks(n); b++) {
    size_t k = n - b * SEAL_Q8_BLOCK;
    quantize_block(dst[b].q, v, k < SEAL_Q8_BLOCK ? (int)k : SEAL_Q8_BLOCK, true, &dst[b].d);
  }
}

/* ---- few rows: the integer dot products ------------------------------------- */

/* N input rows of I values quantised for the integer kernels: row n's block b
 * is q[(n * nb + b) * 32 ..] with scale d[n * nb + b]. */
typedef struct {
  int8_t *q; /* [N, nb, 32] */
  float *d;  /* [N, nb] */
  int nb;
} quantized_rows;

static quantized_rows quantize_rows(const float *inp, int N, int I) {
  quantized_rows x = {.nb = (int)seal_q8_blocks((size_t)I)};
  size_t blocks = (size_t)N * x.nb;
  x.q = malloc(blocks * SEAL_Q8_BLOCK + 1);
  x.d = malloc(blocks * sizeof(float) + 1);
  SEAL_CHECK(x.q && x.d, "matmul (q8 weights): out of memory quantising %d x %d inputs", N, I);
#pragma omp parallel for schedule(static) if ((size_t)N * I >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++)
    for (int b = 0; b < x.nb; b++) {
      int at = b * SEAL_Q8_BLOCK, k = I - at < SEAL_Q8_BLOCK ? I - at : SEAL_Q8_BLOCK;
      size_t blk = (size_t)n * x.nb + b;
      x.d[blk] =
          quantize_block(x.q + blk * SEAL_Q8_BLOCK, inp + (size_t)n * I + at, k, false, NULL);
    }
  return x;
}

/* The portable dot product of weight row w (nb blocks) and quantised input row
 * (xq, xd): the AVX2 kernel's arithmetic step for step. */
static float dot_portable(const seal_q8_block *w, const int8_t *xq, const float *xd, int nb) {
  float acc[8] = {0};
  for (int b = 0; b < nb; b++) {
    const float d = seal_f16_bits_to_f32(w[b].d) * xd[b];
    const int8_t *x = xq + (size_t)b * SEAL_Q8_BLOCK;
    for (int l = 0; l < 8; l++) {
      int s = 0;
      for (int k = 4 * l; k < 4 * l + 4; k++) s += w[b].q[k] * x[k];
      acc[l] = fmaf(d, (float)s, acc[l]);
    }
  }
  return seal_cpu_sum_lanes(acc);
}

/* Weight rows [o0, o0 + nw) by the portable kernel. */
static void rows_portable(float *out, const quantized_rows *x, const seal_q8_block *W, int N, int O,
                          int o0, int nw) {
  for (int o = o0; o < o0 + nw; o++)
    for (int n = 0; n < N; n++)
      out[(size_t)n * O + o] =
          dot_portable(W + (size_t)o * x->nb, x->q + (size_t)n * x->nb * SEAL_Q8_BLOCK,
                       x->d + (size_t)n * x->nb, x->nb);
}

#define Q8_TARGET __attribute__((target("avx2,fma,f16c")))

/* Lane j = the integer dot of bytes 4j..4j+3 of w and x, as floats (exact:
 * |sum| <= 4 * 127^2). maddubs multiplies unsigned by signed bytes, so w's
 * sign moves onto x: |w| * (x * sign(w)) = w * x. */
Q8_TARGET static inline __m256 dot_lanes(__m256i w_abs, __m256i w, __m256i x) {
  __m256i p16 = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* out[n0 + m, o0 + j] for j < 4 and m < rows (1 or 2): each block of the 4
 * weight rows is loaded once for the input rows, which stay in L1. */
Q8_TARGET static inline __attribute__((always_inline)) void block_4xm(float *out,
                                                                      const quantized_rows *x,
                                                                      const seal_q8_block *W,
                                                                      int n0, const int rows, int O,
                                                                      int o0) {
  const int nb = x->nb;
  const int8_t *xq[2] = {x->q + (size_t)n0 * nb * SEAL_Q8_BLOCK, NULL};
  const float *xd[2] = {x->d + (size_t)n0 * nb, NULL};
  if (rows == 2) xq[1] = xq[0] + (size_t)nb * SEAL_Q8_BLOCK, xd[1] = xd[0] + nb;
  const seal_q8_block *w[4];
  for (int j = 0; j < 4; j++) w[j] = W + (size_t)(o0 + j) * nb;
  /* fully unrolled, so that the 8 accumulators live in registers (GCC -O2
   * keeps a 4-trip loop rolled, and the array on the stack: twice the
   * instructions and a store-to-load chain on every accumulator) */
  __m256 acc[2][4];
#pragma GCC unroll 2
  for (int m = 0; m < 2; m++)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) acc[m][j] = _mm256_setzero_ps();
  /* The next 4 weight rows follow these 4 in memory: fetch them while these
   * are read, 2 cache lines per step of b (a step reads 4 blocks, 136 bytes).
   * Decoding streams every matrix from DRAM and this loop reads 4 rows at
   * once, 4 streams the hardware prefetcher alone kept at 6 GB/s on one Zen 3
   * thread: with this, decode B1 on one thread took half the CPU time
   * (docs/perf.md, "decode B1"). The last whole group fetches itself again:
   * an address past the matrix may not even be formed in C. */
  const char *next = (const char *)(o0 + 8 <= O ? W + (size_t)(o0 + 4) * nb : w[0]);
  for (int b = 0; b < nb; b++) {
    _mm_prefetch(next + (size_t)b * 4 * sizeof(seal_q8_block), _MM_HINT_T0);
    _mm_prefetch(next + (size_t)b * 4 * sizeof(seal_q8_block) + 64, _MM_HINT_T0);
    __m256i xv[2];
#pragma GCC unroll 2
    for (int m = 0; m < rows; m++)
      xv[m] = _mm256_loadu_si256((const __m256i *)(xq[m] + (size_t)b * SEAL_Q8_BLOCK));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      __m256i wv = _mm256_loadu_si256((const __m256i *)w[j][b].q);
      __m256i wa = _mm256_sign_epi8(wv, wv);
      const float dw = _cvtsh_ss(w[j][b].d);
#pragma GCC unroll 2
      for (int m = 0; m < rows; m++)
        acc[m][j] =
            _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[m][b]), dot_lanes(wa, wv, xv[m]), acc[m][j]);
    }
  }
#pragma GCC unroll 2
  for (int m = 0; m < rows; m++)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) out[(size_t)(n0 + m) * O + o0 + j] = seal_cpu_sum8(acc[m][j]);
}

Q8_TARGET static void block_4x2(float *out, const quantized_rows *x, const seal_q8_block *W, int n0,
                                int O, int o0) {
  block_4xm(out, x, W, n0, 2, O, o0);
}

Q8_TARGET static void block_4x1(float *out, const quantized_rows *x, const seal_q8_block *W, int n0,
                                int O, int o0) {
  block_4xm(out, x, W, n0, 1, O, o0);
}

/* Weight rows [o0, o0 + nw) by the AVX2 kernel; rows past the last block of 4
 * by the portable one (the same bits). */
Q8_TARGET static void rows_avx2(float *out, const quantized_rows *x, const seal_q8_block *W, int N,
                                int O, int o0, int nw) {
  int o = o0;
  for (; o + 4 <= o0 + nw; o += 4) {
    int n = 0;
    for (; n + 2 <= N; n += 2) block_4x2(out, x, W, n, O, o);
    if (n < N) block_4x1(out, x, W, n, O, o);
  }
  if (o < o0 + nw) rows_portable(out, x, W, N, O, o, o0 + nw - o);
}

/* out[N, O] = inp @ weight^T (+ bias) with the integer kernels, weight rows
 * in chunks over the threads. */
static void int8_rows(float *out, const float *inp, const seal_q8_block *weight, const float *bias,
                      int N, int I, int O, bool avx2) {
  quantized_rows x = quantize_rows(inp, N, I);
  int chunks = (O + SEAL_CPU_FEW_ROWS_CHUNK - 1) / SEAL_CPU_FEW_ROWS_CHUNK;
#pragma omp parallel for schedule(static) if ((size_t)O * I >= SEAL_CPU_PARALLEL_MIN)
  for (int c = 0; c < chunks; c++) {
    int o0 = c * SEAL_CPU_FEW_ROWS_CHUNK;
    int nw = O - o0 < SEAL_CPU_FEW_ROWS_CHUNK ? O - o0 : SEAL_CPU_FEW_ROWS_CHUNK;
    if (avx2)
      rows_avx2(out, &x, weight, N, O, o0, nw);
    else
      rows_portable(out, &x, weight, N, O, o0, nw);
    if (bias)
      for (int n = 0; n < N; n++)
        for (int o = o0; o < o0 + nw; o++) out[(size_t)n * O + o] += bias[o];
  }
  free(x.q);
  free(x.d);
}

/* ---- many rows: dequantised tiles through sgemm ------------------------------ */

/* tile[nr, nc] = rows r0..r0+nr-1, columns c0..c0+nc-1 (c0 a multiple of 32)
 * of W, whose rows hold I values in whole blocks, dequantised. */
static void dequantize_tile(float *tile, const void *W_, int I, int r0, int nr, int c0, int nc) {
  const seal_q8_block *W = W_; /* [O, nb] */
  const size_t nb = seal_q8_blocks((size_t)I);
  for (int r = 0; r < nr; r++)
    dequantize_row(tile + (size_t)r * nc, W + (size_t)(r0 + r) * nb + c0 / SEAL_Q8_BLOCK,
                   (size_t)nc);
}

/* W[r0:r0+nr, :] = rows quantised. */
static void quantize_rows_into(void *W_, const float *rows, int I, int r0, int nr) {
  seal_q8_block *W = W_; /* [O, nb] */
  const size_t nb = seal_q8_blocks((size_t)I);
  for (int k = 0; k < nr; k++)
    quantize_row(W + (size_t)(r0 + k) * nb, rows + (size_t)k * I, (size_t)I);
}

static const seal_cpu_compact q8_tiles = {"q8", TILE_BYTES, dequantize_tile, quantize_rows_into};

/* ---- the ops ------------------------------------------------------------------ */

void seal_cpu_matmul_q8_by(seal_cpu_q8_path path, float *out, const float *inp, const void *weight,
                           const float *bias, int N, int I, int O) {
  switch (path) {
    case SEAL_CPU_Q8_INT8_PORTABLE:
      int8_rows(out, inp, weight, bias, N, I, O, false);
      return;
    case SEAL_CPU_Q8_INT8_AVX2:
      SEAL_CHECK(seal_cpu_has_avx2_fma_f16c(),
                 "matmul (q8 weights): this processor has no AVX2, FMA and F16C");
      int8_rows(out, inp, weight, bias, N, I, O, true);
      return;
    case SEAL_CPU_Q8_DEQUANT_SGEMM:
      seal_cpu_compact_matmul(&q8_tiles, out, inp, weight, bias, N, I, O);
      return;
  }
  SEAL_DIE("matmul (q8 weights): unknown path %d", (int)path);
}

void seal_cpu_matmul_q8(float *out, const float *inp, const void *weight, const float *bias, int N,
                        int I, int O) {
  seal_cpu_q8_path path = N > SEAL_CPU_FEW_ROWS          ? SEAL_CPU_Q8_DEQUANT_SGEMM
                          : seal_cpu_has_avx2_fma_f16c() ? SEAL_CPU_Q8_INT8_AVX2
                                                         : SEAL_CPU_Q8_INT8_PORTABLE;
  seal_cpu_matmul_q8_by(path, out, inp, weight, bias, N, I, O);
}

void seal_cpu_matmul_backward_input_q8(float *dinp, const float *dout, const void *weight, int N,
                                       int I, int O, int accumulate) {
  seal_cpu_compact_backward_input(&q8_tiles, dinp, dout, weight, N, I, O, accumulate);
}

void seal_cpu_lora_merge_q8(void *W, const float *A, const float *B, int O, int I, int r,
                            float scale) {
  seal_cpu_compact_lora_merge(&q8_tiles, W, A, B, O, I, r, scale);
}

void seal_cpu_embedding_q8(float *out, const int32_t *ids, const void *table, int N, int C) {
  seal_cpu_compact_embedding(&q8_tiles, out, ids, table, N, C);
}
