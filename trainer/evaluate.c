/* trainer/evaluate.c — evaluation protocols as work items over the ranks. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/collective.h"
#include "comm/workqueue.h"
#include "evaluator/prompts.h"
#include "evaluator/selfedit.h"
#include "trainer/evaluate.h"

enum { STREAM_EVAL_SELFEDIT = 500, STREAM_EVAL_INNER = 600, STREAM_EVAL_CPT = 700 };

typedef struct {
  seal_run *run;
  int level; /* policy rounds merged */
  int n_passages;
  /* per (condition, passage) results on rank 0 */
  double *reward, *em, *f1, *contains; /* [n_conditions * n_passages] */
  int *n_questions;
  int n_conditions;
  char (*names)[32];
  seal_progress progress;
  int done;
} eval_ctx;

static int eval_passages(const seal_run *run) {
  int n = run->eval.n_passages;
  if (run->job->data.n_eval > 0 && run->job->data.n_eval < n) n = run->job->data.n_eval;
  return n;
}

/* One self-edit for an evaluation passage from the current policy. */
static char *eval_selfedit(seal_run *run, int level, int passage) {
  const seal_squad_passage *p = &run->eval.passages[passage];
  const seal_job_selfedit *se = &run->job->selfedit;
  char *prompt = seal_prompt_selfedit(se->prompt, p->title, p->context);
  const char *prompts[1] = {prompt};
  uint64_t seed = seal_item_seed(run->job->seed, level, passage, 0, STREAM_EVAL_SELFEDIT);
  seal_sampling s = {.temperature = (float)se->temperature,
                     .top_p = (float)se->top_p,
                     .max_new_tokens = se->max_tokens};
  char *text = NULL;
  seal_engine_complete(&run->eng, NULL, prompts, 1, &s, &seed, &text, NULL);
  free(prompt);
  return text;
}

/* item -> (condition, passage) */
static int eval_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  eval_ctx *ec = user;
  (void)payload, (void)len;
  seal_run *run = ec->run;
  int cond = item / ec->n_passages, passage = item % ec->n_passages;
  const char *name = ec->names[cond];
  seal_inner_mode mode = !strcmp(name, "base")      ? SEAL_TRAIN_NOTHING
                         : !strcmp(name, "passage") ? SEAL_TRAIN_PASSAGE
                                                    : SEAL_TRAIN_SELFEDIT;
  char *text = mode == SEAL_TRAIN_SELFEDIT ? eval_selfedit(run, ec->level, passage) : NULL;
  seal_inner_result r;
  uint64_t seed = seal_item_seed(run->job->seed, ec->level, passage, cond, STREAM_EVAL_INNER);
  seal_inner_evaluate(&run->eng, run->job, &run->qa, &run->eval.passages[passage], mode, text, seed,
                      &r);
  json_t *res =
      json_pack("{s:f,s:f,s:f,s:f,s:i,s:s}", "reward", r.reward, "em", r.em, "f1", r.f1, "contains",
                r.contains, "n_sequences", r.n_sequences, "selfedit", text ? text : "");
  if (!res) {
    seal_buf_printf(out, "could not encode the result of evaluation item %d", item);
    free(text);
    return -1;
  }
  char *dump = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(17));
  seal_buf_puts(out, dump);
  free(dump);
  json_decref(res);
  free(text);
  return 0;
}

static void eval_result(void *user, int item, int ok, const void *data, size_t len, int worker) {
  eval_ctx *ec = user;
  json_error_t je;
  json_t *res = ok ? json_loadb(data, len, 0, &je) : NULL;
  double reward = res ? json_number_value(json_object_get(res, "reward")) : 0.0;
  if (!res) seal_warn("evaluation item %d failed on rank %d; scored 0", item, worker);
  ec->reward[item] = reward;
  ec->em[item] = res ? json_number_value(json_object_get(res, "em")) : 0;
  ec->f1[item] = res ? json_number_value(json_object_get(res, "f1")) : 0;
  ec->contains[item] = res ? json_number_value(json_object_get(res, "contains")) : 0;
  int cond = item / ec->n_passages, passage = item % ec->n_passages;
  json_t *m =
      json_pack("{s:s,s:i,s:i}", "condition", ec->names[cond], "passage", passage, "rank", worker);
  if (res) json_object_update(m, res);
  seal_metrics_emit(&ec->run->metrics, "eval_item", m);
  json_decref(res);
  seal_progress_update(&ec->progress, ++ec->done, "%s", ec->names[cond]);
}

