/* cmd/bench_unit.c — `seal bench --unit-of-work FILE`: SEAL's unit of work, one
 * knowledge self-edit evaluation as a job's inner loop runs it (LoRA trained on
 * the self-edit's sequences and the passage, then greedy answers to the
 * passage's questions with the adapter, graded), from a fixed input, timed.
 * It runs the trainer's own seal_inner_evaluate over the knowledge domain, so
 * it measures what `seal train` and `seal eval` run, not a copy of it
 * (bench/cpu_side_by_side.py writes the same loop with PyTorch + PEFT). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "evaluator/knowledge_domain.h"
#include "evaluator/squad.h"
#include "trainer/inner.h"
#include "trainer/job.h"

/* The fixture (bench/unit-of-work.json describes its fields). */
typedef struct {
  const char *path;
  json_t *root;
  seal_job job; /* only inner_loop is read on the eval split */
  seal_knowledge_settings k;
  seal_squad passage;
  const char *selfedit;
  uint64_t seed;
  json_t *examples, *prompts; /* the texts the fixture expects, or NULL */
} unit_fixture;

/* ---- reading the fixture ------------------------------------------------------ */

SEAL_NORETURN static void bad_field(const unit_fixture *f, const char *field, const char *want) {
  SEAL_DIE("%s: %s: expected %s", f->path, field, want);
}

static json_t *member(const unit_fixture *f, json_t *obj, const char *key, const char *field,
                      json_type type, const char *want) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_typeof(v) != type) bad_field(f, field, want);
  return v;
}

static long int_field(const unit_fixture *f, json_t *obj, const char *key, const char *field,
                      long min) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) < min) {
    char want[64];
    snprintf(want, sizeof want, "an integer >= %ld", min);
    bad_field(f, field, want);
  }
  return (long)json_integer_value(v);
}

/* A number >= min (> min when strict). */
static double number_field(const unit_fixture *f, json_t *obj, const char *key, const char *field,
                           double min, bool strict) {
  json_t *v = json_object_get(obj, key);
  double x = json_is_number(v) ? json_number_value(v) : NAN;
  if (!isfinite(x) || x < min || (strict && x == min)) {
    char want[64];
    snprintf(want, sizeof want, "a number %s %g", strict ? ">" : ">=", min);
    bad_field(f, field, want);
  }
  return x;
}

static const char *text_field(const unit_fixture *f, json_t *obj, const char *key,
                              const char *field) {
  return json_string_value(member(f, obj, key, field, JSON_STRING, "a string"));
}

static seal_schedule schedule_field(const unit_fixture *f, json_t *inner) {
  const char *name = text_field(f, inner, "schedule", "inner_loop.schedule");
  for (int s = SEAL_SCHEDULE_CONSTANT; s <= SEAL_SCHEDULE_COSINE; s++)
    if (!strcmp(name, seal_schedule_name((seal_schedule)s))) return (seal_schedule)s;
  bad_field(f, "inner_loop.schedule", "constant, linear or cosine");
}

/* inner_loop: the job's inner_loop keys (docs/job-config.md), flat. */
static void read_inner(unit_fixture *f) {
  json_t *in = member(f, f->root, "inner_loop", "inner_loop", JSON_OBJECT, "an object");
  seal_job_inner *j = &f->job.inner;
  j->lora.r = (int)int_field(f, in, "r", "inner_loop.r", 1);
  j->lora.alpha = number_field(f, in, "alpha", "inner_loop.alpha", 0, true);
  char why[256];
  if (seal_lora_targets_parse(text_field(f, in, "targets", "inner_loop.targets"), &j->lora.targets,
                              why, sizeof why))
    SEAL_DIE("%s: inner_loop.targets: %s", f->path, why);
  j->epochs = (int)int_field(f, in, "epochs", "inner_loop.epochs", 1);
  j->lr = number_field(f, in, "lr", "inner_loop.lr", 0, true);
  j->batch_size = (int)int_field(f, in, "batch_size", "inner_loop.batch_size", 1);
  j->schedule = schedule_field(f, in);
  j->warmup_steps = (int)int_field(f, in, "warmup_steps", "inner_loop.warmup_steps", 0);
  j->weight_decay = number_field(f, in, "weight_decay", "inner_loop.weight_decay", 0, false);
  j->grad_clip = number_field(f, in, "grad_clip", "inner_loop.grad_clip", 0, false);
  j->group = 1;
}

/* passage: one passage in the grouped SQuAD form of data/demo/eval.json. */
static void read_passage(unit_fixture *f) {
  json_t *p = member(f, f->root, "passage", "passage", JSON_OBJECT, "an object");
  json_t *list = json_pack("[O]", p);
  char *text = json_dumps(list, JSON_COMPACT);
  json_decref(list);
  char name[512];
  snprintf(name, sizeof name, "%s: passage", f->path);
  seal_error e;
  if (seal_squad_parse(text, strlen(text), name, &f->passage, &e)) SEAL_DIE_ERR(&e);
  free(text);
}

