/* trainer/items.c — work-item payloads as JSON, each kind encoded and decoded
 * in one place (items.h). */
#include "trainer/items.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/metrics.h"

/* ---- JSON plumbing ----------------------------------------------------------- */

/* Takes o; compact, doubles at 17 digits so that they read back exactly. */
static char *dump(json_t *o) {
  SEAL_CHECK(o, "a work-item payload could not be built (a string that is not UTF-8?)");
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(o);
  SEAL_CHECK(s, "a work-item payload could not be written as JSON");
  return s;
}

static json_t *load(const void *data, size_t len, const char *what, seal_error *e) {
  json_error_t je;
  json_t *o = json_loadb(data, len, 0, &je);
  if (!o) seal_errorf(e, "%s: not JSON: %s (column %d)", what, je.text, je.column);
  return o;
}

/* json_unpack_ex with every key of an object required and no other allowed. */
static int unpack(json_t *o, const char *what, seal_error *e, const char *fmt, ...) {
  json_error_t je;
  va_list ap;
  va_start(ap, fmt);
  int rc = json_vunpack_ex(o, &je, JSON_STRICT, fmt, ap);
  va_end(ap);
  return rc ? seal_errorf(e, "%s: %s", what, je.text) : 0;
}

/* A number, or null for NaN. */
static int real_or_nan(const json_t *v, const char *what, const char *key, double *out,
                       seal_error *e) {
  if (json_is_null(v)) return *out = NAN, 0;
  if (!json_is_number(v)) return seal_errorf(e, "%s: %s: expected a number or null", what, key);
  *out = json_number_value(v);
  return 0;
}

static json_t *string_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* A string value copied, or NULL for null. */
static int copy_string_or_null(const json_t *v, const char *what, const char *key, char **out,
                               seal_error *e) {
  *out = NULL;
  if (json_is_null(v)) return 0;
  if (!json_is_string(v)) return seal_errorf(e, "%s: %s: expected a string or null", what, key);
  *out = seal_strdup(json_string_value(v));
  return 0;
}

/* ---- GENERATE ----------------------------------------------------------------- */

char *seal_generate_item_encode(const seal_generate_item *x) {
  json_t *arr = json_array();
  for (int i = 0; i < x->n; i++) json_array_append_new(arr, json_integer(x->context[i]));
  return dump(json_pack("{s:o}", "contexts", arr));
}

int seal_generate_item_decode(const void *data, size_t len, seal_generate_item *out,
                              seal_error *e) {
  const char *what = "GENERATE item";
  json_t *o = load(data, len, what, e), *arr = NULL;
  int rc = o ? unpack(o, what, e, "{s:o}", "contexts", &arr) : -1;
  size_t n = rc ? 0 : json_array_size(arr);
  if (!rc && (!json_is_array(arr) || n < 1 || n > SEAL_GENERATE_MAX_CONTEXTS))
    rc = seal_errorf(e, "%s: contexts: expected a list of 1 to %d", what,
                     SEAL_GENERATE_MAX_CONTEXTS);
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *v = json_array_get(arr, i);
    if (!json_is_integer(v))
      rc = seal_errorf(e, "%s: contexts[%zu]: expected an integer", what, i);
    else
      out->context[i] = (int)json_integer_value(v);
  }
  out->n = rc ? 0 : (int)n;
  json_decref(o);
  return rc;
}

void seal_selfedit_batch_alloc(seal_selfedit_batch *b, int context, int k) {
  *b = (seal_selfedit_batch){.context = context, .k = k};
  size_t n = (size_t)(k > 0 ? k : 1);
  b->texts = seal_calloc(n, sizeof *b->texts);
  b->usable = seal_calloc(n, sizeof *b->usable);
  b->reasons = seal_calloc(n, sizeof *b->reasons);
  b->attempts = seal_calloc(n, sizeof *b->attempts);
}

/* A batch as a JSON object; NULL (e filled) when a text is not UTF-8. */
static json_t *batch_json(const seal_selfedit_batch *x, seal_error *e) {
  json_t *arr = json_array();
  for (int j = 0; j < x->k; j++) {
    /* valid UTF-8: seal_engine_decode made it so */
    json_t *t = json_string(x->texts[j]);
    if (!t) {
      json_decref(arr);
      seal_errorf(e, "self-edit %d of context %d is not valid UTF-8", j, x->context);
      return NULL;
    }
    json_array_append_new(arr, json_pack("{s:o,s:b,s:s,s:i}", "text", t, "usable", x->usable[j],
                                         "reason", x->reasons[j], "attempts", x->attempts[j]));
  }
  return json_pack("{s:i,s:o}", "context", x->context, "samples", arr);
}

