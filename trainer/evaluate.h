/* trainer/evaluate.h — `seal eval`: the paper's evaluation protocols over the
 * evaluation passages, for the baselines and for the policy after each round:
 *   base          the model answers without adaptation
 *   passage       an inner loop on the passage alone
 *   seal-round-t  the policy after t ReST-EM rounds writes one self-edit per
 *                 passage, an inner loop trains on it (t = 0: self-edits
 *                 without RL)
 * single-passage (n=1): one inner loop per passage, accuracy = mean over
 * passages of the fraction of its questions answered correctly.
 * continued-pretraining (n=N): one LoRA trained on the sequences of N passages
 * at once (their self-edits, or the passages for `passage`), accuracy over all
 * their questions. */
#ifndef SEAL_TRAINER_EVALUATE_H
#define SEAL_TRAINER_EVALUATE_H

#include "trainer/run.h"

typedef struct {
  char condition[32]; /* "base", "passage", "seal-round-0", ... */
  char protocol[32];  /* "single-passage" or "continued-pretraining" */
  int n_passages, n_questions;
  double accuracy;         /* the protocol's accuracy */
  double em, f1, contains; /* means over questions */
  double seconds;
} seal_eval_row;

/* Evaluates up to max_round policy rounds (those the run's checkpoint holds;
 * -1: all). Rows are filled on rank 0. run must have been opened, and resumed
 * when a checkpoint exists (the policy rounds come from run->st). The model of
 * run->eng must hold the base weights: rounds are merged here, one by one. */
int seal_evaluate(seal_run *run, int max_round, seal_eval_row **rows, int *n_rows, seal_error *e);

/* Prints the table of rows. */
void seal_eval_print(FILE *f, const seal_eval_row *rows, int n);
/* Writes rows as JSON to path. */
int seal_eval_write_json(const char *path, const seal_eval_row *rows, int n, seal_error *e);

#endif
