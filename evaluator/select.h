/* evaluator/select.h — ReST-EM's filter for one context: of its k self-edits,
 * each scored R times, keep the one with the best mean reward. */
#ifndef SEAL_EVALUATOR_SELECT_H
#define SEAL_EVALUATOR_SELECT_H

typedef struct {
  int index;   /* the kept sample, or -1 when no sample has a reward */
  double mean; /* its mean reward over the repeats it has */
} seal_best;

/* rewards: [k, repeats] row-major, rewards[s * repeats + r] for sample s, repeat r;
 * a NaN is a result that is missing (e.g. lost with a crashed rank) and is left
 * out of the mean. means: [k] out, the mean per sample (NaN when a sample has no
 * reward at all), or NULL. Ties go to the lowest sample index. */
seal_best seal_select_best(const double *rewards, int k, int repeats, double *means);

#endif
