/* kernels/cpu/optim.c — the optimizer's two ops: the squared gradient norm (for
 * clipping) and one AdamW step. */
#include <math.h>
#include <stdlib.h>

#include "kernels/adamw_step.h"
#include "kernels/cpu/cpu.h"

/* Sums of squares in fixed blocks of this many elements, added in block order:
 * which thread sums which block does not change a bit of the result, so the
 * clipping coefficient of a work item is the same on every rank, whatever its
 * thread count (an OpenMP reduction adds the threads' partial sums, which
 * depend on how many threads there are). */
#define SUM_BLOCK 8192

static double block_sum_squares(const float *x, size_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  return sum;
}

double seal_cpu_sum_squares(seal_backend *be, const float *x, size_t n) {
  (void)be;
  /* x f32 [n], accumulated in double: n runs to millions */
  size_t blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
  if (blocks <= 1) return block_sum_squares(x, n);
  double *part = seal_malloc(blocks * sizeof(double)); /* [blocks] */
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t b = 0; b < blocks; b++) {
    size_t lo = b * SUM_BLOCK, len = n - lo < SUM_BLOCK ? n - lo : SUM_BLOCK;
    part[b] = block_sum_squares(x + lo, len);
  }
  double sum = 0;
  for (size_t b = 0; b < blocks; b++) sum += part[b];
  free(part);
  return sum;
}

/* torch.optim.AdamW, element by element (kernels/adamw_step.h). */
void seal_cpu_adamw(seal_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                    float grad_scale) {
  SEAL_CHECK(step >= 1, "adamw: step %d is not 1-based", step);
  seal_cpu_shadows_forget(be, param, n * sizeof(float)); /* base matrices are frozen, but */
  const seal_adamw_coeffs k =
      seal_adamw_coeffs_at(lr, beta1, beta2, eps, weight_decay, step, grad_scale);
#pragma omp parallel for simd schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) seal_adamw_element(k, &param[i], grad[i], &m[i], &v[i]);
}
