/* trainer/items.h — the payloads of the work items (comm/workqueue.h carries
 * bytes): one struct per kind, each with an encode/decode pair. The wire form
 * is compact JSON with doubles at 17 digits (they read back exactly; NaN
 * travels as null); decoding checks every field and fails with a message
 * naming the payload and the field, never by reading garbage.
 *
 *   GENERATE(context)                -> seal_selfedit_batch (k self-edits)
 *   EVALUATE(context, pairs)         -> seal_evaluate_result (one inner loop per pair)
 *   the kept self-edits (rank 0 -> every rank, for the policy update)
 *   seal eval: one self-edit         -> seal_selfedit_batch (k = 1)
 *   seal eval: one graded item       -> seal_eval_result */
#ifndef SEAL_TRAINER_ITEMS_H
#define SEAL_TRAINER_ITEMS_H

#include <stdbool.h>
#include <stddef.h>

#include "trainer/inner.h"
#include "util/util.h"

/* GENERATE's payload: the contexts whose k self-edits one item writes, decoded
 * together (at most this many; round.c puts 8 / k in one). */
#define SEAL_GENERATE_MAX_CONTEXTS 8
typedef struct {
  int n;
  int context[SEAL_GENERATE_MAX_CONTEXTS];
} seal_generate_item;

/* Self-edits sampled for one context (seal_sample_selfedits). */
typedef struct {
  int context, k;
  char **texts;                      /* [k] */
  bool *usable;                      /* [k] */
  char (*reasons)[SEAL_REASON_SIZE]; /* [k] */
  int *attempts;                     /* [k] */
} seal_selfedit_batch;

/* One (sample, repeat) of an EVALUATE item. */
typedef struct {
  int sample, repeat;
  char *text;
} seal_evaluate_pair;

/* EVALUATE's payload: pairs of one context trained together. */
typedef struct {
  int context, n;
  seal_evaluate_pair *pairs; /* [n] */
} seal_evaluate_item;

/* EVALUATE's result: one inner loop per pair, in the item's order. */
typedef struct {
  int n;
  seal_inner_result *results; /* [n]; the grade's detail does not travel */
} seal_evaluate_result;

/* A self-edit kept by the ReST-EM filter. */
typedef struct {
  int context, sample;
  double mean; /* its mean reward */
  char *text;
} seal_kept;

typedef struct {
  int n;
  seal_kept *items; /* [n] */
} seal_kept_list;

/* A graded evaluation item: the inner loop (or the answers of a model trained
 * elsewhere) and the self-edit it trained on ("" when none). */
typedef struct {
  seal_inner_result r; /* with the grade's detail */
  char *selfedit;
} seal_eval_result;

/* Encoders return malloc'd text; decoders fill *out (free it with the
 * matching _free, also after a failure) and return 0, or -1 with e filled.
 * n_metrics: the task's metric count, which the metrics arrays must have. */
char *seal_generate_item_encode(const seal_generate_item *x);
int seal_generate_item_decode(const void *data, size_t len, seal_generate_item *out, seal_error *e);

void seal_selfedit_batch_alloc(seal_selfedit_batch *b, int context, int k);
char *seal_selfedit_batch_encode(const seal_selfedit_batch *x, seal_error *e);
int seal_selfedit_batch_decode(const void *data, size_t len, seal_selfedit_batch *out,
                               seal_error *e);
void seal_selfedit_batch_free(seal_selfedit_batch *x);
/* GENERATE's result: the batches of an item's n contexts, in its order
 * (*out [*n] malloc'd: free each batch, also after a failure, then *out). */
char *seal_selfedit_batches_encode(const seal_selfedit_batch *x, int n, seal_error *e);
int seal_selfedit_batches_decode(const void *data, size_t len, seal_selfedit_batch **out, int *n,
                                 seal_error *e);

char *seal_evaluate_item_encode(const seal_evaluate_item *x);
int seal_evaluate_item_decode(const void *data, size_t len, seal_evaluate_item *out, seal_error *e);
void seal_evaluate_item_free(seal_evaluate_item *x);

char *seal_evaluate_result_encode(const seal_evaluate_result *x, int n_metrics);
int seal_evaluate_result_decode(const void *data, size_t len, int n_metrics,
                                seal_evaluate_result *out, seal_error *e);
void seal_evaluate_result_free(seal_evaluate_result *x);

char *seal_kept_list_encode(const seal_kept_list *x);
int seal_kept_list_decode(const char *text, seal_kept_list *out, seal_error *e);
void seal_kept_list_free(seal_kept_list *x);

char *seal_eval_result_encode(const seal_eval_result *x, int n_metrics);
int seal_eval_result_decode(const void *data, size_t len, int n_metrics, seal_eval_result *out,
                            seal_error *e);
void seal_eval_result_free(seal_eval_result *x);

#endif
