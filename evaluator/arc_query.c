/* evaluator/arc_query.c — the queries of a test input under the reference's voting
 * transforms (inference/preprocess.py), and a model's answer parsed as
 * eval-self-edits.py decodes it (see arc.h). */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_internal.h"

/* The transforms of get_leave_n_test_task, in its order. */
static const seal_arc_op voting_xforms[] = {SEAL_ARC_TRANSPOSE, SEAL_ARC_FLIP0, SEAL_ARC_FLIP1,
                                            SEAL_ARC_ROT90, SEAL_ARC_ROT180};

const char *seal_arc_vote_group(seal_arc_op xform) {
  /* the reference files a query under the name of its inverse (Rotate(90) under
   * "Rotate(270)"), and identity ones under "identity" */
  return xform == SEAL_ARC_IDENTITY ? "identity" : seal_arc_op_name(seal_arc_inverse_op(xform));
}

/* ---- queries ------------------------------------------------------------------------------------
 */

/* Each set of n demonstrations left out, then permute_n example permutations of each. */
static void leave_n_queries(const seal_arc_pair *demos, int n_demos, const seal_arc_pair *test,
                            int n, int permute_n, seal_rng *rng, seal_arc_problems *out) {
  int *c = seal_malloc((size_t)(n + 1) * sizeof *c);
  bool *drop = seal_malloc((size_t)(n_demos + 1));
  for (int j = 0; j < n; j++) c[j] = j;
  do {
    memset(drop, 0, (size_t)(n_demos + 1));
    for (int j = 0; j < n; j++) drop[c[j]] = true;
    int first = out->n; /* the unpermuted problem, then its permutations, as the reference */
    seal_arc_problems_push(out, seal_arc_held_out(demos, n_demos, drop, test));
    for (int k = 0; k < permute_n; k++) {
      seal_arc_problem x = seal_arc_problem_copy(&out->p[first]);
      seal_arc_permute_examples(&x, rng);
      seal_arc_problems_push(out, x);
    }
  } while (seal_arc_next_combination(c, n, n_demos));
  free(c);
  free(drop);
}

static bool contains(const seal_arc_problems *l, const seal_arc_problem *p) {
  for (int i = 0; i < l->n; i++)
    if (seal_arc_problem_equal(&l->p[i], p)) return true;
  return false;
}

/* Each voting transform applied to one plain query chosen at random, unless the
 * result is a plain query already; xform[k] the transform of out->p[k]. */
static void transformed_queries(const seal_arc_problems *plain, seal_rng *rng,
                                seal_arc_problems *out, seal_arc_op *xform) {
  for (size_t k = 0; k < sizeof voting_xforms / sizeof *voting_xforms; k++) {
    const seal_arc_problem *base = &plain->p[seal_arc_rand_below(rng, plain->n)];
    seal_arc_augmenter a = {{voting_xforms[k], SEAL_ARC_IDENTITY}, 1, NULL};
    seal_arc_problem x;
    seal_arc_augment(&a, base, rng, &x);
    if (contains(plain, &x)) {
      seal_arc_problem_free(&x);
      continue;
    }
    xform[out->n] = voting_xforms[k];
    seal_arc_problems_push(out, x);
  }
}

/* The transformed queries then the plain ones, the first of equal problems kept;
 * takes the problems over. */
static int merge_queries(seal_arc_problems *xformed, const seal_arc_op *xform,
                         seal_arc_problems *plain, seal_arc_query **out) {
  int total = xformed->n + plain->n, n = 0;
  seal_arc_query *q = seal_calloc((size_t)(total ? total : 1), sizeof *q);
  for (int i = 0; i < total; i++) {
    bool is_x = i < xformed->n;
    seal_arc_problem *p = is_x ? &xformed->p[i] : &plain->p[i - xformed->n];
    bool dup = false;
    for (int j = 0; j < n && !dup; j++) dup = seal_arc_problem_equal(&q[j].problem, p);
    if (dup) {
      seal_arc_problem_free(p);
      continue;
    }
    q[n++] = (seal_arc_query){*p, is_x ? xform[i] : SEAL_ARC_IDENTITY};
  }
  free(xformed->p);
  free(plain->p);
  *out = q;
  return n;
}

int seal_arc_queries(const seal_arc_pair *demos, int n_demos, const seal_arc_grid *test_in,
                     int leave_n, int permute_n, uint64_t seed, seal_arc_query **out) {
  *out = NULL;
  if (leave_n < 0 || leave_n > n_demos || permute_n < 0) return 0;
  seal_rng rng;
  seal_rng_seed(
      &rng, seal_seed_derive(seed, SEAL_ARC_SEED_QUERY, (uint64_t)leave_n, (uint64_t)permute_n, 0));
  seal_arc_pair test = {seal_arc_grid_copy(test_in), seal_arc_grid_new(0, 0)};
  seal_arc_problems plain = {0}, xformed = {0};
  leave_n_queries(demos, n_demos, &test, leave_n, permute_n, &rng, &plain);
  seal_arc_grid_free(&test.in);
  seal_arc_dedup(&plain);
  seal_arc_op xform[sizeof voting_xforms / sizeof *voting_xforms];
  transformed_queries(&plain, &rng, &xformed, xform);
  return merge_queries(&xformed, xform, &plain, out);
}

void seal_arc_queries_free(seal_arc_query *q, int n) {
  for (int i = 0; i < n; i++) seal_arc_problem_free(&q[i].problem);
  free(q);
}

/* ---- parsing an answer ----------------------------------------------------------------------- */