/* Runs the single-passage protocol for the named conditions at the current
 * policy level, appending rows on rank 0. */
static int single_passage(seal_run *run, int level, char (*names)[32], int n_cond,
                          seal_eval_row **rows, int *n_rows) {
  int P = eval_passages(run);
  int n = n_cond * P;
  eval_ctx ec = {
      .run = run, .level = level, .n_passages = P, .n_conditions = n_cond, .names = names};
  ec.reward = seal_calloc((size_t)n, sizeof(double));
  ec.em = seal_calloc((size_t)n, sizeof(double));
  ec.f1 = seal_calloc((size_t)n, sizeof(double));
  ec.contains = seal_calloc((size_t)n, sizeof(double));
  if (run->comm->rank == 0) seal_progress_begin(&ec.progress, "evaluate", n);
  double t0 = seal_now();
  seal_workqueue_opts opts = seal_run_queue_opts(run);
  seal_error e;
  int rc = seal_workqueue_run(run->comm, n, NULL, NULL, eval_work, eval_result, &ec, &opts, &e);
  if (rc < 0) seal_comm_abort(1, "evaluation: %s", e.msg);
  if (run->comm->rank == 0) {
    seal_progress_end(&ec.progress);
    for (int c = 0; c < n_cond; c++) {
      seal_eval_row row = {.n_passages = P};
      snprintf(row.condition, sizeof row.condition, "%s", names[c]);
      snprintf(row.protocol, sizeof row.protocol, "single-passage");
      for (int p = 0; p < P; p++) {
        int i = c * P + p, q = run->eval.passages[p].n_questions;
        row.accuracy += ec.reward[i] / P;
        row.em += ec.em[i] * q, row.f1 += ec.f1[i] * q, row.contains += ec.contains[i] * q;
        row.n_questions += q;
      }
      if (row.n_questions)
        row.em /= row.n_questions, row.f1 /= row.n_questions, row.contains /= row.n_questions;
      row.seconds = (seal_now() - t0) / n_cond;
      *rows = seal_realloc(*rows, (size_t)(*n_rows + 1) * sizeof **rows);
      (*rows)[(*n_rows)++] = row;
      seal_metrics_emit(&run->metrics, "eval",
                        json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:i}", "condition", row.condition,
                                  "protocol", row.protocol, "accuracy", row.accuracy, "em", row.em,
                                  "f1", row.f1, "contains", row.contains, "passages", P));
    }
  }
  free(ec.reward), free(ec.em), free(ec.f1), free(ec.contains);
  return rc;
}

/* ---- continued pretraining (n = N) ------------------------------------------ */

typedef struct {
  seal_run *run;
  int level;
  char **texts;             /* rank 0: [N] self-edits */
  int *correct, *questions; /* rank 0: [N] */
  double *em, *f1, *contains;
  const seal_lora *lora;
} cpt_ctx;

static int cpt_generate_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  cpt_ctx *c = user;
  (void)payload, (void)len;
  char *text = eval_selfedit(c->run, c->level, item);
  seal_buf_puts(out, text);
  free(text);
  return 0;
}

static void cpt_generate_result(void *user, int item, int ok, const void *data, size_t len,
                                int worker) {
  cpt_ctx *c = user;
  (void)worker;
  c->texts[item] = seal_malloc(len + 1);
  memcpy(c->texts[item], ok ? data : "", ok ? len : 0);
  c->texts[item][ok ? len : 0] = '\0';
}

static int cpt_answer_work(void *user, int item, const void *payload, size_t len, seal_buf *out) {
  cpt_ctx *c = user;
  (void)payload, (void)len;
  seal_qa_result r;
  seal_knowledge_answer(&c->run->eng, c->lora, &c->run->eval.passages[item], &c->run->qa, &r);
  seal_buf_printf(out, "%d %d %.17g %.17g %.17g", r.n_correct, r.n_questions, r.em, r.f1,
                  r.contains);
  seal_qa_result_free(&r);
  return 0;
}

static void cpt_answer_result(void *user, int item, int ok, const void *data, size_t len,
                              int worker) {
  cpt_ctx *c = user;
  (void)worker, (void)len;
  if (!ok || sscanf(data, "%d %d %lf %lf %lf", &c->correct[item], &c->questions[item], &c->em[item],
                    &c->f1[item], &c->contains[item]) != 5)
    c->correct[item] = 0, c->questions[item] = c->run->eval.passages[item].n_questions;
}

