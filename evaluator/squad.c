/* evaluator/squad.c — reads SQuAD v1.1 and SEAL's grouped form with jansson.
 *
 * jansson keeps no positions for values after parsing, so errors in well-formed
 * JSON name the place by its path (data[0].paragraphs[2].qas[1].question);
 * syntax errors name jansson's line and column. */
#include "evaluator/squad.h"
#include "model/json_file.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Where in the document we are, for messages: "data[0].paragraphs[2]". */
typedef struct {
  char at[256];
} json_place;

/* A path too deep for the buffer ends in "..." rather than being cut silently. */
static void mark_truncated(json_place *q, int written) {
  if (written >= (int)sizeof q->at) memcpy(q->at + sizeof q->at - 4, "...", 4);
}

static json_place place_key(const json_place *p, const char *key) {
  json_place q;
  mark_truncated(&q, snprintf(q.at, sizeof q.at, "%s%s%s", p->at, p->at[0] ? "." : "", key));
  return q;
}

static json_place place_index(const json_place *p, size_t i) {
  json_place q;
  mark_truncated(&q, snprintf(q.at, sizeof q.at, "%s[%zu]", p->at, i));
  return q;
}

static int type_error(seal_error *e, const char *name, const json_place *p, const char *want,
                      const json_t *got) {
  return seal_errorf(e, "%s: %s: expected %s, got %s", name, p->at[0] ? p->at : "top level", want,
                     seal_json_type_name(got));
}

/* Looks up obj[key] and checks its type; NULL (with e filled) when missing or wrong. */
static json_t *get_member(json_t *obj, const char *key, json_type type, const char *name,
                          const json_place *p, seal_error *e) {
  json_t *v = json_object_get(obj, key);
  json_place at = place_key(p, key);
  if (!v) {
    seal_errorf(e, "%s: %s: missing key \"%s\"", name, p->at[0] ? p->at : "top level", key);
    return NULL;
  }
  if (json_typeof(v) != type) {
    const char *want = type == JSON_STRING   ? "a string"
                       : type == JSON_ARRAY  ? "an array"
                       : type == JSON_OBJECT ? "an object"
                                             : "a number";
    type_error(e, name, &at, want, v);
    return NULL;
  }
  return v;
}

static int expect_object(json_t *v, const char *name, const json_place *p, seal_error *e) {
  return json_is_object(v) ? 0 : type_error(e, name, p, "an object", v);
}

static void question_free(seal_squad_question *q) {
  free(q->id);
  free(q->question);
  for (int i = 0; i < q->n_answers; i++) free(q->answers[i]);
  free(q->answers);
}

static void passage_free(seal_squad_passage *p) {
  free(p->title);
  free(p->context);
  for (int i = 0; i < p->n_questions; i++) question_free(&p->questions[i]);
  free(p->questions);
}

void seal_squad_free(seal_squad *s) {
  for (int i = 0; i < s->n_passages; i++) passage_free(&s->passages[i]);
  free(s->passages);
  memset(s, 0, sizeof *s);
}

int seal_squad_n_questions(const seal_squad *s) {
  int n = 0;
  for (int i = 0; i < s->n_passages; i++) n += s->passages[i].n_questions;
  return n;
}

static seal_squad_passage *append_passage(seal_squad *s, size_t *cap) {
  if ((size_t)s->n_passages == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    s->passages = seal_realloc(s->passages, *cap * sizeof *s->passages);
  }
  seal_squad_passage *p = &s->passages[s->n_passages++];
  memset(p, 0, sizeof *p);
  return p;
}

/* ---- official v1.1 ------------------------------------------------------- */