/* The length of the whitespace character Python's str.isspace() accepts at s, or 0. */
static int py_space(const unsigned char *s) {
  if ((*s >= 0x09 && *s <= 0x0D) || (*s >= 0x1C && *s <= 0x20)) return 1;
  if (s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2; /* U+0085, U+00A0 */
  if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3;   /* U+1680 */
  if (s[0] == 0xE2 && s[1] == 0x80 &&
      ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF))
    return 3;                                                 /* U+2000-200A, 2028, 2029, 202F */
  if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3; /* U+205F */
  if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
  return 0;
}

/* The text as the reference hands it to the grid decoder: '#' removed, the part
 * after the first "```" up to the next when there is one. Caller frees. */
static char *decoder_input(const char *text) {
  seal_buf b = {0};
  seal_buf_append(&b, "", 0);
  for (const char *p = text; *p; p++)
    if (*p != '#') seal_buf_append(&b, p, 1);
  char *s = seal_buf_take(&b);
  char *fence = strstr(s, "```");
  if (fence) {
    char *start = fence + 3, *end = strstr(start, "```");
    size_t n = end ? (size_t)(end - start) : strlen(start);
    memmove(s, start, n);
    s[n] = 0;
  }
  return s;
}

/* Python's int() of one token: a sign, then ASCII digits with single underscores
 * between them. Values are capped at 1000 (anything over 9 is refused anyway). */
static bool py_int(const char *s, size_t n, int *out) {
  size_t i = 0;
  bool neg = false;
  if (n > 0 && (s[0] == '+' || s[0] == '-')) neg = s[i++] == '-';
  if (i == n) return false;
  int v = 0;
  for (bool want_digit = true; i < n; i++) {
    if (s[i] == '_' && !want_digit && i + 1 < n) {
      want_digit = true;
      continue;
    }
    if (s[i] < '0' || s[i] > '9') return false;
    v = v > 1000 ? v : v * 10 + (s[i] - '0');
    want_digit = false;
  }
  *out = neg ? -v : v;
  return true;
}

/* Splits s[0..n) on Python whitespace into integers; -1 at a token int() refuses. */
static int read_cells(const char *s, size_t n, int **cells, char *why_, size_t why_size) {
  int count = 0, cap = 64;
  *cells = seal_malloc((size_t)cap * sizeof **cells);
  for (size_t i = 0; i < n;) {
    int sp = py_space((const unsigned char *)s + i);
    if (sp) {
      i += (size_t)sp;
      continue;
    }
    size_t start = i;
    while (i < n && !py_space((const unsigned char *)s + i)) i++;
    if (count == cap) *cells = seal_realloc(*cells, (size_t)(cap *= 2) * sizeof **cells);
    if (!py_int(s + start, i - start, &(*cells)[count])) {
      snprintf(why_, why_size, "\"%.*s\" is not an integer", (int)(i - start > 20 ? 20 : i - start),
               s + start);
      return -1;
    }
    count++;
  }
  return count;
}

/* The stripped span [*from, *to) of s (Python's str.strip()). */
static void py_strip(const char *s, size_t *from, size_t *to) {
  size_t n = strlen(s), i = 0, end = 0;
  bool seen = false;
  while (i < n) {
    int sp = py_space((const unsigned char *)s + i);
    if (sp) {
      i += (size_t)sp;
    } else {
      if (!seen) *from = i;
      seen = true;
      end = ++i;
    }
  }
  if (!seen) *from = 0;
  *to = end;
}

static bool fill_grid(const int *cells, int n, int rows, seal_arc_grid *out, char *w, size_t ws) {
  int cols = rows > 0 ? n / rows : 0;
  if (n == 0) return snprintf(w, ws, "no cells"), false;
  if (cols * rows != n) return snprintf(w, ws, "%d cells do not fill %d rows", n, rows), false;
  if (rows > SEAL_ARC_MAX_SIDE || cols > SEAL_ARC_MAX_SIDE)
    return snprintf(w, ws, "%d x %d is over %d on a side", rows, cols, SEAL_ARC_MAX_SIDE), false;
  for (int i = 0; i < n; i++)
    if (cells[i] < 0 || cells[i] > 9)
      return snprintf(w, ws, "%d is not a colour 0-9", cells[i]), false;
  *out = seal_arc_grid_new(rows, cols);
  for (int i = 0; i < n; i++) out->v[i] = (uint8_t)cells[i];
  return true;
}

bool seal_arc_parse_answer(const char *text, seal_arc_grid *out, char *why, size_t why_size) {
  char scratch[96];
  if (!why || !why_size) why = scratch, why_size = sizeof scratch;
  *out = seal_arc_grid_new(0, 0);
  char *s = decoder_input(text ? text : "");
  size_t from, to;
  py_strip(s, &from, &to);
  int rows = 1;
  seal_buf clean = {0}; /* '[' and ']' deleted, as str.replace does */
  seal_buf_append(&clean, "", 0);
  for (size_t i = from; i < to; i++) {
    rows += s[i] == '\n';
    if (s[i] != '[' && s[i] != ']') seal_buf_append(&clean, s + i, 1);
  }
  free(s);
  int *cells;
  int n = read_cells(clean.data, clean.len, &cells, why, why_size);
  seal_buf_free(&clean);
  bool ok = n >= 0 && fill_grid(cells, n, rows, out, why, why_size);
  free(cells);
  return ok;
}

bool seal_arc_answer_grid(const char *text, seal_arc_op xform, seal_arc_grid *out, char *why,
                          size_t why_size) {
  seal_arc_grid g;
  if (!seal_arc_parse_answer(text, &g, why, why_size)) {
    *out = g;
    return false;
  }
  *out = seal_arc_invert(xform, &g);
  seal_arc_grid_free(&g);
  return true;
}
