/* kernels/cpu/loss.c — fused softmax + cross-entropy with per-row weights.
 *
 * Per row: one pass for the maximum, one that writes exp(x - max) straight into
 * dlogits (when wanted) while summing it in double, and one that scales it into
 * the gradient. The target's logit is read before anything is written, so
 * dlogits may alias logits; no separate probability buffer exists. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

static float row_max(const float *x, int V) {
  float m = -INFINITY;
  for (int i = 0; i < V; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* sum_i exp(x_i - max), also stored into e[V] when e is not NULL (e may be x). */
static double row_sum_exp(float *e, const float *x, float max, int V) {
  double sum = 0;
  if (e) {
    for (int i = 0; i < V; i++) {
      float ex = expf(x[i] - max);
      e[i] = ex;
      sum += ex;
    }
  } else {
    for (int i = 0; i < V; i++) sum += expf(x[i] - max);
  }
  return sum;
}

void seal_cpu_cross_entropy(seal_backend *be, float *losses, void *dlogits_, const void *logits_,
                            const int32_t *targets, const float *weights, int N, int V,
                            float scale) {
  (void)be;
  float *dlogits = dlogits_;     /* [N, V] or NULL; may alias logits */
  const float *logits = logits_; /* [N, V] */
#pragma omp parallel for schedule(static) if ((size_t)N * V >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = logits + (size_t)n * V;
    float *dx = dlogits ? dlogits + (size_t)n * V : NULL;
    float w = weights[n];
    if (w == 0) {
      /* An ignored row (prompt token, padding): its target may be anything. */
      losses[n] = 0;
      if (dx) memset(dx, 0, (size_t)V * sizeof(float));
      continue;
    }
    int t = targets[n];
    SEAL_CHECK(t >= 0 && t < V, "cross_entropy: target %d at row %d is outside 0..%d", t, n, V - 1);
    float target_logit = x[t];
    float max = row_max(x, V);
    double sum = row_sum_exp(dx, x, max, V);
    double lse = (double)max + log(sum);
    losses[n] = (float)(lse - target_logit);
    if (dx) {
      float g = (float)(w * scale / sum); /* softmax_i * w * scale = e_i * g */
#pragma omp simd
      for (int i = 0; i < V; i++) dx[i] *= g;
      dx[t] -= w * scale;
    }
  }
}