/* The training texts of the N passages: each self-edit's sequences, or the
 * passages alone; the same on every rank (self-edits come from rank 0). */
static int cpt_texts(seal_run *run, int N, int with_selfedits, char **selfedits, char ***out) {
  int n = 0;
  char **texts = NULL;
  for (int p = 0; p < N; p++) {
    const seal_squad_passage *ps = &run->eval.passages[p];
    seal_selfedit_opts o = {.split_lines = true, .add_passage = true};
    seal_train_seqs seqs;
    seal_selfedit_sequences(with_selfedits ? selfedits[p] : "", ps->title, ps->context, &o, &seqs);
    texts = seal_realloc(texts, (size_t)(n + seqs.n + 1) * sizeof(char *));
    for (int i = 0; i < seqs.n; i++) texts[n++] = seal_strdup(seqs.seqs[i]);
    seal_train_seqs_free(&seqs);
  }
  *out = texts;
  return n;
}

/* Broadcasts rank 0's N self-edits to every rank. */
static void bcast_texts(seal_run *run, char **texts, int N) {
  for (int p = 0; p < N; p++) {
    char *t = seal_comm_bcast_string(run->comm, run->comm->rank == 0 ? texts[p] : NULL);
    if (run->comm->rank == 0) free(texts[p]);
    texts[p] = t;
  }
}

static int continued_pretraining(seal_run *run, int level, const char *name, int with_selfedits,
                                 seal_eval_row **rows, int *n_rows) {
  const seal_job *job = run->job;
  int N = job->evaluation.cpt.n_passages < run->eval.n_passages ? job->evaluation.cpt.n_passages
                                                                : run->eval.n_passages;
  double t0 = seal_now();
  cpt_ctx c = {.run = run, .level = level};
  c.texts = seal_calloc((size_t)N, sizeof(char *));
  seal_workqueue_opts opts = seal_run_queue_opts(run);
  seal_error e;
  if (with_selfedits) {
    int rc = seal_workqueue_run(run->comm, N, NULL, NULL, cpt_generate_work, cpt_generate_result,
                                &c, &opts, &e);
    if (rc) return rc < 0 ? (seal_comm_abort(1, "%s", e.msg), -1) : 1;
    bcast_texts(run, c.texts, N);
  }
  char **texts;
  int n = cpt_texts(run, N, with_selfedits, c.texts, &texts);
  seal_sft_example *ex = seal_calloc((size_t)(n ? n : 1), sizeof *ex);
  seal_sft_examples_from_texts(&run->eng, texts, n, ex);
  seal_lora lora;
  seal_lora_create(&lora, &run->eng.model, job->evaluation.cpt.lora.r,
                   (float)job->evaluation.cpt.lora.alpha, job->evaluation.cpt.lora.targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_seed(job->seed, level, 0, 0, STREAM_EVAL_CPT));
  seal_lora_init(&lora, &rng);
  seal_sft_config cfg = {.epochs = job->evaluation.cpt.epochs,
                         .batch_size = job->evaluation.cpt.batch_size,
                         .shuffle = true,
                         .seed = seal_item_seed(job->seed, level, 1, 0, STREAM_EVAL_CPT),
                         .opt = seal_adamw_defaults((float)job->evaluation.cpt.lr, 0.0f, 1.0f,
                                                    SEAL_SCHEDULE_LINEAR, 0, 0),
                         .rank = run->comm->rank,
                         .world = run->comm->size,
                         .reduce = seal_run_reduce_grads,
                         .reduce_user = run};
  seal_sft_stats st;
  seal_sft_train(&run->eng.model, &lora, ex, n, &cfg, &st);
  c.lora = &lora;
  c.correct = seal_calloc((size_t)N, sizeof(int));
  c.questions = seal_calloc((size_t)N, sizeof(int));
  c.em = seal_calloc((size_t)N, sizeof(double));
  c.f1 = seal_calloc((size_t)N, sizeof(double));
  c.contains = seal_calloc((size_t)N, sizeof(double));
  int rc = seal_workqueue_run(run->comm, N, NULL, NULL, cpt_answer_work, cpt_answer_result, &c,
                              &opts, &e);
  if (rc < 0) seal_comm_abort(1, "%s", e.msg);
  if (run->comm->rank == 0 && rc == 0) {
    seal_eval_row row = {.n_passages = N};
    snprintf(row.condition, sizeof row.condition, "%s", name);
    snprintf(row.protocol, sizeof row.protocol, "continued-pretraining");
    int correct = 0;
    for (int p = 0; p < N; p++) {
      correct += c.correct[p];
      row.n_questions += c.questions[p];
      row.em += c.em[p] * c.questions[p], row.f1 += c.f1[p] * c.questions[p];
      row.contains += c.contains[p] * c.questions[p];
    }
    if (row.n_questions) {
      row.accuracy = (double)correct / row.n_questions;
      row.em /= row.n_questions, row.f1 /= row.n_questions, row.contains /= row.n_questions;
    }
    row.seconds = seal_now() - t0;
    *rows = seal_realloc(*rows, (size_t)(*n_rows + 1) * sizeof **rows);
    (*rows)[(*n_rows)++] = row;
    seal_metrics_emit(&run->metrics, "eval",
                      json_pack("{s:s,s:s,s:f,s:i}", "condition", row.condition, "protocol",
                                row.protocol, "accuracy", row.accuracy, "passages", N));
  }
  seal_lora_free(&lora);
  seal_sft_examples_free(ex, n);
  free(ex);
  for (int i = 0; i < n; i++) free(texts[i]);
  free(texts);
  for (int p = 0; p < N; p++) free(c.texts[p]);
  free(c.texts), free(c.correct), free(c.questions), free(c.em), free(c.f1), free(c.contains);
  return rc;
}