/* answers: [{"text": str, "answer_start": int}, ...], at least one. */
static int read_official_answers(json_t *answers, seal_squad_question *q, const char *name,
                                 const json_place *p, seal_error *e) {
  size_t n = json_array_size(answers);
  if (n == 0)
    return seal_errorf(e, "%s: %s: a question needs at least one gold answer", name, p->at);
  SEAL_ALLOC_ARRAY(q->answers, n);
  for (size_t i = 0; i < n; i++) {
    json_place at = place_index(p, i);
    json_t *a = json_array_get(answers, i);
    if (expect_object(a, name, &at, e)) return -1;
    json_t *text = get_member(a, "text", JSON_STRING, name, &at, e);
    if (!text) return -1;
    json_t *start = json_object_get(a, "answer_start");
    if (start && !json_is_integer(start)) {
      json_place sp = place_key(&at, "answer_start");
      return type_error(e, name, &sp, "an integer", start);
    }
    q->answers[q->n_answers++] = seal_strdup(json_string_value(text));
  }
  return 0;
}

static int read_official_paragraph(json_t *para, const char *title, seal_squad_passage *out,
                                   const char *name, const json_place *p, seal_error *e) {
  if (expect_object(para, name, p, e)) return -1;
  json_t *context = get_member(para, "context", JSON_STRING, name, p, e);
  json_t *qas = context ? get_member(para, "qas", JSON_ARRAY, name, p, e) : NULL;
  if (!qas) return -1;
  json_place qp = place_key(p, "qas");
  size_t n = json_array_size(qas);
  if (n == 0) return seal_errorf(e, "%s: %s: a passage needs at least one question", name, qp.at);
  out->title = seal_strdup(title);
  out->context = seal_strdup(json_string_value(context));
  SEAL_ALLOC_ARRAY(out->questions, n);
  for (size_t i = 0; i < n; i++) {
    json_place at = place_index(&qp, i);
    json_t *qa = json_array_get(qas, i);
    if (expect_object(qa, name, &at, e)) return -1;
    json_t *question = get_member(qa, "question", JSON_STRING, name, &at, e);
    json_t *answers = question ? get_member(qa, "answers", JSON_ARRAY, name, &at, e) : NULL;
    if (!answers) return -1;
    json_t *id = json_object_get(qa, "id");
    if (id && !json_is_string(id)) {
      json_place ip = place_key(&at, "id");
      return type_error(e, name, &ip, "a string", id);
    }
    seal_squad_question *q = &out->questions[out->n_questions++];
    q->id = id ? seal_strdup(json_string_value(id)) : NULL;
    q->question = seal_strdup(json_string_value(question));
    json_place ap = place_key(&at, "answers");
    if (read_official_answers(answers, q, name, &ap, e)) return -1;
  }
  return 0;
}

static int read_official(json_t *root, seal_squad *s, const char *name, seal_error *e) {
  json_place top = {{0}};
  json_t *data = get_member(root, "data", JSON_ARRAY, name, &top, e);
  if (!data) return -1;
  json_place dp = place_key(&top, "data");
  size_t cap = 0;
  for (size_t i = 0; i < json_array_size(data); i++) {
    json_place at = place_index(&dp, i);
    json_t *article = json_array_get(data, i);
    if (expect_object(article, name, &at, e)) return -1;
    json_t *title = get_member(article, "title", JSON_STRING, name, &at, e);
    json_t *paras = title ? get_member(article, "paragraphs", JSON_ARRAY, name, &at, e) : NULL;
    if (!paras) return -1;
    json_place pp = place_key(&at, "paragraphs");
    for (size_t j = 0; j < json_array_size(paras); j++) {
      json_place at2 = place_index(&pp, j);
      seal_squad_passage *p = append_passage(s, &cap);
      if (read_official_paragraph(json_array_get(paras, j), json_string_value(title), p, name, &at2,
                                  e))
        return -1;
    }
  }
  return 0;
}

/* ---- SEAL's grouped form ----------------------------------------------- */

/* A gold answer is "answer": str; "answers": [str | {"text": str}] is accepted too,
 * so files that keep several gold answers per question load as well. */
