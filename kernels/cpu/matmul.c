/* kernels/cpu/matmul.c — the base linear layers of the CPU backend (forward,
 * input gradient) and LoRA's merge (LoRA's forward and backward are in
 * lora.c), through seal_cpu_sgemm (sgemm.c: oneDNN or OpenBLAS, chosen by
 * measurement at these shapes, bench/gemm_libs.c and docs/perf.md), except the
 * forward products of at most 8 rows (decoding), which have a kernel of their
 * own here; with compact base matrices (bf16, q8, q4) the base ones go to
 * matmul_bf16.c, matmul_q8.c and matmul_q4.c. All matrices are
 * row-major; a weight W[O, I] is PyTorch's layout, so y = x W^T is a
 * "no-trans, trans" product. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

/* out[N, O] = inp[N, I] weight[O, I]^T (+ bias) for N <= SEAL_CPU_FEW_ROWS:
 * decoding steps and short batches, where OpenBLAS 0.3.21's sgemm reaches only
 * half the memory bandwidth (docs/perf.md) and a quarter of BLIS's speed
 * (bench/gemm_libs.c): few_rows_f32, from few_rows.inc. */
#define FEW_ROWS_W float
#define FEW_ROWS_WIDEN(w) (w)
#define FEW_ROWS_LOAD8(p) _mm256_loadu_ps(p)
#define FEW_ROWS_NAME(x) x##_f32
#include "kernels/cpu/few_rows.inc"

void seal_cpu_few_rows_f32_group(float *out, const float *inp, const float *w, int N, int I, int O,
                                 int nw) {
  __builtin_cpu_init(); /* the test few_rows_f32 makes, so the same kernel runs */
  if (nw == 4 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    for (int n = 0; n < N; n += 2) cached_4x2_f32(out, inp, w, n, n + 1 < N, I, O, 0);
  else
    plain_f32(out, inp, w, N, I, O, 0, nw);
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
  if (be->weight == SEAL_Q8) {
    seal_cpu_matmul_q8(out, inp, weight_, bias, N, I, O);
    return;
  }
  if (be->weight == SEAL_Q4) {
    seal_cpu_matmul_q4(out, inp, weight_, bias, N, I, O);
    return;
  }
  if (N <= SEAL_CPU_FEW_ROWS) {
    if (!seal_cpu_shadow_matmul(be, out, inp, weight, bias, N, I, O))
      few_rows_f32(out, inp, weight, bias, N, I, O);
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
  if (be->weight == SEAL_Q8) {
    seal_cpu_matmul_backward_input_q8(dinp, dout, weight, N, I, O, accumulate);
    return;
  }
  if (be->weight == SEAL_Q4) {
    seal_cpu_matmul_backward_input_q4(dinp, dout, weight, N, I, O, accumulate);
    return;
  }
  /* dinp[N, I] (+)= dout[N, O] @ weight[O, I] */
  seal_cpu_sgemm(0, 0, N, I, O, 1.0f, dout, O, weight, I, accumulate ? 1.0f : 0.0f, dinp, I);
}

void seal_cpu_lora_merge(seal_backend *be, void *W, const float *A, const float *B, int O, int I,
                         int r, float scale) {
  if (be->weight == SEAL_BF16) {
    seal_cpu_lora_merge_bf16(W, A, B, O, I, r, scale);
    return;
  }
  if (be->weight == SEAL_Q8) {
    seal_cpu_lora_merge_q8(W, A, B, O, I, r, scale);
    return;
  }
  if (be->weight == SEAL_Q4) {
    seal_cpu_lora_merge_q4(W, A, B, O, I, r, scale);
    return;
  }
  /* W[O, I] += scale * B[O, r] @ A[r, I] */
  seal_cpu_shadows_forget(be, W, (size_t)O * I * sizeof(float));
  seal_cpu_sgemm(0, 0, O, I, r, scale, B, r, A, I, 1.0f, W, I);
}
