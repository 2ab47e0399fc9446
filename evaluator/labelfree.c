/* evaluator/labelfree.c — majority vote and rank agreement. */
#include "evaluator/labelfree.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/select.h"
#include "util/util.h"

seal_majority seal_majority_vote(const char *const *answers, int m) {
  seal_majority best = {.index = -1, .count = 0};
  for (int i = 0; i < m; i++) {
    if (!answers[i][0]) continue;
    int seen_before = 0;
    for (int j = 0; j < i && !seen_before; j++) seen_before = !strcmp(answers[j], answers[i]);
    if (seen_before) continue; /* counted with its first occurrence */
    int count = 0;
    for (int j = i; j < m; j++) count += !strcmp(answers[j], answers[i]);
    if (count > best.count) best = (seal_majority){.index = i, .count = count};
  }
  return best;
}

double seal_majority_reward(const char *const *answers, int m) {
  if (m <= 0) return 0;
  return (double)seal_majority_vote(answers, m).count / m;
}

/* The pairs of x, y without a NaN, into fresh arrays; returns their count. */
static int finite_pairs(const double *x, const double *y, int n, double **fx, double **fy) {
  *fx = seal_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  *fy = seal_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  int m = 0;
  for (int i = 0; i < n; i++)
    if (!isnan(x[i]) && !isnan(y[i])) (*fx)[m] = x[i], (*fy)[m] = y[i], m++;
  return m;
}

/* Ranks 1..n of v [n], ties at their average rank (O(n^2): n is a round's
 * self-edits, a few hundred at most). */
static void average_ranks(const double *v, int n, double *rank) {
  for (int i = 0; i < n; i++) {
    int below = 0, equal = 0;
    for (int j = 0; j < n; j++) below += v[j] < v[i], equal += v[j] == v[i];
    rank[i] = below + (equal + 1) / 2.0;
  }
}

static bool all_equal(const double *v, int n) {
  for (int i = 1; i < n; i++)
    if (v[i] != v[0]) return false;
  return true;
}

static double pearson(const double *x, const double *y, int n) {
  /* a constant side has no correlation; tested exactly, since its mean in
   * floating point need not equal its value (12 ranks of 6.5 sum to 78, and
   * 78 / 12 * 12 rounds) */
  if (all_equal(x, n) || all_equal(y, n)) return NAN;
  double mx = 0, my = 0;
  for (int i = 0; i < n; i++) mx += x[i] / n, my += y[i] / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return NAN;
  return sxy / sqrt(sxx * syy);
}

double seal_spearman(const double *x, const double *y, int n) {
  double *fx, *fy;
  int m = finite_pairs(x, y, n, &fx, &fy);
  double r = NAN;
  if (m >= 2) {
    double *rx = seal_malloc((size_t)m * sizeof(double)),
           *ry = seal_malloc((size_t)m * sizeof(double));
    average_ranks(fx, m, rx);
    average_ranks(fy, m, ry);
    r = pearson(rx, ry, m);
    free(rx), free(ry);
  }
  free(fx), free(fy);
  return r;
}

static int sign(double d) { return (d > 0) - (d < 0); }

double seal_kendall_tau_b(const double *x, const double *y, int n) {
  double *fx, *fy;
  int m = finite_pairs(x, y, n, &fx, &fy);
  double tau = NAN;
  if (m >= 2) {
    /* over all pairs: s = concordant - discordant; a pair tied in x (or y)
     * counts in tx (ty), and in neither numerator term */
    long long s = 0, tx = 0, ty = 0, n0 = (long long)m * (m - 1) / 2;
    for (int i = 0; i < m; i++)
      for (int j = i + 1; j < m; j++) {
        int a = sign(fx[i] - fx[j]), b = sign(fy[i] - fy[j]);
        s += a * b;
        tx += a == 0;
        ty += b == 0;
      }
    double denom = sqrt((double)(n0 - tx) * (double)(n0 - ty));
    if (denom > 0) tau = (double)s / denom;
  }
  free(fx), free(fy);
  return tau;
}

double seal_choice_agreement(const double *labelfree, const double *labels, int n_contexts, int k,
                             int repeats, double *label_of_choice) {
  int agree = 0, counted = 0;
  double label_sum = 0;
  double *means = seal_malloc((size_t)(k > 0 ? k : 1) * sizeof(double));
  for (int c = 0; c < n_contexts; c++) {
    size_t off = (size_t)c * k * repeats;
    seal_best by_labels = seal_select_best(labels + off, k, repeats, means);
    seal_best by_free = seal_select_best(labelfree + off, k, repeats, NULL);
    if (by_labels.index < 0 || by_free.index < 0) continue;
    counted++;
    agree += by_labels.index == by_free.index;
    label_sum += means[by_free.index]; /* NaN when the labels lack that sample */
  }
  free(means);
  if (label_of_choice) *label_of_choice = counted ? label_sum / counted : NAN;
  return counted ? (double)agree / counted : NAN;
}
