/* evaluator/arc_domain.c — few-shot ARC as a task domain: the ops of
 * evaluator/domain.h over the ARC library (evaluator/arc.h). The settings are
 * the reference's (few-shot/self-edit.py, eval-self-edits.py, ttt.py,
 * BC-self-edit.py); docs/arc.md says where seal differs and why. */
#include "evaluator/arc_domain.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"

/* What Llama-3.1+ templates print as "Today Date": fixed, so that a text (and
 * so a run) does not depend on the day it is rendered (resume, several ranks). */
static const char chat_date[] = "26 Jul 2024";

/* ---- job keys ---------------------------------------------------------------- */

#define AS seal_arc_settings

static const char *json_mode_name(int v) {
  static const char *const names[] = {"whole", "embedded"};
  return v >= 0 && v < SEAL_ARRAY_LEN(names) ? names[v] : NULL;
}

static const char *bool_name(int v) {
  static const char *const names[] = {"false", "true"};
  return v >= 0 && v < SEAL_ARRAY_LEN(names) ? names[v] : NULL;
}

static const char *strategy_name(int v) {
  static const char *const names[] = {"train_using_all_tokens", "train_using_output_tokens"};
  return v >= 0 && v < SEAL_ARRAY_LEN(names) ? names[v] : NULL;
}

static const seal_schema_key data_keys[] = {
    SEAL_SCHEMA_PATH_KEY("train", AS, data.train, true),
    SEAL_SCHEMA_PATH_KEY("train_solutions", AS, data.train_solutions, false),
    SEAL_SCHEMA_PATH_KEY("eval", AS, data.eval, true),
    SEAL_SCHEMA_PATH_KEY("eval_solutions", AS, data.eval_solutions, false),
    SEAL_SCHEMA_END,
};

static const seal_schema_key query_keys[] = {
    SEAL_SCHEMA_INT_KEY("leave_n", AS, arc.query.leave_n, 0, 16),
    SEAL_SCHEMA_INT_KEY("permute_n", AS, arc.query.permute_n, 1, 64),
    SEAL_SCHEMA_END,
};

static const seal_schema_key fixed_keys[] = {
    SEAL_SCHEMA_ENUM_KEY("use_basic_augmentations", AS, arc.fixed.basic, bool_name),
    SEAL_SCHEMA_ENUM_KEY("use_size_augmentations", AS, arc.fixed.size, bool_name),
    SEAL_SCHEMA_ENUM_KEY("use_chain_augmentations", AS, arc.fixed.chain, bool_name),
    SEAL_SCHEMA_ENUM_KEY("use_repeat_augmentations", AS, arc.fixed.repeat, bool_name),
    SEAL_SCHEMA_ENUM_KEY("strategy", AS, arc.fixed.strategy, strategy_name),
    {.name = "learning_rate",
     .kind = SEAL_SCHEMA_FLOAT,
     .off = offsetof(AS, arc.fixed.lr),
     .lo = 0,
     .hi = 1,
     .lo_open = true},
    SEAL_SCHEMA_INT_KEY("num_train_epochs", AS, arc.fixed.epochs, 1, 1000),
    SEAL_SCHEMA_END,
};

static const seal_schema_key arc_keys[] = {
    SEAL_SCHEMA_INT_KEY("max_steps", AS, arc.max_steps, 1, SEAL_SCHEMA_BIG),
    SEAL_SCHEMA_INT_KEY("max_examples", AS, arc.max_examples, 1, SEAL_SCHEMA_BIG),
    SEAL_SCHEMA_INT_KEY("max_tokens", AS, arc.max_tokens, 1, 1 << 20),
    SEAL_SCHEMA_ENUM_KEY("json", AS, arc.json, json_mode_name),
    SEAL_SCHEMA_INT_KEY("answer_max_tokens", AS, arc.answer_max_tokens, 1, 1 << 20),
    SEAL_SCHEMA_MAP_KEY("query", query_keys),
    SEAL_SCHEMA_MAP_KEY("fixed", fixed_keys),
    SEAL_SCHEMA_END,
};

/* data adds to the trainer's mapping; arc is the domain's own. */
static const seal_schema_key keys[] = {
    SEAL_SCHEMA_MAP_KEY("data", data_keys),
    SEAL_SCHEMA_MAP_KEY("arc", arc_keys),
    SEAL_SCHEMA_END,
};

