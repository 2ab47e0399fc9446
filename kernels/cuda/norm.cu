/* kernels/cuda/norm.cu — RMSNorm forward, fused residual add + RMSNorm, and
 * RMSNorm backward. One block per row; the sums run in float over the row and
 * are reduced across the block. */
#include "kernels/cuda/common.cuh"

#define THREADS 256

/* out[n, :] = x * rstd * w, with x read from `inp`. Each thread touches the
 * same columns in both passes, so inp may be a row this thread just wrote. */
__device__ void normalize_row(bf16 *out, float *rstd_out, const bf16 *x, const bf16 *w, int C,
                              float eps, float sumsq) {
  float total = seal_block_sum(sumsq);
  float rstd = rsqrtf(total / (float)C + eps);
  if (rstd_out && threadIdx.x == 0) *rstd_out = rstd;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    out[c] = __float2bfloat16(__bfloat162float(x[c]) * rstd * __bfloat162float(w[c]));
}

__global__ void rmsnorm_kernel(bf16 *out, float *rstd, const bf16 *inp, const bf16 *weight, int C,
                               float eps) {
  size_t n = blockIdx.x;
  const bf16 *x = inp + n * C;
  float s = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float v = __bfloat162float(x[c]);
    s += v * v;
  }
  normalize_row(out + n * C, rstd ? rstd + n : NULL, x, weight, C, eps, s);
}

void seal_cuda_rmsnorm(seal_backend *be, void *out, float *rstd, const void *inp,
                       const void *weight, int N, int C, float eps) {
  if (N <= 0) return;
  rmsnorm_kernel<<<N, THREADS, 0, seal_cuda_stream_of(be)>>>((bf16 *)out, rstd, (const bf16 *)inp,
                                                             (const bf16 *)weight, C, eps);
  CUDA_CHECK_LAUNCH("rmsnorm_kernel");
}

/* residual = a + b, rounded to bf16 and stored; the norm is taken of the stored
 * (rounded) values, which are what backward will see as its input. */
__global__ void residual_rmsnorm_kernel(bf16 *residual, bf16 *out, float *rstd, const bf16 *a,
                                        const bf16 *b, const bf16 *weight, int C, float eps) {
  size_t n = blockIdx.x;
  bf16 *r = residual + n * C;
  const bf16 *ar = a + n * C, *br = b + n * C;
  float s = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    bf16 v = __float2bfloat16(__bfloat162float(ar[c]) + __bfloat162float(br[c]));
    r[c] = v;
    float f = __bfloat162float(v);
    s += f * f;
  }
  normalize_row(out + n * C, rstd ? rstd + n : NULL, r, weight, C, eps, s);
}

void seal_cuda_residual_rmsnorm(seal_backend *be, void *residual, void *out, float *rstd,
                                const void *a, const void *b, const void *weight, int N, int C,
                                float eps) {
  if (N <= 0) return;
  residual_rmsnorm_kernel<<<N, THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)residual, (bf16 *)out, rstd, (const bf16 *)a, (const bf16 *)b, (const bf16 *)weight,
      C, eps);
  CUDA_CHECK_LAUNCH("residual_rmsnorm_kernel");
}

/* y = x rstd w with rstd = (mean x^2 + eps)^-1/2 gives, for g = dy * w,
 *   dx = rstd g - x rstd^3 / C * sum(g x),   added into dinp. */
__global__ void rmsnorm_backward_kernel(bf16 *dinp, const bf16 *dout, const bf16 *inp,
                                        const bf16 *weight, const float *rstd, int C) {
  size_t n = blockIdx.x;
  const bf16 *x = inp + n * C, *dy = dout + n * C;
  bf16 *dx = dinp + n * C;
  float dot = 0;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    dot += __bfloat162float(dy[c]) * __bfloat162float(weight[c]) * __bfloat162float(x[c]);
  dot = seal_block_sum(dot);
  float r = rstd[n];
  float k = r * r * r * dot / (float)C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float g = __bfloat162float(dy[c]) * __bfloat162float(weight[c]);
    float d = r * g - __bfloat162float(x[c]) * k;
    dx[c] = __float2bfloat16(__bfloat162float(dx[c]) + d);
  }
}

void seal_cuda_rmsnorm_backward(seal_backend *be, void *dinp, const void *dout, const void *inp,
                                const void *weight, const float *rstd, int N, int C) {
  if (N <= 0) return;
  rmsnorm_backward_kernel<<<N, THREADS, 0, seal_cuda_stream_of(be)>>>(
      (bf16 *)dinp, (const bf16 *)dout, (const bf16 *)inp, (const bf16 *)weight, rstd, C);
  CUDA_CHECK_LAUNCH("rmsnorm_backward_kernel");
}
