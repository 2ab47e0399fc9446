/* kernels/profile.h — a backend that wraps another and times every op: the
 * profiler behind `--profile`. Each call waits for the inner backend before
 * and after it (synchronize: a no-op on cpu, the stream on cuda), so an op's
 * own time is measured, at the cost of the overlap a real run has between
 * queued GPU work and the host. Results are the same as on the inner backend:
 * every call is passed on unchanged.
 *
 * Not thread-safe: the ops of one backend are called from one thread at a
 * time, as the backends themselves require. */
#ifndef SEAL_KERNELS_PROFILE_H
#define SEAL_KERNELS_PROFILE_H

#include <stdio.h>

#include "kernels/ops.h"

/* Rows of a profile: one per op (row = its seal_op), then the LM head's two
 * matmuls, counted apart because on a small model they are a large share. */
enum {
  SEAL_PROFILE_LM_HEAD = SEAL_OP_COUNT, /* matmul with O = the LM head width */
  SEAL_PROFILE_LM_HEAD_BACKWARD,        /* matmul_backward_input with O = that width */
  SEAL_PROFILE_ROWS
};

typedef struct {
  double secs[SEAL_PROFILE_ROWS];
  long calls[SEAL_PROFILE_ROWS];
} seal_op_profile;

/* A backend that runs every op on inner and times it. It takes inner over:
 * destroying it destroys inner. Its name and act are inner's. matmul and
 * matmul_backward_input calls with O == lm_head_width go to the LM-head rows
 * (0: none do). When report is not NULL, destroying it prints the table of
 * every call it timed there. */
seal_backend *seal_backend_profiled(seal_backend *inner, int lm_head_width, FILE *report);

/* Names whose ops a profiled backend times ("teacher"): its report's header
 * says "seal profile of the LABEL", so that two engines' reports tell apart.
 * Does nothing when be is not profiled. */
void seal_backend_profile_label(seal_backend *be, const char *label);

/* The calls timed so far, or NULL when be is not a profiled backend. */
const seal_op_profile *seal_backend_profile(const seal_backend *be);

/* From now on each op's time is also added to *sink (NULL: to no sink), so that
 * a caller can split the profile into parts (seal bench: prefill, decode, SFT
 * step; warm-ups into none). Does nothing when be is not profiled. */
void seal_backend_profile_into(seal_backend *be, seal_op_profile *sink);

/* "matmul", ..., "matmul [lm_head]": the name of a profile row. */
const char *seal_profile_row_name(int row);

/* Seconds of every row together. */
double seal_op_profile_total(const seal_op_profile *p);

/* One line per row that was called, slowest first: name, milliseconds and
 * calls per run (each divided by runs), and the row's share of the total.
 * Every line starts with indent. */
void seal_op_profile_print(FILE *out, const seal_op_profile *p, int runs, const char *indent);

#endif
