/* trainer/learn.c — `seal learn`: self-edits of a user's documents, LoRA on
 * them, one after another or all together; resumable document by document. */
#include "trainer/learn.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"
#include "trainer/export.h"
#include "trainer/inner.h"
#include "trainer/metrics.h"
#include "trainer/run.h"
#include "trainer/run_state.h"
#include "trainer/seeds.h"

#define STATE_VERSION 1

static const char *const mode_names[] = {[SEAL_LEARN_EACH] = "each", [SEAL_LEARN_ALL] = "all"};

/* ---- the state ------------------------------------------------------------ */

void seal_learn_state_init(seal_learn_state *st, seal_learn_mode mode, const char *dir,
                           const char *model, const char *policy, uint64_t seed, float lora_alpha,
                           const char *const *names, int n) {
  *st = (seal_learn_state){.mode = mode,
                           .dir = seal_strdup(dir),
                           .model = seal_strdup(model),
                           .policy = policy ? seal_strdup(policy) : NULL,
                           .seed = seed,
                           .lora_alpha = lora_alpha,
                           .n_docs = n,
                           .all_first_loss = NAN,
                           .all_last_loss = NAN};
  st->docs = seal_calloc((size_t)(n ? n : 1), sizeof *st->docs);
  for (int i = 0; i < n; i++)
    st->docs[i] =
        (seal_learn_doc){.name = seal_strdup(names[i]), .first_loss = NAN, .last_loss = NAN};
}

void seal_learn_state_free(seal_learn_state *st) {
  for (int i = 0; i < st->n_docs; i++) free(st->docs[i].name), free(st->docs[i].selfedit);
  free(st->docs), free(st->dir), free(st->model), free(st->policy);
  memset(st, 0, sizeof *st);
}

char *seal_learn_state_path(const char *dir) { return seal_path_join(dir, "learn-state.json"); }

static json_t *doc_json(const seal_learn_doc *d) {
  json_t *o = json_pack("{s:s,s:b,s:s,s:i,s:b,s:i}", "name", d->name, "usable", d->usable, "reason",
                        d->reason, "attempts", d->attempts, "trained", d->trained, "n_examples",
                        d->n_examples);
  json_object_set_new(o, "selfedit", d->selfedit ? json_string(d->selfedit) : json_null());
  json_object_set_new(o, "first_loss", seal_json_real(d->first_loss));
  json_object_set_new(o, "last_loss", seal_json_real(d->last_loss));
  return o;
}

int seal_learn_state_save(const seal_learn_state *st, seal_error *e) {
  json_t *docs = json_array();
  for (int i = 0; i < st->n_docs; i++) json_array_append_new(docs, doc_json(&st->docs[i]));
  /* the seed as a string: JSON integers are signed 64-bit */
  char seed[24];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)st->seed);
  json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:f,s:i,s:i,s:i}", "version", STATE_VERSION, "mode",
                        mode_names[st->mode], "model", st->model, "seed", seed, "lora_alpha",
                        (double)st->lora_alpha, "selfedits_done", st->n_selfedits, "trained_done",
                        st->n_trained, "all_examples", st->all_examples);
  json_object_set_new(o, "policy", st->policy ? json_string(st->policy) : json_null());
  json_object_set_new(o, "all_first_loss", seal_json_real(st->all_first_loss));
  json_object_set_new(o, "all_last_loss", seal_json_real(st->all_last_loss));
  json_object_set_new(o, "documents", docs);
  char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  json_decref(o);
  char *path = seal_learn_state_path(st->dir);
  int rc = seal_write_file_atomic(path, text, strlen(text), false, e);
  free(path);
  free(text);
  return rc;
}

