/* kernels/cpu/matmul_q4.c — the base-matrix ops of the "cpu:q4" backend,
 * whose frozen base matrices (embedding, linear layers, LM head) are stored as
 * 4-bit blocks (util/q4.h: 32 values, a half scale and a half minimum, GGUF's
 * Q4_1) while activations, LoRA parameters and everything else stay float32
 * (kernels/ops.h, "wt").
 *
 * Why: decoding one token reads every base matrix once; Q4_1 reads 20 bytes
 * per 32 weights, 59% of Q8_0's 34 and what llama.cpp reads from the same
 * Q4_1 file, and a 7B model's base fits a laptop (4.4 GB instead of Q8's 7.4).
 * - few rows (decoding): each input row is quantised per block of 32 to int8
 *   with a float32 scale d_x and the block's sum s_x = d_x * sum(q_x) (ggml's
 *   Q8_1), and each output is sum over blocks of d_w d_x dot(q_w, q_x) +
 *   m_w s_x. The AVX2 kernel unpacks the nibbles (and 0x0f, shift right 4),
 *   multiplies unsigned q_w by signed q_x with maddubs (no sign trick, unlike
 *   Q8: q_w is never negative), keeps 8 float32 lanes per output (lane j sums
 *   the products of values 4j..4j+3 of every block) and adds them in
 *   seal_cpu_sum8's order, the m_w s_x terms in a scalar beside them; the
 *   portable kernel does exactly the same arithmetic, so both give the same
 *   bits. The blocking (4 weight rows by 2 input rows, fully unrolled) is
 *   matmul_q8.c's, copied rather than shared, since the inner step differs.
 * - many rows (prefill, training), the input gradient and the LoRA merge: a
 *   tile of the weight is dequantised into a float32 scratch and cblas_sgemm
 *   runs on it (weight_tiles.c), as for Q8; the merge requantises the merged
 *   rows. The embedding dequantises the rows it reads. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/lanes.h"
#include "util/q4.h"

/* Bytes of float32 scratch a tile may take: matmul_q8.c's 1 MiB (one sgemm
 * call per tile packs all the input rows again, so fewer, larger tiles). */
#define TILE_BYTES ((size_t)1 << 20)

/* ---- quantising and dequantising -------------------------------------------- */

/* seal_q4_quantize_block for a whole block, the same arithmetic in loops of a
 * fixed length that vectorise (util/ has no OpenMP; loading the model spent
 * a fifth of a short `seal score` in the general one). */
static bool quantize_full_block(seal_q4_block *b, const float *src) {
  float lo = src[0], hi = src[0];
#pragma omp simd reduction(min : lo) reduction(max : hi)
  for (int i = 0; i < SEAL_Q4_BLOCK; i++) {
    lo = src[i] < lo ? src[i] : lo;
    hi = src[i] > hi ? src[i] : hi;
  }
  b->d = seal_f32_to_f16_bits((hi - lo) / 15.0f);
  b->m = seal_f32_to_f16_bits(lo);
  const float d = seal_f16_bits_to_f32(b->d), m = seal_f16_bits_to_f32(b->m);
  const float id = d > 0 ? 1.0f / d : 0.0f;
  uint8_t q[SEAL_Q4_BLOCK];
#pragma omp simd
  for (int i = 0; i < SEAL_Q4_BLOCK; i++) {
    float v = (src[i] - m) * id + 0.5f;
    q[i] = (uint8_t)(v < 1.0f ? 0 : v >= 15.0f ? 15 : (int)v);
  }
#pragma omp simd
  for (int j = 0; j < SEAL_Q4_BLOCK / 2; j++)
    b->qs[j] = (uint8_t)(q[j] | q[j + SEAL_Q4_BLOCK / 2] << 4);
  return isfinite(d) && isfinite(m);
}