/* The reference's settings (self-edit.py, eval-self-edits.py; the fixed
 * condition is ttt.py's main with the loss on every token, docs/arc.md). */
static void arc_defaults(void *settings) {
  *(AS *)settings = (AS){
      .arc = {.max_steps = SEAL_ARC_MAX_STEPS,
              .max_examples = SEAL_ARC_MAX_EXAMPLES,
              .max_tokens = 8192,
              .json = SEAL_ARC_JSON_WHOLE,
              .answer_max_tokens = 1024,
              .query = {.leave_n = 1, .permute_n = 2},
              .fixed = {.basic = 1,
                        .size = 1,
                        .chain = 1,
                        .repeat = 1,
                        .strategy = SEAL_ARC_ALL_TOKENS,
                        .lr = 1e-4,
                        .epochs = 2}},
  };
}

/* The trainer's keys that take the paper's ARC values (self-edit.py: 15
 * self-edits at temperature 0.8 and at most 128 tokens, LoRA r 128 alpha 16 on
 * q, v, gate, up, down, batch 2, cosine with 11 warmup steps; BC-self-edit.py
 * and the README: ReST-EM r 16 alpha 16, lr 5e-5, 8 epochs, batch 5; 5
 * self-edits per task in evaluation). The reference resamples a self-edit
 * that does not parse without a bound; seal stops after 4. */
static const char defaults_yaml[] =
    "data: {contexts_per_round: 12, n_eval: 8}\n"
    "selfedit: {k: 15, temperature: 0.8, top_p: 1.0, max_tokens: 128, max_resamples: 4}\n"
    "inner_loop:\n"
    "  lora: {r: 128, alpha: 16, targets: [q, v, gate, up, down]}\n"
    "  epochs: 2\n"
    "  lr: 1.0e-4\n"
    "  batch_size: 2\n"
    "  schedule: cosine\n"
    "  warmup_steps: 11\n"
    "  weight_decay: 0.0\n"
    "  grad_clip: 1.0\n"
    "rest_em:\n"
    "  lora: {r: 16, alpha: 16, targets: [q, v, gate, up, down]}\n"
    "  lr: 5.0e-5\n"
    "  epochs: 8\n"
    "  batch_size: 5\n"
    "evaluation: {selfedits_per_context: 5}\n";

static void arc_free_settings(void *settings) {
  AS *a = settings;
  free(a->data.train);
  free(a->data.train_solutions);
  free(a->data.eval);
  free(a->data.eval_solutions);
  memset(a, 0, sizeof *a);
}

/* ---- data -------------------------------------------------------------------- */

typedef struct {
  seal_arc_data split[SEAL_N_SPLITS];
} arc_state;

static int load_split(const char *challenges, const char *solutions, seal_arc_data *out,
                      seal_error *e) {
  if (seal_arc_load(challenges, solutions, out, e)) return -1;
  if (out->has_solutions) return 0;
  return seal_errorf(e, "%s: some task has no test outputs: give its solutions file (data.%s)",
                     challenges, "train_solutions or data.eval_solutions");
}

static int arc_open(seal_domain *d, const void *settings, const char *device, seal_error *e) {
  (void)device;
  const AS *a = settings;
  arc_state *st = seal_calloc(1, sizeof *st);
  d->impl = st;
  if (load_split(a->data.train, a->data.train_solutions, &st->split[SEAL_SPLIT_TRAIN], e) ||
      load_split(a->data.eval, a->data.eval_solutions, &st->split[SEAL_SPLIT_EVAL], e))
    return -1;
  return 0;
}

static void arc_close(seal_domain *d) {
  arc_state *st = d->impl;
  if (!st) return;
  for (int s = 0; s < SEAL_N_SPLITS; s++) seal_arc_data_free(&st->split[s]);
  free(st);
  d->impl = NULL;
}

static const seal_arc_task *task_of(const seal_domain *d, seal_split s, int i) {
  const arc_state *st = d->impl;
  SEAL_CHECK(i >= 0 && i < st->split[s].n, "ARC task %d of %d (%s split)", i, st->split[s].n,
             seal_split_name(s));
  return &st->split[s].tasks[i];
}

static int arc_n_contexts(const seal_domain *d, seal_split s) {
  const arc_state *st = d->impl;
  return st->split[s].n;
}

