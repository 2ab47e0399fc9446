/* trainer/evaluate.c — evaluation protocols as work items over the ranks,
 * written once over the task's plans, queries and grades. */
#include "trainer/evaluate.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/collective.h"
#include "comm/workqueue.h"
#include "model/lora.h"
#include "trainer/item_cost.h"
#include "trainer/items.h"
#include "trainer/seeds.h"

/* Items of one condition differ in the sample slot of their inner-loop seed
 * by the condition's place at its level plus this times the self-edit. */
#define SELFEDIT_SLOT_STRIDE 1024

typedef struct {
  char name[32];
  seal_condition_kind kind;
  int index; /* its place among the conditions of its level (in its seeds) */
} condition;

/* ---- shared pieces ----------------------------------------------------------- */

static int eval_contexts(const seal_run *run) {
  int n = run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_EVAL);
  if (run->job->data.n_eval > 0 && run->job->data.n_eval < n) n = run->job->data.n_eval;
  return n;
}

/* How many items context i grades (for a result that was lost). */
static int context_items(seal_run *run, int i) {
  seal_query *q;
  int n = run->domain.ops->queries(&run->domain, run->student, SEAL_SPLIT_EVAL, i, &q);
  seal_queries_free(q, n);
  return n;
}

static void run_or_abort(seal_run *run, int n, seal_work_fn work, seal_result_fn on_result,
                         void *user, const double *cost, const char *what, int *rc) {
  seal_workqueue_opts opts = seal_run_queue_opts(run);
  opts.cost = cost;
  seal_error e;
  *rc = seal_workqueue_run(run->comm, n, NULL, NULL, work, on_result, user, &opts, &e);
  if (*rc < 0) SEAL_DIE("%s: %s", what, e.msg);
}

/* ---- writing the evaluation's self-edits, several to a batch ------------------- */

/* Self-edits written together in one work item at most. A decode step of up to
 * 8 rows computes each row as for one (seal_sample_selfedits_of), and the
 * batches are cut from the list alone, never from the rank count, so the texts
 * are the same on any number of ranks. One at a time, the demo's evaluation
 * spent 3-4 s a self-edit reading every weight once a token for one row; 4 to a
 * batch read them once for 4 and still leave an item for each of the demo's 2
 * ranks (its levels write 6: 2 items of 3; one item of 6 left a rank idle). */
#define WRITE_BATCH 4

/* The level's n self-edits cut into ceil(n / WRITE_BATCH) items of nearly
 * equal size: item `item` writes [*t0, *t0 + *count). */
static void write_span(int n, int item, int *t0, int *count) {
  int items = (n + WRITE_BATCH - 1) / WRITE_BATCH, per = (n + items - 1) / items;
  *t0 = item * per;
  *count = n - *t0 < per ? n - *t0 : per;
}

typedef struct {
  seal_run *run;
  int level, n;
  const int *ctx, *j; /* [n] self-edit t is context ctx[t]'s number j[t] */
  char **texts;       /* [n] rank 0, then every rank after the broadcast */
  seal_progress progress;
  int done;
} write_ctx;

static int write_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  write_ctx *c = user;
  (void)payload, (void)len;
  seal_run *run = c->run;
  int t0, n;
  write_span(c->n, item, &t0, &n);
  uint64_t seeds[WRITE_BATCH];
  for (int t = 0; t < n; t++)
    seeds[t] = seal_item_seed(run->job->seed, c->level, c->ctx[t0 + t], c->j[t0 + t],
                              SEAL_STREAM_EVAL_SELFEDIT);
  seal_selfedit_batch b;
  seal_selfedit_batch_alloc(&b, c->ctx[t0], n);
  seal_sample_selfedits_of(&run->eng, &run->domain, run->job, SEAL_SPLIT_EVAL, c->ctx + t0, n,
                           seeds, b.texts, b.usable, b.reasons, b.attempts);
  seal_error e;
  char *text = seal_selfedit_batch_encode(&b, &e);
  SEAL_CHECK(text, "%s", e.msg);
  seal_buf_puts(out, text);
  free(text);
  seal_selfedit_batch_free(&b);
  return 0;
}

static void write_result(void *user, int item, int ok, const void *data, size_t len, int worker) {
  write_ctx *c = user;
  int t0, n;
  write_span(c->n, item, &t0, &n);
  seal_selfedit_batch b;
  seal_error e = {{0}};
  bool good = ok && seal_selfedit_batch_decode(data, len, &b, &e) == 0;
  if (good && b.k != n) {
    seal_selfedit_batch_free(&b);
    good = false;
    snprintf(e.msg, sizeof e.msg, "%d self-edits where %d were asked for", b.k, n);
  }
  if (!good)
    seal_warn(
        "self-edits %d..%d of the evaluation failed on rank %d%s%s; trained on nothing of "
        "their own",
        t0, t0 + n - 1, worker, e.msg[0] ? ": " : "", e.msg);
  for (int t = 0; t < n; t++) c->texts[t0 + t] = seal_strdup(good ? b.texts[t] : "");
  if (good) seal_selfedit_batch_free(&b);
  seal_progress_update(&c->progress, c->done += n, "written");
}

/* Broadcasts rank 0's N self-edits to every rank. */
static void bcast_texts(seal_run *run, char **texts, int N) {
  for (int p = 0; p < N; p++) {
    char *t = seal_comm_bcast_string(run->comm, run->comm->rank == 0 ? texts[p] : NULL);
    if (run->comm->rank == 0) free(texts[p]);
    texts[p] = t;
  }
}

/* Self-edit j[t] of evaluation context ctx[t] for t in [0, n), from the current
 * policy, on every rank: texts [n] malloc'd (free each). Returns the queue's
 * status; texts is NULL unless it is 0. */
static int write_selfedits(seal_run *run, int level, const int *ctx, const int *j, int n,
                           char ***texts) {
  write_ctx c = {.run = run, .level = level, .n = n, .ctx = ctx, .j = j};
  c.texts = seal_calloc((size_t)n + 1, sizeof(char *));
  int items = (n + WRITE_BATCH - 1) / WRITE_BATCH, rc;
  double *cost = NULL;
  if (run->comm->rank == 0) {
    cost = seal_calloc((size_t)items + 1, sizeof(double));
    for (int item = 0; item < items; item++) {
      int t0, count;
      write_span(n, item, &t0, &count);
      for (int t = t0; t < t0 + count; t++)
        cost[item] += seal_cost_write(run, SEAL_SPLIT_EVAL, ctx[t], 1);
    }
    seal_progress_begin(&c.progress, "write self-edits", n);
  }
  run_or_abort(run, items, write_work, write_result, &c, cost, "self-edits", &rc);
  free(cost);
  if (run->comm->rank == 0) seal_progress_end(&c.progress);
  if (rc) {
    for (int t = 0; t < n; t++) free(c.texts[t]);
    free(c.texts);
    *texts = NULL;
    return rc;
  }
  bcast_texts(run, c.texts, n);
  *texts = c.texts;
  return 0;
}

/* A context's row in eval.json: which context and self-edit, its reward,
 * metrics and answers. */
