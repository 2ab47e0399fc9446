/* evaluator/arc_vote.c — arclib/voting.py's two-stage vote (see arc.h).
 *
 * The reference iterates Python sets, whose order is a property of the hash
 * table rather than of the votes, and ranks with np.argmax (first maximum) for
 * the most common output but np.argsort (last maximum first) for the second and
 * third, so a tie for first place hands the second attempt to the row-majority
 * fallback instead of the other tied grid. seal keeps one rule throughout:
 * distinct grids in the order first seen, ranked by count with ties going to
 * the grid seen first (docs/arc.md). Everything else is the reference's. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"

/* A list of grids that does not own them. */
typedef struct {
  const seal_arc_grid **g;
  int n, cap;
} grid_refs;

static void refs_push(grid_refs *l, const seal_arc_grid *g) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->g = seal_realloc(l->g, (size_t)l->cap * sizeof *l->g);
  }
  l->g[l->n++] = g;
}

static int count_of(const grid_refs *l, const seal_arc_grid *g) {
  int c = 0;
  for (int i = 0; i < l->n; i++) c += seal_arc_grid_equal(l->g[i], g);
  return c;
}

/* The distinct grids of l in the order first seen, ranked by count (stable, so
 * ties keep that order). Fills idx with indices into l of each distinct grid's
 * first occurrence; returns how many. */
static int ranked_distinct(const grid_refs *l, int *idx, int *count) {
  int n = 0;
  for (int i = 0; i < l->n; i++) {
    int j = 0;
    while (j < n && !seal_arc_grid_equal(l->g[idx[j]], l->g[i])) j++;
    if (j == n) idx[n] = i, count[n++] = 0;
    count[j]++;
  }
  for (int i = 1; i < n; i++) { /* insertion sort, descending count, stable */
    int ki = idx[i], ci = count[i], j = i - 1;
    for (; j >= 0 && count[j] < ci; j--) idx[j + 1] = idx[j], count[j + 1] = count[j];
    idx[j + 1] = ki, count[j + 1] = ci;
  }
  return n;
}

/* The most common grid of l (first seen among the most common). */
static const seal_arc_grid *mode_of(const grid_refs *l) {
  int *idx = seal_malloc((size_t)l->n * sizeof *idx),
      *count = seal_malloc((size_t)l->n * sizeof *count);
  ranked_distinct(l, idx, count);
  const seal_arc_grid *m = l->g[idx[0]];
  free(idx);
  free(count);
  return m;
}

/* row_base_majority_voting: the most common shape H x W, then row by row the most
 * common row among the grids that have that row with W cells. With transpose,
 * the same over the transposed grids, transposed back. */
static seal_arc_grid row_majority(const grid_refs *l, bool transpose) {
  seal_arc_grid *t = seal_calloc((size_t)l->n, sizeof *t);
  for (int i = 0; i < l->n; i++)
    t[i] = transpose ? seal_arc_apply(SEAL_ARC_TRANSPOSE, l->g[i]) : seal_arc_grid_copy(l->g[i]);
  /* the shapes as 1 x 2 grids, so mode_of finds the most common one */
  seal_arc_grid *shape = seal_calloc((size_t)l->n, sizeof *shape);
  grid_refs shapes = {0};
  for (int i = 0; i < l->n; i++) {
    shape[i] = seal_arc_grid_new(1, 2);
    shape[i].v[0] = (uint8_t)t[i].h, shape[i].v[1] = (uint8_t)t[i].w;
    refs_push(&shapes, &shape[i]);
  }
  const seal_arc_grid *best = mode_of(&shapes);
  int H = best->v[0], W = best->v[1];
  seal_arc_grid out = seal_arc_grid_new(H, W);
  seal_arc_grid *row = seal_calloc((size_t)l->n, sizeof *row);
  for (int r = 0; r < H; r++) {
    grid_refs rows = {0};
    for (int i = 0; i < l->n; i++) {
      if (t[i].h <= r || t[i].w != W) continue;
      seal_arc_grid_free(&row[i]);
      row[i] = (seal_arc_grid){1, W, seal_malloc((size_t)W)};
      memcpy(row[i].v, t[i].v + r * W, (size_t)W);
      refs_push(&rows, &row[i]);
    }
    memcpy(out.v + r * W, mode_of(&rows)->v, (size_t)W); /* the H x W grids have row r */
    free(rows.g);
  }
  for (int i = 0; i < l->n; i++) {
    seal_arc_grid_free(&t[i]);
    seal_arc_grid_free(&shape[i]);
    seal_arc_grid_free(&row[i]);
  }
  free(t), free(shape), free(row), free(shapes.g);
  if (!transpose) return out;
  seal_arc_grid back = seal_arc_apply(SEAL_ARC_TRANSPOSE, &out);
  seal_arc_grid_free(&out);
  return back;
}

/* get_all_type_of_votingsv2: the three most common grids, where a missing or
 * repeated second or third falls back to the row-majority grid, or the
 * column-majority one when that is taken too. Fills top[0..3) with copies. */