static const char *arc_context_name(const seal_domain *d, seal_split s, int i) {
  return task_of(d, s, i)->id;
}

/* ---- chat texts ---------------------------------------------------------------- */

/* The chat format of eng's template; a model without one seal knows cannot
 * take the reference's prompts, so that is fatal, with what to do about it. */
static void chat_format_of(const seal_engine *eng, seal_chat_format *f) {
  if (seal_chat_detect(eng->chat_template, f) != SEAL_CHAT_NONE) return;
  seal_chat_format_free(f);
  SEAL_DIE(
      "task arc renders its prompts through the model's chat template, and %s has %s "
      "(seal knows Llama-3 and ChatML templates): use an instruct model",
      eng->path, eng->chat_template ? "one seal does not know" : "none");
}

/* The rendered text as a prompt for seal_engine_encode_prompt: without the BOS
 * the template wrote when the engine adds its own (Llama-3 writes
 * <|begin_of_text|> and its tokenizer adds it again). */
static char *as_prompt(const seal_engine *eng, char *text) {
  if (!eng->add_bos) return text;
  const char *bos = seal_tokenizer_token_str(eng->tok, seal_tokenizer_bos_id(eng->tok));
  size_t n = bos ? strlen(bos) : 0;
  if (n && !strncmp(text, bos, n)) memmove(text, text + n, strlen(text + n) + 1);
  return text;
}

static char *render_or_die(const seal_chat_format *f, const seal_chat_msg *m, int n) {
  seal_error e = {0};
  char *text = seal_chat_render(f, m, n, true, chat_date, &e);
  if (!text) SEAL_DIE_ERR(&e);
  return text;
}

/* ---- grids as JSON (for `seal show`) ------------------------------------------- */

static json_t *grid_json(const seal_arc_grid *g) {
  json_t *rows = json_array();
  for (int r = 0; r < g->h; r++) {
    json_t *row = json_array();
    for (int c = 0; c < g->w; c++) json_array_append_new(row, json_integer(seal_arc_at(g, r, c)));
    json_array_append_new(rows, row);
  }
  return rows;
}

static json_t *pair_json(const seal_arc_pair *p) {
  json_t *o = json_pack("{s:o}", "input", grid_json(&p->in));
  if (p->out.h) json_object_set_new(o, "output", grid_json(&p->out));
  return o;
}

/* {"messages": [...], "train": [{input, output}], "test": {input[, output]}, ...} */
static json_t *problem_json(const seal_arc_problem *p, bool with_answer) {
  seal_arc_messages m;
  seal_arc_problem_messages(p, with_answer, &m);
  char *mj = seal_arc_messages_json(&m);
  seal_arc_messages_free(&m);
  json_error_t je;
  json_t *msgs = json_loads(mj, 0, &je);
  free(mj);
  json_t *train = json_array();
  for (int i = 0; i < p->n_train; i++) json_array_append_new(train, pair_json(&p->train[i]));
  return json_pack("{s:o,s:o,s:o}", "messages", msgs ? msgs : json_null(), "train", train, "test",
                   pair_json(&p->test));
}

