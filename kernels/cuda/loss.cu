/* kernels/cuda/loss.cu — fused softmax + cross-entropy with per-row weights.
 *
 * One block per row. Pass 1: each thread keeps an online (max, sum of exp)
 * over its strided slice of the vocabulary; the block combines them into the
 * row's max M and sum S. Pass 2 (only when the gradient is wanted) writes
 *   dlogits_i = exp(x_i - M) / S * w * scale  - (i == target) * w * scale
 * in place of the logits if they alias: each element is read and then written
 * by the same thread, and the target's logit was read by every thread before
 * the block barriers inside the reductions. No probability buffer. */
#include <math.h>

#include "kernels/cuda/common.cuh"

#define THREADS 512

__global__ void __launch_bounds__(THREADS)
    cross_entropy_kernel(float *losses, bf16 *dlogits, const bf16 *logits, const int32_t *targets,
                         const float *weights, int V, float scale, seal_cuda_fault *fault) {
  size_t n = blockIdx.x;
  const bf16 *x = logits + n * V;
  bf16 *dx = dlogits ? dlogits + n * V : NULL;
  float w = weights[n];
  if (w == 0.0f) { /* ignored row: its target may be anything */
    if (threadIdx.x == 0) losses[n] = 0.0f;
    if (dx)
      for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = __float2bfloat16(0.0f);
    return;
  }
  int t = targets[n];
  if (t < 0 || t >= V) { /* refused as on the CPU: a fault, and a NaN loss meanwhile */
    if (threadIdx.x == 0) {
      seal_fault(fault, SEAL_FAULT_TARGET, t, (int)n, V, 0);
      losses[n] = NAN;
    }
    if (dx)
      for (int i = threadIdx.x; i < V; i += blockDim.x) dx[i] = __float2bfloat16(NAN);
    return;
  }
  float target_logit = __bfloat162float(x[t]);
  float m = -INFINITY, s = 0.0f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float v = __bfloat162float(x[i]);
    if (v > m) {
      s = s * expf(m - v) + 1.0f; /* expf(-inf) = 0 on the first element */
      m = v;
    } else if (m != -INFINITY) {
      s += expf(v - m);
    }
  }
  float M = seal_block_max(m);
  float S = seal_block_sum(m == -INFINITY ? 0.0f : s * expf(m - M));
  if (threadIdx.x == 0) losses[n] = (float)((double)M + log((double)S) - (double)target_logit);
  if (!dx) return;
  float g = w * scale / S, ws = w * scale;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    float d = expf(__bfloat162float(x[i]) - M) * g;
    if (i == t) d -= ws;
    dx[i] = __float2bfloat16(d);
  }
}

void seal_cuda_cross_entropy(seal_backend *be, float *losses, void *dlogits, const void *logits,
                             const int32_t *targets, const float *weights, int N, int V,
                             float scale) {
  if (N <= 0) return;
  SEAL_CHECK(V > 0, "cross_entropy: empty vocabulary");
  cross_entropy_kernel<<<N, THREADS, 0, seal_cuda_stream_of(be)>>>(
      losses, (bf16 *)dlogits, (const bf16 *)logits, targets, weights, V, scale,
      seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("cross_entropy_kernel");
}
