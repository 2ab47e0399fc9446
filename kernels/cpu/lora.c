/* kernels/cpu/lora.c — LoRA's products for one adapter (lora_forward,
 * lora_backward), written for their skinny shapes: rank r <= 64 against the
 * model's widths I, O (hundreds to thousands) over N rows (tens in the SEAL
 * inner loop). cblas_sgemm spent most of its time on these in the demo
 * (docs/perf.md, "where the demo's time goes"): six small calls per adapter,
 * each one split over the threads (a wake-up and a join) or not, by OpenBLAS's
 * rule of M*N*K. Here each op is one OpenMP region, its phases divided over
 * the long dimension and separated by a barrier.
 *
 * Every product is one of two forms:
 *   dots:  C[m, k] = X[m, :] . Y[k, :] over a long contiguous K (h = x A^T);
 *   bcast: C[m, w] (+)= s * sum_j X(m, j) Y[j, w], X read with any strides and
 *          broadcast, Y row-major, vectorised over w (everything else).
 * Each output element is one sum in a fixed order by one thread, so the
 * results do not depend on the thread count. Both have an AVX2+FMA kernel and
 * a plain fallback for processors without those instructions. */
#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels/cpu/cpu.h"

/* Columns (of I or O) per work item of a phase divided over the wide side. */
#define LORA_COLS 64
/* Rows of the bcast kernel's register block, columns (two vectors) of it. */
#define BCAST_ROWS 4
#define BCAST_COLS 16

/* C[m, w] (+)= scale * sum_{j < J} X(m, j) Y[j, w], with X(m, j) = x[m*sm + j*sj],
 * Y[j, w] = y[j*ldy + w], C[m, w] = c[m*ldc + w]. */
typedef struct {
  const float *x;
  size_t sm, sj;
  const float *y;
  size_t ldy;
  float *c;
  size_t ldc;
  int J;
  float scale;
  bool accumulate;
} bcast_product;

static bool lora_avx2_allowed = true;

void seal_cpu_lora_allow_avx2(bool allowed) { lora_avx2_allowed = allowed; }

static bool have_avx2_fma(void) {
  __builtin_cpu_init();
  return lora_avx2_allowed && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static void bcast_plain(const bcast_product *p, int m0, int m1, int w0, int w1) {
  for (int m = m0; m < m1; m++)
    for (int w = w0; w < w1; w++) {
      float s = 0;
      for (int j = 0; j < p->J; j++) s += p->x[m * p->sm + j * p->sj] * p->y[j * p->ldy + w];
      float *c = p->c + m * p->ldc + w;
      *c = p->accumulate ? *c + p->scale * s : p->scale * s;
    }
}

/* The lanes [0, n) of a vector as a mask (n <= 0: none, n >= 8: all). */
__attribute__((target("avx2,fma"))) static inline __m256i first_lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Rows [m0, m0 + 4) clamped to m1 (the block's last rows repeat a row of the
 * range and are not stored), columns [w0, w0 + nw), nw <= 16, masked when
 * `masked` (a constant at each call, so both forms are inlined loops). */
__attribute__((target("avx2,fma"), always_inline)) static inline void bcast_block_avx2(
    const bcast_product *p, int m0, int m1, int w0, int nw, bool masked) {
  const float *x[BCAST_ROWS];
  for (int i = 0; i < BCAST_ROWS; i++) x[i] = p->x + (m0 + i < m1 ? m0 + i : m1 - 1) * p->sm;
  __m256i k0 = first_lanes(nw), k1 = first_lanes(nw - 8);
  __m256 a[BCAST_ROWS][2];
  for (int i = 0; i < BCAST_ROWS; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
  const float *y = p->y + w0;
  for (int j = 0; j < p->J; j++, y += p->ldy) {
    __m256 y0 = masked ? _mm256_maskload_ps(y, k0) : _mm256_loadu_ps(y);
    __m256 y1 = masked ? _mm256_maskload_ps(y + 8, k1) : _mm256_loadu_ps(y + 8);
    for (int i = 0; i < BCAST_ROWS; i++) {
      __m256 b = _mm256_broadcast_ss(x[i] + j * p->sj);
      a[i][0] = _mm256_fmadd_ps(b, y0, a[i][0]);
      a[i][1] = _mm256_fmadd_ps(b, y1, a[i][1]);
    }
  }
  __m256 s = _mm256_set1_ps(p->scale);
  for (int i = 0; i < BCAST_ROWS && m0 + i < m1; i++) {
    float *c = p->c + (m0 + i) * p->ldc + w0;
    __m256 v0 = _mm256_mul_ps(s, a[i][0]), v1 = _mm256_mul_ps(s, a[i][1]);
    if (masked) {
      if (p->accumulate) {
        v0 = _mm256_add_ps(_mm256_maskload_ps(c, k0), v0);
        v1 = _mm256_add_ps(_mm256_maskload_ps(c + 8, k1), v1);
      }
      _mm256_maskstore_ps(c, k0, v0);
      _mm256_maskstore_ps(c + 8, k1, v1);
    } else {
      if (p->accumulate) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(c), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(c + 8), v1);
      }
      _mm256_storeu_ps(c, v0);
      _mm256_storeu_ps(c + 8, v1);
    }
  }
}

