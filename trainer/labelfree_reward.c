/* trainer/labelfree_reward.c — rewards from the adapted model alone. */
#include "trainer/labelfree_reward.h"

#include <math.h>
#include <stdlib.h>

#include "evaluator/labelfree.h"
#include "trainer/inner.h"
#include "trainer/metrics.h"
#include "trainer/seeds.h"

seal_labelfree_signals seal_labelfree_none(void) {
  return (seal_labelfree_signals){.self_certainty = NAN, .entropy = NAN, .majority = NAN};
}

json_t *seal_labelfree_signals_json(const seal_labelfree_signals *sig) {
  return json_pack("{s:o,s:o,s:o}", "self_certainty", seal_json_real(sig->self_certainty),
                   "entropy", seal_json_real(sig->entropy), "majority",
                   seal_json_real(sig->majority));
}

static double number_or_nan(const json_t *o, const char *key) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

seal_labelfree_signals seal_labelfree_signals_of(const json_t *o) {
  return (seal_labelfree_signals){.self_certainty = number_or_nan(o, "self_certainty"),
                                  .entropy = number_or_nan(o, "entropy"),
                                  .majority = number_or_nan(o, "majority")};
}

void seal_labelfree_certainty(const seal_generation *gens, int Q, seal_labelfree_signals *sig) {
  double sum_sc = 0, sum_h = 0;
  for (int j = 0; j < Q; j++) {
    sum_sc += seal_answer_mean_self_certainty(&gens[j].certainty);
    sum_h += seal_answer_mean_entropy(&gens[j].certainty);
  }
  sig->self_certainty = Q ? sum_sc / Q : NAN;
  sig->entropy = Q ? sum_h / Q : NAN;
}

/* The vote of query j over its m sampled completions. */
static double query_majority(const seal_domain *d, seal_split s, int context, const seal_query *q,
                             int j, char *const *completions, int m) {
  char **canonical = seal_calloc((size_t)m, sizeof(char *));
  for (int r = 0; r < m; r++)
    canonical[r] = d->ops->canonical_answer(d, s, context, &q[j], j, completions[r]);
  double reward = seal_majority_reward((const char *const *)canonical, m);
  for (int r = 0; r < m; r++) free(canonical[r]);
  free(canonical);
  return reward;
}

double seal_labelfree_majority(seal_engine *eng, const seal_lora *lora, const seal_domain *d,
                               const seal_job *job, seal_split s, int context, const seal_query *q,
                               int Q, uint64_t seed) {
  int m = job->reward.majority_samples, n = Q * m;
  if (n == 0) return NAN;
  int *query = seal_malloc((size_t)n * sizeof(int));
  uint64_t *seeds = seal_malloc((size_t)n * sizeof(uint64_t));
  char **completions = seal_calloc((size_t)n, sizeof(char *)); /* [Q][m] */
  for (int i = 0; i < n; i++)
    query[i] = i / m, seeds[i] = seal_item_subseed(seed, SEAL_SUBSTREAM_MAJORITY, i);
  seal_inner_answer_sampled(eng, lora, q, query, n, (float)job->reward.majority_temperature, seeds,
                            completions);
  double sum = 0;
  for (int j = 0; j < Q; j++)
    sum += query_majority(d, s, context, q, j, completions + (size_t)j * m, m);
  for (int i = 0; i < n; i++) free(completions[i]);
  free(completions), free(seeds), free(query);
  return sum / Q;
}

double seal_labelfree_reward(seal_reward_source source, const seal_labelfree_signals *sig) {
  switch (source) {
    case SEAL_REWARD_SELF_CERTAINTY:
      return sig->self_certainty;
    case SEAL_REWARD_ENTROPY:
      return -sig->entropy;
    case SEAL_REWARD_MAJORITY:
      return sig->majority;
    case SEAL_REWARD_LABELS:
      break;
  }
  SEAL_DIE("the labels are not a label-free reward source");
}

double seal_labelfree_floor(seal_reward_source source, int vocab_size) {
  return source == SEAL_REWARD_ENTROPY ? -log((double)vocab_size) : 0.0;
}
