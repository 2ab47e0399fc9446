/* trainer/inner.h — SEAL's inner loop for knowledge incorporation: turn a
 * self-edit into training sequences, train a fresh LoRA on the current policy
 * weights, answer the passage's questions without the passage, grade. */
#ifndef SEAL_TRAINER_INNER_H
#define SEAL_TRAINER_INNER_H

#include "evaluator/knowledge.h"
#include "evaluator/squad.h"
#include "model/engine.h"
#include "trainer/job.h"
#include "trainer/sft.h"

typedef struct {
  double reward, em, f1, contains;
  int n_sequences; /* training sequences (the passage included when trained on) */
  int ok;          /* 0: the self-edit gave no training sequence; reward 0, no training */
  double first_loss, last_loss;
  double train_seconds, answer_seconds;
} seal_inner_result;

/* What the inner loop trains on. */
typedef enum {
  SEAL_TRAIN_NOTHING, /* the base (policy) model as it is */
  SEAL_TRAIN_PASSAGE, /* the passage alone */
  SEAL_TRAIN_SELFEDIT /* the self-edit's sequences plus the passage, as SEAL */
} seal_inner_mode;

/* The LoRA-SFT settings of an inner loop from the job's section. */
seal_sft_config seal_inner_sft_config(const seal_job_inner *in, uint64_t seed);

/* Runs one inner loop and scores it. seed drives the LoRA's initialisation and
 * the order of the sequences. */
void seal_inner_evaluate(seal_engine *eng, const seal_job *job, const seal_qa_config *qa,
                         const seal_squad_passage *p, seal_inner_mode mode, const char *selfedit,
                         uint64_t seed, seal_inner_result *out);

/* The inner loops of G self-edits of one passage trained together (batched
 * multi-LoRA: every base GEMM is shared, each self-edit keeps its own adapter,
 * optimizer, schedule and order), then each adapter answers. out[i] equals
 * what seal_inner_evaluate(..., SEAL_TRAIN_SELFEDIT, selfedits[i], seeds[i])
 * gives, up to the summation order of the shared products. */
void seal_inner_evaluate_many(seal_engine *eng, const seal_job *job, const seal_qa_config *qa,
                              const seal_squad_passage *p, const char *const *selfedits, int G,
                              const uint64_t *seeds, seal_inner_result *out);

/* Tokenizes texts as whole-sequence training examples (loss on every token).
 * ids[i] are malloc'd and owned by the caller (free with seal_sft_examples_free). */
void seal_sft_examples_from_texts(seal_engine *eng, char *const *texts, int n,
                                  seal_sft_example *ex);
void seal_sft_examples_free(seal_sft_example *ex, int n);

/* The qa settings of a job (grading, answer length), with judge (may be NULL). */
seal_qa_config seal_job_qa_config(const seal_job *job, seal_engine *judge);

#endif