__attribute__((target("avx2,fma"))) static void bcast_avx2(const bcast_product *p, int m0, int m1,
                                                           int w0, int w1) {
  int w = w0;
  for (; w + BCAST_COLS <= w1; w += BCAST_COLS)
    for (int m = m0; m < m1; m += BCAST_ROWS) bcast_block_avx2(p, m, m1, w, BCAST_COLS, false);
  if (w < w1)
    for (int m = m0; m < m1; m += BCAST_ROWS) bcast_block_avx2(p, m, m1, w, w1 - w, true);
}

/* The bcast product over rows [m0, m1) and columns [w0, w1) of C. */
static void bcast(const bcast_product *p, bool avx2, int m0, int m1, int w0, int w1) {
  if (m0 >= m1 || w0 >= w1) return;
  if (avx2)
    bcast_avx2(p, m0, m1, w0, w1);
  else
    bcast_plain(p, m0, m1, w0, w1);
}

/* c[m, k] = x[m, :] . y[k, :] (length K) for rows m in [m0, m1), every k < R;
 * x [*, K], y [R, K], c [*, R]. */
static void dots_plain(float *c, const float *x, const float *y, int m0, int m1, int R, int K) {
  for (int m = m0; m < m1; m++)
    for (int k = 0; k < R; k++) {
      float s = 0;
      for (int i = 0; i < K; i++) s += x[(size_t)m * K + i] * y[(size_t)k * K + i];
      c[(size_t)m * R + k] = s;
    }
}

/* The sum of the 8 lanes. */
__attribute__((target("avx2,fma"))) static inline float sum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* dots_plain with 2 rows of x against 4 rows of y per step: 8 independent FMA
 * chains on 6 loads (the block's last rows clamped and not stored). */
__attribute__((target("avx2,fma"))) static void dots_avx2(float *c, const float *x, const float *y,
                                                          int m0, int m1, int R, int K) {
  for (int m = m0; m < m1; m += 2)
    for (int k = 0; k < R; k += 4) {
      const float *xr[2], *yr[4];
      for (int i = 0; i < 2; i++) xr[i] = x + (size_t)(m + i < m1 ? m + i : m1 - 1) * K;
      for (int j = 0; j < 4; j++) yr[j] = y + (size_t)(k + j < R ? k + j : R - 1) * K;
      __m256 a[2][4];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) a[i][j] = _mm256_setzero_ps();
      int t = 0;
      for (; t + 8 <= K; t += 8) {
        __m256 u0 = _mm256_loadu_ps(xr[0] + t), u1 = _mm256_loadu_ps(xr[1] + t);
        for (int j = 0; j < 4; j++) {
          __m256 v = _mm256_loadu_ps(yr[j] + t);
          a[0][j] = _mm256_fmadd_ps(u0, v, a[0][j]);
          a[1][j] = _mm256_fmadd_ps(u1, v, a[1][j]);
        }
      }
      for (int i = 0; i < 2 && m + i < m1; i++)
        for (int j = 0; j < 4 && k + j < R; j++) {
          float s = sum8(a[i][j]);
          for (int e = t; e < K; e++) s += xr[i][e] * yr[j][e];
          c[(size_t)(m + i) * R + k + j] = s;
        }
    }
}

