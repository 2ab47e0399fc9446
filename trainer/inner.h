/* trainer/inner.h — SEAL's inner loop over any task domain: sample self-edits
 * (resampling unusable ones), turn each into the domain's plan, train fresh
 * LoRAs on the current policy weights (several together as one batched
 * multi-LoRA run), answer the context's queries with each adapted model in one
 * decoding batch, and let the domain grade the answers. */
#ifndef SEAL_TRAINER_INNER_H
#define SEAL_TRAINER_INNER_H

#include "evaluator/domain.h"
#include "model/engine.h"
#include "trainer/job.h"
#include "trainer/labelfree_reward.h"
#include "trainer/sft.h"

typedef struct {
  double reward;       /* the reward used: by reward.source (labels, or a label-free
                          signal) on the train split, always the labels' on eval */
  double label_reward; /* the reward by the gold labels (the domain's grade) */
  /* The label-free signals of the adapted model (train split only: NAN on
   * eval and for an unusable self-edit; majority only when it is the source or
   * reward.signals is all). */
  seal_labelfree_signals signals;
  bool ok; /* false: the plan was unusable; reward 0, nothing trained */
  char reason[SEAL_REASON_SIZE];
  int n_examples;               /* training examples of the plan */
  seal_grade grade;             /* the domain's grade (metrics, items); zero when not ok */
  double first_loss, last_loss; /* NAN when nothing was trained */
  double train_seconds, answer_seconds;
} seal_inner_result;

void seal_inner_result_free(seal_inner_result *r);

/* The domain's plan of one condition for a context, its hyperparameters
 * starting from the job's inner_loop. seed: the item's (the plan draws its
 * own sub-stream of it). */
void seal_inner_plan_of(const seal_job *job, const seal_domain *d, const seal_engine *eng,
                        seal_split s, int context, seal_condition_kind kind, const char *selfedit,
                        uint64_t seed, seal_inner_plan *out);

/* The LoRA-SFT settings of a plan's hyperparameters; seed orders the examples. */
seal_sft_config seal_inner_sft_config(const seal_plan_hparams *hp, uint64_t seed);

/* The inner loops of G self-edits (or of G = 1 condition without one) of one
 * context: each plan trained with its own adapter, all G together over the
 * shared base (G = 1 is the common case), then every adapted model answers
 * the context's queries and the domain grades each. On the train split the
 * label-free signals are measured too (trainer/labelfree_reward.h), without
 * the grade, and the reward is the one job->reward.source names. out[i] is what the inner
 * loop of selfedits[i] (may be NULL for BASE and FIXED) with seeds[i] alone
 * gives, up to the summation order of the shared products. seeds drive the
 * LoRA initialisations, the example orders and the plans. */
void seal_inner_evaluate(seal_engine *eng, const seal_domain *d, const seal_job *job, seal_split s,
                         int context, seal_condition_kind kind, const char *const *selfedits, int G,
                         const uint64_t *seeds, seal_inner_result *out);

/* Greedy completions of queries[0..n) for n_adapters adapters of lora (or the
 * bare model when lora is NULL): completions[a * n + j] is adapter a's
 * completion of query j (malloc'd). All of them decode in batches over the
 * shared base, each sequence with its own adapter. */
void seal_inner_answer(seal_engine *eng, const seal_lora *lora, int n_adapters,
                       const seal_query *queries, int n, char **completions);

/* Sampled completions (at temperature > 0; one generator per completion,
 * seeded with seeds[i]) of queries[query[i]] for i in [0, n), with lora (one
 * adapter, or NULL: the bare model); completions[i] malloc'd. */
void seal_inner_answer_sampled(seal_engine *eng, const seal_lora *lora, const seal_query *queries,
                               const int *query, int n, float temperature, const uint64_t *seeds,
                               char **completions);

/* Samples k self-edits of a context with the policy (the job's selfedit
 * settings), one generator per sample seeded with seeds[j], and samples an
 * unusable one again (seeded per attempt) up to selfedit.max_resamples times.
 * texts[j] malloc'd; usable[j], reasons[j] (SEAL_REASON_SIZE bytes) and
 * attempts[j] say how sample j ended. */
void seal_sample_selfedits(seal_engine *eng, const seal_domain *d, const seal_job *job,
                           seal_split s, int context, int k, const uint64_t *seeds, char **texts,
                           bool *usable, char (*reasons)[SEAL_REASON_SIZE], int *attempts);

/* The same for n self-edits of contexts[0..n) (any mix, each its own seed),
 * decoded together: on the CPU a decode step of up to 8 rows computes each row
 * as for one (kernels/cpu/few_rows.inc), so up to 8 self-edits written
 * together are the ones written one at a time, in a fraction of the time
 * (decoding reads the weights once a step for all of them). */
void seal_sample_selfedits_of(seal_engine *eng, const seal_domain *d, const seal_job *job,
                              seal_split s, const int *contexts, int n, const uint64_t *seeds,
                              char **texts, bool *usable, char (*reasons)[SEAL_REASON_SIZE],
                              int *attempts);

#endif