static char *dump(json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

/* ---- self-edits ----------------------------------------------------------------- */

static char *arc_selfedit_prompt(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                                 char **detail_json) {
  seal_arc_messages m;
  seal_arc_selfedit_messages(task_of(d, s, i), &m);
  seal_chat_format f;
  chat_format_of(eng, &f);
  seal_chat_msg msgs[3];
  int n = seal_arc_chat_msgs(&m, msgs);
  char *text = as_prompt(eng, render_or_die(&f, msgs, n));
  seal_chat_format_free(&f);
  if (detail_json) {
    char *mj = seal_arc_messages_json(&m);
    json_error_t je;
    json_t *msgs_json = json_loads(mj, 0, &je);
    free(mj);
    *detail_json = dump(json_pack("{s:o,s:b}", "messages", msgs_json ? msgs_json : json_null(),
                                  "chat_template", 1));
  }
  seal_arc_messages_free(&m);
  return text;
}

static bool arc_selfedit_usable(const seal_domain *d, seal_split s, int i, const char *selfedit,
                                char *reason, size_t reason_size) {
  (void)s, (void)i;
  const AS *a = d->settings;
  seal_arc_config c;
  return seal_arc_config_parse(selfedit ? selfedit : "", a->arc.json, &c, reason, reason_size);
}

/* ---- plans ------------------------------------------------------------------------ */

static seal_arc_config fixed_config(const AS *a) {
  return (seal_arc_config){.groups = {.basic = a->arc.fixed.basic,
                                      .size = a->arc.fixed.size,
                                      .chain = a->arc.fixed.chain,
                                      .repeat = a->arc.fixed.repeat},
                           .all_tokens = a->arc.fixed.strategy == SEAL_ARC_ALL_TOKENS,
                           .lr = a->arc.fixed.lr,
                           .epochs = a->arc.fixed.epochs};
}

/* Problem p as a training example: the chat text tokenized with the loss on
 * every token or on the final assistant turn. false when it has max_tokens
 * tokens or more (the reference drops those). */
static bool training_example(const seal_engine *eng, const seal_chat_format *f,
                             const seal_arc_problem *p, bool all_tokens, int max_tokens,
                             seal_plan_example *x) {
  seal_error e = {0};
  size_t answer_from = 0;
  char *text = seal_arc_train_text(p, f, chat_date, &answer_from, &e);
  if (!text) SEAL_DIE_ERR(&e);
  int32_t *ids;
  int loss_from, n = seal_arc_tokenize(eng->tok, text, answer_from, all_tokens, &ids, &loss_from);
  if (n >= max_tokens) {
    free(ids), free(text);
    return false;
  }
  *x = (seal_plan_example){
      .ids = ids, .n = n, .loss_from = loss_from, .text = text, .detail_json = NULL};
  return true;
}

/* The configuration's examples into out: every test-time training problem
 * that fits, then the cap after a seeded shuffle. */
static void plan_examples(const AS *a, const seal_engine *eng, const seal_arc_task *t,
                          const seal_arc_config *c, uint64_t seed, seal_inner_plan *out) {
  seal_arc_problems probs = {0};
  seal_arc_ttt_data(t->train, t->n_train, &c->groups, seed, &probs);
  seal_chat_format f;
  chat_format_of(eng, &f);
  seal_plan_example *fit = seal_calloc((size_t)(probs.n ? probs.n : 1), sizeof *fit);
  int *from = seal_calloc((size_t)(probs.n ? probs.n : 1), sizeof *from), n_fit = 0;
  for (int j = 0; j < probs.n; j++)
    if (training_example(eng, &f, &probs.p[j], c->all_tokens, a->arc.max_tokens, &fit[n_fit]))
      from[n_fit++] = j;
  seal_chat_format_free(&f);
  int *keep = seal_calloc((size_t)(n_fit ? n_fit : 1), sizeof *keep);
  int n_keep = seal_arc_cap(n_fit, a->arc.max_examples, seed ^ 0x9e3779b97f4a7c15ull, keep);
  out->ex = seal_calloc((size_t)(n_keep ? n_keep : 1), sizeof *out->ex);
  for (int j = 0; j < n_keep; j++) {
    out->ex[j] = fit[keep[j]];
    fit[keep[j]].ids = NULL, fit[keep[j]].text = NULL;
    out->ex[j].detail_json = dump(problem_json(&probs.p[from[keep[j]]], true));
  }
  out->n_ex = n_keep;
  for (int j = 0; j < n_fit; j++) free(fit[j].ids), free(fit[j].text);
  free(fit), free(from), free(keep);
  seal_arc_problems_free(&probs);
}

static void arc_plan(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                     seal_condition_kind kind, const char *selfedit, uint64_t seed,
                     seal_inner_plan *out) {
  const AS *a = d->settings;
  out->ok = true;
  out->train = kind != SEAL_COND_BASE;
  if (!out->train) return;
  seal_arc_config c = fixed_config(a);
  if (kind == SEAL_COND_SELFEDIT && !seal_arc_config_parse(selfedit ? selfedit : "", a->arc.json,
                                                           &c, out->reason, sizeof out->reason)) {
    out->ok = false; /* the reference trains nothing and scores it 0 */
    return;
  }
  plan_examples(a, eng, task_of(d, s, i), &c, seed, out);
  if (kind == SEAL_COND_SELFEDIT) out->n_from_selfedit = out->n_ex;
  out->hp.lr = c.lr;
  out->hp.epochs = c.epochs;
  if (out->n_ex == 0) {
    out->ok = false;
    snprintf(out->reason, sizeof out->reason, "no test-time training example under %d tokens",
             a->arc.max_tokens);
    return;
  }
  long steps = seal_arc_guard_steps(&c, out->n_ex, out->hp.batch_size);
  if (kind == SEAL_COND_SELFEDIT && steps > a->arc.max_steps) {
    out->ok = false; /* the reference's guard: such a self-edit trains nothing */
    snprintf(out->reason, sizeof out->reason, "%ld steps > %d (%d epochs x %d examples / %d)",
             steps, a->arc.max_steps, c.epochs, out->n_ex, out->hp.batch_size);
  }
}

/* ---- queries and grades -------------------------------------------------------- */

/* The seed of a task's voting queries: from its id, so that they do not
 * depend on where the task sits in the file or on the rank. */
static uint64_t query_seed(const seal_arc_task *t, int test) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = t->id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return h ^ (uint64_t)test * 0x9e3779b97f4a7c15ull;
}

