/* evaluator/knowledge_domain.c — the knowledge-incorporation domain over
 * SQuAD passages: the ops of evaluator/domain.h on top of squad.c (data),
 * prompts.c (the reference's texts), selfedit.c (self-edit to sequences) and
 * knowledge.c (grading). */
#include "evaluator/knowledge_domain.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/knowledge.h"
#include "evaluator/selfedit.h"
#include "evaluator/squad.h"
#include "model/lora.h"

/* ---- job keys ---------------------------------------------------------------- */

#define KS seal_knowledge_settings

static const char *prompt_name(int v) {
  return v >= 0 && v < SEAL_PROMPT_N_VARIANTS ? seal_prompt_variant_name((seal_prompt_variant)v)
                                              : NULL;
}

static const char *grade_name(int v) {
  return v >= 0 && v < SEAL_GRADE_N_MODES ? seal_grade_mode_name((seal_grade_mode)v) : NULL;
}

static const seal_schema_key data_keys[] = {
    SEAL_SCHEMA_PATH_KEY("train", KS, data.train, true),
    SEAL_SCHEMA_PATH_KEY("eval", KS, data.eval, true),
    SEAL_SCHEMA_END,
};

static const seal_schema_key selfedit_keys[] = {
    SEAL_SCHEMA_ENUM_KEY("prompt", KS, selfedit.prompt, prompt_name),
    SEAL_SCHEMA_END,
};

static const seal_schema_key answer_keys[] = {
    SEAL_SCHEMA_INT_KEY("max_tokens", KS, answer.max_tokens, 1, 1 << 20),
    SEAL_SCHEMA_END,
};

static const seal_schema_key grading_keys[] = {
    {.name = "mode",
     .kind = SEAL_SCHEMA_ENUM,
     .off = offsetof(KS, grading.mode),
     .name_of = grade_name,
     .needs_value = SEAL_GRADE_JUDGE,
     .needs_key = "judge_model",
     .needs_why = "judge grading needs grading.judge_model (a model path)"},
    SEAL_SCHEMA_FLOAT_KEY("f1_threshold", KS, grading.f1_threshold, 0, 1),
    SEAL_SCHEMA_PATH_KEY("judge_model", KS, grading.judge_model, false),
    SEAL_SCHEMA_END,
};

static const seal_schema_key cpt_lora_keys[] = {
    SEAL_SCHEMA_INT_KEY("r", KS, cpt.lora.r, 1, 65536),
    SEAL_SCHEMA_POSITIVE_KEY("alpha", KS, cpt.lora.alpha),
    SEAL_SCHEMA_TARGETS_KEY("targets", KS, cpt.lora.targets),
    SEAL_SCHEMA_END,
};

static const seal_schema_key cpt_keys[] = {
    SEAL_SCHEMA_INT_KEY("n_passages", KS, cpt.n_passages, 1, SEAL_SCHEMA_BIG),
    SEAL_SCHEMA_MAP_KEY("lora", cpt_lora_keys),
    SEAL_SCHEMA_INT_KEY("epochs", KS, cpt.epochs, 1, 100000),
    SEAL_SCHEMA_POSITIVE_KEY("lr", KS, cpt.lr),
    SEAL_SCHEMA_INT_KEY("batch_size", KS, cpt.batch_size, 1, 1 << 20),
    SEAL_SCHEMA_END,
};

static const seal_schema_key evaluation_keys[] = {
    SEAL_SCHEMA_MAP_KEY("continued_pretraining", cpt_keys),
    SEAL_SCHEMA_END,
};

/* data, selfedit and evaluation add to the trainer's mappings of those names;
 * answer and grading are the domain's own. */
static const seal_schema_key knowledge_keys[] = {
    SEAL_SCHEMA_MAP_KEY("data", data_keys),
    SEAL_SCHEMA_MAP_KEY("selfedit", selfedit_keys),
    SEAL_SCHEMA_MAP_KEY("answer", answer_keys),
    SEAL_SCHEMA_MAP_KEY("grading", grading_keys),
    SEAL_SCHEMA_MAP_KEY("evaluation", evaluation_keys),
    SEAL_SCHEMA_END,
};

