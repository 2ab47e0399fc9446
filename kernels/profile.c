/* kernels/profile.c — the profiling backend (kernels/profile.h). Its table is
 * generated from SEAL_OPS: a wrapper per op that waits for the inner backend,
 * reads the clock, passes the call on, waits again and adds the time to the
 * op's row. Five wrappers are written by hand: alloc and sum_squares return a
 * value, matmul and matmul_backward_input count the LM head apart, and destroy
 * prints the report and frees the profiler. */
#include "kernels/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  seal_backend *inner;
  int lm_head_width;
  FILE *report;
  char label[64]; /* whose ops these are ("teacher"), "" when unnamed */
  double start;   /* when profiling began (for the wall time beside the ops' time) */
  seal_op_profile total;
  seal_op_profile *sink; /* a caller's part of the profile, or NULL */
} profiler;

static const seal_ops profiled_ops;

/* ---- timing one call ----------------------------------------------------- */

/* Waits for work already queued, so that it is not counted in this call. */
static double call_begin(profiler *p) {
  p->inner->ops->synchronize(p->inner);
  return seal_now();
}

static void add_time(profiler *p, int row, double secs) {
  p->total.secs[row] += secs;
  p->total.calls[row]++;
  if (p->sink) {
    p->sink->secs[row] += secs;
    p->sink->calls[row]++;
  }
}

/* Waits for the call's own work, then counts it under row. */
static void call_end(profiler *p, int row, double t0) {
  p->inner->ops->synchronize(p->inner);
  add_time(p, row, seal_now() - t0);
}

/* ---- the generated wrappers ------------------------------------------------ */

/* Which ops have a hand-written wrapper below. HAND_WRITTEN(name) is 1 for
 * those, 0 for every other op: the HAND_WRITTEN_name macros exist only for the
 * five, and where one exists it puts a 1 in the second argument's place. */
#define HAND_WRITTEN_alloc ~, 1
#define HAND_WRITTEN_destroy ~, 1
#define HAND_WRITTEN_matmul ~, 1
#define HAND_WRITTEN_matmul_backward_input ~, 1
#define HAND_WRITTEN_sum_squares ~, 1
#define SECOND_ARG_(a, b, ...) b
#define SECOND_ARG(...) SECOND_ARG_(__VA_ARGS__)
#define HAND_WRITTEN(name) SECOND_ARG(HAND_WRITTEN_##name, 0, ~)
#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_(a, b)

/* Every other op returns void. The wrapper receives the profiled backend as
 * `be` and points `be` at the inner one, so the arguments pass on unchanged.
 * (A new op that returns a value gets this void wrapper, whose type then does
 * not match its table slot: the build fails until it is written by hand.) */
#define WRAPPER_0(name, params, args)  \
  static void profiled_##name params { \
    profiler *p_ = be->ctx;            \
    be = p_->inner;                    \
    double t0_ = call_begin(p_);       \
    be->ops->name args;                \
    call_end(p_, SEAL_OP_##name, t0_); \
  }
#define WRAPPER_1(name, params, args) /* written by hand below */
#define WRAPPER(ret, name, params, args) CONCAT(WRAPPER_, HAND_WRITTEN(name))(name, params, args)
SEAL_OPS(WRAPPER)
#undef WRAPPER

/* ---- the hand-written wrappers ------------------------------------------- */

static void *profiled_alloc(seal_backend *be, size_t bytes) {
  profiler *p = be->ctx;
  double t0 = call_begin(p);
  void *mem = p->inner->ops->alloc(p->inner, bytes);
  call_end(p, SEAL_OP_alloc, t0);
  return mem;
}

static double profiled_sum_squares(seal_backend *be, const float *x, size_t n) {
  profiler *p = be->ctx;
  double t0 = call_begin(p);
  double sum = p->inner->ops->sum_squares(p->inner, x, n);
  call_end(p, SEAL_OP_sum_squares, t0);
  return sum;
}

static void profiled_matmul(seal_backend *be, void *out, const void *inp, const void *weight,
                            const void *bias, int N, int I, int O) {
  profiler *p = be->ctx;
  double t0 = call_begin(p);
  p->inner->ops->matmul(p->inner, out, inp, weight, bias, N, I, O);
  call_end(p, O == p->lm_head_width ? SEAL_PROFILE_LM_HEAD : SEAL_OP_matmul, t0);
}

static void profiled_matmul_backward_input(seal_backend *be, void *dinp, const void *dout,
                                           const void *weight, int N, int I, int O,
                                           int accumulate) {
  profiler *p = be->ctx;
  double t0 = call_begin(p);
  p->inner->ops->matmul_backward_input(p->inner, dinp, dout, weight, N, I, O, accumulate);
  call_end(p, O == p->lm_head_width ? SEAL_PROFILE_LM_HEAD_BACKWARD : SEAL_OP_matmul_backward_input,
           t0);
}