/* Appends test input k's queries that fit max_tokens; from leave_n up to
 * leave-(n_train - 1) until some fit, as the reference falls back. */
static void test_queries(const AS *a, const seal_engine *eng, const seal_chat_format *f,
                         const seal_arc_task *t, int k, seal_query **q, int *n, int *cap) {
  for (int leave = a->arc.query.leave_n; leave < t->n_train || leave == a->arc.query.leave_n;
       leave++) {
    seal_arc_query *aq;
    int m = seal_arc_queries(t->train, t->n_train, &t->test_in[k], leave, a->arc.query.permute_n,
                             query_seed(t, k), &aq);
    int added = 0;
    for (int j = 0; j < m; j++) {
      seal_error e = {0};
      char *text = seal_arc_query_text(&aq[j].problem, f, chat_date, &e);
      if (!text) SEAL_DIE_ERR(&e);
      as_prompt(eng, text);
      int32_t *ids;
      int len = seal_engine_encode_prompt(eng, text, &ids);
      free(ids);
      if (len >= a->arc.max_tokens) {
        free(text);
        continue;
      }
      if (*n == *cap) *cap = *cap ? 2 * *cap : 16, *q = seal_realloc(*q, (size_t)*cap * sizeof **q);
      json_t *o = problem_json(&aq[j].problem, false);
      json_object_set_new(o, "test_index", json_integer(k));
      json_object_set_new(o, "leave_n", json_integer(leave));
      json_object_set_new(o, "transform", json_string(seal_arc_op_name(aq[j].xform)));
      json_object_set_new(o, "vote_group", json_string(seal_arc_vote_group(aq[j].xform)));
      (*q)[(*n)++] = (seal_query){
          .prompt = text, .max_tokens = a->arc.answer_max_tokens, .detail_json = dump(o)};
      added++;
    }
    seal_arc_queries_free(aq, m);
    if (added) return;
  }
}

static int arc_queries(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                       seal_query **out) {
  const AS *a = d->settings;
  const seal_arc_task *t = task_of(d, s, i);
  seal_chat_format f;
  chat_format_of(eng, &f);
  seal_query *q = NULL;
  int n = 0, cap = 0;
  for (int k = 0; k < t->n_test; k++) test_queries(a, eng, &f, t, k, &q, &n, &cap);
  seal_chat_format_free(&f);
  *out = q ? q : seal_calloc(1, sizeof *q);
  return n;
}

/* The test input and transform a query was made for (its detail, written by
 * test_queries). */
static void query_of(const seal_query *q, int *test, seal_arc_op *xform) {
  json_error_t je;
  json_t *o = q->detail_json ? json_loads(q->detail_json, 0, &je) : NULL;
  SEAL_CHECK(o, "an ARC query without its detail");
  *test = (int)json_integer_value(json_object_get(o, "test_index"));
  const char *name = json_string_value(json_object_get(o, "transform"));
  *xform = SEAL_ARC_N_OPS;
  for (int op = 0; name && op < SEAL_ARC_N_OPS; op++)
    if (!strcmp(seal_arc_op_name((seal_arc_op)op), name)) *xform = (seal_arc_op)op;
  json_decref(o);
  SEAL_CHECK(*xform != SEAL_ARC_N_OPS, "an ARC query with transform %s", name ? name : "(none)");
}

static json_t *attempt_json(const seal_arc_grid *g) { return g->h ? grid_json(g) : json_null(); }