static int read_grouped_answers(json_t *qobj, seal_squad_question *q, const char *name,
                                const json_place *p, seal_error *e) {
  json_t *one = json_object_get(qobj, "answer");
  json_t *many = json_object_get(qobj, "answers");
  if (one) {
    if (!json_is_string(one)) {
      json_place at = place_key(p, "answer");
      return type_error(e, name, &at, "a string", one);
    }
    SEAL_ALLOC_ARRAY(q->answers, 1);
    q->answers[q->n_answers++] = seal_strdup(json_string_value(one));
    return 0;
  }
  if (!many) return seal_errorf(e, "%s: %s: missing key \"answer\"", name, p->at);
  json_place ap = place_key(p, "answers");
  if (!json_is_array(many)) return type_error(e, name, &ap, "an array", many);
  size_t n = json_array_size(many);
  if (n == 0)
    return seal_errorf(e, "%s: %s: a question needs at least one gold answer", name, ap.at);
  SEAL_ALLOC_ARRAY(q->answers, n);
  for (size_t i = 0; i < n; i++) {
    json_place at = place_index(&ap, i);
    json_t *a = json_array_get(many, i);
    if (json_is_object(a)) {
      a = get_member(a, "text", JSON_STRING, name, &at, e);
      if (!a) return -1;
    } else if (!json_is_string(a)) {
      return type_error(e, name, &at, "a string or an object with \"text\"", a);
    }
    q->answers[q->n_answers++] = seal_strdup(json_string_value(a));
  }
  return 0;
}

static int read_grouped_passage(json_t *item, seal_squad_passage *out, const char *name,
                                const json_place *p, seal_error *e) {
  if (expect_object(item, name, p, e)) return -1;
  json_t *title = get_member(item, "title", JSON_STRING, name, p, e);
  json_t *context = title ? get_member(item, "context", JSON_STRING, name, p, e) : NULL;
  json_t *questions = context ? get_member(item, "questions", JSON_ARRAY, name, p, e) : NULL;
  if (!questions) return -1;
  json_place qp = place_key(p, "questions");
  size_t n = json_array_size(questions);
  if (n == 0) return seal_errorf(e, "%s: %s: a passage needs at least one question", name, qp.at);
  out->title = seal_strdup(json_string_value(title));
  out->context = seal_strdup(json_string_value(context));
  SEAL_ALLOC_ARRAY(out->questions, n);
  for (size_t i = 0; i < n; i++) {
    json_place at = place_index(&qp, i);
    json_t *qobj = json_array_get(questions, i);
    if (expect_object(qobj, name, &at, e)) return -1;
    json_t *question = get_member(qobj, "question", JSON_STRING, name, &at, e);
    if (!question) return -1;
    seal_squad_question *q = &out->questions[out->n_questions++];
    q->question = seal_strdup(json_string_value(question));
    if (read_grouped_answers(qobj, q, name, &at, e)) return -1;
  }
  return 0;
}

static int read_grouped(json_t *root, seal_squad *s, const char *name, seal_error *e) {
  size_t cap = 0;
  json_place top = {{0}};
  for (size_t i = 0; i < json_array_size(root); i++) {
    json_place at = place_index(&top, i);
    seal_squad_passage *p = append_passage(s, &cap);
    if (read_grouped_passage(json_array_get(root, i), p, name, &at, e)) return -1;
  }
  return 0;
}

/* ---- entry points -------------------------------------------------------- */

int seal_squad_parse(const char *text, size_t len, const char *name, seal_squad *out,
                     seal_error *e) {
  memset(out, 0, sizeof *out);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
  if (!root)
    return seal_errorf(e, "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column, jerr.text);
  int rc;
  if (json_is_array(root)) {
    out->form = SEAL_SQUAD_GROUPED;
    rc = read_grouped(root, out, name, e);
  } else if (json_is_object(root)) {
    out->form = SEAL_SQUAD_OFFICIAL;
    rc = read_official(root, out, name, e);
  } else {
    json_place top = {{0}};
    rc = type_error(e, name, &top,
                    "an object with \"data\" (SQuAD v1.1) or an array of passages (grouped form)",
                    root);
  }
  json_decref(root);
  if (rc == 0 && out->n_passages == 0) rc = seal_errorf(e, "%s: no passages", name);
  if (rc) seal_squad_free(out);
  return rc;
}

int seal_squad_load(const char *path, seal_squad *out, seal_error *e) {
  memset(out, 0, sizeof *out);
  size_t n;
  char *text = seal_read_file(path, &n, e);
  if (!text) return -1;
  int rc = seal_squad_parse(text, n, path, out, e);
  free(text);
  return rc;
}
