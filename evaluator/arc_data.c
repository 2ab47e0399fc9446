/* evaluator/arc_data.c — ARC Prize challenges and solutions, read and validated
 * with jansson (see arc.h). Every message names the file, the task and the place
 * ("train[2].input: row 3 has 4 cells, row 0 has 3"); syntax errors name
 * jansson's line and column. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "model/json_file.h"

/* Where a message points: the file, the task and the place inside it. */
typedef struct {
  const char *file;
  const char *task; /* NULL: the top level */
  char at[96];      /* "train[2].input", "" for the task itself */
} place;

/* A place too deep for the buffer ends in "..." rather than being cut silently. */
static void mark_truncated(place *q, int written) {
  if (written >= (int)sizeof q->at) memcpy(q->at + sizeof q->at - 4, "...", 4);
}

static place at_key(const place *p, const char *suffix) {
  place q = *p;
  mark_truncated(&q, snprintf(q.at, sizeof q.at, "%s%s%s", p->at, p->at[0] ? "." : "", suffix));
  return q;
}

static place at_index(const place *p, size_t i) {
  place q = *p;
  mark_truncated(&q, snprintf(q.at, sizeof q.at, "%s[%zu]", p->at, i));
  return q;
}

__attribute__((format(printf, 3, 4))) static int fail(seal_error *e, const place *p,
                                                      const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (!p->task) return seal_errorf(e, "%s: %s", p->file, what);
  if (!p->at[0]) return seal_errorf(e, "%s: task %s: %s", p->file, p->task, what);
  return seal_errorf(e, "%s: task %s: %s: %s", p->file, p->task, p->at, what);
}

/* ---- grids ----------------------------------------------------------------------------------- */

static int check_side(int n, const char *what, const place *p, seal_error *e) {
  if (n < 1 || n > SEAL_ARC_MAX_SIDE)
    return fail(e, p, "%d %s (a side must be 1..%d)", n, what, SEAL_ARC_MAX_SIDE);
  return 0;
}

/* The shape of a JSON grid: a non-empty array of equally long non-empty arrays. */
static int grid_shape(const json_t *v, int *h, int *w, const place *p, seal_error *e) {
  if (!json_is_array(v))
    return fail(e, p, "expected a grid (an array of rows), got %s", seal_json_type_name(v));
  *h = (int)json_array_size(v);
  if (check_side(*h, "rows", p, e)) return -1;
  for (int r = 0; r < *h; r++) {
    const json_t *row = json_array_get(v, (size_t)r);
    if (!json_is_array(row))
      return fail(e, p, "row %d: expected an array of cells, got %s", r, seal_json_type_name(row));
    int n = (int)json_array_size(row);
    if (r == 0) {
      *w = n;
      if (check_side(*w, "columns", p, e)) return -1;
    } else if (n != *w) {
      return fail(e, p, "row %d has %d cell%s, row 0 has %d", r, n, n == 1 ? "" : "s", *w);
    }
  }
  return 0;
}

/* One cell: an integer 0-9. */
static int read_cell(const json_t *cell, int r, int c, uint8_t *out, const place *p,
                     seal_error *e) {
  if (json_is_real(cell))
    return fail(e, p, "row %d, column %d: %g is not a colour 0-9", r, c, json_real_value(cell));
  if (!json_is_integer(cell))
    return fail(e, p, "row %d, column %d: expected a colour 0-9, got %s", r, c,
                seal_json_type_name(cell));
  json_int_t x = json_integer_value(cell);
  if (x < 0 || x > 9)
    return fail(e, p, "row %d, column %d: %lld is not a colour 0-9", r, c, (long long)x);
  *out = (uint8_t)x;
  return 0;
}

static int read_grid(const json_t *v, seal_arc_grid *g, const place *p, seal_error *e) {
  int h = 0, w = 0;
  if (grid_shape(v, &h, &w, p, e)) return -1;
  seal_arc_grid t = seal_arc_grid_new(h, w);
  for (int r = 0; r < h; r++) {
    const json_t *row = json_array_get(v, (size_t)r);
    for (int c = 0; c < w; c++) {
      if (read_cell(json_array_get(row, (size_t)c), r, c, &t.v[r * w + c], p, e)) {
        seal_arc_grid_free(&t);
        return -1;
      }
    }
  }
  *g = t;
  return 0;
}

