/* kernels/cpu/matmul.c — every GEMM of the CPU backend, through OpenBLAS
 * cblas_sgemm: the base linear layers (forward, input gradient) and LoRA
 * (forward, backward, merge), except the forward products of at most 8 rows
 * (decoding), which have a kernel of their own here; with bf16 base matrices
 * the base ones go to matmul_bf16.c. The choice was measured against BLIS and
 * oneDNN at these shapes (bench/gemm_libs.c, docs/perf.md). All matrices are
 * row-major; a weight W[O, I] is PyTorch's layout, so y = x W^T is a
 * "no-trans, trans" product. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* After the project headers: OpenBLAS's cblas.h pulls in <complex.h>, whose
 * macro I would clash with the dimension names used throughout. */
#include <cblas.h>
#undef I

/* A product with K == 0 is a plain scaling of C, done here: OpenBLAS rejects
 * the zero leading dimension such a call would pass. */
void seal_cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* The baseline few-rows product of weight rows [o0, o0 + nw): one dot product
 * at a time, for processors without AVX2 and FMA and for the edges of the AVX2
 * kernel's blocks. */
static void few_rows_plain(float *out, const float *inp, const float *weight, int N, int I, int O,
                           int o0, int nw) {
  for (int o = o0; o < o0 + nw; o++) {
    const float *w = weight + (size_t)o * I;
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * I;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int i = 0; i < I; i++) s += w[i] * x[i];
      out[(size_t)n * O + o] = s;
    }
  }
}

__attribute__((target("avx2,fma"))) static float sum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* out[n, o0 + j] = x[n, :] . w[o0 + j, :] for 4 weight rows (j < 4) and the
 * input rows n0 and n0 + 1 (only n0 when `two` is false): 8 independent FMA
 * chains on 6 loads per step, where a loop with one accumulator per dot
 * product waits on its FMA latency. Each output is one sum in a fixed order,
 * whatever the thread count. */
__attribute__((target("avx2,fma"))) static void few_rows_4x2(float *out, const float *inp,
                                                             const float *weight, int n0, bool two,
                                                             int I, int O, int o0) {
  const float *x0 = inp + (size_t)n0 * I, *x1 = two ? x0 + I : x0;
  const float *w0 = weight + (size_t)o0 * I, *w1 = w0 + I, *w2 = w1 + I, *w3 = w2 + I;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
  __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  int i = 0;
  for (; i + 8 <= I; i += 8) {
    __m256 u = _mm256_loadu_ps(x0 + i), v = _mm256_loadu_ps(x1 + i), w;
    w = _mm256_loadu_ps(w0 + i), a00 = _mm256_fmadd_ps(u, w, a00), a10 = _mm256_fmadd_ps(v, w, a10);
    w = _mm256_loadu_ps(w1 + i), a01 = _mm256_fmadd_ps(u, w, a01), a11 = _mm256_fmadd_ps(v, w, a11);
    w = _mm256_loadu_ps(w2 + i), a02 = _mm256_fmadd_ps(u, w, a02), a12 = _mm256_fmadd_ps(v, w, a12);
    w = _mm256_loadu_ps(w3 + i), a03 = _mm256_fmadd_ps(u, w, a03), a13 = _mm256_fmadd_ps(v, w, a13);
  }
  float s[2][4] = {{sum8(a00), sum8(a01), sum8(a02), sum8(a03)},
                   {sum8(a10), sum8(a11), sum8(a12), sum8(a13)}};
  const float *w[4] = {w0, w1, w2, w3}, *x[2] = {x0, x1};
  for (int n = 0; n < (two ? 2 : 1); n++)
    for (int j = 0; j < 4; j++) {
      for (int k = i; k < I; k++) s[n][j] += x[n][k] * w[j][k];
      out[(size_t)(n0 + n) * O + o0 + j] = s[n][j];
    }
}

/* Weight rows [o0, o0 + nw) of the few-rows product with the AVX2 kernel:
 * every input row, two at a time, against each block of 4 weight rows while
 * the block is in L1, so the weights are streamed from memory once. */
__attribute__((target("avx2,fma"))) static void few_rows_avx2(float *out, const float *inp,
                                                              const float *weight, int N, int I,
                                                              int O, int o0, int nw) {
  int o = o0;
  for (; o + 4 <= o0 + nw; o += 4)
    for (int n = 0; n < N; n += 2) few_rows_4x2(out, inp, weight, n, n + 1 < N, I, O, o);
  if (o < o0 + nw) few_rows_plain(out, inp, weight, N, I, O, o, o0 + nw - o);
}

/* Weight rows per work item of few_rows_matmul's parallel loop. */
#define FEW_ROWS_CHUNK 32

