/* kernels/cpu/sample.c — next-token choice: argmax, or temperature + top-p
 * (nucleus) sampling by inverse CDF with one caller-supplied uniform per row.
 *
 * Sorting a whole vocabulary (150k tokens) per token is wasteful when the
 * nucleus is a handful of tokens, so the candidates are found first: the kept
 * set is a prefix of the descending order, hence contained in any set
 * {e_i >= tau} whose mass already reaches top_p. tau starts at exp(-1) of the
 * maximum and halves its log until that holds; only those candidates are
 * sorted. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu.h"

typedef struct {
  float e; /* unnormalised probability exp((x - max) / T) */
  int32_t id;
} candidate;

/* Descending probability, ascending id among equals. */
static int by_probability(const void *pa, const void *pb) {
  const candidate *a = pa, *b = pb;
  if (a->e != b->e) return a->e > b->e ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

/* The rule both backends follow (ops.h): NaN is never chosen while the row
 * holds a number; the lowest index wins a tie; a row of only NaN gives 0. */
static int32_t argmax_row(const float *x, int V) {
  int32_t best = 0;
  while (best < V && isnan(x[best])) best++;
  if (best == V) return 0;
  for (int i = best + 1; i < V; i++)
    if (x[i] > x[best]) best = i; /* strict: the lowest index wins a tie; NaN never compares */
  return best;
}

/* Gathers the ids with e >= tau into cand[], returning their count; *mass gets
 * their summed e. */
static int gather(candidate *cand, double *mass, const float *e, int V, float tau) {
  int n = 0;
  double s = 0;
  for (int i = 0; i < V; i++) {
    if (e[i] >= tau && e[i] > 0) {
      cand[n].e = e[i];
      cand[n].id = i;
      n++;
      s += e[i];
    }
  }
  *mass = s;
  return n;
}

/* One row: e[V] and cand[V] are scratch. */
static int32_t sample_row(const float *x, int V, float temperature, float top_p, float uniform,
                          float *e, candidate *cand) {
  float max = x[argmax_row(x, V)];
  double total = 0;
  for (int i = 0; i < V; i++) {
    e[i] = expf((x[i] - max) / temperature);
    total += e[i];
  }
  /* NaN or infinite logits leave no distribution to sample from: the argmax
   * rule decides, as on the CUDA backend. */
  if (!(total > 0) || !isfinite(total)) return argmax_row(x, V);
  double target = top_p >= 1.0f ? total : (double)top_p * total;
  /* Find candidates: thresholds exp(-1), exp(-2), exp(-4), ... of the maximum
   * (which is e = 1); exp(-128) underflows to 0, which admits every e > 0. */
  int n = 0;
  double mass = 0;
  for (float c = 1;; c *= 2) {
    float tau = expf(-c);
    n = gather(cand, &mass, e, V, tau);
    if (mass >= target || tau == 0) break;
  }
  if (n == 0) return argmax_row(x, V); /* non-finite logits: nothing to sample from */
  qsort(cand, (size_t)n, sizeof *cand, by_probability);
  /* The kept prefix: shortest whose mass reaches the target (all candidates
   * when rounding leaves the sorted sum a hair short). */
  int kept = n;
  double kept_mass = mass, cum = 0;
  for (int i = 0; i < n; i++) {
    cum += cand[i].e;
    if (cum >= target) {
      kept = i + 1;
      kept_mass = cum;
      break;
    }
  }
  /* Inverse CDF over the kept tokens in descending order. */
  double r = (double)uniform * kept_mass;
  cum = 0;
  for (int i = 0; i < kept; i++) {
    cum += cand[i].e;
    if (cum > r) return cand[i].id;
  }
  return cand[kept - 1].id;
}

void seal_cpu_sample(seal_backend *be, int32_t *ids, const void *logits_, int B, int V,
                     float temperature, float top_p, const float *uniform) {
  (void)be;
  const float *logits = logits_; /* [B, V] */
  if (temperature <= 0) {
    for (int b = 0; b < B; b++) ids[b] = argmax_row(logits + (size_t)b * V, V);
    return;
  }
#pragma omp parallel if (B > 1)
  {
    float *e = seal_malloc((size_t)V * sizeof(float));            /* [V] */
    candidate *cand = seal_malloc((size_t)V * sizeof(candidate)); /* [V] */
#pragma omp for schedule(static)
    for (int b = 0; b < B; b++)
      ids[b] = sample_row(logits + (size_t)b * V, V, temperature, top_p, uniform[b], e, cand);
    free(e);
    free(cand);
  }
}