/* obj[key] as a grid; missing is an error. */
static int read_grid_member(const json_t *obj, const char *key, seal_arc_grid *g, const place *p,
                            seal_error *e) {
  const json_t *v = json_object_get(obj, key);
  if (!v) return fail(e, p, "missing key \"%s\"", key);
  place q = at_key(p, key);
  return read_grid(v, g, &q, e);
}

/* ---- tasks ----------------------------------------------------------------------------------- */

static void task_free(seal_arc_task *t) {
  free(t->id);
  for (int i = 0; i < t->n_train; i++) {
    seal_arc_grid_free(&t->train[i].in);
    seal_arc_grid_free(&t->train[i].out);
  }
  free(t->train);
  for (int i = 0; i < t->n_test; i++) {
    seal_arc_grid_free(&t->test_in[i]);
    if (t->test_out) seal_arc_grid_free(&t->test_out[i]);
  }
  free(t->test_in);
  free(t->test_out);
  memset(t, 0, sizeof *t);
}

static const json_t *array_member(const json_t *obj, const char *key, const place *p,
                                  seal_error *e) {
  const json_t *v = json_object_get(obj, key);
  if (!v) {
    fail(e, p, "missing key \"%s\"", key);
    return NULL;
  }
  if (!json_is_array(v)) {
    place q = at_key(p, key);
    fail(e, &q, "expected an array, got %s", seal_json_type_name(v));
    return NULL;
  }
  return v;
}

static int read_demos(const json_t *train, seal_arc_task *t, const place *p, seal_error *e) {
  size_t n = json_array_size(train);
  if (n == 0) return fail(e, p, "no demonstrations (\"train\" is empty)");
  SEAL_ALLOC_ARRAY(t->train, n);
  for (size_t i = 0; i < n; i++) {
    place q = at_index(&(place){p->file, p->task, "train"}, i);
    const json_t *ex = json_array_get(train, i);
    if (!json_is_object(ex))
      return fail(e, &q, "expected an object, got %s", seal_json_type_name(ex));
    seal_arc_pair *d = &t->train[t->n_train++];
    if (read_grid_member(ex, "input", &d->in, &q, e)) return -1;
    if (read_grid_member(ex, "output", &d->out, &q, e)) return -1;
  }
  return 0;
}

/* test: [{"input": grid, "output"?: grid}]; outputs kept only when every entry has one. */
static int read_tests(const json_t *test, seal_arc_task *t, const place *p, seal_error *e) {
  size_t n = json_array_size(test);
  if (n == 0) return fail(e, p, "no test inputs (\"test\" is empty)");
  SEAL_ALLOC_ARRAY(t->test_in, n);
  seal_arc_grid *outs;
  SEAL_ALLOC_ARRAY(outs, n);
  int n_out = 0;
  for (size_t i = 0; i < n; i++) {
    place q = at_index(&(place){p->file, p->task, "test"}, i);
    const json_t *ex = json_array_get(test, i);
    int rc =
        json_is_object(ex) ? 0 : fail(e, &q, "expected an object, got %s", seal_json_type_name(ex));
    if (!rc) rc = read_grid_member(ex, "input", &t->test_in[t->n_test++], &q, e);
    if (!rc && json_object_get(ex, "output")) {
      rc = read_grid_member(ex, "output", &outs[i], &q, e);
      n_out += rc == 0;
    }
    if (rc) {
      for (size_t k = 0; k < n; k++) seal_arc_grid_free(&outs[k]);
      free(outs);
      return -1;
    }
  }
  if ((size_t)n_out == n) {
    t->test_out = outs;
  } else {
    for (size_t k = 0; k < n; k++) seal_arc_grid_free(&outs[k]);
    free(outs);
  }
  return 0;
}

static int read_task(const char *id, const json_t *v, seal_arc_task *t, const char *file,
                     seal_error *e) {
  place p = {file, id, ""};
  t->id = seal_strdup(id);
  if (!json_is_object(v))
    return fail(e, &p, "expected an object with \"train\" and \"test\", got %s",
                seal_json_type_name(v));
  const json_t *train = array_member(v, "train", &p, e);
  if (!train || read_demos(train, t, &p, e)) return -1;
  const json_t *test = array_member(v, "test", &p, e);
  if (!test || read_tests(test, t, &p, e)) return -1;
  return 0;
}

/* ---- files ----------------------------------------------------------------------------------- */

static json_t *load_json(const char *text, size_t len, const char *name, seal_error *e) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    seal_errorf(e, "%s:%d:%d: invalid JSON: %s", name, jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  if (!json_is_object(root)) {
    place top = {name, NULL, ""};
    fail(e, &top, "expected an object {task_id: ...}, got %s", seal_json_type_name(root));
    json_decref(root);
    return NULL;
  }
  return root;
}

