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
  seal_sampling s = {.temperature = (float)se->temperature, .top_p = (float)se->top_p,
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
  seal_inner_evaluate(&run->eng, run->job, &run->qa, &run->eval.passages[passage], mode, text,
                      seed, &r);
  json_t *res = json_pack("{s:f,s:f,s:f,s:f,s:i,s:s}", "reward", r.reward, "em", r.em, "f1", r.f1,
                          "contains", r.contains, "n_sequences", r.n_sequences, "selfedit",
                          text ? text : "");
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
  json_t *m = json_pack("{s:s,s:i,s:i}", "condition", ec->names[cond], "passage", passage, "rank",
                        worker);
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
  eval_ctx ec = {.run = run, .level = level, .n_passages = P, .n_conditions = n_cond,
                 .names = names};
  ec.reward = seal_calloc((size_t)n, sizeof(double));
  ec.em = seal_calloc((size_t)n, sizeof(double));
  ec.f1 = seal_calloc((size_t)n, sizeof(double));
  ec.contains = seal_calloc((size_t)n, sizeof(double));
  if (run->comm->rank == 0) seal_progress_begin(&ec.progress, "evaluate", n);
  double t0 = seal_now();
  seal_workqueue_opts opts = {.max_attempts = 2, .stop = run->stop};
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
      if (row.n_questions) row.em /= row.n_questions, row.f1 /= row.n_questions,
                           row.contains /= row.n_questions;
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

int seal_evaluate(seal_run *run, int max_round, seal_eval_row **rows, int *n_rows,
                  seal_error *e) {
  *rows = NULL;
  *n_rows = 0;
  if (eval_passages(run) == 0)
    return seal_errorf(e, "%s: data.eval has no passages to evaluate on", run->job->source);
  int rounds = run->st.n_policy_rounds;
  seal_comm_bcast_raw(run->comm, &rounds, sizeof rounds);
  if (max_round >= 0 && max_round < rounds) rounds = max_round;
  if (!run->job->evaluation.single_passage)
    seal_warn("only the single-passage protocol is implemented; evaluating with it");
  char names[3][32] = {"base", "passage", "seal-round-0"};
  if (single_passage(run, 0, names, 3, rows, n_rows)) return 1;
  for (int t = 1; t <= rounds; t++) {
    /* every rank reads the policy from the checkpoint it resumed from */
    if (seal_run_merge_round(&run->eng, &run->st.policy[t - 1], t - 1, run->st.lora_alpha, e))
      return -1;
    char name[1][32];
    snprintf(name[0], sizeof name[0], "seal-round-%d", t);
    if (single_passage(run, t, name, 1, rows, n_rows)) return 1;
  }
  return 0;
}

void seal_eval_print(FILE *f, const seal_eval_row *rows, int n) {
  fprintf(f, "%-16s %-16s %8s %10s %8s %8s %8s\n", "condition", "protocol", "passages",
          "accuracy", "EM", "F1", "contains");
  for (int i = 0; i < n; i++)
    fprintf(f, "%-16s %-16s %8d %9.1f%% %7.1f%% %7.1f%% %7.1f%%\n", rows[i].condition,
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
