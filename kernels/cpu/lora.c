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
#include <omp.h>
#include <stdbool.h>
#include <stddef.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/lanes.h"

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

/* Stores one row of a block: c[0, 16) (+)= scale * (v0, v1), masked to the
 * lanes k0, k1 when `masked`. */
__attribute__((target("avx2,fma"), always_inline)) static inline void bcast_store_row(
    const bcast_product *p, float *c, __m256 v0, __m256 v1, __m256i k0, __m256i k1, bool masked) {
  __m256 s = _mm256_set1_ps(p->scale);
  v0 = _mm256_mul_ps(s, v0), v1 = _mm256_mul_ps(s, v1);
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

/* Rows [m0, m0 + 4) clamped to m1 (the block's last rows repeat a row of the
 * range and are not stored), columns [w0, w0 + nw), nw <= 16, masked when
 * `masked` (a constant at each call, so both forms are inlined loops). The
 * 8 accumulators are named, not an array, so that they stay in registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void bcast_block_avx2(
    const bcast_product *p, int m0, int m1, int w0, int nw, bool masked) {
  size_t sj = p->sj, ldy = p->ldy;
  const float *x0 = p->x + (size_t)m0 * p->sm;
  const float *x1 = p->x + (size_t)(m0 + 1 < m1 ? m0 + 1 : m1 - 1) * p->sm;
  const float *x2 = p->x + (size_t)(m0 + 2 < m1 ? m0 + 2 : m1 - 1) * p->sm;
  const float *x3 = p->x + (size_t)(m0 + 3 < m1 ? m0 + 3 : m1 - 1) * p->sm;
  __m256i k0 = first_lanes(nw), k1 = first_lanes(nw - 8);
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
  __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  const float *y = p->y + w0;
  for (int j = 0; j < p->J; j++, y += ldy) {
    __m256 y0 = masked ? _mm256_maskload_ps(y, k0) : _mm256_loadu_ps(y);
    __m256 y1 = masked ? _mm256_maskload_ps(y + 8, k1) : _mm256_loadu_ps(y + 8);
    size_t o = (size_t)j * sj;
    __m256 b = _mm256_broadcast_ss(x0 + o);
    a00 = _mm256_fmadd_ps(b, y0, a00), a01 = _mm256_fmadd_ps(b, y1, a01);
    b = _mm256_broadcast_ss(x1 + o);
    a10 = _mm256_fmadd_ps(b, y0, a10), a11 = _mm256_fmadd_ps(b, y1, a11);
    b = _mm256_broadcast_ss(x2 + o);
    a20 = _mm256_fmadd_ps(b, y0, a20), a21 = _mm256_fmadd_ps(b, y1, a21);
    b = _mm256_broadcast_ss(x3 + o);
    a30 = _mm256_fmadd_ps(b, y0, a30), a31 = _mm256_fmadd_ps(b, y1, a31);
  }
  float *c = p->c + (size_t)m0 * p->ldc + w0;
  bcast_store_row(p, c, a00, a01, k0, k1, masked);
  if (m0 + 1 < m1) bcast_store_row(p, c + p->ldc, a10, a11, k0, k1, masked);
  if (m0 + 2 < m1) bcast_store_row(p, c + 2 * p->ldc, a20, a21, k0, k1, masked);
  if (m0 + 3 < m1) bcast_store_row(p, c + 3 * p->ldc, a30, a31, k0, k1, masked);
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

/* c[m + i, k + j] for i < 2, j < 4 from the lane sums of a_ij and the tail
 * [t, K) (the clamped rows and columns are not stored). */
__attribute__((target("avx2,fma"))) static void dots_store(float *c, const float *const xr[2],
                                                           const float *const yr[4],
                                                           const __m256 a[2][4], int m, int m1,
                                                           int k, int R, int t, int K) {
  for (int i = 0; i < 2 && m + i < m1; i++)
    for (int j = 0; j < 4 && k + j < R; j++) {
      float s = seal_cpu_sum8(a[i][j]);
      for (int e = t; e < K; e++) s += xr[i][e] * yr[j][e];
      c[(size_t)(m + i) * R + k + j] = s;
    }
}

/* dots_plain with 2 rows of x against 4 rows of y per step: 8 independent FMA
 * chains (named, to stay in registers) on 6 loads; the block's last rows and
 * columns clamped and not stored. */
__attribute__((target("avx2,fma"))) static void dots_avx2(float *c, const float *x, const float *y,
                                                          int m0, int m1, int R, int K) {
  for (int m = m0; m < m1; m += 2)
    for (int k = 0; k < R; k += 4) {
      const float *xr[2] = {x + (size_t)m * K, x + (size_t)(m + 1 < m1 ? m + 1 : m1 - 1) * K};
      const float *yr[4];
      for (int j = 0; j < 4; j++) yr[j] = y + (size_t)(k + j < R ? k + j : R - 1) * K;
      const float *u = xr[0], *v = xr[1], *w0 = yr[0], *w1 = yr[1], *w2 = yr[2], *w3 = yr[3];
      __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
      __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      int t = 0;
      for (; t + 8 <= K; t += 8) {
        __m256 u0 = _mm256_loadu_ps(u + t), u1 = _mm256_loadu_ps(v + t), w;
        w = _mm256_loadu_ps(w0 + t), a00 = _mm256_fmadd_ps(u0, w, a00);
        a10 = _mm256_fmadd_ps(u1, w, a10);
        w = _mm256_loadu_ps(w1 + t), a01 = _mm256_fmadd_ps(u0, w, a01);
        a11 = _mm256_fmadd_ps(u1, w, a11);
        w = _mm256_loadu_ps(w2 + t), a02 = _mm256_fmadd_ps(u0, w, a02);
        a12 = _mm256_fmadd_ps(u1, w, a12);
        w = _mm256_loadu_ps(w3 + t), a03 = _mm256_fmadd_ps(u0, w, a03);
        a13 = _mm256_fmadd_ps(u1, w, a13);
      }
      const __m256 a[2][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}};
      dots_store(c, xr, yr, a, m, m1, k, R, t, K);
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

/* The 8 lane sums of a0..a7, as one vector (lane j: the sum of aj's lanes). */
__attribute__((target("avx2,fma"))) static inline __m256 sum8x8(__m256 a0, __m256 a1, __m256 a2,
                                                                __m256 a3, __m256 a4, __m256 a5,
                                                                __m256 a6, __m256 a7) {
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* out[n0:n1, :] += scale * h[n0:n1, :] @ B^T as dot products along r, 8
 * columns at a time: for a few rows (decoding), where transposing B for the
 * bcast form would cost as much as the product. */
__attribute__((target("avx2,fma"))) static void out_dots_avx2(float *out, const float *h,
                                                              const float *B, int O, int r,
                                                              float scale, int n0, int n1) {
  __m256 s = _mm256_set1_ps(scale);
  for (int n = n0; n < n1; n++) {
    const float *hn = h + (size_t)n * r;
    float *on = out + (size_t)n * O;
    int o = 0;
    for (; o + 8 <= O; o += 8) {
      const float *b = B + (size_t)o * r;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0;
      __m256 a7 = a0;
      for (int k = 0; k < r; k += 8) {
        __m256i m = first_lanes(r - k);
        __m256 v = _mm256_maskload_ps(hn + k, m);
        a0 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + k, m), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + r + k, m), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 2 * r + k, m), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 3 * r + k, m), a3);
        a4 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 4 * r + k, m), a4);
        a5 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 5 * r + k, m), a5);
        a6 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 6 * r + k, m), a6);
        a7 = _mm256_fmadd_ps(v, _mm256_maskload_ps(b + 7 * r + k, m), a7);
      }
      __m256 d = sum8x8(a0, a1, a2, a3, a4, a5, a6, a7);
      _mm256_storeu_ps(on + o, _mm256_fmadd_ps(s, d, _mm256_loadu_ps(on + o)));
    }
    for (; o < O; o++) {
      float d = 0;
      for (int k = 0; k < r; k++) d += hn[k] * B[(size_t)o * r + k];
      on[o] += scale * d;
    }
  }
}

