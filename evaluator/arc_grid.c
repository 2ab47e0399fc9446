/* evaluator/arc_grid.c — grids, problems and the numpy text of a grid (see arc.h). */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"

/* ---- grids ----------------------------------------------------------------------------------- */

seal_arc_grid seal_arc_grid_new(int h, int w) {
  seal_arc_grid g = {h, w, NULL};
  if (h > 0 && w > 0) g.v = seal_calloc((size_t)h * (size_t)w, 1);
  return g;
}

seal_arc_grid seal_arc_grid_copy(const seal_arc_grid *g) {
  seal_arc_grid c = seal_arc_grid_new(g->h, g->w);
  if (c.v) memcpy(c.v, g->v, (size_t)g->h * (size_t)g->w);
  return c;
}

void seal_arc_grid_free(seal_arc_grid *g) {
  free(g->v);
  memset(g, 0, sizeof *g);
}

bool seal_arc_grid_equal(const seal_arc_grid *a, const seal_arc_grid *b) {
  if (a->h != b->h || a->w != b->w) return false;
  size_t n = (size_t)a->h * (size_t)a->w;
  return n == 0 || memcmp(a->v, b->v, n) == 0;
}

uint64_t seal_arc_grid_hash(const seal_arc_grid *g, uint64_t h) {
  int32_t shape[2] = {g->h, g->w};
  h = seal_fnv1a(shape, sizeof shape, h);
  if (g->v) h = seal_fnv1a(g->v, (size_t)g->h * (size_t)g->w, h);
  return h;
}

char *seal_arc_grid_text(const seal_arc_grid *g) {
  seal_buf b = {0};
  seal_buf_puts(&b, "[");
  for (int r = 0; r < g->h; r++) {
    seal_buf_puts(&b, r == 0 ? "[" : "\n [");
    for (int c = 0; c < g->w; c++) {
      char cell[3] = {(char)('0' + seal_arc_at(g, r, c)), c + 1 < g->w ? ' ' : ']', 0};
      seal_buf_puts(&b, cell);
    }
  }
  seal_buf_puts(&b, "]");
  return seal_buf_take(&b);
}

/* ---- problems -------------------------------------------------------------------------------- */

static void pair_free(seal_arc_pair *p) {
  seal_arc_grid_free(&p->in);
  seal_arc_grid_free(&p->out);
}

static seal_arc_pair pair_copy(const seal_arc_pair *p) {
  return (seal_arc_pair){seal_arc_grid_copy(&p->in), seal_arc_grid_copy(&p->out)};
}

static bool pair_equal(const seal_arc_pair *a, const seal_arc_pair *b) {
  return seal_arc_grid_equal(&a->in, &b->in) && seal_arc_grid_equal(&a->out, &b->out);
}

void seal_arc_problem_free(seal_arc_problem *p) {
  for (int i = 0; i < p->n_train; i++) pair_free(&p->train[i]);
  free(p->train);
  pair_free(&p->test);
  memset(p, 0, sizeof *p);
}

seal_arc_problem seal_arc_problem_copy(const seal_arc_problem *p) {
  seal_arc_problem c = {NULL, p->n_train, pair_copy(&p->test)};
  SEAL_ALLOC_ARRAY(c.train, p->n_train);
  for (int i = 0; i < p->n_train; i++) c.train[i] = pair_copy(&p->train[i]);
  return c;
}

bool seal_arc_problem_equal(const seal_arc_problem *a, const seal_arc_problem *b) {
  if (a->n_train != b->n_train || !pair_equal(&a->test, &b->test)) return false;
  for (int i = 0; i < a->n_train; i++)
    if (!pair_equal(&a->train[i], &b->train[i])) return false;
  return true;
}

uint64_t seal_arc_problem_hash(const seal_arc_problem *p) {
  uint64_t h = seal_fnv1a(&p->n_train, sizeof p->n_train, 0);
  for (int i = 0; i < p->n_train; i++) {
    h = seal_arc_grid_hash(&p->train[i].in, h);
    h = seal_arc_grid_hash(&p->train[i].out, h);
  }
  h = seal_arc_grid_hash(&p->test.in, h);
  return seal_arc_grid_hash(&p->test.out, h);
}

static int max_int(int a, int b) { return a > b ? a : b; }

int seal_arc_problem_max_h(const seal_arc_problem *p) {
  int m = max_int(p->test.in.h, p->test.out.h);
  for (int i = 0; i < p->n_train; i++) m = max_int(m, max_int(p->train[i].in.h, p->train[i].out.h));
  return m;
}

int seal_arc_problem_max_w(const seal_arc_problem *p) {
  int m = max_int(p->test.in.w, p->test.out.w);
  for (int i = 0; i < p->n_train; i++) m = max_int(m, max_int(p->train[i].in.w, p->train[i].out.w));
  return m;
}

void seal_arc_problems_push(seal_arc_problems *l, seal_arc_problem p) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->p = seal_realloc(l->p, (size_t)l->cap * sizeof *l->p);
  }
  l->p[l->n++] = p;
}

void seal_arc_problems_free(seal_arc_problems *l) {
  for (int i = 0; i < l->n; i++) seal_arc_problem_free(&l->p[i]);
  free(l->p);
  memset(l, 0, sizeof *l);
}