static json_t *context_json(const seal_run *run, int i, int j, const seal_eval_result *x) {
  const seal_domain *d = &run->domain;
  json_error_t je;
  json_t *answers = x->r.grade.detail_json ? json_loads(x->r.grade.detail_json, 0, &je) : NULL;
  json_t *o =
      json_pack("{s:i,s:s,s:i,s:o,s:b,s:s,s:i,s:i,s:i}", "context", i, "name",
                d->ops->context_name(d, SEAL_SPLIT_EVAL, i), "selfedit", j, "reward",
                seal_json_real(x->r.reward), "ok", x->r.ok, "reason", x->r.reason, "n_examples",
                x->r.n_examples, "n_items", x->r.grade.n_items, "n_correct", x->r.grade.n_correct);
  json_object_update_new(o, seal_metrics_by_name(d->ops, x->r.grade.metric));
  json_object_set_new(o, "answers", answers ? answers : json_null());
  return o;
}

static void add_row(seal_run *run, seal_eval_row *row, seal_eval_row **rows, int *n_rows) {
  const seal_domain_ops *ops = run->domain.ops;
  *rows = seal_realloc(*rows, (size_t)(*n_rows + 1) * sizeof **rows);
  (*rows)[(*n_rows)++] = *row;
  json_t *m = json_pack("{s:s,s:s,s:f}", "condition", row->condition, "protocol", row->protocol,
                        "accuracy", row->accuracy);
  json_object_update_new(m, seal_metrics_by_name(ops, row->metric));
  json_object_set_new(m, ops->contexts_label, json_integer(row->n_contexts));
  seal_metrics_emit(&run->metrics, "eval", m);
}

/* ---- single (n = 1): one inner loop per (condition, context, self-edit) ------------ */

typedef struct {
  seal_run *run;
  int level;
  const condition *conds;
  int n_cond, n_ctx, J;
  int n_items;
  int *cond_of, *ctx_of, *j_of; /* [n_items] */
  char **texts;          /* [n_items] the self-edit items' self-edits (every rank), else NULL */
  seal_eval_result *res; /* rank 0: [n_items] */
  seal_progress progress;
  int done;
} single_ctx;

/* Items: per condition, per context, per self-edit (one when it writes none). */
static void list_items(single_ctx *c) {
  int cap = c->n_cond * c->n_ctx * c->J;
  c->cond_of = seal_calloc((size_t)(cap ? cap : 1), sizeof(int));
  c->ctx_of = seal_calloc((size_t)(cap ? cap : 1), sizeof(int));
  c->j_of = seal_calloc((size_t)(cap ? cap : 1), sizeof(int));
  for (int k = 0; k < c->n_cond; k++) {
    int J = c->conds[k].kind == SEAL_COND_SELFEDIT ? c->J : 1;
    for (int i = 0; i < c->n_ctx; i++)
      for (int j = 0; j < J; j++) {
        c->cond_of[c->n_items] = k, c->ctx_of[c->n_items] = i, c->j_of[c->n_items] = j;
        c->n_items++;
      }
  }
  c->res = seal_calloc((size_t)(c->n_items ? c->n_items : 1), sizeof *c->res);
}

/* The inner loop's seed of an item. */
static uint64_t single_seed(const single_ctx *c, int item) {
  const condition *cond = &c->conds[c->cond_of[item]];
  return seal_item_seed(c->run->job->seed, c->level, c->ctx_of[item],
                        cond->index + SELFEDIT_SLOT_STRIDE * c->j_of[item], SEAL_STREAM_EVAL_INNER);
}

/* Rank 0: what each item costs, by its condition's kind. Every item answers its
 * context's questions; the passage condition first trains on the passage; the
 * self-edit condition trains on its self-edit (written before, in
 * write_selfedits) with the passage, so it is the costliest, and base, which
 * only answers, fills the gaps at the end. [n_items], malloc'd. */
static double *single_costs(const single_ctx *c) {
  const seal_run *run = c->run;
  double *cost = seal_calloc((size_t)(c->n_items ? c->n_items : 1), sizeof(double));
  for (int t = 0; t < c->n_items; t++) {
    int i = c->ctx_of[t];
    seal_condition_kind kind = c->conds[c->cond_of[t]].kind;
    uint64_t seed = single_seed(c, t);
    cost[t] = seal_cost_answer(run, SEAL_SPLIT_EVAL, i);
    if (kind == SEAL_COND_FIXED)
      cost[t] += seal_cost_train(run, SEAL_SPLIT_EVAL, i, kind, NULL, seed);
    else if (kind == SEAL_COND_SELFEDIT)
      cost[t] += seal_cost_train(run, SEAL_SPLIT_EVAL, i, kind, c->texts[t], seed);
  }
  return cost;
}

static int single_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  single_ctx *c = user;
  (void)payload, (void)len;
  seal_run *run = c->run;
  const condition *cond = &c->conds[c->cond_of[item]];
  int i = c->ctx_of[item];
  uint64_t seed = single_seed(c, item);
  seal_eval_result x = {.selfedit = cond->kind == SEAL_COND_SELFEDIT ? c->texts[item] : NULL};
  const char *texts[1] = {x.selfedit};
  seal_inner_evaluate(run->student, &run->domain, run->job, SEAL_SPLIT_EVAL, i, cond->kind, texts,
                      1, &seed, &x.r);
  char *text = seal_eval_result_encode(&x, run->domain.ops->n_metrics);
  seal_buf_puts(out, text);
  free(text);
  seal_inner_result_free(&x.r);
  return 0;
}

static void single_result(void *user, int item, int ok, const void *data, size_t len, int worker) {
  single_ctx *c = user;
  seal_run *run = c->run;
  seal_eval_result *x = &c->res[item];
  seal_error e = {{0}};
  if (!ok || seal_eval_result_decode(data, len, run->domain.ops->n_metrics, x, &e)) {
    seal_eval_result_free(x);
    seal_warn("evaluation item %d failed on rank %d%s%s; scored 0", item, worker,
              e.msg[0] ? ": " : "", e.msg);
    *x = (seal_eval_result){.selfedit = seal_strdup("")};
    x->r.grade.n_items = context_items(run, c->ctx_of[item]);
    snprintf(x->r.reason, sizeof x->r.reason, "the evaluation failed");
  }
  const condition *cond = &c->conds[c->cond_of[item]];
  json_t *m = json_pack("{s:s,s:i,s:i,s:i,s:o,s:b,s:s}", "condition", cond->name, "context",
                        c->ctx_of[item], "sample", c->j_of[item], "rank", worker, "reward",
                        seal_json_real(x->r.reward), "ok", x->r.ok, "reason", x->r.reason);
  json_object_update_new(m, seal_metrics_by_name(run->domain.ops, x->r.grade.metric));
  json_object_update_new(
      m, json_pack("{s:i,s:s}", "n_examples", x->r.n_examples, "selfedit", x->selfedit));
  seal_metrics_emit(&run->metrics, "eval_item", m);
  seal_progress_update(&c->progress, ++c->done, "%s", cond->name);
}

