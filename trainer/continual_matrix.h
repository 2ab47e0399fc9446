/* trainer/continual_matrix.h — the bookkeeping of the continual protocol
 * (issue 13; the reference's continual experiment): S sequences of N passages
 * each; in each sequence the model takes in passage after passage (self-edit,
 * train, merge) and after every update answers the questions of every passage
 * seen so far.
 *
 *   before[s][j]    accuracy on passage j of sequence s before any update
 *   after[s][i][j]  accuracy on passage j after update i (j <= i: lower triangle)
 *
 * Passages and updates are numbered from 0. Forgetting of passage j is its
 * accuracy right after its own update minus its accuracy after the last one:
 * after[i=j][j] - after[N-1][j] (positive = forgotten). Cells not measured
 * (yet) are NaN and means leave them out. */
#ifndef SEAL_TRAINER_CONTINUAL_MATRIX_H
#define SEAL_TRAINER_CONTINUAL_MATRIX_H

#include <jansson.h>
#include <stdio.h>

#include "util/util.h"

typedef struct {
  int S, N;
  double *before; /* [S, N] */
  double *after;  /* [S, N, N]: after[(s * N + i) * N + j], NaN above the diagonal */
} seal_continual_matrix;

void seal_continual_matrix_create(seal_continual_matrix *m, int S, int N);
void seal_continual_matrix_free(seal_continual_matrix *m);

/* Records one measurement; dies on an index outside the protocol (j > i). */
void seal_continual_set_before(seal_continual_matrix *m, int s, int j, double acc);
void seal_continual_set_after(seal_continual_matrix *m, int s, int i, int j, double acc);

/* Means over the sequences that measured a cell (NaN when none did). */
double seal_continual_mean_before(const seal_continual_matrix *m, int j);
double seal_continual_mean_after(const seal_continual_matrix *m, int i, int j);
/* Forgetting of passage j in sequence s (s = -1: of the mean matrix). */
double seal_continual_forgetting(const seal_continual_matrix *m, int s, int j);

/* The mean matrix as a table: a "before" row, then one row per update. */
void seal_continual_print(FILE *f, const seal_continual_matrix *m);
/* {"sequences": S, "passages": N, "before": [...], "after": [[...]...] (the
 * mean, lower triangle, null elsewhere), "forgetting": [...], "per_sequence":
 * [{"before", "after", "forgetting"}...]}. */
json_t *seal_continual_to_json(const seal_continual_matrix *m);
/* The mean matrix (the before row on top) as an SVG heatmap. */
int seal_continual_write_svg(const seal_continual_matrix *m, const char *path, seal_error *e);

#endif
