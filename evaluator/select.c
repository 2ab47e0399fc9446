/* evaluator/select.c — best-of-k by mean reward, ties to the lowest index. */
#include "evaluator/select.h"

#include <math.h>

#include "util/util.h"

static double mean_of_present(const double *x, int n) {
  double sum = 0.0;
  int count = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(x[i])) continue;
    sum += x[i];
    count++;
  }
  return count ? sum / count : NAN;
}

seal_best seal_select_best(const double *rewards, int k, int repeats, double *means) {
  SEAL_CHECK(k >= 0 && repeats >= 1, "best-of-k needs k >= 0 and repeats >= 1 (k=%d, R=%d)", k,
             repeats);
  seal_best best = {-1, NAN};
  for (int s = 0; s < k; s++) {
    double m = mean_of_present(rewards + (size_t)s * repeats, repeats);
    if (means) means[s] = m;
    /* Strictly greater: an equal mean later in the list never displaces an earlier one. */
    if (!isnan(m) && (best.index < 0 || m > best.mean)) {
      best.index = s;
      best.mean = m;
    }
  }
  return best;
}
