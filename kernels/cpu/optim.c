/* kernels/cpu/optim.c — the optimizer's two ops: the squared gradient norm (for
 * clipping) and one AdamW step. */
#include <math.h>

#include "kernels/cpu/cpu.h"

double seal_cpu_sum_squares(seal_backend *be, const float *x, size_t n) {
  (void)be;
  double sum = 0; /* x f32 [n], accumulated in double: n runs to millions */
#pragma omp parallel for simd reduction(+ : sum) schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  return sum;
}

/* PyTorch's AdamW (torch.optim.AdamW, single-tensor form) step by step:
 *   p *= 1 - lr * wd                       (decoupled weight decay)
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  g = grad * grad_scale
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * which is p -= lr * mhat / (sqrt(vhat) + eps). The bias corrections are
 * Python floats (double) in PyTorch; so here. */
void seal_cpu_adamw(seal_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                    float grad_scale) {
  (void)be;
  SEAL_CHECK(step >= 1, "adamw: step %d is not 1-based", step);
  double bc1 = 1.0 - pow((double)beta1, step);
  double bc2 = 1.0 - pow((double)beta2, step);
  float step_size = (float)(lr / bc1);
  float bc2_sqrt = (float)sqrt(bc2);
  float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for simd schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    float g = grad[i] * grad_scale;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2_sqrt + eps;
    param[i] = param[i] * decay - step_size * mi / denom;
  }
}