/* The paper's settings (docs/job-config.md). */
static void knowledge_defaults(void *settings) {
  const unsigned q_v = (1u << SEAL_LORA_Q) | (1u << SEAL_LORA_V);
  *(KS *)settings = (KS){
      .selfedit = {.prompt = SEAL_PROMPT_IMPLICATIONS},
      .answer = {.max_tokens = 64},
      .grading = {.mode = SEAL_GRADE_CONTAINS, .f1_threshold = 0.5},
      .cpt = {.n_passages = 200,
              .lora = {.r = 32, .alpha = 64, .targets = q_v},
              .epochs = 3,
              .lr = 1e-3,
              .batch_size = 8},
  };
}

static void knowledge_free_settings(void *settings) {
  KS *k = settings;
  free(k->data.train);
  free(k->data.eval);
  free(k->grading.judge_model);
  memset(k, 0, sizeof *k);
}

/* ---- data -------------------------------------------------------------------- */

typedef struct {
  seal_squad split[SEAL_N_SPLITS];
  seal_qa_config qa;
  seal_engine judge;
  bool has_judge;
} knowledge_state;

static int knowledge_open(seal_domain *d, const void *settings, const char *device, seal_error *e) {
  const KS *k = settings;
  knowledge_state *st = seal_calloc(1, sizeof *st);
  d->impl = st;
  if (seal_squad_load(k->data.train, &st->split[SEAL_SPLIT_TRAIN], e) ||
      seal_squad_load(k->data.eval, &st->split[SEAL_SPLIT_EVAL], e))
    return -1;
  st->qa.grader = (seal_grader){.mode = k->grading.mode, .f1_threshold = k->grading.f1_threshold};
  if (k->grading.mode == SEAL_GRADE_JUDGE) {
    if (seal_engine_open(&st->judge, k->grading.judge_model, device, e)) return -1;
    st->has_judge = true;
    st->qa.judge = &st->judge;
  }
  return 0;
}

void seal_knowledge_open_documents(seal_domain *d, const seal_knowledge_settings *k,
                                   const char *const *titles, const char *const *texts, int n) {
  memset(d, 0, sizeof *d);
  d->ops = &seal_knowledge_domain;
  d->settings = k;
  knowledge_state *st = seal_calloc(1, sizeof *st);
  d->impl = st;
  seal_squad *docs = &st->split[SEAL_SPLIT_EVAL];
  docs->form = SEAL_SQUAD_GROUPED;
  docs->passages = seal_calloc((size_t)(n ? n : 1), sizeof *docs->passages);
  docs->n_passages = n;
  for (int i = 0; i < n; i++) {
    docs->passages[i].title = seal_strdup(titles[i]);
    docs->passages[i].context = seal_strdup(texts[i]);
  }
  st->qa.grader = (seal_grader){.mode = k->grading.mode, .f1_threshold = k->grading.f1_threshold};
}

void seal_knowledge_open_passages(seal_domain *d, const seal_knowledge_settings *k,
                                  seal_squad *eval) {
  memset(d, 0, sizeof *d);
  d->ops = &seal_knowledge_domain;
  d->settings = k;
  knowledge_state *st = seal_calloc(1, sizeof *st);
  d->impl = st;
  st->split[SEAL_SPLIT_EVAL] = *eval;
  memset(eval, 0, sizeof *eval);
  st->qa.grader = (seal_grader){.mode = k->grading.mode, .f1_threshold = k->grading.f1_threshold};
}

static void knowledge_close(seal_domain *d) {
  knowledge_state *st = d->impl;
  if (!st) return;
  for (int s = 0; s < SEAL_N_SPLITS; s++) seal_squad_free(&st->split[s]);
  if (st->has_judge) seal_engine_close(&st->judge);
  free(st);
  d->impl = NULL;
}

static const seal_squad_passage *passage(const seal_domain *d, seal_split s, int i) {
  const knowledge_state *st = d->impl;
  SEAL_CHECK(i >= 0 && i < st->split[s].n_passages, "passage %d of %d (%s split)", i,
             st->split[s].n_passages, seal_split_name(s));
  return &st->split[s].passages[i];
}

