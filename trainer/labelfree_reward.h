/* trainer/labelfree_reward.h — the label-free rewards of an adapted model
 * (docs/labelfree.md): how sure it is of its own answers (self-certainty,
 * entropy) and how often its sampled answers agree (majority). Nothing here
 * reads a gold answer: the inputs are the model, the queries (prompts without
 * their answers), the answers the model gave and the domain's canonical_answer;
 * the domain's grade, the only reader of labels, is never called here. */
#ifndef SEAL_TRAINER_LABELFREE_REWARD_H
#define SEAL_TRAINER_LABELFREE_REWARD_H

#include <jansson.h>

#include "evaluator/domain.h"
#include "model/engine.h"
#include "trainer/job.h"

/* The signals of one adapted model over a context's queries; NAN where not
 * computed (majority unless reward.source is majority or reward.signals all;
 * all of them for an unusable self-edit, which answered nothing). */
typedef struct {
  double self_certainty; /* mean over queries of the answer's mean token KL(U || p), >= 0 */
  double entropy;        /* mean over queries of the answer's mean token entropy, >= 0 */
  double majority;       /* mean over queries of the fraction agreeing with their majority */
} seal_labelfree_signals;

/* All NAN. */
seal_labelfree_signals seal_labelfree_none(void);

/* The signals as a JSON object {"self_certainty", "entropy", "majority"}
 * (null for NAN): how they travel in work items and are recorded beside the
 * domain's metrics in the checkpoint's self-edit records and metrics events. */
json_t *seal_labelfree_signals_json(const seal_labelfree_signals *sig);
/* The signals of such an object (a record's metrics); a key that is missing
 * or not a number gives NAN (records of runs before they were recorded). */
seal_labelfree_signals seal_labelfree_signals_of(const json_t *o);

/* Self-certainty and entropy of the greedy answers gens[0..Q) of one model
 * to a context's queries, from the certainty their decoding measured
 * (generated with seal_sampling.certainty): per answer the mean over its
 * tokens, then the mean over the answers. Fills sig->self_certainty and
 * sig->entropy (NAN for Q = 0). */
void seal_labelfree_certainty(const seal_generation *gens, int Q, seal_labelfree_signals *sig);

/* TTRL's vote: job->reward.majority_samples answers per query sampled at
 * reward.majority_temperature from the model with lora (one adapter or NULL),
 * each made canonical by the domain, scored by the fraction agreeing with
 * their majority (evaluator/labelfree.h), averaged over the queries. seed: the
 * inner loop's (each sample draws sub-stream SEAL_SUBSTREAM_MAJORITY). */
double seal_labelfree_majority(seal_engine *eng, const seal_lora *lora, const seal_domain *d,
                               const seal_job *job, seal_split s, int context, const seal_query *q,
                               int Q, uint64_t seed);

/* The reward of a label-free source from its signal (self-certainty as it
 * is, minus the entropy, the majority as it is). source must not be labels. */
double seal_labelfree_reward(seal_reward_source source, const seal_labelfree_signals *sig);

/* The worst reward of a source, which an unusable self-edit gets (as labels
 * give it 0): 0 for self-certainty and majority, -log V for entropy. */
double seal_labelfree_floor(seal_reward_source source, int vocab_size);

#endif