static int batch_of_json(json_t *o, seal_selfedit_batch *out, seal_error *e) {
  memset(out, 0, sizeof *out);
  const char *what = "self-edit batch";
  json_t *arr = NULL;
  int context = 0, rc = unpack(o, what, e, "{s:i,s:o}", "context", &context, "samples", &arr);
  if (!rc && !json_is_array(arr)) rc = seal_errorf(e, "%s: samples: expected a list", what);
  if (!rc) seal_selfedit_batch_alloc(out, context, (int)json_array_size(arr));
  for (int j = 0; !rc && j < out->k; j++) {
    const char *text, *reason;
    int usable;
    rc = unpack(json_array_get(arr, (size_t)j), what, e, "{s:s,s:b,s:s,s:i}", "text", &text,
                "usable", &usable, "reason", &reason, "attempts", &out->attempts[j]);
    if (rc) break;
    out->texts[j] = seal_strdup(text);
    out->usable[j] = usable;
    snprintf(out->reasons[j], sizeof out->reasons[j], "%s", reason);
  }
  return rc;
}

char *seal_selfedit_batch_encode(const seal_selfedit_batch *x, seal_error *e) {
  json_t *o = batch_json(x, e);
  return o ? dump(o) : NULL;
}

int seal_selfedit_batch_decode(const void *data, size_t len, seal_selfedit_batch *out,
                               seal_error *e) {
  memset(out, 0, sizeof *out);
  json_t *o = load(data, len, "self-edit batch", e);
  int rc = o ? batch_of_json(o, out, e) : -1;
  json_decref(o);
  return rc;
}

char *seal_selfedit_batches_encode(const seal_selfedit_batch *x, int n, seal_error *e) {
  json_t *arr = json_array();
  for (int i = 0; i < n; i++) {
    json_t *o = batch_json(&x[i], e);
    if (!o) {
      json_decref(arr);
      return NULL;
    }
    json_array_append_new(arr, o);
  }
  return dump(json_pack("{s:o}", "batches", arr));
}

int seal_selfedit_batches_decode(const void *data, size_t len, seal_selfedit_batch **out, int *n,
                                 seal_error *e) {
  *out = NULL, *n = 0;
  const char *what = "self-edit batches";
  json_t *o = load(data, len, what, e), *arr = NULL;
  int rc = o ? unpack(o, what, e, "{s:o}", "batches", &arr) : -1;
  if (!rc && !json_is_array(arr)) rc = seal_errorf(e, "%s: batches: expected a list", what);
  size_t m = rc ? 0 : json_array_size(arr);
  *out = seal_calloc(m + 1, sizeof **out);
  for (size_t i = 0; !rc && i < m; i++, (*n)++)
    rc = batch_of_json(json_array_get(arr, i), &(*out)[i], e);
  if (!rc && m == 0) rc = seal_errorf(e, "%s: batches: empty", what);
  json_decref(o);
  return rc;
}

void seal_selfedit_batch_free(seal_selfedit_batch *x) {
  for (int j = 0; x->texts && j < x->k; j++) free(x->texts[j]);
  free(x->texts), free(x->usable), free(x->reasons), free(x->attempts);
  memset(x, 0, sizeof *x);
}

/* ---- EVALUATE ------------------------------------------------------------------ */

char *seal_evaluate_item_encode(const seal_evaluate_item *x) {
  json_t *arr = json_array();
  for (int i = 0; i < x->n; i++)
    json_array_append_new(arr, json_pack("{s:i,s:i,s:s}", "sample", x->pairs[i].sample, "repeat",
                                         x->pairs[i].repeat, "text", x->pairs[i].text));
  return dump(json_pack("{s:i,s:o}", "context", x->context, "pairs", arr));
}