/* seal_q4_dequantize_block for a whole block, vectorised as above. */
static void dequantize_full_block(float *dst, const seal_q4_block *b) {
  const float d = seal_f16_bits_to_f32(b->d), m = seal_f16_bits_to_f32(b->m);
#pragma omp simd
  for (int j = 0; j < SEAL_Q4_BLOCK / 2; j++) {
    dst[j] = d * (float)(b->qs[j] & 0x0f) + m;
    dst[j + SEAL_Q4_BLOCK / 2] = d * (float)(b->qs[j] >> 4) + m;
  }
}

bool seal_cpu_q4_block_from(void *block, const float *src) {
  return quantize_full_block(block, src);
}

/* dst = the blocks of src[n], the last one padded. */
static void quantize_row(seal_q4_block *dst, const float *src, size_t n) {
  for (size_t b = 0; b < seal_q4_blocks(n); b++) {
    size_t at = b * SEAL_Q4_BLOCK, k = n - at < SEAL_Q4_BLOCK ? n - at : SEAL_Q4_BLOCK;
    bool ok = k == SEAL_Q4_BLOCK ? quantize_full_block(&dst[b], src + at)
                                 : seal_q4_quantize_block(&dst[b], src + at, (int)k);
    SEAL_CHECK(ok, "q4: the block of values %zu..%zu is past a half's range", at, at + k - 1);
  }
}

/* dst[n] = the first n values of the blocks at src. */
static void dequantize_row(float *dst, const seal_q4_block *src, size_t n) {
  size_t b = 0;
  for (; (b + 1) * SEAL_Q4_BLOCK <= n; b++) dequantize_full_block(dst + b * SEAL_Q4_BLOCK, &src[b]);
  if (b * SEAL_Q4_BLOCK < n)
    seal_q4_dequantize_block(dst + b * SEAL_Q4_BLOCK, &src[b], (int)(n - b * SEAL_Q4_BLOCK));
}

/* Blocks of 32 one work item of the whole-buffer conversions takes. */
#define CONVERT_CHUNK_BLOCKS 2048

void seal_cpu_q4_quantize(void *dst_, const float *src, size_t n) {
  seal_q4_block *dst = dst_; /* [blocks(n)] */
  const size_t chunk = (size_t)CONVERT_CHUNK_BLOCKS * SEAL_Q4_BLOCK;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t at = 0; at < n; at += chunk)
    quantize_row(dst + at / SEAL_Q4_BLOCK, src + at, n - at < chunk ? n - at : chunk);
}

void seal_cpu_q4_dequantize(float *dst, const void *src_, size_t n) {
  const seal_q4_block *src = src_; /* [blocks(n)] */
  const size_t chunk = (size_t)CONVERT_CHUNK_BLOCKS * SEAL_Q4_BLOCK;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t at = 0; at < n; at += chunk)
    dequantize_row(dst + at, src + at / SEAL_Q4_BLOCK, n - at < chunk ? n - at : chunk);
}

void seal_cpu_q4_fill(void *dst_, float value, size_t n) {
  seal_q4_block *dst = dst_; /* [blocks(n)] */
  float v[SEAL_Q4_BLOCK];
  for (int i = 0; i < SEAL_Q4_BLOCK; i++) v[i] = value;
  for (size_t b = 0; b < seal_q4_blocks(n); b++) {
    size_t k = n - b * SEAL_Q4_BLOCK;
    SEAL_CHECK(seal_q4_quantize_block(&dst[b], v, k < SEAL_Q4_BLOCK ? (int)k : SEAL_Q4_BLOCK),
               "q4: fill value %g is past a half's range", (double)value);
  }
}

/* ---- few rows: the integer dot products ------------------------------------- */

/* N input rows of I values quantised for the integer kernels (ggml's Q8_1):
 * row n's block b is q[(n * nb + b) * 32 ..] with scale d[n * nb + b] and
 * s[n * nb + b] = d * (the sum of its 32 q). */
typedef struct {
  int8_t *q; /* [N, nb, 32] */
  float *d;  /* [N, nb] */
  float *s;  /* [N, nb] */
  int nb;
} quantized_rows;

/* q[32] = src[n] / d rounded to nearest even, zero past n (n <= 32); *d =
 * the block's largest magnitude over 127, *s = d * sum(q). */
