/* evaluator/labelfree.h — rewards that read no gold answer, and how well they
 * track the labelled reward (docs/labelfree.md).
 *
 * The token statistics (self-certainty, entropy) are model/logit_stats.h; here
 * are the vote over sampled answers (TTRL) and the agreement measures that
 * `seal eval` reports between a label-free reward and the labelled one. */
#ifndef SEAL_EVALUATOR_LABELFREE_H
#define SEAL_EVALUATOR_LABELFREE_H

typedef struct {
  int index; /* the first answer of the majority, or -1 when no answer was given */
  int count; /* how many of the m answers equal it */
} seal_majority;

/* The majority among m canonical answers (the domain's canonical_answer: e.g.
 * SQuAD-normalised text, a grid mapped back through its transform). An empty
 * string is no answer and never a vote. Ties go to the answer seen first, as
 * Python's Counter.most_common orders them (TTRL's vote). */
seal_majority seal_majority_vote(const char *const *answers, int m);

/* TTRL's reward for one query: the fraction of the m sampled answers that agree
 * with their majority (0 when none answered). */
double seal_majority_reward(const char *const *answers, int m);

/* Spearman's rank correlation of x and y [n]: the Pearson correlation of their
 * ranks, tied values taking their average rank. Pairs with a NaN are left
 * out. NaN when fewer than 2 pairs remain or either side is constant. */
double seal_spearman(const double *x, const double *y, int n);

/* Kendall's tau-b of x and y [n] (ties corrected, as scipy.stats.kendalltau):
 * (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)). Pairs with a
 * NaN are left out; NaN when fewer than 2 remain or either side is constant. */
double seal_kendall_tau_b(const double *x, const double *y, int n);

/* How often a label-free reward makes ReST-EM's choice the labels make: for
 * each of n_contexts contexts, k samples x repeats rewards in each array
 * (row-major [context][sample][repeat], NaN = missing), the best-of-k choice
 * (evaluator/select.h: best mean, ties to the lowest sample) under each.
 * Returns the fraction of contexts (with a choice under both) where the
 * choices agree, or NaN when there is none; *label_of_choice (may be NULL)
 * gets the mean labelled reward of the label-free choices, the number that
 * says what following the label-free signal would have kept. */
double seal_choice_agreement(const double *labelfree, const double *labels, int n_contexts, int k,
                             int repeats, double *label_of_choice);

#endif