/* out[N, O] = inp[N, I] weight[O, I]^T (+ bias) for N <= SEAL_CPU_FEW_ROWS: decoding
 * steps and short batches, where OpenBLAS 0.3.21's sgemm reaches only half the
 * memory bandwidth (docs/perf.md) and a quarter of BLIS's speed
 * (bench/gemm_libs.c). The AVX2+FMA kernel when the processor has it. */
static void few_rows_matmul(float *out, const float *inp, const float *weight, const float *bias,
                            int N, int I, int O) {
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  int chunks = (O + FEW_ROWS_CHUNK - 1) / FEW_ROWS_CHUNK;
#pragma omp parallel for schedule(static) if ((size_t)O * I >= SEAL_CPU_PARALLEL_MIN)
  for (int c = 0; c < chunks; c++) {
    int o0 = c * FEW_ROWS_CHUNK, nw = O - o0 < FEW_ROWS_CHUNK ? O - o0 : FEW_ROWS_CHUNK;
    if (avx2)
      few_rows_avx2(out, inp, weight, N, I, O, o0, nw);
    else
      few_rows_plain(out, inp, weight, N, I, O, o0, nw);
    if (bias)
      for (int n = 0; n < N; n++)
        for (int o = o0; o < o0 + nw; o++) out[(size_t)n * O + o] += bias[o];
  }
}

void seal_cpu_matmul(seal_backend *be, void *out_, const void *inp_, const void *weight_,
                     const void *bias_, int N, int I, int O) {
  float *out = out_;             /* [N, O] */
  const float *inp = inp_;       /* [N, I] */
  const float *weight = weight_; /* [O, I] */
  const float *bias = bias_;     /* [O] or NULL */
  if (be->weight == SEAL_BF16) {
    seal_cpu_matmul_bf16(out, inp, weight_, bias, N, I, O);
    return;
  }
  if (N <= SEAL_CPU_FEW_ROWS) {
    few_rows_matmul(out, inp, weight, bias, N, I, O);
    return;
  }
  if (bias) {
    /* Seed every row with the bias and let the GEMM add onto it (beta = 1). */
#pragma omp parallel for schedule(static) if ((size_t)N * O >= SEAL_CPU_PARALLEL_MIN)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * O, bias, (size_t)O * sizeof(float));
  }
  seal_cpu_sgemm(0, 1, N, O, I, 1.0f, inp, I, weight, I, bias ? 1.0f : 0.0f, out, O);
}

void seal_cpu_matmul_backward_input(seal_backend *be, void *dinp, const void *dout,
                                    const void *weight, int N, int I, int O, int accumulate) {
  if (be->weight == SEAL_BF16) {
    seal_cpu_matmul_backward_input_bf16(dinp, dout, weight, N, I, O, accumulate);
    return;
  }
  /* dinp[N, I] (+)= dout[N, O] @ weight[O, I] */
  seal_cpu_sgemm(0, 0, N, I, O, 1.0f, dout, O, weight, I, accumulate ? 1.0f : 0.0f, dinp, I);
}

void seal_cpu_lora_forward(seal_backend *be, void *out, float *h, const void *x, const float *A,
                           const float *B, int N, int I, int O, int r, float scale) {
  (void)be;
  /* h[N, r] = x[N, I] @ A[r, I]^T */
  seal_cpu_sgemm(0, 1, N, r, I, 1.0f, x, I, A, I, 0.0f, h, r);
  /* out[N, O] += scale * h[N, r] @ B[O, r]^T */
  seal_cpu_sgemm(0, 1, N, O, r, scale, h, r, B, r, 1.0f, out, O);
}

void seal_cpu_lora_backward(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                            const void *dout, const void *x, const float *A, const float *B,
                            const float *h, int N, int I, int O, int r, float scale) {
  (void)be;
  /* dB[O, r] += scale * dout[N, O]^T @ h[N, r] */
  seal_cpu_sgemm(1, 0, O, r, N, scale, dout, O, h, r, 1.0f, dB, r);
  /* dh[N, r] = scale * dout[N, O] @ B[O, r] */
  seal_cpu_sgemm(0, 0, N, r, O, scale, dout, O, B, r, 0.0f, dh, r);
  /* dA[r, I] += dh[N, r]^T @ x[N, I] */
  seal_cpu_sgemm(1, 0, r, I, N, 1.0f, dh, r, x, I, 1.0f, dA, I);
  /* dx[N, I] += dh[N, r] @ A[r, I] */
  if (dx) seal_cpu_sgemm(0, 0, N, I, r, 1.0f, dh, r, A, I, 1.0f, dx, I);
}

void seal_cpu_lora_merge(seal_backend *be, void *W, const float *A, const float *B, int O, int I,
                         int r, float scale) {
  if (be->weight == SEAL_BF16) {
    seal_cpu_lora_merge_bf16(W, A, B, O, I, r, scale);
    return;
  }
  /* W[O, I] += scale * B[O, r] @ A[r, I] */
  seal_cpu_sgemm(0, 0, O, I, r, scale, B, r, A, I, 1.0f, W, I);
}