/* This thread's share [*n0, *n1) of N rows, in blocks of BCAST_ROWS. */
static void my_rows(int N, int *n0, int *n1) {
  int blocks = chunks_of(N, BCAST_ROWS), t = omp_get_thread_num(), nt = omp_get_num_threads();
  int b0 = (int)((long)blocks * t / nt), b1 = (int)((long)blocks * (t + 1) / nt);
  *n0 = b0 * BCAST_ROWS < N ? b0 * BCAST_ROWS : N;
  *n1 = b1 * BCAST_ROWS < N ? b1 * BCAST_ROWS : N;
}

/* out[n0:n1, :] += scale * h[n0:n1, :] @ B^T: for an op of more than a few rows with
 * B's rows transposed chunk by chunk into bt [r, LORA_COLS] first so that the
 * product runs along O (the bcast form); for a few, out_dots_avx2. */
static void forward_out_rows(float *out, const float *h, const float *B, bool avx2, int N, int O,
                             int r, float scale, int n0, int n1) {
  if (N <= SEAL_CPU_FEW_ROWS && avx2) { /* by the op's rows: the same sums at any thread count */
    out_dots_avx2(out, h, B, O, r, scale, n0, n1);
    return;
  }
  float bt[SEAL_CPU_LORA_MAX_RANK * LORA_COLS];
  for (int o0 = 0; o0 < O; o0 += LORA_COLS) {
    int cw = O - o0 < LORA_COLS ? O - o0 : LORA_COLS;
    for (int o = o0; o < o0 + cw; o++)
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
    bcast(&p, avx2, n0, n1, 0, cw);
  }
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
  /* Each thread its own rows, h's and then out's: no barrier. */
#pragma omp parallel if (lora_parallel(N, I, O, r))
  {
    int n0, n1;
    my_rows(N, &n0, &n1);
    dots(h, x, A, avx2, n0, n1, r, I);
    forward_out_rows(out, h, B, avx2, N, O, r, scale, n0, n1);
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
  /* Each thread its own rows of dh and then of dx, and its share of dB's;
   * after the barrier, of dA's columns, which sum over every row of dh. */
#pragma omp parallel if (lora_parallel(N, I, O, r))
  {
    int n0, n1;
    my_rows(N, &n0, &n1);
    bcast(&dh_p, avx2, n0, n1, 0, r);
    if (dx) bcast(&dx_p, avx2, n0, n1, 0, I);
#pragma omp for schedule(static)
    for (int c = 0; c < o_chunks; c++) {
      int o0 = c * LORA_COLS, o1 = o0 + LORA_COLS < O ? o0 + LORA_COLS : O;
      bcast(&dB_p, avx2, o0, o1, 0, r);
    }
#pragma omp for schedule(static)
    for (int c = 0; c < i_chunks; c++) {
      int i0 = c * LORA_COLS, i1 = i0 + LORA_COLS < I ? i0 + LORA_COLS : I;
      bcast(&dA_p, avx2, 0, r, i0, i1);
    }
  }
}
