/* trainer/metrics.h — a run's metrics as JSON lines beside its checkpoint (one
 * object per event), and an SVG plot of reward and accuracy per round. */
#ifndef SEAL_TRAINER_METRICS_H
#define SEAL_TRAINER_METRICS_H

#include <jansson.h>
#include <stdio.h>

#include "evaluator/domain.h"
#include "util/util.h"

typedef struct {
  FILE *f; /* NULL: metrics off (ranks other than 0) */
  double t0;
} seal_metrics;

/* Opens path for appending (a resumed run continues the same file). */
int seal_metrics_open(seal_metrics *m, const char *path, seal_error *e);
void seal_metrics_close(seal_metrics *m);
/* Moves the file to path.prev and reopens an empty one (a restarted run does
 * not mix its events with the old run's). */
void seal_metrics_rotate(seal_metrics *m, const char *path);

/* Writes {"event": event, "time": seconds since open, ...obj} as one line and
 * flushes; takes ownership of obj. */
void seal_metrics_emit(seal_metrics *m, const char *event, json_t *obj);

/* A JSON number, or null when v is NaN or infinite (JSON has no NaN). */
json_t *seal_json_real(double v);

/* The task's metrics metric[0..ops->n_metrics) as a JSON object by name
 * ({"em": 0.5, "f1": 0.6, ...}), for events, records and eval.json. */
json_t *seal_metrics_by_name(const seal_domain_ops *ops, const double *metric);

/* Draws reward per round (from "round" events) and accuracy per policy round
 * (from "eval" events) of a metrics file into an SVG file. */
int seal_metrics_plot(const char *metrics_path, const char *svg_path, seal_error *e);

#endif