static json_t *optional_texts(const unit_fixture *f, const char *key) {
  json_t *v = json_object_get(f->root, key);
  if (!v) return NULL;
  if (!json_is_array(v)) bad_field(f, key, "an array of strings");
  for (size_t i = 0; i < json_array_size(v); i++)
    if (!json_is_string(json_array_get(v, i))) {
      char field[64];
      snprintf(field, sizeof field, "%s[%zu]", key, i);
      bad_field(f, field, "a string");
    }
  return v;
}

static void read_fixture(const char *path, unit_fixture *f) {
  memset(f, 0, sizeof *f);
  f->path = path;
  json_error_t je;
  f->root = json_load_file(path, 0, &je);
  if (!f->root) SEAL_DIE("%s:%d:%d: %s", path, je.line, je.column, je.text);
  if (!json_is_object(f->root)) bad_field(f, "(top level)", "an object");
  read_inner(f);
  f->seed = (uint64_t)int_field(f, f->root, "seed", "seed", 0);
  seal_knowledge_domain.defaults(&f->k);
  f->k.answer.max_tokens = (int)int_field(f, f->root, "answer_max_tokens", "answer_max_tokens", 1);
  const char *mode = text_field(f, f->root, "grading", "grading");
  seal_grade_mode m;
  if (seal_grade_mode_parse(mode, &m) || m == SEAL_GRADE_JUDGE)
    bad_field(f, "grading", "em, f1 or contains");
  f->k.grading.mode = m;
  read_passage(f);
  f->selfedit = text_field(f, f->root, "selfedit", "selfedit");
  f->examples = optional_texts(f, "examples");
  f->prompts = optional_texts(f, "prompts");
}

/* ---- the plan and the queries, checked against the fixture -------------------- */

/* The fixture's expected texts (when it has them) must be what the domain
 * renders: the PyTorch loop trains and answers on those texts. */
static void check_texts(const unit_fixture *f, const char *key, json_t *want, int n,
                        const char *(*text_of)(const void *, int), const void *items) {
  if (!want) return;
  if ((int)json_array_size(want) != n)
    SEAL_DIE("%s: %s: %zu texts, but the knowledge domain makes %d from the fixture", f->path, key,
             json_array_size(want), n);
  for (int i = 0; i < n; i++)
    if (strcmp(json_string_value(json_array_get(want, (size_t)i)), text_of(items, i)))
      SEAL_DIE("%s: %s[%d]: differs from what the knowledge domain makes of the fixture", f->path,
               key, i);
}

static const char *example_text(const void *plan, int i) {
  return ((const seal_inner_plan *)plan)->ex[i].text;
}

static const char *query_text(const void *q, int i) { return ((const seal_query *)q)[i].prompt; }

/* What one inner loop of the plan trains on: steps, tokens, loss tokens, and
 * the base model's mean token loss on the examples (the first step's loss
 * before any update, since LoRA starts with B = 0). */
typedef struct {
  int examples, steps, questions;
  long tokens, loss_tokens; /* over all epochs */
  double base_loss;
  json_t *example_ids, *prompt_ids, *example_texts, *prompt_texts;
} unit_shape;

static json_t *ids_json(const int32_t *ids, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(ids[i]));
  return a;
}

static void measure_shape(seal_engine *eng, const seal_domain *d, const unit_fixture *f,
                          unit_shape *u) {
  seal_inner_plan plan;
  seal_inner_plan_of(&f->job, d, eng, SEAL_SPLIT_EVAL, 0, SEAL_COND_SELFEDIT, f->selfedit, f->seed,
                     &plan);
  if (!plan.ok)
    SEAL_DIE("%s: selfedit: the knowledge domain cannot use it (%s)", f->path, plan.reason);
  check_texts(f, "examples", f->examples, plan.n_ex, example_text, &plan);
  const seal_job_inner *in = &f->job.inner;
  memset(u, 0, sizeof *u);
  u->examples = plan.n_ex;
  u->steps = in->epochs * ((plan.n_ex + in->batch_size - 1) / in->batch_size);
  u->example_ids = json_array(), u->example_texts = json_array();
  seal_sft_example *ex = seal_calloc((size_t)plan.n_ex, sizeof *ex);
  for (int j = 0; j < plan.n_ex; j++) {
    ex[j] = (seal_sft_example){plan.ex[j].ids, plan.ex[j].n, plan.ex[j].loss_from};
    u->tokens += (long)in->epochs * ex[j].n;
    u->loss_tokens += (long)in->epochs * seal_sft_loss_tokens(&ex[j]);
    json_array_append_new(u->example_ids, ids_json(ex[j].ids, ex[j].n));
    json_array_append_new(u->example_texts, json_string(plan.ex[j].text));
  }
  u->base_loss = seal_sft_eval_loss(&eng->model, NULL, ex, plan.n_ex);
  free(ex);
  seal_inner_plan_free(&plan);

  seal_query *q;
  u->questions = d->ops->queries(d, eng, SEAL_SPLIT_EVAL, 0, &q);
  check_texts(f, "prompts", f->prompts, u->questions, query_text, q);
  u->prompt_ids = json_array(), u->prompt_texts = json_array();
  for (int j = 0; j < u->questions; j++) {
    int32_t *ids;
    int n = seal_engine_encode_prompt(eng, q[j].prompt, &ids);
    json_array_append_new(u->prompt_ids, ids_json(ids, n));
    json_array_append_new(u->prompt_texts, json_string(q[j].prompt));
    free(ids);
  }
  seal_queries_free(q, u->questions);
}

