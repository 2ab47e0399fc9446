/* trainer/labelfree_report.h — how well each label-free reward tracks the
 * labelled one over a training round's scored self-edits, from the
 * checkpoint's records alone (docs/labelfree.md): the rank correlations
 * (Spearman, Kendall tau-b) over every scoring with both rewards, and how
 * often the best-of-k choice per context under the label-free reward is the
 * choice the labels make. `seal eval` prints it and puts it in eval.json. */
#ifndef SEAL_TRAINER_LABELFREE_REPORT_H
#define SEAL_TRAINER_LABELFREE_REPORT_H

#include <stdio.h>

#include "trainer/evaluate.h"
#include "trainer/run_state.h"

/* The signals reported, in reward orientation (higher is better). */
typedef enum {
  SEAL_SIGNAL_SELF_CERTAINTY,
  SEAL_SIGNAL_ENTROPY, /* minus the mean token entropy */
  SEAL_SIGNAL_MAJORITY,
  SEAL_N_SIGNALS
} seal_signal;

/* "self-certainty", "entropy", "majority": the reward.source names. */
const char *seal_signal_name(seal_signal s);

typedef struct {
  int round; /* the training round */
  seal_signal signal;
  int n_pairs;              /* scorings (self-edit, repeat) with both rewards finite */
  double spearman, kendall; /* NAN when undefined (fewer than 2 pairs, a constant side) */
  int n_contexts;           /* contexts of the round with scored self-edits */
  double agreement;         /* fraction of them whose best-of-k choice matches the labels' */
  double label_of_choice;   /* mean labelled reward of the label-free choices */
  double label_of_best;     /* mean labelled reward of the labels' own choices (the ceiling) */
} seal_labelfree_row;

/* The rows of training round `round`: one per signal with a finite value
 * recorded (majority only in runs that measured it). k and repeats: the run's
 * selfedit.k and repeats. Returns the row count (0..SEAL_N_SIGNALS). */
int seal_labelfree_report(const seal_run_state *st, int round, int k, int repeats,
                          seal_labelfree_row *rows);

/* The rows as a JSON array (caller frees). */
char *seal_labelfree_rows_json(const seal_labelfree_row *rows, int n);

/* For every seal-round-t row of rows [n]: the report of training round t,
 * as JSON in row.labelfree. */
void seal_labelfree_attach(const seal_run_state *st, int k, int repeats, seal_eval_row *rows,
                           int n);

/* Prints the reports of every round of st that has scored self-edits, as a
 * table; nothing when none has. */
void seal_labelfree_print(FILE *f, const seal_run_state *st, int k, int repeats);

#endif