/* Condition k's row over its items. */
static seal_eval_row single_row(const single_ctx *c, int k, double seconds) {
  const seal_run *run = c->run;
  int n_metrics = run->domain.ops->n_metrics, count = 0;
  seal_eval_row row = {.n_contexts = c->n_ctx, .seconds = seconds};
  snprintf(row.condition, sizeof row.condition, "%s", c->conds[k].name);
  row.policy_round = c->conds[k].kind == SEAL_COND_SELFEDIT ? c->level : -1;
  snprintf(row.protocol, sizeof row.protocol, "%s",
           run->domain.ops->protocol_names[SEAL_PROTOCOL_SINGLE]);
  for (int t = 0; t < c->n_items; t++) count += c->cond_of[t] == k;
  json_t *per = json_array();
  for (int t = 0; t < c->n_items; t++) {
    if (c->cond_of[t] != k) continue;
    const seal_grade *g = &c->res[t].r.grade;
    row.accuracy += c->res[t].r.reward / count;
    for (int m = 0; m < n_metrics; m++) row.metric[m] += g->metric[m] * g->n_items;
    row.n_items += g->n_items;
    json_array_append_new(per, context_json(run, c->ctx_of[t], c->j_of[t], &c->res[t]));
  }
  for (int m = 0; row.n_items && m < n_metrics; m++) row.metric[m] /= row.n_items;
  row.per_context = json_dumps(per, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(per);
  return row;
}

/* The self-edit items' self-edits, written before any inner loop runs, all of
 * the level's in batches (write_selfedits): c->texts [n_items], NULL for the
 * other items. Returns the queue's status. */
static int write_single_selfedits(single_ctx *c) {
  c->texts = seal_calloc((size_t)c->n_items + 1, sizeof(char *));
  int *ctx = seal_malloc((size_t)c->n_items * sizeof(int) + 1); /* [n] of the items below */
  int *j = seal_malloc((size_t)c->n_items * sizeof(int) + 1);
  int *item = seal_malloc((size_t)c->n_items * sizeof(int) + 1);
  int n = 0;
  for (int t = 0; t < c->n_items; t++)
    if (c->conds[c->cond_of[t]].kind == SEAL_COND_SELFEDIT)
      ctx[n] = c->ctx_of[t], j[n] = c->j_of[t], item[n++] = t;
  char **texts = NULL;
  int rc = n ? write_selfedits(c->run, c->level, ctx, j, n, &texts) : 0;
  for (int w = 0; rc == 0 && w < n; w++) c->texts[item[w]] = texts[w];
  free(texts), free(ctx), free(j), free(item);
  return rc;
}

static int single_context(seal_run *run, int level, const condition *conds, int n_cond,
                          seal_eval_row **rows, int *n_rows) {
  single_ctx c = {.run = run,
                  .level = level,
                  .conds = conds,
                  .n_cond = n_cond,
                  .n_ctx = eval_contexts(run),
                  .J = run->job->evaluation.selfedits_per_context};
  list_items(&c);
  double t0 = seal_now();
  int rc = write_single_selfedits(&c);
  double *cost = run->comm->rank == 0 && rc == 0 ? single_costs(&c) : NULL;
  if (run->comm->rank == 0 && rc == 0) seal_progress_begin(&c.progress, "evaluate", c.n_items);
  if (rc == 0)
    run_or_abort(run, c.n_items, single_work, single_result, &c, cost, "evaluation", &rc);
  free(cost);
  if (run->comm->rank == 0) {
    seal_progress_end(&c.progress);
    for (int k = 0; rc == 0 && k < n_cond; k++) {
      seal_eval_row row = single_row(&c, k, (seal_now() - t0) / n_cond);
      add_row(run, &row, rows, n_rows);
    }
  }
  for (int t = 0; t < c.n_items; t++) seal_eval_result_free(&c.res[t]), free(c.texts[t]);
  free(c.res), free(c.cond_of), free(c.ctx_of), free(c.j_of), free(c.texts);
  return rc;
}

/* ---- continued pretraining (n = N): one LoRA over N contexts' plans --------------- */

typedef struct {
  seal_run *run;
  int level;
  char **texts;          /* [N] the self-edits (every rank, after the broadcast) */
  seal_eval_result *res; /* rank 0: [N] */
  const seal_lora *lora;
} cpt_ctx;

/* The examples of the N contexts' plans, in order (the same on every rank). */
static int cpt_examples(seal_run *run, int level, int N, seal_condition_kind kind, char **texts,
                        seal_inner_plan *plans, seal_sft_example **out) {
  int n = 0;
  seal_sft_example *ex = NULL;
  for (int p = 0; p < N; p++) {
    uint64_t seed = seal_item_seed(run->job->seed, level, p, 2, SEAL_STREAM_EVAL_CPT);
    seal_inner_plan_of(run->job, &run->domain, run->student, SEAL_SPLIT_EVAL, p, kind,
                       texts ? texts[p] : NULL, seed, &plans[p]);
    if (!plans[p].train) continue;
    ex = seal_realloc(ex, (size_t)(n + plans[p].n_ex + 1) * sizeof *ex);
    for (int j = 0; j < plans[p].n_ex; j++)
      ex[n++] = (seal_sft_example){plans[p].ex[j].ids, plans[p].ex[j].n, plans[p].ex[j].loss_from};
  }
  *out = ex;
  return n;
}

/* One LoRA on the examples, data-parallel over the ranks. */
static void cpt_train(seal_run *run, int level, const seal_plan_hparams *hp,
                      const seal_sft_example *ex, int n, seal_lora *lora) {
  seal_lora_create(lora, &run->student->model, hp->lora_r, (float)hp->lora_alpha, hp->lora_targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_seed(run->job->seed, level, 0, 0, SEAL_STREAM_EVAL_CPT));
  seal_lora_init(lora, &rng);
  seal_sft_config cfg =
      seal_inner_sft_config(hp, seal_item_seed(run->job->seed, level, 1, 0, SEAL_STREAM_EVAL_CPT));
  cfg.rank = run->comm->rank;
  cfg.world = run->comm->size;
  cfg.reduce = seal_run_reduce_student_grads;
  cfg.reduce_user = run;
  seal_sft_stats st;
  seal_sft_train(&run->student->model, lora, ex, n, &cfg, &st);
}

static int cpt_answer_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  cpt_ctx *c = user;
  (void)payload, (void)len;
  seal_run *run = c->run;
  const seal_domain *d = &run->domain;
  seal_query *q;
  int Q = d->ops->queries(d, run->student, SEAL_SPLIT_EVAL, item, &q);
  char **completions = seal_calloc((size_t)(Q + 1), sizeof(char *));
  seal_inner_answer(run->student, c->lora, 1, q, Q, completions);
  seal_eval_result x = {.r = {.ok = true, .first_loss = NAN, .last_loss = NAN}};
  d->ops->grade(d, SEAL_SPLIT_EVAL, item, q, (const char *const *)completions, Q, &x.r.grade);
  x.r.reward = x.r.label_reward = x.r.grade.reward;
  char *text = seal_eval_result_encode(&x, d->ops->n_metrics);
  seal_buf_puts(out, text);
  free(text);
  seal_inner_result_free(&x.r);
  for (int j = 0; j < Q; j++) free(completions[j]);
  free(completions);
  seal_queries_free(q, Q);
  return 0;
}