static void top_three(const grid_refs *l, seal_arc_grid top[3]) {
  int *idx = seal_malloc((size_t)l->n * sizeof *idx),
      *count = seal_malloc((size_t)l->n * sizeof *count);
  int n = ranked_distinct(l, idx, count);
  const seal_arc_grid *most = l->g[idx[0]];
  const seal_arc_grid *second = n > 1 ? l->g[idx[1]] : most, *third = n > 2 ? l->g[idx[2]] : most;
  seal_arc_grid rowm = row_majority(l, false), colm = row_majority(l, true);
  if (seal_arc_grid_equal(second, most)) second = !seal_arc_grid_equal(&rowm, most) ? &rowm : &colm;
  if (seal_arc_grid_equal(third, most) || seal_arc_grid_equal(third, second)) {
    bool row_free = !seal_arc_grid_equal(&rowm, most) && !seal_arc_grid_equal(&rowm, second);
    third = row_free ? &rowm : &colm;
  }
  top[0] = seal_arc_grid_copy(most);
  top[1] = seal_arc_grid_copy(second);
  top[2] = seal_arc_grid_copy(third);
  seal_arc_grid_free(&rowm);
  seal_arc_grid_free(&colm);
  free(idx);
  free(count);
}

/* ---- the vote -------------------------------------------------------------------------------- */

/* The order in which vote() asks the groups for candidates, after "all". */
static const seal_arc_op group_order[] = {SEAL_ARC_IDENTITY, SEAL_ARC_TRANSPOSE, SEAL_ARC_FLIP0,
                                          SEAL_ARC_FLIP1,    SEAL_ARC_ROT180,    SEAL_ARC_ROT90};

static void group_of(const seal_arc_vote_item *items, int n, seal_arc_op op, grid_refs *out) {
  for (int i = 0; i < n; i++)
    if (items[i].xform == op) refs_push(out, &items[i].grid);
}

/* "all": every group's grids, the groups in the order first seen (dict order). */
static void all_groups(const seal_arc_vote_item *items, int n, grid_refs *out) {
  for (int i = 0; i < n; i++) {
    bool seen = false;
    for (int j = 0; j < i && !seen; j++) seen = items[j].xform == items[i].xform;
    if (!seen) group_of(items, n, items[i].xform, out);
  }
}

static void add_candidates(const grid_refs *group, seal_arc_grid *cand, int *n_cand) {
  if (group->n == 0) return;
  top_three(group, cand + *n_cand);
  *n_cand += 3;
}

/* The first stage: the top three of "all" and of each group present, in
 * group_order. Fills cand (room for 21; owned) and identity (its grids). */
static int first_stage(const seal_arc_vote_item *items, int n, seal_arc_grid *cand,
                       grid_refs *identity) {
  int n_cand = 0;
  grid_refs all = {0};
  all_groups(items, n, &all);
  add_candidates(&all, cand, &n_cand);
  free(all.g);
  for (size_t k = 0; k < sizeof group_order / sizeof *group_order; k++) {
    grid_refs g = {0};
    group_of(items, n, group_order[k], &g);
    add_candidates(&g, cand, &n_cand);
    if (group_order[k] == SEAL_ARC_IDENTITY) {
      *identity = g;
    } else {
      free(g.g);
    }
  }
  return n_cand;
}

int seal_arc_vote(const seal_arc_vote_item *items, int n, seal_arc_grid attempts[2]) {
  if (n <= 0) return 0;
  for (int i = 0; i < n; i++) /* shapes are counted in bytes below */
    SEAL_CHECK(items[i].grid.h >= 1 && items[i].grid.h <= SEAL_ARC_MAX_SIDE &&
                   items[i].grid.w >= 1 && items[i].grid.w <= SEAL_ARC_MAX_SIDE,
               "seal_arc_vote: item %d is %d x %d, not an ARC grid", i, items[i].grid.h,
               items[i].grid.w);
  seal_arc_grid cand[3 * 7];
  grid_refs identity = {0}, cands = {0};
  int n_cand = first_stage(items, n, cand, &identity);
  for (int i = 0; i < n_cand; i++) refs_push(&cands, &cand[i]);
  seal_arc_grid c[3];
  top_three(&cands, c);
  /* a second and third with as many candidate votes: the one with more identity
   * votes is the second attempt (the first seen when that ties too), unless the
   * third is the first attempt again (a fallback can be) */
  if (identity.n > 0 && count_of(&cands, &c[1]) == count_of(&cands, &c[2]) &&
      !seal_arc_grid_equal(&c[2], &c[0]) &&
      count_of(&identity, &c[2]) > count_of(&identity, &c[1])) {
    seal_arc_grid t = c[1];
    c[1] = c[2];
    c[2] = t;
  }
  attempts[0] = c[0];
  attempts[1] = c[1];
  seal_arc_grid_free(&c[2]);
  for (int i = 0; i < n_cand; i++) seal_arc_grid_free(&cand[i]);
  free(cands.g), free(identity.g);
  return 2;
}

int seal_arc_vote_answers(const seal_arc_query *queries, const char *const *answers, int n,
                          seal_arc_grid attempts[2], int *n_valid) {
  seal_arc_vote_item *items = seal_calloc((size_t)(n > 0 ? n : 1), sizeof *items);
  int k = 0;
  for (int i = 0; i < n; i++) {
    seal_arc_grid g;
    if (seal_arc_answer_grid(answers[i], queries[i].xform, &g, NULL, 0))
      items[k++] = (seal_arc_vote_item){queries[i].xform, g};
  }
  if (n_valid) *n_valid = k;
  int rc = seal_arc_vote(items, k, attempts);
  for (int i = 0; i < k; i++) seal_arc_grid_free(&items[i].grid);
  free(items);
  return rc;
}

bool seal_arc_solved(const seal_arc_grid *attempts, int n_attempts, const seal_arc_grid *solution) {
  for (int i = 0; i < n_attempts; i++)
    if (seal_arc_grid_equal(&attempts[i], solution)) return true;
  return false;
}