static void dots(float *c, const float *x, const float *y, bool avx2, int m0, int m1, int R,
                 int K) {
  if (m0 >= m1) return;
  if (avx2)
    dots_avx2(c, x, y, m0, m1, R, K);
  else
    dots_plain(c, x, y, m0, m1, R, K);
}

/* Whether a LoRA op of these sizes is worth a parallel region: its
 * multiply-adds per column of work, N * r * (I + O), against the cost of
 * waking a second thread. */
static bool lora_parallel(int N, int I, int O, int r) {
  return (size_t)N * r * ((size_t)I + O) >= SEAL_CPU_LORA_PARALLEL_MIN;
}

static int chunks_of(int n, int size) { return (n + size - 1) / size; }

/* out[N, cols [o0, o1)] += scale * h[N, r] @ B[o0:o1, r]^T, B's rows
 * transposed first into bt [r, o1 - o0] so that the product runs along O. */
static void forward_out_columns(float *out, const float *h, const float *B, float *bt, bool avx2,
                                int N, int O, int r, float scale, int o0, int o1) {
  int cw = o1 - o0;
  for (int o = o0; o < o1; o++)
    for (int k = 0; k < r; k++) bt[(size_t)k * cw + (o - o0)] = B[(size_t)o * r + k];
  bcast_product p = {.x = h,
                     .sm = (size_t)r,
                     .sj = 1,
                     .y = bt,
                     .ldy = (size_t)cw,
                     .c = out + o0,
                     .ldc = (size_t)O,
                     .J = r,
                     .scale = scale,
                     .accumulate = true};
  bcast(&p, avx2, 0, N, 0, cw);
}

/* Whether this op's products go to seal's kernels rather than cblas_sgemm. */
static bool lora_skinny(int N, int r) {
  return r <= SEAL_CPU_LORA_MAX_RANK && N < SEAL_CPU_LORA_SGEMM_ROWS;
}

static void lora_forward_sgemm(float *out, float *h, const float *x, const float *A, const float *B,
                               int N, int I, int O, int r, float scale) {
  /* h[N, r] = x[N, I] @ A[r, I]^T */
  seal_cpu_sgemm(0, 1, N, r, I, 1.0f, x, I, A, I, 0.0f, h, r);
  /* out[N, O] += scale * h[N, r] @ B[O, r]^T */
  seal_cpu_sgemm(0, 1, N, O, r, scale, h, r, B, r, 1.0f, out, O);
}

static void lora_backward_sgemm(float *dx, float *dA, float *dB, float *dh, const float *dout,
                                const float *x, const float *A, const float *B, const float *h,
                                int N, int I, int O, int r, float scale) {
  /* dB[O, r] += scale * dout[N, O]^T @ h[N, r] */
  seal_cpu_sgemm(1, 0, O, r, N, scale, dout, O, h, r, 1.0f, dB, r);
  /* dh[N, r] = scale * dout[N, O] @ B[O, r] */
  seal_cpu_sgemm(0, 0, N, r, O, scale, dout, O, B, r, 0.0f, dh, r);
  /* dA[r, I] += dh[N, r]^T @ x[N, I] */
  seal_cpu_sgemm(1, 0, r, I, N, 1.0f, dh, r, x, I, 1.0f, dA, I);
  /* dx[N, I] += dh[N, r] @ A[r, I] */
  if (dx) seal_cpu_sgemm(0, 0, N, I, r, 1.0f, dh, r, A, I, 1.0f, dx, I);
}

