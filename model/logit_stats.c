/* model/logit_stats.c — self-certainty and entropy of a next-token distribution. */
#include "model/logit_stats.h"

#include <math.h>

seal_logit_stats seal_logit_stats_row(const float *z, int V) {
  double zmax = -INFINITY;
  for (int i = 0; i < V; i++) {
    if (!isfinite(z[i])) return (seal_logit_stats){NAN, NAN};
    if (z[i] > zmax) zmax = z[i];
  }
  /* shifted by the max: sum_exp in [1, V], so nothing overflows */
  double sum_exp = 0, sum_pz = 0, sum_z = 0;
  for (int i = 0; i < V; i++) {
    double d = (double)z[i] - zmax, e = exp(d);
    sum_exp += e;
    sum_pz += e * d;
    sum_z += d;
  }
  double lse = log(sum_exp); /* of the shifted logits */
  seal_logit_stats s = {
      .self_certainty = lse - sum_z / V - log((double)V),
      .entropy = lse - sum_pz / sum_exp,
  };
  /* rounding can leave -1e-16 where the exact value is 0 */
  if (s.self_certainty < 0) s.self_certainty = 0;
  if (s.entropy < 0) s.entropy = 0;
  return s;
}

/* log sum_i exp(z_i - zmax) for the row's max zmax (written to *zmax); NaN
 * when the row is not finite. */
static double shifted_lse(const float *z, int V, double *zmax) {
  *zmax = -INFINITY;
  for (int i = 0; i < V; i++) {
    if (!isfinite(z[i])) return NAN;
    if (z[i] > *zmax) *zmax = z[i];
  }
  double sum_exp = 0;
  for (int i = 0; i < V; i++) sum_exp += exp((double)z[i] - *zmax);
  return log(sum_exp);
}

double seal_logit_kl_row(const float *zp, const float *zq, int V) {
  double pmax, qmax;
  double lse_p = shifted_lse(zp, V, &pmax), lse_q = shifted_lse(zq, V, &qmax);
  if (isnan(lse_p) || isnan(lse_q)) return NAN;
  double kl = 0;
  for (int i = 0; i < V; i++) {
    double log_p = (double)zp[i] - pmax - lse_p, log_q = (double)zq[i] - qmax - lse_q;
    kl += exp(log_p) * (log_p - log_q);
  }
  return kl < 0 ? 0 : kl; /* rounding can leave -1e-17 where p == q */
}

void seal_answer_certainty_add(seal_answer_certainty *a, seal_logit_stats s) {
  a->sum_self_certainty += s.self_certainty;
  a->sum_entropy += s.entropy;
  a->n_tokens++;
}

double seal_answer_mean_self_certainty(const seal_answer_certainty *a) {
  return a->n_tokens ? a->sum_self_certainty / a->n_tokens : NAN;
}

double seal_answer_mean_entropy(const seal_answer_certainty *a) {
  return a->n_tokens ? a->sum_entropy / a->n_tokens : NAN;
}
