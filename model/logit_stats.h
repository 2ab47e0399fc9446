/* model/logit_stats.h — how sure a model is of one next-token distribution,
 * from its logits alone (no label): the statistics behind seal's label-free
 * rewards (docs/labelfree.md).
 *
 * For logits z [V] and p = softmax(z):
 *   lse            = log sum_i exp(z_i)
 *   entropy        = H(p) = -sum_i p_i log p_i = lse - sum_i p_i z_i
 *   self_certainty = KL(U || p) = -log V - (1/V) sum_i log p_i
 *                  = lse - mean(z) - log V        (Kang et al. 2025, as Intuitor uses it)
 * Both are >= 0; self-certainty is 0 and entropy log V for a uniform p, and a
 * confident p has high self-certainty and low entropy. Computed in double
 * precision with the max subtracted, so any finite logits give finite values;
 * a row holding NaN or +-Inf gives NaN in both. */
#ifndef SEAL_MODEL_LOGIT_STATS_H
#define SEAL_MODEL_LOGIT_STATS_H

typedef struct {
  double self_certainty;
  double entropy;
} seal_logit_stats;

/* The statistics of one row of V >= 1 logits. */
seal_logit_stats seal_logit_stats_row(const float *z, int V);

/* KL(p || q) = sum_i p_i (log p_i - log q_i) of p = softmax(zp) and q =
 * softmax(zq), two rows of V >= 1 logits, in double precision with each
 * row's max subtracted; >= 0; NaN when either row holds NaN or +-Inf. The
 * continual guard's measure of how far an update moved the model
 * (continual.guard.max_kl): p the model before it, q after. */
double seal_logit_kl_row(const float *zp, const float *zq, int V);

/* Running means over the generated tokens of one answer. */
typedef struct {
  double sum_self_certainty, sum_entropy;
  int n_tokens;
} seal_answer_certainty;

void seal_answer_certainty_add(seal_answer_certainty *a, seal_logit_stats s);
/* Means over the answer's tokens; NaN for an answer of no tokens. */
double seal_answer_mean_self_certainty(const seal_answer_certainty *a);
double seal_answer_mean_entropy(const seal_answer_certainty *a);

#endif