static double real_or_nan(const json_t *v) {
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The fields of one document from its JSON; -1 when one has the wrong type. */
static int doc_from_json(json_t *o, seal_learn_doc *d) {
  json_t *se = json_object_get(o, "selfedit");
  const char *reason = json_string_value(json_object_get(o, "reason"));
  if (!json_is_object(o) || !(json_is_string(se) || json_is_null(se)) || !reason) return -1;
  d->selfedit = json_is_string(se) ? seal_strdup(json_string_value(se)) : NULL;
  d->usable = json_is_true(json_object_get(o, "usable"));
  snprintf(d->reason, sizeof d->reason, "%s", reason);
  d->attempts = (int)json_integer_value(json_object_get(o, "attempts"));
  d->trained = json_is_true(json_object_get(o, "trained"));
  d->n_examples = (int)json_integer_value(json_object_get(o, "n_examples"));
  d->first_loss = real_or_nan(json_object_get(o, "first_loss"));
  d->last_loss = real_or_nan(json_object_get(o, "last_loss"));
  return 0;
}

static bool same_string(const char *a, const char *b) {
  return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether the saved learn is the one asked for; names the first difference. */
static int check_same_learn(const char *path, json_t *o, const seal_learn_state *want,
                            seal_error *e) {
  const char *mode = json_string_value(json_object_get(o, "mode"));
  const char *model = json_string_value(json_object_get(o, "model"));
  const char *policy = json_string_value(json_object_get(o, "policy"));
  const char *seed = json_string_value(json_object_get(o, "seed"));
  char want_seed[24];
  snprintf(want_seed, sizeof want_seed, "%llu", (unsigned long long)want->seed);
  json_t *docs = json_object_get(o, "documents");
  if (json_integer_value(json_object_get(o, "version")) != STATE_VERSION)
    return seal_errorf(e, "%s: not a learn state of this seal (version)", path);
  if (!same_string(mode, mode_names[want->mode]))
    return seal_errorf(e, "%s: that learn ran with --%s, not --%s", path, mode ? mode : "?",
                       mode_names[want->mode]);
  if (!same_string(model, want->model))
    return seal_errorf(e, "%s: that learn's model is %s, not %s", path, model ? model : "?",
                       want->model);
  if (!same_string(policy, want->policy))
    return seal_errorf(e, "%s: that learn's policy is %s, not %s", path,
                       policy ? policy : "the base model",
                       want->policy ? want->policy : "the base model");
  if (!same_string(seed, want_seed))
    return seal_errorf(e, "%s: that learn's seed is %s, the job's is %s", path, seed ? seed : "?",
                       want_seed);
  if ((float)json_number_value(json_object_get(o, "lora_alpha")) != want->lora_alpha)
    return seal_errorf(e, "%s: that learn's LoRA alpha is %g, the job's is %g", path,
                       json_number_value(json_object_get(o, "lora_alpha")),
                       (double)want->lora_alpha);
  if (!json_is_array(docs) || (int)json_array_size(docs) != want->n_docs)
    return seal_errorf(e, "%s: that learn had %d document(s), this one has %d", path,
                       json_is_array(docs) ? (int)json_array_size(docs) : 0, want->n_docs);
  for (int i = 0; i < want->n_docs; i++) {
    const char *name = json_string_value(json_object_get(json_array_get(docs, i), "name"));
    if (!same_string(name, want->docs[i].name))
      return seal_errorf(e, "%s: document %d was %s, now it is %s", path, i + 1, name ? name : "?",
                         want->docs[i].name);
  }
  return 0;
}

int seal_learn_state_resume(seal_learn_state *st, const seal_learn_state *want, seal_error *e) {
  char *path = seal_learn_state_path(want->dir);
  size_t n;
  char *text = seal_read_file(path, &n, e);
  json_error_t je;
  json_t *o = text ? json_loadb(text, n, 0, &je) : NULL;
  int rc = text ? 0 : -1;
  if (text && !o) rc = seal_errorf(e, "%s:%d:%d: %s", path, je.line, je.column, je.text);
  if (!rc) rc = check_same_learn(path, o, want, e);
  if (!rc) {
    const char **names = seal_calloc((size_t)want->n_docs + 1, sizeof(char *));
    for (int i = 0; i < want->n_docs; i++) names[i] = want->docs[i].name;
    seal_learn_state_init(st, want->mode, want->dir, want->model, want->policy, want->seed,
                          want->lora_alpha, names, want->n_docs);
    free(names);
    st->n_selfedits = (int)json_integer_value(json_object_get(o, "selfedits_done"));
    st->n_trained = (int)json_integer_value(json_object_get(o, "trained_done"));
    st->all_examples = (int)json_integer_value(json_object_get(o, "all_examples"));
    st->all_first_loss = real_or_nan(json_object_get(o, "all_first_loss"));
    st->all_last_loss = real_or_nan(json_object_get(o, "all_last_loss"));
    json_t *docs = json_object_get(o, "documents");
    for (int i = 0; !rc && i < st->n_docs; i++)
      if (doc_from_json(json_array_get(docs, i), &st->docs[i]))
        rc = seal_errorf(e, "%s: documents[%d]: a field is missing or of the wrong type", path, i);
    if (!rc && (st->n_selfedits < 0 || st->n_selfedits > st->n_docs || st->n_trained < 0 ||
                st->n_trained > st->n_docs || st->n_trained > st->n_selfedits))
      rc = seal_errorf(e, "%s: selfedits_done %d and trained_done %d do not fit %d document(s)",
                       path, st->n_selfedits, st->n_trained, st->n_docs);
    if (rc) seal_learn_state_free(st);
  }
  json_decref(o);
  free(text);
  free(path);
  return rc;
}

/* ---- stopping --------------------------------------------------------------- */

/* After a document: report, save, and say whether to stop (1) or fail (-1). */
static int finish_doc(seal_learn_state *st, seal_learn_ctl *ctl, int doc, bool training,
                      seal_error *e) {
  if (seal_learn_state_save(st, e)) return -1;
  if (ctl->on_doc) ctl->on_doc(ctl->user, st, doc, training);
  ctl->done++;
  bool asked = ctl->stop && *ctl->stop;
  return asked || (ctl->stop_after >= 0 && ctl->done >= ctl->stop_after) ? 1 : 0;
}

/* ---- phase 1: self-edits ------------------------------------------------------ */

int seal_learn_selfedits(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                         const seal_job *job, seal_learn_ctl *ctl, seal_error *e) {
  SEAL_CHECK(d->ops->n_contexts(d, SEAL_SPLIT_EVAL) == st->n_docs,
             "the domain holds %d documents, the state %d", d->ops->n_contexts(d, SEAL_SPLIT_EVAL),
             st->n_docs);
  while (st->n_selfedits < st->n_docs) {
    int i = st->n_selfedits;
    seal_learn_doc *doc = &st->docs[i];
    uint64_t seed = seal_item_seed(job->seed, 0, i, 0, SEAL_STREAM_LEARN_SELFEDIT);
    char *text = NULL;
    char reason[1][SEAL_REASON_SIZE];
    seal_sample_selfedits(eng, d, job, SEAL_SPLIT_EVAL, i, 1, &seed, &text, &doc->usable, reason,
                          &doc->attempts);
    if (job->testing.blank_selfedit == i) {
      /* the test hook: this document's self-edit comes out empty, as a model
       * that writes nothing would; the task's own check then refuses it */
      free(text);
      text = seal_strdup("");
      doc->usable =
          d->ops->selfedit_usable(d, SEAL_SPLIT_EVAL, i, text, reason[0], sizeof reason[0]);
    }
    free(doc->selfedit);
    doc->selfedit = text;
    snprintf(doc->reason, sizeof doc->reason, "%s", doc->usable ? "" : reason[0]);
    st->n_selfedits++;
    int rc = finish_doc(st, ctl, i, false, e);
    if (rc) return rc;
  }
  return 0;
}

/* ---- phase 2: training -------------------------------------------------------- */

/* DIR/learn/doc-NNNN.safetensors (each) or DIR/learn/all.safetensors. */
static char *update_path(const seal_learn_state *st, int doc) {
  char name[40];
  if (doc < 0)
    snprintf(name, sizeof name, "learn/all.safetensors");
  else
    snprintf(name, sizeof name, "learn/doc-%04d.safetensors", doc);
  return seal_path_join(st->dir, name);
}

static int save_update(const seal_learn_state *st, int doc, const seal_lora *lora, seal_error *e) {
  char *sub = seal_path_join(st->dir, "learn"), *path = update_path(st, doc);
  seal_tensor_set ts = {0};
  seal_lora_to_tensors(lora, &ts);
  const char *meta[] = {"format", "pt", NULL};
  int rc = seal_mkdirs(sub, e);
  if (!rc) rc = seal_safetensors_write(path, &ts, meta, e);
  seal_tensors_free(&ts);
  free(sub), free(path);
  return rc;
}

/* The plan of document i's self-edit (seeded by its index). */
static void doc_plan(const seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                     const seal_job *job, int i, seal_inner_plan *plan) {
  uint64_t seed = seal_item_seed(st->seed, 0, i, 0, SEAL_STREAM_LEARN_TRAIN);
  seal_inner_plan_of(job, d, eng, SEAL_SPLIT_EVAL, i, SEAL_COND_SELFEDIT, st->docs[i].selfedit,
                     seed, plan);
}

static void append_examples(const seal_inner_plan *p, seal_sft_example **ex, int *n) {
  *ex = seal_realloc(*ex, (size_t)(*n + p->n_ex + 1) * sizeof **ex);
  for (int j = 0; j < p->n_ex; j++)
    (*ex)[(*n)++] = (seal_sft_example){p->ex[j].ids, p->ex[j].n, p->ex[j].loss_from};
}

/* A fresh LoRA of hp's shape trained on ex[0..n), seeded by `slot` (a
 * document's index; n_docs for the one LoRA of all). */
static void train_lora(const seal_learn_state *st, seal_engine *eng, const seal_plan_hparams *hp,
                       int slot, const seal_sft_example *ex, int n, seal_lora *lora,
                       seal_sft_stats *stats) {
  uint64_t seed = seal_item_seed(st->seed, 0, slot, 1, SEAL_STREAM_LEARN_TRAIN);
  seal_lora_create(lora, &eng->model, hp->lora_r, (float)hp->lora_alpha, hp->lora_targets);
  seal_rng rng;
  seal_rng_seed(&rng, seal_item_subseed(seed, SEAL_SUBSTREAM_LORA_INIT, 0));
  seal_lora_init(lora, &rng);
  seal_sft_config cfg = seal_inner_sft_config(hp, seal_item_subseed(seed, SEAL_SUBSTREAM_ORDER, 0));
  seal_sft_train(&eng->model, lora, ex, n, &cfg, stats);
}

static int merge_saved(const seal_learn_state *st, seal_engine *eng, int doc, seal_error *e) {
  char *path = update_path(st, doc);
  seal_tensor_set ts = {0};
  int rc = seal_safetensors_read(path, &ts, e);
  if (!rc) rc = seal_run_merge_round(eng, &ts, doc, st->lora_alpha, e);
  seal_tensors_free(&ts);
  free(path);
  return rc;
}

static int train_each(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                      const seal_job *job, seal_learn_ctl *ctl, seal_error *e) {
  for (int i = 0; i < st->n_trained; i++)
    if (st->docs[i].trained && merge_saved(st, eng, i, e)) return -1;
  while (st->n_trained < st->n_docs) {
    int i = st->n_trained;
    seal_learn_doc *doc = &st->docs[i];
    if (doc->usable) {
      seal_inner_plan plan;
      doc_plan(st, eng, d, job, i, &plan);
      seal_sft_example *ex = NULL;
      int n = 0;
      append_examples(&plan, &ex, &n);
      doc->n_examples = n;
      if (plan.ok && plan.train && n > 0) {
        seal_lora lora;
        seal_sft_stats stats;
        train_lora(st, eng, &plan.hp, i, ex, n, &lora, &stats);
        doc->first_loss = stats.first_loss;
        doc->last_loss = stats.last_loss;
        int rc = save_update(st, i, &lora, e);
        if (!rc) seal_lora_merge(&lora, &eng->model);
        seal_lora_free(&lora);
        doc->trained = rc == 0;
        if (rc) {
          free(ex);
          seal_inner_plan_free(&plan);
          return -1;
        }
      } else {
        doc->usable = false;
        snprintf(doc->reason, sizeof doc->reason, "%s",
                 plan.ok ? "its plan has nothing to train on" : plan.reason);
      }
      free(ex);
      seal_inner_plan_free(&plan);
    }
    st->n_trained++;
    int rc = finish_doc(st, ctl, i, true, e);
    if (rc) return rc;
  }
  return 0;
}

static int train_all(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                     const seal_job *job, seal_learn_ctl *ctl, seal_lora *lora, seal_error *e) {
  if (st->n_trained == st->n_docs) {
    /* done before: the saved LoRA is the result */
    char *path = update_path(st, -1);
    seal_tensor_set ts = {0};
    int rank, rc = seal_safetensors_read(path, &ts, e);
    unsigned targets;
    if (!rc) rc = seal_lora_tensors_shape(&ts, &rank, &targets, e);
    if (!rc) {
      seal_lora_create(lora, &eng->model, rank, st->lora_alpha, targets);
      rc = seal_lora_from_tensors(lora, &ts, e);
      if (rc) seal_lora_free(lora);
    }
    seal_tensors_free(&ts);
    free(path);
    return rc;
  }
  seal_inner_plan *plans = seal_calloc((size_t)st->n_docs + 1, sizeof *plans);
  seal_sft_example *ex = NULL;
  int n = 0, first = -1;
  for (int i = 0; i < st->n_docs; i++) {
    seal_learn_doc *doc = &st->docs[i];
    if (!doc->usable) continue;
    doc_plan(st, eng, d, job, i, &plans[i]);
    if (!(plans[i].ok && plans[i].train && plans[i].n_ex > 0)) {
      doc->usable = false;
      snprintf(doc->reason, sizeof doc->reason, "%s",
               plans[i].ok ? "its plan has nothing to train on" : plans[i].reason);
      continue;
    }
    if (first < 0) first = i;
    doc->n_examples = plans[i].n_ex;
    append_examples(&plans[i], &ex, &n);
  }
  int rc = 0;
  if (first < 0) {
    rc = seal_errorf(e, "no document gave a usable self-edit: nothing to learn");
  } else {
    seal_sft_stats stats;
    train_lora(st, eng, &plans[first].hp, st->n_docs, ex, n, lora, &stats);
    st->all_examples = n;
    st->all_first_loss = stats.first_loss;
    st->all_last_loss = stats.last_loss;
    rc = save_update(st, -1, lora, e);
    if (rc) seal_lora_free(lora);
  }
  for (int i = 0; i < st->n_docs; i++) {
    seal_inner_plan_free(&plans[i]);
    st->docs[i].trained = !rc && st->docs[i].usable;
  }
  free(plans);
  free(ex);
  if (rc) return -1;
  st->n_trained = st->n_docs;
  return finish_doc(st, ctl, st->n_docs - 1, true, e) < 0 ? -1 : 0;
}

int seal_learn_train(seal_learn_state *st, seal_engine *eng, const seal_domain *d,
                     const seal_job *job, seal_learn_ctl *ctl, seal_lora *all_lora, seal_error *e) {
  SEAL_CHECK(st->n_selfedits == st->n_docs, "training before every self-edit is written");
  if (st->mode == SEAL_LEARN_ALL) return train_all(st, eng, d, job, ctl, all_lora, e);
  int rc = train_each(st, eng, d, job, ctl, e);
  if (rc == 0) {
    bool any = false;
    for (int i = 0; i < st->n_docs; i++) any |= st->docs[i].trained;
    if (!any) return seal_errorf(e, "no document gave a usable self-edit: nothing to learn");
  }
  return rc;
}

/* ---- the result ------------------------------------------------------------------ */

int seal_learn_write_peft(const seal_learn_state *st, int n_layers, seal_error *e) {
  seal_run_state rs;
  seal_run_state_init(&rs);
  seal_run_state_set_string(&rs.base_path, st->model);
  rs.lora_alpha = st->lora_alpha;
  rs.n_layers = n_layers;
  int rc = 0, r = 0;
  for (int i = st->mode == SEAL_LEARN_ALL ? -1 : 0; !rc && i < st->n_docs; i++) {
    if (i >= 0 && !st->docs[i].trained) continue;
    char *path = update_path(st, i);
    seal_tensor_set ts = {0};
    rc = seal_safetensors_read(path, &ts, e);
    if (!rc) seal_run_state_set_policy(&rs, r++, &ts);
    seal_tensors_free(&ts);
    free(path);
    if (st->mode == SEAL_LEARN_ALL) break;
  }
  if (!rc) rc = seal_export_peft(&rs, SEAL_EXPORT_ALL_ROUNDS, st->dir, e);
  seal_run_state_free(&rs);
  return rc;
}