/* ---- the run ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The record: timings (medians over the repeats), the shape, the grade of the
 * last repeat, and the token ids (so that another implementation can check it
 * trains and answers on the same tokens). */
static void print_record(const seal_engine *eng, const unit_fixture *f, const unit_shape *u,
                         double train_s, double answer_s, const seal_inner_result *r, int repeats,
                         int json) {
  json_t *answers = r->grade.detail_json ? json_loads(r->grade.detail_json, 0, NULL) : NULL;
  json_t *o = json_pack(
      "{s:s,s:s,s:s,s:s,s:f,s:f,s:f,s:i,s:i,s:i,s:I,s:I,s:f,s:f,s:f,s:i,s:i,s:f,s:o,s:O,s:O,s:O,"
      "s:O}",
      "impl", "seal", "backend", eng->be->name, "name", "unit_of_work", "fixture", f->path,
      "train_s", train_s, "answer_s", answer_s, "ms", 1e3 * (train_s + answer_s), "repeats",
      repeats, "steps", u->steps, "examples", u->examples, "tokens", (json_int_t)u->tokens,
      "loss_tokens", (json_int_t)u->loss_tokens, "base_loss", u->base_loss, "first_loss",
      r->first_loss, "last_loss", r->last_loss, "questions", u->questions, "correct",
      r->grade.n_correct, "reward", r->grade.reward, "answers", answers ? answers : json_null(),
      "example_ids", u->example_ids, "prompt_ids", u->prompt_ids, "examples_text", u->example_texts,
      "prompts_text", u->prompt_texts);
  SEAL_CHECK(o, "could not build the unit-of-work record");
  if (json) {
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
  } else {
    printf("seal bench --unit-of-work %s (%s, median of %d, no warm-up)\n", f->path, eng->be->name,
           repeats);
    printf("  train   %8.2f s  %d steps, %d examples, %ld tokens (%ld with loss)\n", train_s,
           u->steps, u->examples, u->tokens, u->loss_tokens);
    printf("  answer  %8.2f s  %d questions, %d correct\n", answer_s, u->questions,
           r->grade.n_correct);
    printf("  loss    base %.5f, first step %.5f, last step %.5f\n", u->base_loss, r->first_loss,
           r->last_loss);
    printf("  %.1f self-edit evaluations per hour of this process\n",
           3600.0 / (train_s + answer_s));
  }
  fflush(stdout);
  json_decref(o);
}

int cmd_bench_unit_of_work(seal_engine *eng, const char *path, int epochs, int repeats, int json) {
  unit_fixture f;
  read_fixture(path, &f);
  if (epochs > 0) f.job.inner.epochs = epochs;
  seal_domain d;
  seal_knowledge_open_passages(&d, &f.k, &f.passage);
  unit_shape u;
  measure_shape(eng, &d, &f, &u);
  double *train = seal_malloc((size_t)repeats * sizeof(double));
  double *answer = seal_malloc((size_t)repeats * sizeof(double));
  seal_inner_result r = {0};
  const char *selfedits[1] = {f.selfedit};
  for (int rep = 0; rep < repeats; rep++) {
    seal_inner_result_free(&r);
    seal_inner_evaluate(eng, &d, &f.job, SEAL_SPLIT_EVAL, 0, SEAL_COND_SELFEDIT, selfedits, 1,
                        &f.seed, &r);
    SEAL_CHECK(r.ok, "%s: the inner loop did not run (%s)", path, r.reason);
    train[rep] = r.train_seconds, answer[rep] = r.answer_seconds;
  }
  print_record(eng, &f, &u, median(train, repeats), median(answer, repeats), &r, repeats, json);
  seal_inner_result_free(&r);
  free(train), free(answer);
  json_decref(u.example_ids), json_decref(u.prompt_ids);
  json_decref(u.example_texts), json_decref(u.prompt_texts);
  seal_domain_close(&d);
  seal_knowledge_domain.free_settings(&f.k);
  json_decref(f.root);
  return 0;
}