int seal_evaluate_item_decode(const void *data, size_t len, seal_evaluate_item *out,
                              seal_error *e) {
  memset(out, 0, sizeof *out);
  const char *what = "EVALUATE item";
  json_t *o = load(data, len, what, e), *arr = NULL;
  int rc = o ? unpack(o, what, e, "{s:i,s:o}", "context", &out->context, "pairs", &arr) : -1;
  if (!rc && !json_is_array(arr)) rc = seal_errorf(e, "%s: pairs: expected a list", what);
  if (!rc) {
    out->n = (int)json_array_size(arr);
    out->pairs = seal_calloc((size_t)(out->n ? out->n : 1), sizeof *out->pairs);
  }
  for (int i = 0; !rc && i < out->n; i++) {
    seal_evaluate_pair *p = &out->pairs[i];
    const char *text;
    rc = unpack(json_array_get(arr, (size_t)i), what, e, "{s:i,s:i,s:s}", "sample", &p->sample,
                "repeat", &p->repeat, "text", &text);
    if (!rc) p->text = seal_strdup(text);
  }
  json_decref(o);
  return rc;
}

void seal_evaluate_item_free(seal_evaluate_item *x) {
  for (int i = 0; x->pairs && i < x->n; i++) free(x->pairs[i].text);
  free(x->pairs);
  memset(x, 0, sizeof *x);
}

/* One inner loop's result; the grade's detail only when with_detail (else null). */
static json_t *inner_result_json(const seal_inner_result *r, int n_metrics, bool with_detail) {
  json_t *metrics = json_array();
  for (int m = 0; m < n_metrics; m++)
    json_array_append_new(metrics, seal_json_real(r->grade.metric[m]));
  json_t *o = json_pack(
      "{s:o,s:o,s:b,s:s,s:i,s:i,s:i,s:o,s:o,s:o,s:f,s:f,s:o}", "reward", seal_json_real(r->reward),
      "label_reward", seal_json_real(r->label_reward), "ok", r->ok, "reason", r->reason,
      "n_examples", r->n_examples, "n_items", r->grade.n_items, "n_correct", r->grade.n_correct,
      "metrics", metrics, "first_loss", seal_json_real(r->first_loss), "last_loss",
      seal_json_real(r->last_loss), "train_seconds", r->train_seconds, "answer_seconds",
      r->answer_seconds, "detail", string_or_null(with_detail ? r->grade.detail_json : NULL));
  json_object_update_new(o, seal_labelfree_signals_json(&r->signals));
  return o;
}

static int inner_result_from(json_t *o, int n_metrics, const char *what, seal_inner_result *r,
                             seal_error *e) {
  memset(r, 0, sizeof *r);
  json_t *reward, *label, *metrics, *first, *last, *detail, *sc, *h, *maj;
  int ok;
  const char *reason;
  if (unpack(o, what, e, "{s:o,s:o,s:b,s:s,s:i,s:i,s:i,s:o,s:o,s:o,s:F,s:F,s:o,s:o,s:o,s:o}",
             "reward", &reward, "label_reward", &label, "ok", &ok, "reason", &reason, "n_examples",
             &r->n_examples, "n_items", &r->grade.n_items, "n_correct", &r->grade.n_correct,
             "metrics", &metrics, "first_loss", &first, "last_loss", &last, "train_seconds",
             &r->train_seconds, "answer_seconds", &r->answer_seconds, "detail", &detail,
             "self_certainty", &sc, "entropy", &h, "majority", &maj))
    return -1;
  r->ok = ok;
  snprintf(r->reason, sizeof r->reason, "%s", reason);
  if (!json_is_array(metrics) || (int)json_array_size(metrics) != n_metrics)
    return seal_errorf(e, "%s: metrics: expected a list of %d numbers", what, n_metrics);
  for (int m = 0; m < n_metrics; m++)
    if (real_or_nan(json_array_get(metrics, (size_t)m), what, "metrics", &r->grade.metric[m], e))
      return -1;
  if (real_or_nan(reward, what, "reward", &r->reward, e) ||
      real_or_nan(label, what, "label_reward", &r->label_reward, e) ||
      real_or_nan(first, what, "first_loss", &r->first_loss, e) ||
      real_or_nan(last, what, "last_loss", &r->last_loss, e) ||
      real_or_nan(sc, what, "self_certainty", &r->signals.self_certainty, e) ||
      real_or_nan(h, what, "entropy", &r->signals.entropy, e) ||
      real_or_nan(maj, what, "majority", &r->signals.majority, e))
    return -1;
  r->grade.reward = r->label_reward;
  return copy_string_or_null(detail, what, "detail", &r->grade.detail_json, e);
}

