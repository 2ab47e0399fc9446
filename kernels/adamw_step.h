/* kernels/adamw_step.h — one AdamW element update, written once for both
 * backends (kernels/cpu/optim.c runs it in an OpenMP loop, kernels/cuda/
 * optim.cu in a grid-stride kernel), so the two cannot drift apart. It follows
 * torch.optim.AdamW (single-tensor form):
 *   p *= 1 - lr * wd                       (decoupled weight decay)
 *   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  g = grad * grad_scale
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * which is p -= lr * mhat / (sqrt(vhat) + eps). The bias corrections are
 * Python floats (double) in PyTorch; so here, once per step on the host. */
#ifndef SEAL_KERNELS_ADAMW_STEP_H
#define SEAL_KERNELS_ADAMW_STEP_H

#include <math.h>

#ifdef __CUDACC__
#define SEAL_HOST_DEVICE __host__ __device__
#else
#define SEAL_HOST_DEVICE
#endif

/* What every element of one step shares. */
typedef struct {
  float beta1, beta2, eps;
  float step_size;  /* lr / (1 - b1^t) */
  float bc2_sqrt;   /* sqrt(1 - b2^t) */
  float decay;      /* 1 - lr * wd */
  float grad_scale; /* e.g. 1 / the gradient-norm clip's factor */
} seal_adamw_coeffs;

/* The coefficients of step t (1-based). */
static inline seal_adamw_coeffs seal_adamw_coeffs_at(float lr, float beta1, float beta2, float eps,
                                                     float weight_decay, int step,
                                                     float grad_scale) {
  double bc1 = 1.0 - pow((double)beta1, step);
  double bc2 = 1.0 - pow((double)beta2, step);
  return (seal_adamw_coeffs){.beta1 = beta1,
                             .beta2 = beta2,
                             .eps = eps,
                             .step_size = (float)(lr / bc1),
                             .bc2_sqrt = (float)sqrt(bc2),
                             .decay = 1.0f - lr * weight_decay,
                             .grad_scale = grad_scale};
}

/* Element i: param, m and v updated in place from grad. */
static inline SEAL_HOST_DEVICE void seal_adamw_element(const seal_adamw_coeffs k, float *param,
                                                       float grad, float *m, float *v) {
  float g = grad * k.grad_scale;
  float mi = k.beta1 * *m + (1.0f - k.beta1) * g;
  float vi = k.beta2 * *v + (1.0f - k.beta2) * g * g;
  *m = mi;
  *v = vi;
  float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
  *param = *param * k.decay - k.step_size * mi / denom;
}

#endif
