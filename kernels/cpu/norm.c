/* kernels/cpu/norm.c — RMSNorm forward (plain and fused with the residual add)
 * and its input gradient. Sums of squares are accumulated in double: they are
 * C terms long and cheap next to the row's memory traffic. */
#include <math.h>

#include "kernels/cpu/cpu.h"

/* out[C] = x[C] * r * weight[C], r being the row's reciprocal RMS. */
static void scale_row(float *out, const float *x, const float *weight, float r, int C) {
#pragma omp simd
  for (int c = 0; c < C; c++) out[c] = x[c] * r * weight[c];
}

static float rms_reciprocal(double sum_squares, int C, float eps) {
  return (float)(1.0 / sqrt(sum_squares / C + (double)eps));
}

void seal_cpu_rmsnorm(seal_backend *be, void *out_, float *rstd, const void *inp_,
                      const void *weight_, int N, int C, float eps) {
  (void)be;
  float *out = out_;             /* [N, C] */
  const float *inp = inp_;       /* [N, C] */
  const float *weight = weight_; /* [C] */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
    float r = rms_reciprocal(ss, C, eps);
    if (rstd) rstd[n] = r;
    scale_row(out + (size_t)n * C, x, weight, r, C);
  }
}

void seal_cpu_residual_rmsnorm(seal_backend *be, void *residual_, void *out_, float *rstd,
                               const void *a_, const void *b_, const void *weight_, int N, int C,
                               float eps) {
  (void)be;
  float *residual = residual_, *out = out_; /* [N, C]; residual may alias a */
  const float *a = a_, *b = b_;             /* [N, C] */
  const float *weight = weight_;            /* [C] */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    size_t off = (size_t)n * C;
    float *res = residual + off;
    double ss = 0;
    /* One pass adds and accumulates; the whole row of a and b is consumed
     * before out is written, so out may even alias b. */
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) {
      float s = a[off + c] + b[off + c];
      res[c] = s;
      ss += (double)s * s;
    }
    float r = rms_reciprocal(ss, C, eps);
    if (rstd) rstd[n] = r;
    scale_row(out + off, res, weight, r, C);
  }
}

/* y = x r w with r = (mean(x^2) + eps)^-1/2, so
 *   dx_i = r w_i g_i - x_i r^3 / C * sum_j g_j w_j x_j. */
void seal_cpu_rmsnorm_backward(seal_backend *be, void *dinp_, const void *dout_, const void *inp_,
                               const void *weight_, const float *rstd, int N, int C) {
  (void)be;
  float *dinp = dinp_;                    /* [N, C], += */
  const float *dout = dout_, *inp = inp_; /* [N, C] */
  const float *weight = weight_;          /* [C] */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    size_t off = (size_t)n * C;
    const float *g = dout + off, *x = inp + off;
    double dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int c = 0; c < C; c++) dot += (double)g[c] * weight[c] * x[c];
    float r = rstd[n];
    float k = (float)((double)r * r * r * dot / C);
    float *dx = dinp + off;
#pragma omp simd
    for (int c = 0; c < C; c++) dx[c] += r * weight[c] * g[c] - x[c] * k;
  }
}