/* Both protocols at one policy level for the given conditions. */
static int evaluate_level(seal_run *run, int level, char (*names)[32], int n_cond,
                          seal_eval_row **rows, int *n_rows) {
  const seal_job_evaluation *ev = &run->job->evaluation;
  if (ev->single_passage && single_passage(run, level, names, n_cond, rows, n_rows)) return 1;
  if (!ev->continued_pretraining) return 0;
  for (int c = 0; c < n_cond; c++) {
    if (!strcmp(names[c], "base")) continue; /* nothing is trained: same as single-passage */
    int with_selfedits = strcmp(names[c], "passage") != 0;
    if (continued_pretraining(run, level, names[c], with_selfedits, rows, n_rows)) return 1;
  }
  return 0;
}

int seal_evaluate(seal_run *run, int max_round, seal_eval_row **rows, int *n_rows, seal_error *e) {
  *rows = NULL;
  *n_rows = 0;
  if (eval_passages(run) == 0)
    return seal_errorf(e, "%s: data.eval has no passages to evaluate on", run->job->source);
  int rounds = run->st.n_policy_rounds;
  seal_comm_bcast_raw(run->comm, &rounds, sizeof rounds);
  if (max_round >= 0 && max_round < rounds) rounds = max_round;
  char names[3][32] = {"base", "passage", "seal-round-0"};
  if (evaluate_level(run, 0, names, 3, rows, n_rows)) return 1;
  for (int t = 1; t <= rounds; t++) {
    /* every rank reads the policy from the checkpoint it resumed from */
    if (seal_run_merge_round(&run->eng, &run->st.policy[t - 1], t - 1, run->st.lora_alpha, e))
      return -1;
    char name[1][32];
    snprintf(name[0], sizeof name[0], "seal-round-%d", t);
    if (evaluate_level(run, t, name, 1, rows, n_rows)) return 1;
  }
  return 0;
}

void seal_eval_print(FILE *f, const seal_eval_row *rows, int n) {
  fprintf(f, "%-16s %-22s %8s %10s %8s %8s %8s\n", "condition", "protocol", "passages", "accuracy",
          "EM", "F1", "contains");
  for (int i = 0; i < n; i++)
    fprintf(f, "%-16s %-22s %8d %9.1f%% %7.1f%% %7.1f%% %7.1f%%\n", rows[i].condition,
            rows[i].protocol, rows[i].n_passages, 100 * rows[i].accuracy, 100 * rows[i].em,
            100 * rows[i].f1, 100 * rows[i].contains);
}

int seal_eval_write_json(const char *path, const seal_eval_row *rows, int n, seal_error *e) {
  json_t *arr = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(
        arr, json_pack("{s:s,s:s,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "condition", rows[i].condition,
                       "protocol", rows[i].protocol, "passages", rows[i].n_passages, "questions",
                       rows[i].n_questions, "accuracy", rows[i].accuracy, "em", rows[i].em, "f1",
                       rows[i].f1, "contains", rows[i].contains, "seconds", rows[i].seconds));
  char *s = json_dumps(arr, JSON_INDENT(2));
  json_decref(arr);
  int rc = seal_write_file_atomic(path, s, strlen(s), false, e);
  free(s);
  return rc;
}