static int knowledge_n_contexts(const seal_domain *d, seal_split s) {
  const knowledge_state *st = d->impl;
  return st->split[s].n_passages;
}

static const char *knowledge_context_name(const seal_domain *d, seal_split s, int i) {
  return passage(d, s, i)->title;
}

/* ---- self-edits and plans ------------------------------------------------------ */

static char *knowledge_selfedit_prompt(const seal_domain *d, const seal_engine *eng, seal_split s,
                                       int i, char **detail_json) {
  (void)eng; /* a plain completion prompt, as the paper's base model reads it */
  const KS *k = d->settings;
  const seal_squad_passage *p = passage(d, s, i);
  if (detail_json) {
    json_t *o = json_pack("{s:s,s:b}", "variant", seal_prompt_variant_name(k->selfedit.prompt),
                          "chat_template", 0);
    *detail_json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  }
  return seal_prompt_selfedit(k->selfedit.prompt, p->title, p->context);
}

/* The sequences of a condition: the self-edit's lines (SELFEDIT) and the passage. */
static void condition_sequences(const seal_squad_passage *p, seal_condition_kind kind,
                                const char *selfedit, seal_train_seqs *seqs) {
  seal_selfedit_opts o = {.split_lines = true, .add_passage = true};
  const char *text = kind == SEAL_COND_SELFEDIT && selfedit ? selfedit : "";
  seal_selfedit_sequences(text, p->title, p->context, &o, seqs);
}

static const char no_lines[] = "the self-edit has no line to train on";

static bool knowledge_selfedit_usable(const seal_domain *d, seal_split s, int i,
                                      const char *selfedit, char *reason, size_t reason_size) {
  seal_train_seqs seqs;
  condition_sequences(passage(d, s, i), SEAL_COND_SELFEDIT, selfedit, &seqs);
  bool usable = seqs.n_from_selfedit > 0;
  seal_train_seqs_free(&seqs);
  if (!usable) snprintf(reason, reason_size, "%s", no_lines);
  return usable;
}

static void knowledge_plan(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                           seal_condition_kind kind, const char *selfedit, uint64_t seed,
                           seal_inner_plan *out) {
  (void)seed; /* nothing in the plan is random */
  out->ok = true;
  out->train = kind != SEAL_COND_BASE;
  if (!out->train) return;
  seal_train_seqs seqs;
  condition_sequences(passage(d, s, i), kind, selfedit, &seqs);
  out->n_from_selfedit = seqs.n_from_selfedit;
  if (kind == SEAL_COND_SELFEDIT && seqs.n_from_selfedit == 0) {
    /* Nothing of its own to train on: it scores zero; the passage stays for
     * continued pretraining, as the reference trains it there. */
    out->ok = false;
    snprintf(out->reason, sizeof out->reason, "%s", no_lines);
  }
  out->ex = seal_calloc((size_t)(seqs.n ? seqs.n : 1), sizeof *out->ex);
  out->n_ex = seqs.n;
  for (int j = 0; j < seqs.n; j++) {
    seal_plan_example *x = &out->ex[j];
    x->n = seal_engine_encode_prompt(eng, seqs.seqs[j], &x->ids);
    x->loss_from = 0; /* every token: the sequences are plain text */
    x->text = seal_strdup(seqs.seqs[j]);
  }
  seal_train_seqs_free(&seqs);
}

static void knowledge_protocol_settings(const seal_domain *d, seal_protocol p,
                                        seal_protocol_settings *out) {
  const KS *k = d->settings;
  SEAL_CHECK(p == SEAL_PROTOCOL_CPT, "knowledge has no settings for protocol %d", (int)p);
  *out = (seal_protocol_settings){
      .n_contexts = k->cpt.n_passages,
      .hp = {.lora_r = k->cpt.lora.r,
             .lora_alpha = k->cpt.lora.alpha,
             .lora_targets = k->cpt.lora.targets,
             .epochs = k->cpt.epochs,
             .batch_size = k->cpt.batch_size,
             .lr = k->cpt.lr,
             .weight_decay = 0.0,
             .grad_clip = 1.0,
             .schedule = SEAL_SCHEDULE_LINEAR,
             .warmup_steps = 0},
  };
}

