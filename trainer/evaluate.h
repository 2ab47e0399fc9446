/* trainer/evaluate.h — `seal eval`: the paper's evaluation protocols over the
 * task's evaluation contexts, for the baselines and for the policy after each
 * round. The conditions, in the task's words (evaluator/domain.h):
 *   base          (SEAL_COND_BASE) the model answers without adaptation
 *   fixed         (SEAL_COND_FIXED; knowledge: "passage") the task's training
 *                 without a self-edit
 *   seal-round-t  (SEAL_COND_SELFEDIT) the policy after t ReST-EM rounds writes
 *                 evaluation.selfedits_per_context self-edits per context, an
 *                 inner loop trains on each (t = 0: self-edits without RL)
 * The protocols (the task names them; knowledge: single-passage,
 * continued-pretraining):
 *   single (n=1): one inner loop per (context, self-edit); accuracy = mean over
 *     them of the reward, the metrics averaged over the graded items;
 *   continued pretraining (n=N): one LoRA trained on the plans of N contexts at
 *     once, every context graded; accuracy over all their items.
 *   continual (issue 13; the conditions with self-edits): continual.sequences
 *     sequences of continual.length passages; in each, passage after passage
 *     the current model writes a self-edit, a fresh LoRA trains on it and is
 *     merged into the weights, and every passage seen so far is graded. The
 *     row's accuracy is over every passage after the last update; the matrix
 *     (trainer/continual_matrix.h) rides with the row. Each sequence starts
 *     from the level's model again. With continual.guard the protocol runs
 *     a second time on the same passages and seeds ("continual+guard"): an
 *     update whose probe of earlier passages falls by more than the guard's
 *     max_drop, or (with max_kl) whose mean token KL from the model before
 *     it on the guard's KL text passes max_kl, is refused (or retried at a
 *     lower learning rate first). */
#ifndef SEAL_TRAINER_EVALUATE_H
#define SEAL_TRAINER_EVALUATE_H

#include "trainer/continual_matrix.h"
#include "trainer/run.h"

typedef struct {
  char condition[32];                     /* "base", "passage", "seal-round-0", ... */
  char protocol[32];                      /* the task's protocol name: "single-passage", ... */
  int n_contexts;                         /* contexts evaluated */
  int n_items;                            /* items graded over them (questions, tests) */
  double accuracy;                        /* the protocol's accuracy */
  double metric[SEAL_DOMAIN_MAX_METRICS]; /* the task's metrics, means over items */
  double seconds;
  char *per_context;                /* JSON array: one object per (context, self-edit); owned */
  seal_continual_matrix *continual; /* the continual protocol's matrix; owned, else NULL */
  /* seal-round-t rows: t (the policy wrote training round t's self-edits);
   * -1 for the conditions without a self-edit. */
  int policy_round;
  /* How the label-free rewards of training round t's scored self-edits track
   * their labelled reward (trainer/labelfree_report.h): a JSON array, or NULL
   * when the checkpoint holds none; owned. */
  char *labelfree;
} seal_eval_row;

/* Evaluates up to max_round policy rounds (those the run's checkpoint holds;
 * -1: all). Rows are filled on rank 0. run must have been opened, and resumed
 * when a checkpoint exists (the policy rounds come from run->st). The model of
 * run->eng must hold the base weights: rounds are merged here, one by one (into
 * the teacher when the run has one; the student is adapted by the inner loop only). */
int seal_evaluate(seal_run *run, int max_round, seal_eval_row **rows, int *n_rows, seal_error *e);
void seal_eval_rows_free(seal_eval_row *rows, int n);

/* Which model wrote the self-edits and which learned from them: the teacher
 * and the student, or the one model teaching itself, and where each runs. Paths
 * borrowed from the job, devices from the run. */
typedef struct {
  const char *writer, *learner;
  const char *writer_device, *learner_device; /* their backends on rank 0 ("cpu", "cuda:0") */
  bool teacher; /* a separate teacher wrote them (job key `teacher`) */
} seal_eval_models;
seal_eval_models seal_eval_models_of(const seal_run *run);

/* Prints the table of rows, with the task's column names, under a header line
 * that names the writer and the learner. */
void seal_eval_print(FILE *f, const seal_domain_ops *task, const seal_eval_models *models,
                     const seal_eval_row *rows, int n);
/* Writes rows as JSON to path, each with its per-context rows and the names of
 * the writer and learner. */
int seal_eval_write_json(const char *path, const seal_domain_ops *task,
                         const seal_eval_models *models, const seal_eval_row *rows, int n,
                         seal_error *e);

#endif
