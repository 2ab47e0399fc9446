/* kernels/cpu/loss.c — fused softmax + cross-entropy with per-row weights.
 *
 * Per row: one pass for the maximum, one that writes exp(x - max) straight into
 * dlogits (when wanted) while summing it, and one that scales it into the
 * gradient. The target's logit is read before anything is written, so dlogits
 * may alias logits; no separate probability buffer exists.
 *
 * The exponentials are exp8's (vmath.h, within 2 ulp of expf), summed in eight
 * float lanes over chunks of SUM_CHUNK and each chunk's lanes added in double,
 * lane by lane: the float sums stay short (64 terms a lane), and the order is
 * fixed by the row alone, so the loss does not depend on the thread count or
 * on which ISA clone ran. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vmath.h"

/* Elements summed in float lanes before they are added in double. */
#define SUM_CHUNK 512

/* The largest element, NaN skipped (x > m is false for it; the NaN still
 * reaches the loss through exp, which keeps it). */
static float row_max(const float *x, int V) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int i = 0; i < V; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* exp(x[0..m) - max) for m <= 8, padded with 0 (exp of -inf); stored into e
 * when e is not NULL (e may be x). */
__attribute__((always_inline)) static inline void exp_minus8(f32x8 *v, float *e, const float *x,
                                                             float max, int m) {
  f32x8 t = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
             -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  memcpy(&t, x, (size_t)m * sizeof(float));
  t -= max; /* -inf - max stays -inf in the padding */
  exp8(&t);
  if (e) memcpy(e, &t, (size_t)m * sizeof(float));
  *v = t;
}

/* sum_i exp(x_i - max), also stored into e[V] when e is not NULL (e may be x). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static double row_sum_exp(
    float *e, const float *x, float max, int V) {
  double sum = 0;
  for (int c0 = 0; c0 < V; c0 += SUM_CHUNK) {
    int c1 = c0 + SUM_CHUNK < V ? c0 + SUM_CHUNK : V, i = c0;
    f32x8 lanes = {0}, v;
    for (; i + 8 <= c1; i += 8) {
      exp_minus8(&v, e ? e + i : NULL, x + i, max, 8);
      lanes += v;
    }
    if (i < c1) {
      exp_minus8(&v, e ? e + i : NULL, x + i, max, c1 - i);
      lanes += v;
    }
    for (int l = 0; l < 8; l++) sum += lanes[l];
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