/* ---- queries and grades ------------------------------------------------------- */

static int knowledge_queries(const seal_domain *d, const seal_engine *eng, seal_split s, int i,
                             seal_query **out) {
  (void)eng;
  const KS *k = d->settings;
  const seal_squad_passage *p = passage(d, s, i);
  seal_query *q = seal_calloc((size_t)(p->n_questions ? p->n_questions : 1), sizeof *q);
  for (int j = 0; j < p->n_questions; j++) {
    q[j].prompt = seal_prompt_answer(p->title, p->questions[j].question);
    q[j].max_tokens = k->answer.max_tokens;
    json_t *o = json_pack("{s:s}", "question", p->questions[j].question);
    q[j].detail_json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
  }
  *out = q;
  return p->n_questions;
}

/* [{"answer": ..., "correct": ...}] per question. */
static char *grade_detail(const seal_qa_result *r) {
  json_t *arr = json_array();
  for (int j = 0; j < r->n_questions; j++) {
    json_t *a = json_string(r->answers[j]);
    json_array_append_new(
        arr, json_pack("{s:o,s:b}", "answer", a ? a : json_null(), "correct", r->correct[j]));
  }
  char *s = json_dumps(arr, JSON_COMPACT);
  json_decref(arr);
  return s;
}

static void knowledge_grade(const seal_domain *d, seal_split s, int i, const seal_query *q,
                            const char *const *completions, int n_queries, seal_grade *out) {
  (void)q;
  const knowledge_state *st = d->impl;
  const seal_squad_passage *p = passage(d, s, i);
  SEAL_CHECK(n_queries == p->n_questions, "%d completions for %d questions", n_queries,
             p->n_questions);
  seal_qa_result r;
  seal_knowledge_grade(&st->qa, p, completions, &r);
  *out = (seal_grade){.reward = r.reward,
                      .n_items = r.n_questions,
                      .n_correct = r.n_correct,
                      .metric = {r.em, r.f1, r.contains},
                      .detail_json = grade_detail(&r)};
  seal_qa_result_free(&r);
}

static char *knowledge_canonical_answer(const seal_domain *d, seal_split s, int i,
                                        const seal_query *q, int query, const char *completion) {
  (void)d, (void)s, (void)i, (void)q, (void)query;
  char *answer = seal_answer_from_completion(completion);
  char *norm = seal_squad_normalize(answer);
  free(answer);
  return norm;
}

/* ---- the table ------------------------------------------------------------------ */

static const char *const protocol_names[SEAL_N_PROTOCOLS] = {
    [SEAL_PROTOCOL_SINGLE] = "single-passage",
    [SEAL_PROTOCOL_CPT] = "continued-pretraining",
    [SEAL_PROTOCOL_CONTINUAL] = "continual",
};
static const char *const metric_names[] = {"em", "f1", "contains"};
static const char *const metric_labels[] = {"EM", "F1", "contains"};

const seal_domain_ops seal_knowledge_domain = {
    .name = "knowledge",
    .settings_size = sizeof(KS),
    .defaults = knowledge_defaults,
    .free_settings = knowledge_free_settings,
    .keys = knowledge_keys,
    .defaults_yaml = NULL, /* the trainer's defaults are this paper's settings */
    .keep = SEAL_KEEP_BEST,
    .contexts_label = "passages",
    .items_label = "questions",
    .base_name = "base",
    .fixed_name = "passage",
    .protocol_names = protocol_names,
    .metric_names = metric_names,
    .metric_labels = metric_labels,
    .n_metrics = SEAL_ARRAY_LEN(metric_names),
    .open = knowledge_open,
    .close = knowledge_close,
    .n_contexts = knowledge_n_contexts,
    .context_name = knowledge_context_name,
    .selfedit_prompt = knowledge_selfedit_prompt,
    .selfedit_usable = knowledge_selfedit_usable,
    .plan = knowledge_plan,
    .protocol_settings = knowledge_protocol_settings,
    .queries = knowledge_queries,
    .grade = knowledge_grade,
    .canonical_answer = knowledge_canonical_answer,
};
