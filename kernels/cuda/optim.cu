/* kernels/cuda/optim.cu — the optimizer's ops: the squared norm of a float
 * vector (for gradient clipping) and the fused AdamW step. */
#include <math.h>

#include "kernels/adamw_step.h"
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

/* torch.optim.AdamW, element by element: the CPU backend's arithmetic in the
 * same order (kernels/adamw_step.h holds it for both). */
__global__ void adamw_kernel(float *param, const float *grad, float *m, float *v, size_t n,
                             seal_adamw_coeffs k) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    seal_adamw_element(k, &param[i], grad[i], &m[i], &v[i]);
}

void seal_cuda_adamw(seal_backend *be, float *param, const float *grad, float *m, float *v,
                     size_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                     int step, float grad_scale) {
  SEAL_CHECK(step >= 1, "adamw: step %d is not 1-based", step);
  if (n == 0) return;
  const seal_adamw_coeffs k =
      seal_adamw_coeffs_at(lr, beta1, beta2, eps, weight_decay, step, grad_scale);
  adamw_kernel<<<seal_cuda_blocks(n, 256), 256, 0, seal_cuda_stream_of(be)>>>(param, grad, m, v, n,
                                                                              k);
  CUDA_CHECK_LAUNCH("adamw_kernel");
}