static void quantize_input_block(int8_t *q, float *d_out, float *s_out, const float *src, int n) {
  float amax = 0;
#pragma omp simd reduction(max : amax)
  for (int i = 0; i < n; i++) amax = fabsf(src[i]) > amax ? fabsf(src[i]) : amax;
  const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
  int sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; i++) {
    /* to nearest even by adding and taking away 1.5 * 2^23 (|v| < 2^22),
     * which vectorises where nearbyintf is a call; clamp for the rounding of d */
    float v = (src[i] * id + 0x1.8p23f) - 0x1.8p23f;
    q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    sum += q[i];
  }
  if (n < SEAL_Q4_BLOCK) memset(q + n, 0, (size_t)(SEAL_Q4_BLOCK - n));
  *d_out = d;
  *s_out = d * (float)sum;
}

static quantized_rows quantize_rows(const float *inp, int N, int I) {
  quantized_rows x = {.nb = (int)seal_q4_blocks((size_t)I)};
  size_t blocks = (size_t)N * x.nb;
  x.q = malloc(blocks * SEAL_Q4_BLOCK + 1);
  x.d = malloc(blocks * sizeof(float) + 1);
  x.s = malloc(blocks * sizeof(float) + 1);
  SEAL_CHECK(x.q && x.d && x.s, "matmul (q4 weights): out of memory quantising %d x %d inputs", N,
             I);
#pragma omp parallel for schedule(static) if ((size_t)N * I >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++)
    for (int b = 0; b < x.nb; b++) {
      int at = b * SEAL_Q4_BLOCK, k = I - at < SEAL_Q4_BLOCK ? I - at : SEAL_Q4_BLOCK;
      size_t blk = (size_t)n * x.nb + b;
      quantize_input_block(x.q + blk * SEAL_Q4_BLOCK, &x.d[blk], &x.s[blk],
                           inp + (size_t)n * I + at, k);
    }
  return x;
}

static void free_rows(quantized_rows *x) {
  free(x->q);
  free(x->d);
  free(x->s);
}

/* The portable dot product of weight row w (nb blocks) and quantised input row
 * (xq, xd, xs): the AVX2 kernel's arithmetic step for step. */
static float dot_portable(const seal_q4_block *w, const int8_t *xq, const float *xd,
                          const float *xs, int nb) {
  float acc[8] = {0}, mins = 0;
  for (int b = 0; b < nb; b++) {
    const float d = seal_f16_bits_to_f32(w[b].d) * xd[b];
    const int8_t *x = xq + (size_t)b * SEAL_Q4_BLOCK;
    for (int l = 0; l < 8; l++) {
      int s = 0;
      for (int k = 4 * l; k < 4 * l + 4; k++) s += seal_q4_get(&w[b], k) * x[k];
      acc[l] = fmaf(d, (float)s, acc[l]);
    }
    mins = fmaf(seal_f16_bits_to_f32(w[b].m), xs[b], mins);
  }
  return seal_cpu_sum_lanes(acc) + mins;
}

/* Weight rows [o0, o0 + nw) by the portable kernel. */
static void rows_portable(float *out, const quantized_rows *x, const seal_q4_block *W, int N, int O,
                          int o0, int nw) {
  const size_t nb = (size_t)x->nb;
  for (int o = o0; o < o0 + nw; o++)
    for (int n = 0; n < N; n++)
      out[(size_t)n * O + o] = dot_portable(W + (size_t)o * nb, x->q + n * nb * SEAL_Q4_BLOCK,
                                            x->d + n * nb, x->s + n * nb, x->nb);
}

#define Q4_TARGET __attribute__((target("avx2,fma,f16c")))

/* The 32 4-bit values of a block as bytes 0..31 in element order: the low
 * nibbles are elements 0..15, the high ones 16..31. */
Q4_TARGET static inline __m256i unpack_nibbles(const uint8_t *qs) {
  const __m128i packed = _mm_loadu_si128((const __m128i *)qs), low4 = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(packed, low4);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
  return _mm256_set_m128i(hi, lo);
}