void seal_cpu_lora_forward(seal_backend *be, void *out_, float *h, const void *x_, const float *A,
                           const float *B, int N, int I, int O, int r, float scale) {
  (void)be;
  float *out = out_;   /* [N, O] */
  const float *x = x_; /* [N, I] */
                       /* h [N, r], A [r, I], B [O, r] */
  if (N <= 0 || r <= 0) return;
  if (!lora_skinny(N, r)) {
    lora_forward_sgemm(out, h, x, A, B, N, I, O, r, scale);
    return;
  }
  bool avx2 = have_avx2_fma();
  int out_chunks = chunks_of(O, LORA_COLS);
#pragma omp parallel if (lora_parallel(N, I, O, r))
  {
    /* h = x A^T, two rows of x at a time */
#pragma omp for schedule(static)
    for (int n = 0; n < N; n += 2) dots(h, x, A, avx2, n, n + 2 < N ? n + 2 : N, r, I);
    float bt[SEAL_CPU_LORA_MAX_RANK * LORA_COLS]; /* [r, LORA_COLS] */
#pragma omp for schedule(static)
    for (int c = 0; c < out_chunks; c++) {
      int o0 = c * LORA_COLS, o1 = o0 + LORA_COLS < O ? o0 + LORA_COLS : O;
      forward_out_columns(out, h, B, bt, avx2, N, O, r, scale, o0, o1);
    }
  }
}

void seal_cpu_lora_backward(seal_backend *be, void *dx_, float *dA, float *dB, float *dh,
                            const void *dout_, const void *x_, const float *A, const float *B,
                            const float *h, int N, int I, int O, int r, float scale) {
  (void)be;
  float *dx = dx_;           /* [N, I] or NULL */
  const float *dout = dout_; /* [N, O] */
  const float *x = x_;       /* [N, I] */
                             /* dA, A [r, I]; dB, B [O, r]; dh, h [N, r] */
  if (N <= 0 || r <= 0) return;
  if (!lora_skinny(N, r)) {
    lora_backward_sgemm(dx, dA, dB, dh, dout, x, A, B, h, N, I, O, r, scale);
    return;
  }
  bool avx2 = have_avx2_fma();
  /* dh[n, k] = scale * sum_o dout[n, o] B[o, k] */
  bcast_product dh_p = {.x = dout,
                        .sm = (size_t)O,
                        .sj = 1,
                        .y = B,
                        .ldy = (size_t)r,
                        .c = dh,
                        .ldc = (size_t)r,
                        .J = O,
                        .scale = scale,
                        .accumulate = false};
  /* dB[o, k] += scale * sum_n dout[n, o] h[n, k] */
  bcast_product dB_p = {.x = dout,
                        .sm = 1,
                        .sj = (size_t)O,
                        .y = h,
                        .ldy = (size_t)r,
                        .c = dB,
                        .ldc = (size_t)r,
                        .J = N,
                        .scale = scale,
                        .accumulate = true};
  /* dA[k, i] += sum_n dh[n, k] x[n, i] */
  bcast_product dA_p = {.x = dh,
                        .sm = 1,
                        .sj = (size_t)r,
                        .y = x,
                        .ldy = (size_t)I,
                        .c = dA,
                        .ldc = (size_t)I,
                        .J = N,
                        .scale = 1,
                        .accumulate = true};
  /* dx[n, i] += sum_k dh[n, k] A[k, i] */
  bcast_product dx_p = {.x = dh,
                        .sm = (size_t)r,
                        .sj = 1,
                        .y = A,
                        .ldy = (size_t)I,
                        .c = dx,
                        .ldc = (size_t)I,
                        .J = r,
                        .scale = 1,
                        .accumulate = true};
  int o_chunks = chunks_of(O, LORA_COLS), i_chunks = chunks_of(I, LORA_COLS);
#pragma omp parallel if (lora_parallel(N, I, O, r))
  {
#pragma omp for schedule(static) nowait
    for (int n = 0; n < N; n += BCAST_ROWS)
      bcast(&dh_p, avx2, n, n + BCAST_ROWS < N ? n + BCAST_ROWS : N, 0, r);
#pragma omp for schedule(static)
    for (int c = 0; c < o_chunks; c++) {
      int o0 = c * LORA_COLS, o1 = o0 + LORA_COLS < O ? o0 + LORA_COLS : O;
      bcast(&dB_p, avx2, o0, o1, 0, r);
    }
    /* the barrier above: dh is complete */
#pragma omp for schedule(static)
    for (int c = 0; c < i_chunks; c++) {
      int i0 = c * LORA_COLS, i1 = i0 + LORA_COLS < I ? i0 + LORA_COLS : I;
      bcast(&dA_p, avx2, 0, r, i0, i1);
      if (dx) bcast(&dx_p, avx2, 0, N, i0, i1);
    }
  }
}