static void print_report(profiler *p, const char *backend) {
  double ops = seal_op_profile_total(&p->total), wall = seal_now() - p->start;
  long calls = 0;
  for (int row = 0; row < SEAL_PROFILE_ROWS; row++) calls += p->total.calls[row];
  fflush(stdout); /* what the command printed comes before its profile */
  int rank = seal_get_rank();
  char who[32] = "";
  if (rank >= 0) snprintf(who, sizeof who, " [rank %d]", rank);
  fprintf(p->report,
          "seal profile%s%s%s: %s backend, %ld op calls, each synchronised before and after\n"
          "  ops %.2f ms of %.2f ms wall since profiling began\n",
          who, p->label[0] ? " of the " : "", p->label, backend, calls, 1e3 * ops, 1e3 * wall);
  seal_op_profile_print(p->report, &p->total, 1, "  ");
}

/* The inner backend's destroy waits for its own work; nothing is left to
 * synchronise after it. */
static void profiled_destroy(seal_backend *be) {
  profiler *p = be->ctx;
  double t0 = call_begin(p);
  const char *name = be->name; /* inner's static name, printed after inner is gone */
  p->inner->ops->destroy(p->inner);
  add_time(p, SEAL_OP_destroy, seal_now() - t0);
  if (p->report) print_report(p, name);
  free(p);
  free(be);
}

/* Every op of SEAL_OPS, in its order. */
static const seal_ops profiled_ops = {
#define ENTRY(ret, name, params, args) .name = profiled_##name,
    SEAL_OPS(ENTRY)
#undef ENTRY
};

/* ---- the public half ------------------------------------------------------- */

seal_backend *seal_backend_profiled(seal_backend *inner, int lm_head_width, FILE *report) {
  profiler *p = seal_calloc(1, sizeof *p);
  p->inner = inner;
  p->lm_head_width = lm_head_width;
  p->report = report;
  p->start = seal_now();
  seal_backend *be = seal_calloc(1, sizeof *be);
  be->name = inner->name;
  be->act = inner->act;
  be->weight = inner->weight;
  be->ops = &profiled_ops;
  be->ctx = p;
  return be;
}

seal_backend *seal_backend_base(seal_backend *be) {
  while (be->ops == &profiled_ops) be = ((profiler *)be->ctx)->inner;
  return be;
}

void seal_backend_profile_label(seal_backend *be, const char *label) {
  if (be->ops == &profiled_ops)
    snprintf(((profiler *)be->ctx)->label, sizeof((profiler *)be->ctx)->label, "%s", label);
}

const seal_op_profile *seal_backend_profile(const seal_backend *be) {
  return be->ops == &profiled_ops ? &((const profiler *)be->ctx)->total : NULL;
}

void seal_backend_profile_into(seal_backend *be, seal_op_profile *sink) {
  if (be->ops == &profiled_ops) ((profiler *)be->ctx)->sink = sink;
}

const char *seal_profile_row_name(int row) {
  if (row == SEAL_PROFILE_LM_HEAD) return "matmul [lm_head]";
  if (row == SEAL_PROFILE_LM_HEAD_BACKWARD) return "matmul_backward_input [lm_head]";
  return row >= 0 && row < SEAL_OP_COUNT ? seal_op_names[row] : "?";
}

double seal_op_profile_total(const seal_op_profile *p) {
  double total = 0;
  for (int row = 0; row < SEAL_PROFILE_ROWS; row++) total += p->secs[row];
  return total;
}

void seal_op_profile_print(FILE *out, const seal_op_profile *p, int runs, const char *indent) {
  int order[SEAL_PROFILE_ROWS], n = 0;
  for (int row = 0; row < SEAL_PROFILE_ROWS; row++)
    if (p->calls[row] > 0) order[n++] = row;
  for (int i = 1; i < n; i++) /* insertion sort by time, descending */
    for (int j = i; j > 0 && p->secs[order[j]] > p->secs[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  double total = seal_op_profile_total(p);
  if (runs < 1) runs = 1;
  for (int k = 0; k < n; k++) {
    int row = order[k];
    fprintf(out, "%s%-34s %9.2f ms %5.1f%% %8ld calls\n", indent, seal_profile_row_name(row),
            1e3 * p->secs[row] / runs, total > 0 ? 100.0 * p->secs[row] / total : 0.0,
            p->calls[row] / runs);
  }
  fflush(out);
}