/* Lane j = the integer dot of bytes 4j..4j+3 of w (0..15) and x, as floats
 * (exact: |sum| <= 4 * 15 * 127; maddubs's pair sums stay within int16). */
Q4_TARGET static inline __m256 dot_lanes(__m256i w, __m256i x) {
  __m256i p16 = _mm256_maddubs_epi16(w, x);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* out[n0 + m, o0 + j] for j < 4 and m < rows (1 or 2): each block of the 4
 * weight rows is loaded and unpacked once for the input rows, which stay in
 * L1. */
Q4_TARGET static inline __attribute__((always_inline)) void block_4xm(float *out,
                                                                      const quantized_rows *x,
                                                                      const seal_q4_block *W,
                                                                      int n0, const int rows, int O,
                                                                      int o0) {
  const int nb = x->nb;
  const int8_t *xq[2] = {x->q + (size_t)n0 * nb * SEAL_Q4_BLOCK, NULL};
  const float *xd[2] = {x->d + (size_t)n0 * nb, NULL}, *xs[2] = {x->s + (size_t)n0 * nb, NULL};
  if (rows == 2) xq[1] = xq[0] + (size_t)nb * SEAL_Q4_BLOCK, xd[1] = xd[0] + nb, xs[1] = xs[0] + nb;
  const seal_q4_block *w[4];
  for (int j = 0; j < 4; j++) w[j] = W + (size_t)(o0 + j) * nb;
  /* fully unrolled, so that the accumulators live in registers (matmul_q8.c) */
  __m256 acc[2][4];
  float mins[2][4];
#pragma GCC unroll 2
  for (int m = 0; m < 2; m++)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) acc[m][j] = _mm256_setzero_ps(), mins[m][j] = 0;
  /* The next 4 weight rows follow these 4 in memory: fetch them while these
   * are read, 2 cache lines per step of b (a step reads 4 blocks, 80 bytes):
   * matmul_q8.c's prefetch (decode streams every matrix from DRAM, and the
   * hardware prefetcher alone kept 4 streams at 6 GB/s on one Zen 3 thread).
   * The last whole group fetches itself again: an address past the matrix may
   * not even be formed in C. */
  const char *next = (const char *)(o0 + 8 <= O ? W + (size_t)(o0 + 4) * nb : w[0]);
  for (int b = 0; b < nb; b++) {
    _mm_prefetch(next + (size_t)b * 4 * sizeof(seal_q4_block), _MM_HINT_T0);
    _mm_prefetch(next + (size_t)b * 4 * sizeof(seal_q4_block) + 64, _MM_HINT_T0);
    __m256i xv[2];
#pragma GCC unroll 2
    for (int m = 0; m < rows; m++)
      xv[m] = _mm256_loadu_si256((const __m256i *)(xq[m] + (size_t)b * SEAL_Q4_BLOCK));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
      const __m256i wv = unpack_nibbles(w[j][b].qs);
      const float dw = _cvtsh_ss(w[j][b].d), mw = _cvtsh_ss(w[j][b].m);
#pragma GCC unroll 2
      for (int m = 0; m < rows; m++) {
        acc[m][j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[m][b]), dot_lanes(wv, xv[m]), acc[m][j]);
        mins[m][j] = fmaf(mw, xs[m][b], mins[m][j]);
      }
    }
  }
#pragma GCC unroll 2
  for (int m = 0; m < rows; m++)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
      out[(size_t)(n0 + m) * O + o0 + j] = seal_cpu_sum8(acc[m][j]) + mins[m][j];
}

Q4_TARGET static void block_4x2(float *out, const quantized_rows *x, const seal_q4_block *W, int n0,
                                int O, int o0) {
  block_4xm(out, x, W, n0, 2, O, o0);
}

Q4_TARGET static void block_4x1(float *out, const quantized_rows *x, const seal_q4_block *W, int n0,
                                int O, int o0) {
  block_4xm(out, x, W, n0, 1, O, o0);
}

