/* cmd/show.c — `seal show JOB --context ID`: what a self-edit of a context
 * trains on and what the adapted model is asked, for any task, as JSON lines. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/run_common.h"
#include "model/lora.h"
#include "trainer/inner.h"
#include "trainer/job.h"
#include "trainer/seeds.h"

static const char usage[] =
    "usage: seal show JOB.yaml --context ID [--split train|eval] [--selfedit FILE]\n"
    "\n"
    "Prints, as JSON lines, what the job's task makes of one context: the\n"
    "self-edit prompt the policy completes (rendered text and the task's detail;\n"
    "for the job's teacher when it has one),\n"
    "the inner-loop plan (usable or why not, its hyperparameters), every training\n"
    "example (rendered text, its token count, how many tokens carry loss, the\n"
    "task's detail) and every query the adapted model answers (prompt, detail).\n"
    "With --selfedit the plan is that self-edit's (the file's text, as the model\n"
    "would have written it); without, it is the fixed condition's (knowledge: the\n"
    "passage alone). Nothing is sampled or trained.\n"
    "\n"
    "  --context ID    the context (from 0) of the split\n"
    "  --split NAME    train (default) or eval\n"
    "  --selfedit FILE a self-edit to plan\n"
    "  --device NAME   where the model is opened for tokenizing: cpu (default), cuda, auto\n"
    "  --help          this text\n";

typedef struct {
  const char *job_path, *selfedit_path, *device;
  long context;
  seal_split split;
} show_opts;

static int parse_split(const char *value, void *field) {
  if (strcmp(value, "train") && strcmp(value, "eval")) {
    fprintf(stderr, "seal show: --split: train or eval, got '%s'\n", value);
    return -1;
  }
  *(seal_split *)field = strcmp(value, "train") ? SEAL_SPLIT_EVAL : SEAL_SPLIT_TRAIN;
  return 0;
}

/* Parses the options; returns 0, or the exit status to stop with (-1: done,
 * the help was printed). */
static int parse_options(int argc, char **argv, show_opts *o) {
  static const cmd_option table[] = {CMD_OPT_LONG(show_opts, context, "context", 0, 1L << 30),
                                     CMD_OPT_CUSTOM(show_opts, split, "split", parse_split),
                                     CMD_OPT_TEXT(show_opts, selfedit_path, "selfedit"),
                                     CMD_OPT_DEVICE(show_opts, device, 1), CMD_OPT_END};
  *o = (show_opts){.context = -1, .split = SEAL_SPLIT_TRAIN, .device = "cpu"};
  int rc = cmd_parse_options(argc, argv, table, o, usage, &o->job_path);
  if (rc) return rc > 0 ? -1 : SEAL_EXIT_USAGE;
  if (!o->job_path || o->context < 0)
    return fprintf(stderr, "seal show: a job and --context are needed\n\n%s", usage),
           SEAL_EXIT_USAGE;
  return 0;
}

/* Prints one JSON line (takes o). */
static void put_line(json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  SEAL_CHECK(s, "seal show: a line could not be written as JSON");
  puts(s);
  free(s);
  json_decref(o);
}

/* A detail text as a JSON value (null when none). */
static json_t *detail(const char *text) {
  json_error_t je;
  json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
  return v ? v : json_null();
}

static json_t *hparams_json(const seal_plan_hparams *hp) {
  json_t *targets = json_array();
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if (hp->lora_targets >> t & 1u)
      json_array_append_new(targets, json_string(seal_lora_target_name((seal_lora_target)t)));
  return json_pack("{s:i,s:f,s:o,s:i,s:i,s:f,s:f,s:f,s:s,s:i}", "lora_r", hp->lora_r, "lora_alpha",
                   hp->lora_alpha, "lora_targets", targets, "epochs", hp->epochs, "batch_size",
                   hp->batch_size, "lr", hp->lr, "weight_decay", hp->weight_decay, "grad_clip",
                   hp->grad_clip, "schedule", seal_schedule_name(hp->schedule), "warmup_steps",
                   hp->warmup_steps);
}

