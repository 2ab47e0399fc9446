/* model/optim.h — AdamW for LoRA parameters, with PyTorch's semantics,
 * grad-norm clipping (torch.nn.utils.clip_grad_norm_) and the learning-rate
 * schedules of transformers (linear and cosine, with warmup). */
#ifndef SEAL_MODEL_OPTIM_H
#define SEAL_MODEL_OPTIM_H

#include "kernels/ops.h"

typedef enum { SEAL_SCHEDULE_CONSTANT, SEAL_SCHEDULE_LINEAR, SEAL_SCHEDULE_COSINE } seal_schedule;

typedef struct {
  float lr, beta1, beta2, eps, weight_decay;
  float grad_clip; /* max global L2 norm; <= 0 disables clipping */
  seal_schedule schedule;
  int warmup_steps;
  int total_steps; /* for linear and cosine decay */
} seal_adamw_config;

/* PyTorch's defaults: betas (0.9, 0.999), eps 1e-8; the rest as given. */
seal_adamw_config seal_adamw_defaults(float lr, float weight_decay, float grad_clip,
                                      seal_schedule schedule, int warmup, int total);

typedef struct {
  seal_adamw_config cfg;
  seal_backend *be;
  size_t n;
  float *m, *v; /* f32 [n] on the backend */
  int step;     /* steps taken */
} seal_adamw;

void seal_adamw_create(seal_adamw *o, seal_backend *be, size_t n, const seal_adamw_config *cfg);
void seal_adamw_free(seal_adamw *o);

/* The learning rate for 0-based step `step` (what transformers'
 * LambdaLR gives the optimizer step that follows `step` scheduler steps). */
float seal_schedule_lr(const seal_adamw_config *cfg, int step);

/* Clips and applies one step to params f32 [n] from grads f32 [n]. Returns the
 * gradient's global norm before clipping. */
double seal_adamw_step(seal_adamw *o, float *params, const float *grads);

#endif