char *seal_evaluate_result_encode(const seal_evaluate_result *x, int n_metrics) {
  json_t *arr = json_array();
  for (int i = 0; i < x->n; i++)
    json_array_append_new(arr, inner_result_json(&x->results[i], n_metrics, false));
  return dump(json_pack("{s:o}", "results", arr));
}

int seal_evaluate_result_decode(const void *data, size_t len, int n_metrics,
                                seal_evaluate_result *out, seal_error *e) {
  memset(out, 0, sizeof *out);
  const char *what = "EVALUATE result";
  json_t *o = load(data, len, what, e), *arr = NULL;
  int rc = o ? unpack(o, what, e, "{s:o}", "results", &arr) : -1;
  if (!rc && !json_is_array(arr)) rc = seal_errorf(e, "%s: results: expected a list", what);
  if (!rc) {
    out->n = (int)json_array_size(arr);
    out->results = seal_calloc((size_t)(out->n ? out->n : 1), sizeof *out->results);
  }
  for (int i = 0; !rc && i < out->n; i++)
    rc = inner_result_from(json_array_get(arr, (size_t)i), n_metrics, what, &out->results[i], e);
  json_decref(o);
  return rc;
}

void seal_evaluate_result_free(seal_evaluate_result *x) {
  for (int i = 0; x->results && i < x->n; i++) seal_inner_result_free(&x->results[i]);
  free(x->results);
  memset(x, 0, sizeof *x);
}

/* ---- the kept self-edits ------------------------------------------------------- */

char *seal_kept_list_encode(const seal_kept_list *x) {
  json_t *arr = json_array();
  for (int i = 0; i < x->n; i++)
    json_array_append_new(
        arr, json_pack("{s:i,s:i,s:f,s:s}", "context", x->items[i].context, "sample",
                       x->items[i].sample, "mean", x->items[i].mean, "text", x->items[i].text));
  return dump(arr);
}

int seal_kept_list_decode(const char *text, seal_kept_list *out, seal_error *e) {
  memset(out, 0, sizeof *out);
  const char *what = "kept self-edits";
  json_t *arr = load(text, strlen(text), what, e);
  int rc = arr ? 0 : -1;
  if (!rc && !json_is_array(arr)) rc = seal_errorf(e, "%s: expected a list", what);
  if (!rc) {
    out->n = (int)json_array_size(arr);
    out->items = seal_calloc((size_t)(out->n ? out->n : 1), sizeof *out->items);
  }
  for (int i = 0; !rc && i < out->n; i++) {
    seal_kept *k = &out->items[i];
    const char *t;
    rc = unpack(json_array_get(arr, (size_t)i), what, e, "{s:i,s:i,s:F,s:s}", "context",
                &k->context, "sample", &k->sample, "mean", &k->mean, "text", &t);
    if (!rc) k->text = seal_strdup(t);
  }
  json_decref(arr);
  return rc;
}

void seal_kept_list_free(seal_kept_list *x) {
  for (int i = 0; x->items && i < x->n; i++) free(x->items[i].text);
  free(x->items);
  memset(x, 0, sizeof *x);
}

/* ---- seal eval ------------------------------------------------------------------- */

char *seal_eval_result_encode(const seal_eval_result *x, int n_metrics) {
  json_t *o = inner_result_json(&x->r, n_metrics, true);
  if (o) json_object_set_new(o, "selfedit", json_string(x->selfedit ? x->selfedit : ""));
  return dump(o);
}

int seal_eval_result_decode(const void *data, size_t len, int n_metrics, seal_eval_result *out,
                            seal_error *e) {
  memset(out, 0, sizeof *out);
  const char *what = "evaluation result";
  json_t *o = load(data, len, what, e);
  if (!o) return -1;
  json_t *selfedit = json_object_get(o, "selfedit");
  int rc = json_is_string(selfedit) ? 0 : seal_errorf(e, "%s: selfedit: expected a string", what);
  if (!rc) {
    out->selfedit = seal_strdup(json_string_value(selfedit));
    json_object_del(o, "selfedit");
    rc = inner_result_from(o, n_metrics, what, &out->r, e);
  }
  json_decref(o);
  return rc;
}

void seal_eval_result_free(seal_eval_result *x) {
  seal_inner_result_free(&x->r);
  free(x->selfedit);
  memset(x, 0, sizeof *x);
}
