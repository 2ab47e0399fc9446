/* kernels/cuda/lora.cu — LoRA forward, backward and merge: float parameters
 * and gradients against bf16 activations. Every product is a row-major call of
 * the tiled GEMM (gemm.cu), which reads each operand in its own dtype and
 * accumulates in float, so no conversion buffers are needed. The shapes are
 * thin (r is 8..64): these are latency-, not FLOP-bound. */
#include "kernels/cuda/common.cuh"

/* Row-major operand helpers: element (i, j) of the named logical matrix. */
static seal_cuda_operand rows(const void *p, seal_dtype t, long ld) { return {p, t, ld, 1}; }
static seal_cuda_operand transposed(const void *p, seal_dtype t, long ld) { return {p, t, 1, ld}; }

/* h[N,r] f32 = x[N,I] A[r,I]^T;  out[N,O] act += scale h B[O,r]^T */
void seal_cuda_lora_forward(seal_backend *be, void *out, float *h, const void *x, const float *A,
                            const float *B, int N, int I, int O, int r, float scale) {
  if (N <= 0 || r <= 0) return;
  seal_cuda_gemm_tiled(be, h, SEAL_F32, r, rows(x, SEAL_BF16, I), transposed(A, SEAL_F32, I), N, r,
                       I, 1.0f, 0.0f);
  seal_cuda_gemm_tiled(be, out, SEAL_BF16, O, rows(h, SEAL_F32, r), transposed(B, SEAL_F32, r), N,
                       O, r, scale, 1.0f);
}

/*   dB[O,r] += scale dout^T h        dh[N,r] = scale dout B
 *   dA[r,I] += dh^T x                dx[N,I] += dh A  (when dx is not NULL) */
void seal_cuda_lora_backward(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                             const void *dout, const void *x, const float *A, const float *B,
                             const float *h, int N, int I, int O, int r, float scale) {
  if (N <= 0 || r <= 0) return;
  seal_cuda_gemm_tiled(be, dB, SEAL_F32, r, transposed(dout, SEAL_BF16, O), rows(h, SEAL_F32, r), O,
                       r, N, scale, 1.0f);
  seal_cuda_gemm_tiled(be, dh, SEAL_F32, r, rows(dout, SEAL_BF16, O), rows(B, SEAL_F32, r), N, r, O,
                       scale, 0.0f);
  seal_cuda_gemm_tiled(be, dA, SEAL_F32, I, transposed(dh, SEAL_F32, r), rows(x, SEAL_BF16, I), r,
                       I, N, 1.0f, 1.0f);
  if (dx)
    seal_cuda_gemm_tiled(be, dx, SEAL_BF16, I, rows(dh, SEAL_F32, r), rows(A, SEAL_F32, I), N, I, r,
                         1.0f, 1.0f);
}

/* W[O,I] act += scale B[O,r] A[r,I] */
void seal_cuda_lora_merge(seal_backend *be, void *W, const float *A, const float *B, int O, int I,
                          int r, float scale) {
  if (O <= 0 || I <= 0 || r <= 0) return;
  seal_cuda_gemm_tiled(be, W, SEAL_BF16, I, rows(B, SEAL_F32, r), rows(A, SEAL_F32, I), O, I, r,
                       scale, 1.0f);
}
