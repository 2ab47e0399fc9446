/* kernels/cuda/optim.cu — the optimizer's ops: the squared norm of a float
 * vector (for gradient clipping) and the fused AdamW step. */
#include <math.h>

#include "kernels/cuda/common.cuh"

#define THREADS 512
#define MAX_BLOCKS 1024

/* partial[blockIdx.x] = sum of x^2 over this block's grid-stride slice, in
 * double. A fixed grid for a given n, and a fixed reduction order: the result
 * is the same on every run. */
__global__ void __launch_bounds__(THREADS)
    sum_squares_partial_kernel(double *partial, const float *x, size_t n) {
  double s = 0.0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    double v = x[i];
    s += v * v;
  }
  s = seal_block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void __launch_bounds__(THREADS)
    sum_squares_final_kernel(double *result, const double *partial, int nblocks) {
  double s = 0.0;
  for (int i = threadIdx.x; i < nblocks; i += blockDim.x) s += partial[i];
  s = seal_block_sum(s);
  if (threadIdx.x == 0) *result = s;
}

double seal_cuda_sum_squares(seal_backend *be, const float *x, size_t n) {
  if (n == 0) return 0.0;
  cudaStream_t s = seal_cuda_stream_of(be);
  unsigned blocks = seal_cuda_blocks(n, THREADS);
  if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
  double *partial = (double *)seal_cuda_scratch(be, (blocks + 1) * sizeof(double));
  double *result = partial + blocks;
  double *host = (double *)seal_cuda_pinned(be, sizeof(double));
  sum_squares_partial_kernel<<<blocks, THREADS, 0, s>>>(partial, x, n);
  CUDA_CHECK_LAUNCH("sum_squares_partial_kernel");
  sum_squares_final_kernel<<<1, THREADS, 0, s>>>(result, partial, (int)blocks);
  CUDA_CHECK_LAUNCH("sum_squares_final_kernel");
  CUDA_CHECK(cudaMemcpyAsync(host, result, sizeof(double), cudaMemcpyDeviceToHost, s));
  seal_cuda_sync(be);
  return *host;
}

/* The same arithmetic, in the same order, as the CPU backend (kernels/cpu/
 * optim.c), which follows torch.optim.AdamW:
 *   p *= 1 - lr wd;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps),  g = grad * grad_scale */
__global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                             float beta1, float beta2, float eps, float step_size, float bc2_sqrt,
                             float decay, float grad_scale) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float g = grad[i] * grad_scale;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    param[i] = param[i] * decay - step_size * mi / denom;
  }
}

void seal_cuda_adamw(seal_backend *be, float *param, const float *grad, float *m, float *v,
                     size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                     int step, float grad_scale) {
  SEAL_CHECK(step >= 1, "adamw: step %d is not 1-based", step);
  if (n == 0) return;
  /* Bias corrections in double, as PyTorch's Python floats. */
  double bc1 = 1.0 - pow((double)beta1, step);
  double bc2 = 1.0 - pow((double)beta2, step);
  float step_size = (float)(lr / bc1);
  float bc2_sqrt = (float)sqrt(bc2);
  float decay = 1.0f - lr * weight_decay;
  adamw_kernel<<<seal_cuda_blocks(n, 256), 256, 0, seal_cuda_stream_of(be)>>>(
      param, grad, m, v, n, beta1, beta2, eps, step_size, bc2_sqrt, decay, grad_scale);
  CUDA_CHECK_LAUNCH("adamw_kernel");
}
