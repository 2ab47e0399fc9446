/* tests/evaluator/arc_fixtures.h — reading tests/fixtures/arc (made by
 * tests/golden/make_arc_fixtures.py; docs/fixtures.md) in the ARC tests. */
#ifndef SEAL_TESTS_ARC_FIXTURES_H
#define SEAL_TESTS_ARC_FIXTURES_H

#include <check.h>
#include <jansson.h>
#include <string.h>

#include "evaluator/arc.h"

#define ARC_FIX "tests/fixtures/arc/"

static inline json_t *arc_fixture(const char *name) {
  char path[256];
  snprintf(path, sizeof path, ARC_FIX "%s", name);
  json_error_t e;
  json_t *root = json_load_file(path, 0, &e);
  ck_assert_msg(root != NULL, "%s:%d: %s", path, e.line, e.text);
  return root;
}

/* A grid written as a list of row strings of digits: ["12", "34"]. */
static inline seal_arc_grid arc_grid_rows(const json_t *rows) {
  int h = (int)json_array_size(rows);
  int w = h ? (int)strlen(json_string_value(json_array_get(rows, 0))) : 0;
  seal_arc_grid g = seal_arc_grid_new(h, w);
  for (int r = 0; r < h; r++) {
    const char *s = json_string_value(json_array_get(rows, (size_t)r));
    ck_assert_int_eq((int)strlen(s), w);
    for (int c = 0; c < w; c++) g.v[r * w + c] = (uint8_t)(s[c] - '0');
  }
  return g;
}

/* The same from C strings, for grids written in a test. */
static inline seal_arc_grid arc_grid_of(int h, const char *const *rows) {
  int w = (int)strlen(rows[0]);
  seal_arc_grid g = seal_arc_grid_new(h, w);
  for (int r = 0; r < h; r++)
    for (int c = 0; c < w; c++) g.v[r * w + c] = (uint8_t)(rows[r][c] - '0');
  return g;
}

/* {"input": rows, "output": rows} */
static inline seal_arc_pair arc_pair_of(const json_t *obj) {
  return (seal_arc_pair){arc_grid_rows(json_object_get(obj, "input")),
                         arc_grid_rows(json_object_get(obj, "output"))};
}

/* A list of such pairs; *n set. */
static inline seal_arc_pair *arc_pairs_of(const json_t *arr, int *n) {
  *n = (int)json_array_size(arr);
  seal_arc_pair *p = calloc((size_t)(*n ? *n : 1), sizeof *p);
  for (int i = 0; i < *n; i++) p[i] = arc_pair_of(json_array_get(arr, (size_t)i));
  return p;
}

static inline void arc_pairs_free(seal_arc_pair *p, int n) {
  for (int i = 0; i < n; i++) {
    seal_arc_grid_free(&p[i].in);
    seal_arc_grid_free(&p[i].out);
  }
  free(p);
}

static inline void arc_assert_grid_eq(const seal_arc_grid *got, const seal_arc_grid *want,
                                      const char *what) {
  char *g = seal_arc_grid_text(got), *w = seal_arc_grid_text(want);
  ck_assert_msg(seal_arc_grid_equal(got, want), "%s: got %dx%d %s, want %dx%d %s", what, got->h,
                got->w, g, want->h, want->w, w);
  free(g);
  free(w);
}

#endif