static int read_challenges(const json_t *root, const char *name, seal_arc_data *d, seal_error *e) {
  size_t n = json_object_size(root);
  if (n == 0) return seal_errorf(e, "%s: no tasks", name);
  SEAL_ALLOC_ARRAY(d->tasks, n);
  const char *id;
  json_t *v;
  json_object_foreach((json_t *)root, id, v) {
    if (read_task(id, v, &d->tasks[d->n++], name, e)) return -1;
  }
  return 0;
}

/* One task's solutions: exactly one grid per test input. */
static int read_solution(const json_t *v, seal_arc_task *t, const char *name, seal_error *e) {
  place p = {name, t->id, ""};
  if (!json_is_array(v))
    return fail(e, &p, "expected an array of grids, got %s", seal_json_type_name(v));
  int n = (int)json_array_size(v);
  if (n != t->n_test)
    return fail(e, &p, "%d solution%s for %d test input%s", n, n == 1 ? "" : "s", t->n_test,
                t->n_test == 1 ? "" : "s");
  seal_arc_grid *outs;
  SEAL_ALLOC_ARRAY(outs, n);
  for (int i = 0; i < n; i++) {
    place q = at_index(&p, (size_t)i);
    if (read_grid(json_array_get(v, (size_t)i), &outs[i], &q, e)) {
      for (int k = 0; k < i; k++) seal_arc_grid_free(&outs[k]);
      free(outs);
      return -1;
    }
  }
  if (t->test_out) {
    for (int i = 0; i < t->n_test; i++) seal_arc_grid_free(&t->test_out[i]);
    free(t->test_out);
  }
  t->test_out = outs;
  return 0;
}

static int read_solutions(const json_t *root, const char *name, const char *ch_name,
                          seal_arc_data *d, seal_error *e) {
  const char *id;
  json_t *v;
  json_object_foreach((json_t *)root, id, v) {
    seal_arc_task *t = (seal_arc_task *)seal_arc_find(d, id);
    if (!t) return seal_errorf(e, "%s: task %s: not a task of %s", name, id, ch_name);
    if (read_solution(v, t, name, e)) return -1;
  }
  for (int i = 0; i < d->n; i++) {
    if (!json_object_get(root, d->tasks[i].id))
      return seal_errorf(e, "%s: task %s: no solution (it is a task of %s)", name, d->tasks[i].id,
                         ch_name);
  }
  return 0;
}

void seal_arc_data_free(seal_arc_data *d) {
  for (int i = 0; i < d->n; i++) task_free(&d->tasks[i]);
  free(d->tasks);
  memset(d, 0, sizeof *d);
}

const seal_arc_task *seal_arc_find(const seal_arc_data *d, const char *id) {
  for (int i = 0; i < d->n; i++)
    if (strcmp(d->tasks[i].id, id) == 0) return &d->tasks[i];
  return NULL;
}

int seal_arc_parse(const char *ch_text, size_t ch_len, const char *ch_name, const char *sol_text,
                   size_t sol_len, const char *sol_name, seal_arc_data *out, seal_error *e) {
  memset(out, 0, sizeof *out);
  json_t *ch = load_json(ch_text, ch_len, ch_name, e);
  if (!ch) return -1;
  int rc = read_challenges(ch, ch_name, out, e);
  json_decref(ch);
  if (rc == 0 && sol_text) {
    json_t *sol = load_json(sol_text, sol_len, sol_name, e);
    rc = sol ? read_solutions(sol, sol_name, ch_name, out, e) : -1;
    json_decref(sol);
  }
  if (rc) {
    seal_arc_data_free(out);
    return -1;
  }
  out->has_solutions = true;
  for (int i = 0; i < out->n; i++) out->has_solutions &= out->tasks[i].test_out != NULL;
  return 0;
}

int seal_arc_load(const char *challenges_path, const char *solutions_path, seal_arc_data *out,
                  seal_error *e) {
  memset(out, 0, sizeof *out);
  size_t ch_len, sol_len = 0;
  char *ch = seal_read_file(challenges_path, &ch_len, e);
  if (!ch) return -1;
  char *sol = NULL;
  if (solutions_path && !(sol = seal_read_file(solutions_path, &sol_len, e))) {
    free(ch);
    return -1;
  }
  int rc = seal_arc_parse(ch, ch_len, challenges_path, sol, sol_len, solutions_path, out, e);
  free(ch);
  free(sol);
  return rc;
}
