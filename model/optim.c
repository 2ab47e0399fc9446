/* model/optim.c — AdamW, clipping and schedules. */
#include <math.h>
#include <string.h>

#include "model/optim.h"

seal_adamw_config seal_adamw_defaults(float lr, float weight_decay, float grad_clip,
                                      seal_schedule schedule, int warmup, int total) {
  seal_adamw_config c = {.lr = lr,
                         .beta1 = 0.9f,
                         .beta2 = 0.999f,
                         .eps = 1e-8f,
                         .weight_decay = weight_decay,
                         .grad_clip = grad_clip,
                         .schedule = schedule,
                         .warmup_steps = warmup,
                         .total_steps = total};
  return c;
}

void seal_adamw_create(seal_adamw *o, seal_backend *be, size_t n, const seal_adamw_config *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->be = be;
  o->n = n;
  o->m = be->ops->alloc(be, (n ? n : 1) * sizeof(float));
  o->v = be->ops->alloc(be, (n ? n : 1) * sizeof(float));
  be->ops->fill(be, o->m, SEAL_F32, 0.0f, n);
  be->ops->fill(be, o->v, SEAL_F32, 0.0f, n);
}

void seal_adamw_free(seal_adamw *o) {
  if (!o->be) return;
  o->be->ops->free(o->be, o->m);
  o->be->ops->free(o->be, o->v);
  memset(o, 0, sizeof *o);
}

float seal_schedule_lr(const seal_adamw_config *c, int step) {
  double factor = 1.0;
  if (c->schedule != SEAL_SCHEDULE_CONSTANT || c->warmup_steps > 0) {
    if (step < c->warmup_steps) {
      factor = (double)step / (double)(c->warmup_steps > 1 ? c->warmup_steps : 1);
    } else if (c->schedule != SEAL_SCHEDULE_CONSTANT) {
      double span = (double)(c->total_steps - c->warmup_steps);
      double progress = span > 0 ? (double)(step - c->warmup_steps) / span : 1.0;
      if (c->schedule == SEAL_SCHEDULE_LINEAR)
        factor = fmax(0.0, 1.0 - progress);
      else
        factor = fmax(0.0, 0.5 * (1.0 + cos(M_PI * progress)));
    }
  }
  return (float)(c->lr * factor);
}

double seal_adamw_step(seal_adamw *o, float *params, const float *grads) {
  double norm = sqrt(o->be->ops->sum_squares(o->be, grads, o->n));
  float scale = 1.0f;
  /* as torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), capped at 1 */
  if (o->cfg.grad_clip > 0) {
    double coef = o->cfg.grad_clip / (norm + 1e-6);
    if (coef < 1.0) scale = (float)coef;
  }
  float lr = seal_schedule_lr(&o->cfg, o->step);
  o->step++;
  o->be->ops->adamw(o->be, params, grads, o->m, o->v, o->n, lr, o->cfg.beta1, o->cfg.beta2,
                    o->cfg.eps, o->cfg.weight_decay, o->step, scale);
  return norm;
}