/* Test input k: its answers voted; whether the solution is in the top 2.
 * Adds to *valid the answers that parsed. */
static bool grade_test(const seal_arc_task *t, int k, const seal_query *q,
                       const char *const *completions, int n_queries, int *valid, json_t *detail) {
  seal_arc_vote_item *items = seal_calloc((size_t)(n_queries ? n_queries : 1), sizeof *items);
  int n_items = 0, asked = 0;
  for (int j = 0; j < n_queries; j++) {
    int test;
    seal_arc_op xform;
    query_of(&q[j], &test, &xform);
    if (test != k) continue;
    asked++;
    char why[128];
    seal_arc_grid g;
    if (!seal_arc_answer_grid(completions[j], xform, &g, why, sizeof why)) continue;
    items[n_items++] = (seal_arc_vote_item){.xform = xform, .grid = g};
  }
  seal_arc_grid attempts[2] = {{0}, {0}};
  int n_att = seal_arc_vote(items, n_items, attempts);
  bool solved = seal_arc_solved(attempts, n_att, &t->test_out[k]);
  json_array_append_new(
      detail, json_pack("{s:i,s:i,s:i,s:[o,o],s:b}", "test_index", k, "queries", asked, "valid",
                        n_items, "attempts", attempt_json(&attempts[0]), attempt_json(&attempts[1]),
                        "solved", solved));
  *valid += n_items;
  for (int j = 0; j < n_items; j++) seal_arc_grid_free(&items[j].grid);
  for (int j = 0; j < 2; j++) seal_arc_grid_free(&attempts[j]);
  free(items);
  return solved;
}

static void arc_grade(const seal_domain *d, seal_split s, int i, const seal_query *q,
                      const char *const *completions, int n_queries, seal_grade *out) {
  const seal_arc_task *t = task_of(d, s, i);
  json_t *detail = json_array();
  int solved = 0, valid = 0;
  for (int k = 0; k < t->n_test; k++)
    solved += grade_test(t, k, q, completions, n_queries, &valid, detail);
  *out = (seal_grade){
      .reward = solved == t->n_test ? 1.0 : 0.0, /* a task needs every test input */
      .n_items = t->n_test,
      .n_correct = solved,
      .metric = {(double)solved / t->n_test, n_queries ? (double)valid / n_queries : 0.0},
      .detail_json = dump(detail)};
}

static char *arc_canonical_answer(const seal_domain *d, seal_split s, int i, const seal_query *q,
                                  int query, const char *completion) {
  (void)d, (void)s, (void)i;
  int test;
  seal_arc_op xform;
  query_of(&q[query], &test, &xform);
  seal_arc_grid g;
  char why[128];
  if (!seal_arc_answer_grid(completion, xform, &g, why, sizeof why)) return seal_strdup("");
  char *text = seal_arc_grid_text(&g);
  char *out = seal_asprintf("test %d: %s", test, text);
  free(text);
  seal_arc_grid_free(&g);
  return out;
}

/* ---- the table ------------------------------------------------------------------ */

static const char *const protocol_names[SEAL_N_PROTOCOLS] = {
    [SEAL_PROTOCOL_SINGLE] = "single-task",
};
static const char *const metric_names[] = {"solved", "valid"};
static const char *const metric_labels[] = {"solved", "valid"};

const seal_domain_ops seal_arc_domain = {
    .name = "arc",
    .settings_size = sizeof(AS),
    .defaults = arc_defaults,
    .free_settings = arc_free_settings,
    .keys = keys,
    .defaults_yaml = defaults_yaml,
    .keep = SEAL_KEEP_SOLVED, /* BC-self-edit.py trains on every configuration that solved */
    .contexts_label = "tasks",
    .items_label = "tests",
    .base_name = "in-context",
    .fixed_name = "ttt-fixed",
    .protocol_names = protocol_names,
    .metric_names = metric_names,
    .metric_labels = metric_labels,
    .n_metrics = SEAL_ARRAY_LEN(metric_names),
    .open = arc_open,
    .close = arc_close,
    .n_contexts = arc_n_contexts,
    .context_name = arc_context_name,
    .selfedit_prompt = arc_selfedit_prompt,
    .selfedit_usable = arc_selfedit_usable,
    .plan = arc_plan,
    .protocol_settings = NULL,
    .queries = arc_queries,
    .grade = arc_grade,
    .canonical_answer = arc_canonical_answer,
};