static void show_plan(const seal_inner_plan *p, const char *condition) {
  put_line(json_pack("{s:s,s:s,s:b,s:s,s:b,s:i,s:i,s:o}", "what", "plan", "condition", condition,
                     "ok", p->ok, "reason", p->reason, "train", p->train, "n_examples", p->n_ex,
                     "n_from_selfedit", p->n_from_selfedit, "hparams", hparams_json(&p->hp)));
  for (int j = 0; j < p->n_ex; j++) {
    const seal_plan_example *x = &p->ex[j];
    seal_sft_example sx = {x->ids, x->n, x->loss_from};
    put_line(json_pack("{s:s,s:i,s:b,s:i,s:i,s:s,s:o}", "what", "example", "index", j,
                       "from_selfedit", j < p->n_from_selfedit, "tokens", x->n, "loss_tokens",
                       seal_sft_loss_tokens(&sx), "text", x->text, "detail",
                       detail(x->detail_json)));
  }
}

static void show_queries(const seal_domain *d, const seal_engine *eng, seal_split s, int i) {
  seal_query *q;
  int n = d->ops->queries(d, eng, s, i, &q);
  for (int j = 0; j < n; j++)
    put_line(json_pack("{s:s,s:i,s:i,s:s,s:o}", "what", "query", "index", j, "max_tokens",
                       q[j].max_tokens, "prompt", q[j].prompt, "detail", detail(q[j].detail_json)));
  seal_queries_free(q, n);
}

/* Everything about context o->context; returns the exit status. The prompt is
 * the writer's (the job's teacher, or its model), the plan and queries the
 * learner's (the model). */
static int show(const seal_job *job, const seal_domain *d, const seal_engine *writer,
                const seal_engine *eng, const show_opts *o, const char *selfedit) {
  int n = d->ops->n_contexts(d, o->split), i = (int)o->context;
  if (i >= n) {
    fprintf(stderr, "seal show: --context %d: the %s split of task %s has %d contexts (0 to %d)\n",
            i, seal_split_name(o->split), job->task->name, n, n - 1);
    return 2;
  }
  put_line(json_pack("{s:s,s:s,s:s,s:i,s:s}", "what", "context", "task", job->task->name, "split",
                     seal_split_name(o->split), "context", i, "name",
                     d->ops->context_name(d, o->split, i)));
  char *prompt_detail = NULL;
  char *prompt = d->ops->selfedit_prompt(d, writer, o->split, i, &prompt_detail);
  put_line(json_pack("{s:s,s:s,s:o}", "what", "selfedit_prompt", "text", prompt, "detail",
                     detail(prompt_detail)));
  free(prompt), free(prompt_detail);
  /* the seed seal eval's first item of the condition uses (level 0) */
  seal_condition_kind kind = selfedit ? SEAL_COND_SELFEDIT : SEAL_COND_FIXED;
  uint64_t seed = seal_item_seed(job->seed, 0, i, selfedit ? 2 : 1, SEAL_STREAM_EVAL_INNER);
  seal_inner_plan plan;
  seal_inner_plan_of(job, d, eng, o->split, i, kind, selfedit, seed, &plan);
  show_plan(&plan, selfedit ? "selfedit" : job->task->fixed_name);
  seal_inner_plan_free(&plan);
  show_queries(d, eng, o->split, i);
  return 0;
}

int cmd_show(int argc, char **argv) {
  show_opts o;
  int rc = parse_options(argc, argv, &o);
  if (rc) return rc < 0 ? 0 : rc;
  seal_job job;
  cmd_load_job(o.job_path, NULL, NULL, &job);
  seal_error e;
  char *selfedit = o.selfedit_path ? seal_read_file(o.selfedit_path, NULL, &e) : NULL;
  if (o.selfedit_path && !selfedit) SEAL_DIE_ERR(&e);
  seal_engine eng, teacher;
  seal_domain d;
  bool has_teacher = seal_job_has_teacher(&job);
  if (seal_engine_open(&eng, job.model, o.device, &e)) SEAL_DIE_ERR(&e);
  if (has_teacher && seal_engine_open(&teacher, job.teacher, o.device, &e)) SEAL_DIE_ERR(&e);
  if (seal_domain_open(&d, job.task, job.task_settings, o.device, &e)) SEAL_DIE_ERR(&e);
  rc = show(&job, &d, has_teacher ? &teacher : &eng, &eng, &o, selfedit);
  seal_domain_close(&d);
  if (has_teacher) seal_engine_close(&teacher);
  seal_engine_close(&eng);
  free(selfedit);
  seal_job_free(&job);
  return rc;
}