/* Weight rows [o0, o0 + nw) by the AVX2 kernel; rows past the last block of 4
 * by the portable one (the same bits). */
Q4_TARGET static void rows_avx2(float *out, const quantized_rows *x, const seal_q4_block *W, int N,
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
static void integer_rows(float *out, const float *inp, const seal_q4_block *weight,
                         const float *bias, int N, int I, int O, bool avx2) {
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
  free_rows(&x);
}

/* ---- many rows: dequantised tiles through sgemm ------------------------------ */

/* tile[nr, nc] = rows r0..r0+nr-1, columns c0..c0+nc-1 (c0 a multiple of 32)
 * of W, whose rows hold I values in whole blocks, dequantised. */
static void dequantize_tile(float *tile, const void *W_, int I, int r0, int nr, int c0, int nc) {
  const seal_q4_block *W = W_; /* [O, nb] */
  const size_t nb = seal_q4_blocks((size_t)I);
  for (int r = 0; r < nr; r++)
    dequantize_row(tile + (size_t)r * nc, W + (size_t)(r0 + r) * nb + c0 / SEAL_Q4_BLOCK,
                   (size_t)nc);
}

/* W[r0:r0+nr, :] = rows quantised. */
static void quantize_rows_into(void *W_, const float *rows, int I, int r0, int nr) {
  seal_q4_block *W = W_; /* [O, nb] */
  const size_t nb = seal_q4_blocks((size_t)I);
  for (int k = 0; k < nr; k++)
    quantize_row(W + (size_t)(r0 + k) * nb, rows + (size_t)k * I, (size_t)I);
}

static const seal_cpu_compact q4_tiles = {"q4", TILE_BYTES, dequantize_tile, quantize_rows_into};

/* ---- the ops ------------------------------------------------------------------ */

void seal_cpu_matmul_q4_by(seal_cpu_q4_path path, float *out, const float *inp, const void *weight,
                           const float *bias, int N, int I, int O) {
  switch (path) {
    case SEAL_CPU_Q4_INT_PORTABLE:
      integer_rows(out, inp, weight, bias, N, I, O, false);
      return;
    case SEAL_CPU_Q4_INT_AVX2:
      SEAL_CHECK(seal_cpu_has_avx2_fma_f16c(),
                 "matmul (q4 weights): this processor has no AVX2, FMA and F16C");
      integer_rows(out, inp, weight, bias, N, I, O, true);
      return;
    case SEAL_CPU_Q4_DEQUANT_SGEMM:
      seal_cpu_compact_matmul(&q4_tiles, out, inp, weight, bias, N, I, O);
      return;
  }
  SEAL_DIE("matmul (q4 weights): unknown path %d", (int)path);
}

void seal_cpu_matmul_q4(float *out, const float *inp, const void *weight, const float *bias, int N,
                        int I, int O) {
  seal_cpu_q4_path path = N > SEAL_CPU_FEW_ROWS          ? SEAL_CPU_Q4_DEQUANT_SGEMM
                          : seal_cpu_has_avx2_fma_f16c() ? SEAL_CPU_Q4_INT_AVX2
                                                         : SEAL_CPU_Q4_INT_PORTABLE;
  seal_cpu_matmul_q4_by(path, out, inp, weight, bias, N, I, O);
}

void seal_cpu_matmul_backward_input_q4(float *dinp, const float *dout, const void *weight, int N,
                                       int I, int O, int accumulate) {
  seal_cpu_compact_backward_input(&q4_tiles, dinp, dout, weight, N, I, O, accumulate);
}

void seal_cpu_lora_merge_q4(void *W, const float *A, const float *B, int O, int I, int r,
                            float scale) {
  seal_cpu_compact_lora_merge(&q4_tiles, W, A, B, O, I, r, scale);
}

void seal_cpu_embedding_q4(float *out, const int32_t *ids, const void *table, int N, int C) {
  seal_cpu_compact_embedding(&q4_tiles, out, ids, table, N, C);
}