static void cpt_answer_result(void *user, int item, int ok, const void *data, size_t len,
                              int worker) {
  cpt_ctx *c = user;
  seal_eval_result *x = &c->res[item];
  seal_error e = {{0}};
  if (!ok || seal_eval_result_decode(data, len, c->run->domain.ops->n_metrics, x, &e)) {
    seal_eval_result_free(x);
    seal_warn("answers of evaluation context %d failed on rank %d%s%s; scored 0", item, worker,
              e.msg[0] ? ": " : "", e.msg);
    *x = (seal_eval_result){.selfedit = seal_strdup("")};
    x->r.grade.n_items = context_items(c->run, item);
  }
}

/* The row over every item of the N contexts. */
static seal_eval_row cpt_row(const cpt_ctx *c, const condition *cond, int N, double seconds) {
  const seal_run *run = c->run;
  int n_metrics = run->domain.ops->n_metrics, correct = 0;
  seal_eval_row row = {.n_contexts = N, .seconds = seconds};
  snprintf(row.condition, sizeof row.condition, "%s", cond->name);
  row.policy_round = cond->kind == SEAL_COND_SELFEDIT ? c->level : -1;
  snprintf(row.protocol, sizeof row.protocol, "%s",
           run->domain.ops->protocol_names[SEAL_PROTOCOL_CPT]);
  json_t *per = json_array();
  for (int p = 0; p < N; p++) {
    const seal_grade *g = &c->res[p].r.grade;
    correct += g->n_correct;
    row.n_items += g->n_items;
    for (int m = 0; m < n_metrics; m++) row.metric[m] += g->metric[m] * g->n_items;
    json_array_append_new(per, context_json(run, p, 0, &c->res[p]));
  }
  if (row.n_items) {
    row.accuracy = (double)correct / row.n_items;
    for (int m = 0; m < n_metrics; m++) row.metric[m] /= row.n_items;
  }
  row.per_context = json_dumps(per, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(per);
  return row;
}

/* Rank 0: what each of the N contexts' items costs: writing one self-edit
 * (write), or answering its questions with the one trained LoRA; the prompts
 * and questions differ by context. NULL on the other ranks. */
static double *cpt_answer_costs(const seal_run *run, int N) {
  if (run->comm->rank != 0) return NULL;
  double *cost = seal_calloc((size_t)(N ? N : 1), sizeof(double));
  for (int p = 0; p < N; p++) cost[p] = seal_cost_answer(run, SEAL_SPLIT_EVAL, p);
  return cost;
}

static int continued_pretraining(seal_run *run, int level, const condition *cond,
                                 seal_eval_row **rows, int *n_rows) {
  seal_protocol_settings ps;
  run->domain.ops->protocol_settings(&run->domain, SEAL_PROTOCOL_CPT, &ps);
  int n_all = run->domain.ops->n_contexts(&run->domain, SEAL_SPLIT_EVAL);
  int N = ps.n_contexts < n_all ? ps.n_contexts : n_all, rc = 0;
  double t0 = seal_now();
  cpt_ctx c = {.run = run, .level = level};
  bool with_selfedits = cond->kind == SEAL_COND_SELFEDIT;
  if (with_selfedits) { /* self-edit 0 of contexts 0..N-1 */
    int *ctx = seal_calloc((size_t)N + 1, sizeof(int)),
        *j = seal_calloc((size_t)N + 1, sizeof(int));
    for (int p = 0; p < N; p++) ctx[p] = p;
    rc = write_selfedits(run, level, ctx, j, N, &c.texts);
    free(ctx), free(j);
    if (rc) return 1;
  }
  seal_inner_plan *plans = seal_calloc((size_t)(N ? N : 1), sizeof *plans);
  seal_sft_example *ex;
  int n = cpt_examples(run, level, N, cond->kind, c.texts, plans, &ex);
  seal_lora lora;
  cpt_train(run, level, &ps.hp, ex, n, &lora);
  c.lora = &lora;
  c.res = seal_calloc((size_t)(N ? N : 1), sizeof *c.res);
  double *cost = cpt_answer_costs(run, N);
  run_or_abort(run, N, cpt_answer_work, cpt_answer_result, &c, cost, "answers", &rc);
  free(cost);
  if (run->comm->rank == 0 && rc == 0) {
    seal_eval_row row = cpt_row(&c, cond, N, seal_now() - t0);
    add_row(run, &row, rows, n_rows);
  }
  seal_lora_free(&lora);
  free(ex);
  for (int p = 0; p < N; p++) {
    seal_inner_plan_free(&plans[p]);
    seal_eval_result_free(&c.res[p]);
    if (c.texts) free(c.texts[p]);
  }
  free(plans), free(c.res), free(c.texts);
  return rc;
}

/* Every condition that trains something (the base model is the same under
 * either protocol). */
static int many_contexts(seal_run *run, int level, const condition *conds, int n_cond,
                         seal_eval_row **rows, int *n_rows) {
  for (int k = 0; k < n_cond; k++)
    if (conds[k].kind != SEAL_COND_BASE &&
        continued_pretraining(run, level, &conds[k], rows, n_rows))
      return 1;
  return 0;
}

/* ---- continual (issue 13): passages one after another, merged after each ---------- */

/* The guard's KL is measured over windows of at most this many tokens (a
 * window's logits, before and after, are on the host at once). */
#define KL_WINDOW 256

typedef struct {
  seal_run *run;
  int level, S, N, n_ctx;
  bool guarded;             /* this pass runs with continual.guard */
  seal_continual_matrix *m; /* rank 0 */
  int *unusable;            /* rank 0: [S] self-edits that were unusable (those steps
                               train on the passage alone) */
  json_t *per_sequence;     /* rank 0: [S] passages, unusable self-edits, last row's metrics */
  /* rank 0: [S] each sequence's metric sums over its last row's items and
   * their count, summed over the sequences in index order by the row (results
   * arrive in any order; the sum must not depend on it) */
  double (*seq_metric)[SEAL_DOMAIN_MAX_METRICS];
  int *seq_items;
  seal_progress progress;
  int done;
  int32_t *kl_ids; /* [kl_n] guarded with continual.guard.kl_text: its tokens */
  int kl_n;
} continual_ctx;

/* The passages of sequence s: N distinct evaluation contexts, drawn from the
 * sequence's seed (a partial Fisher-Yates shuffle). */
static void continual_passages(const continual_ctx *c, int s, int *out) {
  int *all = seal_malloc((size_t)c->n_ctx * sizeof(int));
  for (int i = 0; i < c->n_ctx; i++) all[i] = i;
  seal_rng rng;
  seal_rng_seed(&rng,
                seal_item_seed(c->run->job->seed, c->level, s, 0, SEAL_STREAM_EVAL_CONTINUAL));
  for (int k = 0; k < c->N; k++) {
    int pick = k + (int)(seal_rng_u64(&rng) % (uint64_t)(c->n_ctx - k));
    int t = all[k];
    all[k] = all[pick], all[pick] = t;
    out[k] = all[k];
  }
  free(all);
}

/* The weights a merge of the job's LoRA targets changes, copied aside on the
 * backend so that a sequence can start again from the level's model. */
typedef struct {
  void **saved; /* [n_layers * SEAL_LORA_N_TARGETS], NULL where not targeted */
  unsigned targets;
} weights_copy;

static size_t weight_bytes(const seal_model *m, int layer, int t, void **W) {
  int out, in;
  *W = seal_lora_base_weight(m, layer, (seal_lora_target)t, &out, &in);
  return seal_weight_bytes(m->be, (size_t)out, (size_t)in);
}

static void weights_save(const seal_model *m, unsigned targets, weights_copy *w) {
  w->targets = targets;
  w->saved = seal_calloc((size_t)m->cfg.n_layers * SEAL_LORA_N_TARGETS, sizeof(void *));
  for (int l = 0; l < m->cfg.n_layers; l++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      if (!(targets & SEAL_LORA_BIT(t))) continue;
      void *W;
      size_t bytes = weight_bytes(m, l, t, &W);
      void *copy = m->be->ops->alloc(m->be, bytes);
      m->be->ops->copy(m->be, copy, W, bytes);
      w->saved[l * SEAL_LORA_N_TARGETS + t] = copy;
    }
}

/* Puts the saved weights back; frees the copy when done is true. */
static void weights_restore(const seal_model *m, weights_copy *w, bool done) {
  for (int l = 0; l < m->cfg.n_layers; l++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      void *copy = w->saved[l * SEAL_LORA_N_TARGETS + t];
      if (!copy) continue;
      void *W;
      size_t bytes = weight_bytes(m, l, t, &W);
      m->be->ops->copy(m->be, W, copy, bytes);
      if (done) m->be->ops->free(m->be, copy);
    }
  m->be->ops->synchronize(m->be);
  if (done) free(w->saved), w->saved = NULL;
}

/* The reward of context p's questions under the model as it is now (with lora
 * when not NULL); adds the metrics times the items to metric and the items to
 * *n_items when given. */
static double continual_answer(seal_run *run, int p, const seal_lora *lora, double *metric,
                               int *n_items) {
  const seal_domain *d = &run->domain;
  seal_query *q;
  int Q = d->ops->queries(d, run->student, SEAL_SPLIT_EVAL, p, &q);
  char **completions = seal_calloc((size_t)(Q + 1), sizeof(char *));
  seal_inner_answer(run->student, lora, 1, q, Q, completions);
  seal_grade g = {0};
  d->ops->grade(d, SEAL_SPLIT_EVAL, p, q, (const char *const *)completions, Q, &g);
  double reward = g.reward;
  for (int m = 0; metric && m < d->ops->n_metrics; m++) metric[m] += g.metric[m] * g.n_items;
  if (n_items) *n_items += g.n_items;
  seal_grade_free(&g);
  for (int j = 0; j < Q; j++) free(completions[j]);
  free(completions);
  seal_queries_free(q, Q);
  return reward;
}

/* A fresh LoRA on plan's examples at lr_scale times its learning rate. The
 * testing hook harmful_update makes step k's update harmful on purpose (its
 * scale a hundred times too large), for the test of the guard. */
static void continual_train(const continual_ctx *c, int k, const seal_inner_plan *plan,
                            uint64_t inner, double lr_scale, seal_lora *lora) {
  seal_run *run = c->run;
  seal_sft_example *ex = seal_calloc((size_t)plan->n_ex, sizeof *ex);
  for (int j = 0; j < plan->n_ex; j++)
    ex[j] = (seal_sft_example){plan->ex[j].ids, plan->ex[j].n, plan->ex[j].loss_from};
  seal_plan_hparams hp = plan->hp;
  hp.lr *= lr_scale;
  seal_lora_create(lora, &run->student->model, hp.lora_r, (float)hp.lora_alpha, hp.lora_targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_subseed(inner, SEAL_SUBSTREAM_LORA_INIT, 0));
  seal_lora_init(lora, &rng);
  seal_sft_config cfg =
      seal_inner_sft_config(&hp, seal_item_subseed(inner, SEAL_SUBSTREAM_ORDER, 0));
  seal_sft_stats st;
  seal_sft_train(&run->student->model, lora, ex, plan->n_ex, &cfg, &st);
  if (run->job->testing.harmful_update == k) lora->scale *= 100;
  free(ex);
}

/* What the guard did in one sequence. */
typedef struct {
  json_t *refused; /* the steps whose update was not merged */
  int retries;
  json_t *kl; /* [N] per step, the KL of every update tried (empty: not measured) */
} guard_log;

/* Whether the trained lora keeps the probe (the questions of the last
 * guard.probe passages before step k) within guard.max_drop of the current
 * model's accuracy on them, prev[j] (measured after the previous update).
 * From the second passage on; the first has no earlier passages. */
static bool guard_drop_accepts(seal_run *run, const int *passages, int k, const double *prev,
                               const seal_lora *lora) {
  const seal_job_guard *g = &run->job->continual.guard;
  if (k == 0) return true;
  int from = k > g->probe ? k - g->probe : 0;
  double before = 0, after = 0;
  for (int j = from; j < k; j++) {
    before += prev[j];
    after += continual_answer(run, passages[j], lora, NULL, NULL);
  }
  return (before - after) / (k - from) <= g->max_drop;
}

/* Adds KL(current || current + lora) over ids[0..n) to *sum, *rows, in
 * windows of KL_WINDOW tokens. */
static void kl_over(seal_run *run, const seal_lora *lora, seal_train_acts *a, const int32_t *ids,
                    int n, double *sum, long *rows) {
  for (int t = 0; t < n; t += KL_WINDOW)
    seal_engine_kl_add(run->student, lora, a, ids + t, n - t < KL_WINDOW ? n - t : KL_WINDOW, sum,
                       rows);
}

/* The mean token KL(current model || with lora) over the guard's KL text:
 * continual.guard.kl_text, else the texts of the probe's passages (the
 * passage alone, the domain's fixed condition). NAN when there is no text
 * (step 0 without kl_text). */
static double guard_kl(const continual_ctx *c, const int *passages, int k, const seal_lora *lora) {
  seal_run *run = c->run;
  const seal_job_guard *g = &run->job->continual.guard;
  seal_train_acts a;
  seal_train_acts_create(&a, &run->student->model, KL_WINDOW, lora->r);
  double sum = 0;
  long rows = 0;
  if (g->kl_text) {
    kl_over(run, lora, &a, c->kl_ids, c->kl_n, &sum, &rows);
  } else {
    for (int j = k > g->probe ? k - g->probe : 0; j < k; j++) {
      seal_inner_plan plan;
      seal_inner_plan_of(run->job, &run->domain, run->student, SEAL_SPLIT_EVAL, passages[j],
                         SEAL_COND_FIXED, "", 0, &plan);
      for (int x = 0; x < plan.n_ex; x++)
        kl_over(run, lora, &a, plan.ex[x].ids, plan.ex[x].n, &sum, &rows);
      seal_inner_plan_free(&plan);
    }
  }
  seal_train_acts_free(&a, &run->student->model);
  return rows ? sum / (double)rows : NAN;
}

/* The guard's verdict on the trained lora at step k: the drop check, then,
 * with continual.guard.max_kl, the KL check (its value logged for the step). */
static bool guard_accepts(const continual_ctx *c, const int *passages, int k, const double *prev,
                          const seal_lora *lora, guard_log *log) {
  seal_run *run = c->run;
  const seal_job_guard *g = &run->job->continual.guard;
  bool ok = guard_drop_accepts(run, passages, k, prev, lora);
  if (g->max_kl > 0) {
    double kl = guard_kl(c, passages, k, lora);
    if (!isnan(kl)) {
      json_array_append_new(json_array_get(log->kl, (size_t)k), json_real(kl));
      if (kl > g->max_kl) ok = false;
    }
  }
  return ok;
}

/* Step k of sequence s: the current model writes a self-edit of passage
 * passages[k], a fresh LoRA trains on its plan (the passage alone when the
 * self-edit is unusable, as the reference does) and is merged into the
 * weights; when guarded, only if the guard accepts it (retrying at a lower
 * learning rate first when it says so). Returns whether the self-edit was
 * usable. */
static bool continual_update(continual_ctx *c, int s, int k, const int *passages,
                             unsigned saved_targets, const double *prev, guard_log *log) {
  seal_run *run = c->run;
  const seal_job_guard *g = &run->job->continual.guard;
  int p = passages[k];
  uint64_t seed = seal_item_seed(run->job->seed, c->level, s, 1 + k, SEAL_STREAM_EVAL_CONTINUAL);
  char *text = NULL, reason[1][SEAL_REASON_SIZE];
  bool usable;
  int attempts;
  seal_sample_selfedits(&run->eng, &run->domain, run->job, SEAL_SPLIT_EVAL, p, 1, &seed, &text,
                        &usable, reason, &attempts);
  uint64_t inner = seal_item_subseed(seed, SEAL_SUBSTREAM_PLAN, 1 + k);
  seal_inner_plan plan;
  seal_inner_plan_of(run->job, &run->domain, run->student, SEAL_SPLIT_EVAL, p, SEAL_COND_SELFEDIT,
                     usable ? text : "", inner, &plan);
  if (plan.train && plan.n_ex > 0) {
    SEAL_CHECK((plan.hp.lora_targets & ~saved_targets) == 0,
               "continual: a plan adapts targets outside the job's inner_loop.lora.targets");
    double lr_scale = 1;
    for (int attempt = 0;; attempt++) {
      seal_lora lora;
      continual_train(c, k, &plan, inner, lr_scale, &lora);
      bool merge = !c->guarded || guard_accepts(c, passages, k, prev, &lora, log);
      if (merge) seal_lora_merge(&lora, &run->student->model);
      seal_lora_free(&lora);
      if (merge) break;
      if (g->mode != SEAL_GUARD_RETRY || attempt >= g->retries) {
        json_array_append_new(log->refused, json_integer(k));
        break;
      }
      lr_scale *= g->lr_scale;
      log->retries++;
    }
  }
  seal_inner_plan_free(&plan);
  free(text);
  return usable;
}

static int continual_work(void *user, int s, const void *payload, size_t len, seal_buf *out) {
  continual_ctx *c = user;
  (void)payload, (void)len;
  seal_run *run = c->run;
  double t0 = seal_now();
  int N = c->N, *passages = seal_malloc((size_t)N * sizeof(int));
  double *prev = seal_calloc((size_t)N, sizeof(double)); /* the last row measured */
  continual_passages(c, s, passages);
  weights_copy w;
  weights_save(&run->student->model, run->job->inner.lora.targets, &w);
  json_t *before = json_array(), *after = json_array();
  for (int j = 0; j < N; j++)
    json_array_append_new(before, json_real(continual_answer(run, passages[j], NULL, NULL, NULL)));
  int unusable = 0, n_items = 0;
  double metric[SEAL_DOMAIN_MAX_METRICS] = {0};
  guard_log log = {.refused = json_array(), .kl = json_array()};
  for (int k = 0; k < N; k++) json_array_append_new(log.kl, json_array());
  for (int k = 0; k < N; k++) {
    unusable += !continual_update(c, s, k, passages, w.targets, prev, &log);
    json_t *row = json_array();
    bool last = k == N - 1;
    for (int j = 0; j <= k; j++) {
      prev[j] =
          continual_answer(run, passages[j], NULL, last ? metric : NULL, last ? &n_items : NULL);
      json_array_append_new(row, json_real(prev[j]));
    }
    json_array_append_new(after, row);
  }
  weights_restore(&run->student->model, &w, true);
  json_t *ids = json_array(), *metrics = json_array();
  for (int k = 0; k < N; k++) json_array_append_new(ids, json_integer(passages[k]));
  for (int m = 0; m < run->domain.ops->n_metrics; m++)
    json_array_append_new(metrics, json_real(metric[m]));
  json_t *o = json_pack("{s:o,s:o,s:o,s:i,s:o,s:i,s:f,s:o,s:i,s:o}", "passages", ids, "before",
                        before, "after", after, "unusable", unusable, "metric_sums", metrics,
                        "n_items", n_items, "seconds", seal_now() - t0, "guard_refused",
                        log.refused, "guard_retries", log.retries, "guard_kl", log.kl);
  free(prev);
  char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  seal_buf_puts(out, text);
  free(text);
  json_decref(o);
  free(passages);
  return 0;
}

/* Fills sequence s of the matrix from a worker's JSON; -1 when it is not one. */
static int continual_decode(continual_ctx *c, int s, const void *data, size_t len) {
  json_error_t je;
  json_t *o = json_loadb(data, len, 0, &je);
  json_t *before = json_object_get(o, "before"), *after = json_object_get(o, "after");
  int rc = json_is_array(before) && (int)json_array_size(before) == c->N && json_is_array(after) &&
                   (int)json_array_size(after) == c->N
               ? 0
               : -1;
  for (int i = 0; !rc && i < c->N; i++) {
    json_t *row = json_array_get(after, i);
    if (!json_is_array(row) || (int)json_array_size(row) != i + 1) rc = -1;
    for (int j = 0; !rc && j <= i; j++)
      seal_continual_set_after(c->m, s, i, j, json_number_value(json_array_get(row, j)));
  }
  for (int j = 0; !rc && j < c->N; j++)
    seal_continual_set_before(c->m, s, j, json_number_value(json_array_get(before, j)));
  json_t *sums = json_object_get(o, "metric_sums");
  if (!rc && !json_is_array(sums)) rc = -1;
  if (!rc) {
    c->unusable[s] = (int)json_integer_value(json_object_get(o, "unusable"));
    for (size_t m = 0; m < json_array_size(sums) && m < SEAL_DOMAIN_MAX_METRICS; m++)
      c->seq_metric[s][m] = json_number_value(json_array_get(sums, m));
    c->seq_items[s] = (int)json_integer_value(json_object_get(o, "n_items"));
    json_array_set_new(
        c->per_sequence, (size_t)s,
        json_pack("{s:i,s:O,s:i}", "sequence", s, "passages", json_object_get(o, "passages"),
                  "unusable_selfedits", c->unusable[s]));
    if (c->guarded)
      json_object_update_new(
          json_array_get(c->per_sequence, (size_t)s),
          json_pack("{s:O,s:I,s:O}", "guard_refused", json_object_get(o, "guard_refused"),
                    "guard_retries", json_integer_value(json_object_get(o, "guard_retries")),
                    "guard_kl", json_object_get(o, "guard_kl")));
  }
  json_decref(o);
  return rc;
}

static void continual_result(void *user, int s, int ok, const void *data, size_t len, int worker) {
  continual_ctx *c = user;
  if (!ok || continual_decode(c, s, data, len))
    seal_warn("continual sequence %d failed on rank %d; left out of the means", s, worker);
  seal_progress_update(&c->progress, ++c->done, "continual");
}

/* The row: accuracy = the mean over the last update's row (every passage after
 * all N updates), the matrix beside it. */
static seal_eval_row continual_row(const continual_ctx *c, const condition *cond, double seconds) {
  const seal_run *run = c->run;
  seal_eval_row row = {.n_contexts = c->N, .seconds = seconds};
  snprintf(row.condition, sizeof row.condition, "%s", cond->name);
  row.policy_round = cond->kind == SEAL_COND_SELFEDIT ? c->level : -1;
  snprintf(row.protocol, sizeof row.protocol, "%s%s",
           run->domain.ops->protocol_names[SEAL_PROTOCOL_CONTINUAL], c->guarded ? "+guard" : "");
  double sum = 0;
  int n = 0;
  for (int j = 0; j < c->N; j++) {
    double v = seal_continual_mean_after(c->m, c->N - 1, j);
    if (!isnan(v)) sum += v, n++;
  }
  row.accuracy = n ? sum / n : NAN;
  for (int q = 0; q < c->S; q++) {
    row.n_items += c->seq_items[q];
    for (int m = 0; m < run->domain.ops->n_metrics; m++) row.metric[m] += c->seq_metric[q][m];
  }
  for (int m = 0; row.n_items && m < run->domain.ops->n_metrics; m++) row.metric[m] /= row.n_items;
  row.continual = c->m;
  row.per_context = json_dumps(c->per_sequence, JSON_COMPACT);
  return row;
}

/* Rank 0: what each sequence costs. Sequence s writes a self-edit of each of
 * its N passages and trains on it, answers its passages' questions once
 * before the first update and, after update k, those of passages 0..k again
 * (the row of the matrix). Every sequence has N steps (and the same guard),
 * so they differ by their passages: long passages train and read longer.
 * The guard's probes and KL are left out: the same count per step
 * everywhere. [S], malloc'd. */
static double *continual_costs(const continual_ctx *c) {
  const seal_run *run = c->run;
  double *step = seal_malloc((size_t)c->n_ctx * sizeof(double));   /* [n_ctx] write, train */
  double *answer = seal_malloc((size_t)c->n_ctx * sizeof(double)); /* [n_ctx] */
  for (int p = 0; p < c->n_ctx; p++) {
    /* One plan per passage for every sequence and step, whatever their seeds:
     * only a plan's random draws (ARC's augmentations) depend on the seed, and
     * they barely change its size. */
    step[p] = seal_cost_write(run, SEAL_SPLIT_EVAL, p, 1) +
              seal_cost_train_unwritten(run, SEAL_SPLIT_EVAL, p, 0);
    answer[p] = seal_cost_answer(run, SEAL_SPLIT_EVAL, p);
  }
  double *cost = seal_calloc((size_t)(c->S ? c->S : 1), sizeof(double));
  int *passages = seal_malloc((size_t)(c->N ? c->N : 1) * sizeof(int));
  for (int s = 0; s < c->S; s++) {
    continual_passages(c, s, passages);
    for (int k = 0; k < c->N; k++) {
      cost[s] += step[passages[k]] + answer[passages[k]]; /* answer: before the updates */
      for (int j = 0; j <= k; j++) cost[s] += answer[passages[j]];
    }
  }
  free(passages), free(step), free(answer);
  return cost;
}

/* The guard's fixed KL text (continual.guard.kl_text) as tokens, *ids
 * malloc'd; fatal when it cannot be read or is empty. */
static int kl_text_ids(seal_run *run, int32_t **ids) {
  const char *path = run->job->continual.guard.kl_text;
  seal_error e;
  char *text = seal_read_file(path, NULL, &e);
  if (!text) SEAL_DIE("continual.guard.kl_text: %s", e.msg);
  int n = seal_engine_encode_prompt(run->student, text, ids);
  free(text);
  if (n <= 1) SEAL_DIE("continual.guard.kl_text: %s holds no text to measure the KL on", path);
  return n;
}

static int continual_condition(seal_run *run, int level, const condition *cond, bool guarded,
                               seal_eval_row **rows, int *n_rows) {
  continual_ctx c = {
      .run = run, .level = level, .S = run->job->continual.sequences, .guarded = guarded};
  if (guarded && run->job->continual.guard.max_kl > 0 && run->job->continual.guard.kl_text)
    c.kl_n = kl_text_ids(run, &c.kl_ids);
  c.n_ctx = eval_contexts(run);
  c.N = run->job->continual.length < c.n_ctx ? run->job->continual.length : c.n_ctx;
  if (run->comm->rank == 0) {
    if (c.N < run->job->continual.length)
      seal_warn("continual.length %d: only %d evaluation contexts; sequences of %d",
                run->job->continual.length, c.n_ctx, c.N);
    c.m = seal_calloc(1, sizeof *c.m);
    seal_continual_matrix_create(c.m, c.S, c.N);
    c.unusable = seal_calloc((size_t)c.S, sizeof(int));
    c.seq_metric = seal_calloc((size_t)(c.S ? c.S : 1), sizeof *c.seq_metric);
    c.seq_items = seal_calloc((size_t)(c.S ? c.S : 1), sizeof(int));
    c.per_sequence = json_array();
    for (int q = 0; q < c.S; q++) json_array_append_new(c.per_sequence, json_null());
    seal_progress_begin(&c.progress, guarded ? "continual+guard" : "continual", c.S);
  }
  double *cost = run->comm->rank == 0 ? continual_costs(&c) : NULL;
  double t0 = seal_now();
  int rc;
  run_or_abort(run, c.S, continual_work, continual_result, &c, cost, "continual", &rc);
  free(cost);
  if (run->comm->rank == 0) {
    seal_progress_end(&c.progress);
    if (rc == 0) {
      seal_eval_row row = continual_row(&c, cond, seal_now() - t0);
      add_row(run, &row, rows, n_rows);
      c.m = NULL; /* the row owns it */
    }
    if (c.m) seal_continual_matrix_free(c.m), free(c.m);
    free(c.unusable);
    free(c.seq_metric), free(c.seq_items);
    json_decref(c.per_sequence);
  }
  free(c.kl_ids);
  return rc;
}

/* The conditions with self-edits (the protocol is about the policy's updates);
 * with continual.guard, once without the guard and once with it, on the same
 * passages and seeds. */
static int continual(seal_run *run, int level, const condition *conds, int n_cond,
                     seal_eval_row **rows, int *n_rows) {
  bool guard = run->job->continual.guard.mode != SEAL_GUARD_OFF;
  for (int k = 0; k < n_cond; k++) {
    if (conds[k].kind != SEAL_COND_SELFEDIT) continue;
    if (continual_condition(run, level, &conds[k], false, rows, n_rows)) return 1;
    if (guard && continual_condition(run, level, &conds[k], true, rows, n_rows)) return 1;
  }
  return 0;
}

/* ---- the levels ------------------------------------------------------------------ */

typedef int (*protocol_fn)(seal_run *run, int level, const condition *conds, int n_cond,
                           seal_eval_row **rows, int *n_rows);

/* The protocols, in the order they run at each level. */
static const protocol_fn protocol_runners[SEAL_N_PROTOCOLS] = {
    [SEAL_PROTOCOL_SINGLE] = single_context,
    [SEAL_PROTOCOL_CPT] = many_contexts,
    [SEAL_PROTOCOL_CONTINUAL] = continual,
};

static int evaluate_level(seal_run *run, int level, const condition *conds, int n_cond,
                          seal_eval_row **rows, int *n_rows) {
  for (int p = 0; p < SEAL_N_PROTOCOLS; p++)
    if ((run->job->evaluation.protocols >> p & 1u) &&
        protocol_runners[p](run, level, conds, n_cond, rows, n_rows))
      return 1;
  return 0;
}

static condition make_condition(const char *name, seal_condition_kind kind, int index) {
  condition c = {.kind = kind, .index = index};
  snprintf(c.name, sizeof c.name, "%s", name);
  return c;
}

int seal_evaluate(seal_run *run, int max_round, seal_eval_row **rows, int *n_rows, seal_error *e) {
  const seal_domain_ops *ops = run->domain.ops;
  *rows = NULL;
  *n_rows = 0;
  if (eval_contexts(run) == 0)
    return seal_errorf(e, "%s: task %s has no evaluation contexts (its eval split is empty)",
                       run->job->source, ops->name);
  for (int p = 0; p < SEAL_N_PROTOCOLS; p++)
    if ((run->job->evaluation.protocols >> p & 1u) && !protocol_runners[p])
      return seal_errorf(e, "%s: evaluation.protocols: %s is not built yet", run->job->source,
                         ops->protocol_names[p]);
  int rounds = run->st.n_policy_rounds;
  seal_comm_bcast_raw(run->comm, &rounds, sizeof rounds);
  if (max_round >= 0 && max_round < rounds) rounds = max_round;
  condition first[3] = {make_condition(ops->base_name, SEAL_COND_BASE, 0),
                        make_condition(ops->fixed_name, SEAL_COND_FIXED, 1),
                        make_condition("seal-round-0", SEAL_COND_SELFEDIT, 2)};
  if (evaluate_level(run, 0, first, 3, rows, n_rows)) return 1;
  for (int t = 1; t <= rounds; t++) {
    /* every rank reads the policy from the checkpoint it resumed from */
    if (seal_run_merge_round(&run->eng, &run->st.policy[t - 1], t - 1, run->st.lora_alpha, e))
      return -1;
    char name[32];
    snprintf(name, sizeof name, "seal-round-%d", t);
    condition c = make_condition(name, SEAL_COND_SELFEDIT, 0);
    if (evaluate_level(run, t, &c, 1, rows, n_rows)) return 1;
  }
  return 0;
}

void seal_eval_rows_free(seal_eval_row *rows, int n) {
  for (int i = 0; i < n; i++) {
    free(rows[i].per_context), free(rows[i].labelfree);
    if (rows[i].continual) seal_continual_matrix_free(rows[i].continual), free(rows[i].continual);
  }
  free(rows);
}

seal_eval_models seal_eval_models_of(const seal_run *run) {
  bool t = seal_job_has_teacher(run->job);
  return (seal_eval_models){.writer = t ? run->job->teacher : run->job->model,
                            .learner = run->job->model,
                            .writer_device = run->device,
                            .learner_device = run->student_device,
                            .teacher = t};
}

void seal_eval_print(FILE *f, const seal_domain_ops *task, const seal_eval_models *models,
                     const seal_eval_row *rows, int n) {
  if (models->teacher)
    fprintf(f, "self-edits written by the teacher %s (on %s), learned by the student %s (on %s)\n",
            models->writer, models->writer_device, models->learner, models->learner_device);
  else
    fprintf(f, "self-edits written and learned by %s (teacher: self, on %s)\n", models->learner,
            models->learner_device);
  fprintf(f, "%-16s %-22s %8s %10s", "condition", "protocol", task->contexts_label, "accuracy");
  for (int m = 0; m < task->n_metrics; m++) fprintf(f, " %8s", task->metric_labels[m]);
  fprintf(f, "\n");
  for (int i = 0; i < n; i++) {
    fprintf(f, "%-16s %-22s %8d %9.1f%%", rows[i].condition, rows[i].protocol, rows[i].n_contexts,
            100 * rows[i].accuracy);
    for (int m = 0; m < task->n_metrics; m++) fprintf(f, " %7.1f%%", 100 * rows[i].metric[m]);
    fprintf(f, "\n");
  }
}

int seal_eval_write_json(const char *path, const seal_domain_ops *task,
                         const seal_eval_models *models, const seal_eval_row *rows, int n,
                         seal_error *e) {
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) {
    json_t *o =
        json_pack("{s:s,s:s}", "condition", rows[i].condition, "protocol", rows[i].protocol);
    json_object_set_new(o, task->contexts_label, json_integer(rows[i].n_contexts));
    json_object_set_new(o, task->items_label, json_integer(rows[i].n_items));
    json_object_set_new(o, "accuracy", json_real(rows[i].accuracy));
    json_object_update_new(o, seal_metrics_by_name(task, rows[i].metric));
    json_object_set_new(o, "seconds", json_real(rows[i].seconds));
    json_object_set_new(o, "writer", json_string(models->writer));
    json_object_set_new(o, "learner", json_string(models->learner));
    json_object_set_new(o, "writer_device", json_string(models->writer_device));
    json_object_set_new(o, "learner_device", json_string(models->learner_device));
    json_object_set_new(o, "teacher", json_boolean(models->teacher));
    json_error_t je;
    json_t *per = rows[i].per_context ? json_loads(rows[i].per_context, 0, &je) : NULL;
    json_object_set_new(o, "per_context", per ? per : json_array());
    if (rows[i].continual)
      json_object_set_new(o, "continual", seal_continual_to_json(rows[i].continual));
    json_t *lf = rows[i].labelfree ? json_loads(rows[i].labelfree, 0, &je) : NULL;
    if (lf) json_object_set_new(o, "labelfree", lf);
    json_array_append_new(arr, o);
  }
  char *s = json_dumps(arr, JSON_INDENT(2));
  json_decref(arr);
  int rc = seal_write_file_atomic(path, s, strlen(s), false, e);
  free(s);
  return rc;
}
