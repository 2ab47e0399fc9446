/* evaluator/arc_augment.c — the reference's augmenters (arclib/augmenters.py) and
 * their inverses, the colour and example permutations (see arc.h).
 *
 * Every deterministic op is a map from an output cell to the input cell it
 * copies, so one loop applies them all and the shapes and index formulas sit
 * side by side in two small tables of cases. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"

static const char *const op_names[SEAL_ARC_N_OPS] = {
    [SEAL_ARC_IDENTITY] = "IdentityAugmenter()",
    [SEAL_ARC_ROT90] = "Rotate(90)",
    [SEAL_ARC_ROT180] = "Rotate(180)",
    [SEAL_ARC_ROT270] = "Rotate(270)",
    [SEAL_ARC_FLIP0] = "Flip(0)",
    [SEAL_ARC_FLIP1] = "Flip(1)",
    [SEAL_ARC_TRANSPOSE] = "Transpose()",
    [SEAL_ARC_REFLECT0_REV] = "Reflect(0, reverse=True)",
    [SEAL_ARC_REFLECT1_REV] = "Reflect(1, reverse=True)",
    [SEAL_ARC_REFLECT0] = "Reflect(0, reverse=False)",
    [SEAL_ARC_REFLECT1] = "Reflect(1, reverse=False)",
    [SEAL_ARC_UPSCALE2] = "IncreaseResolution(2)",
    [SEAL_ARC_UPSCALE_H2] = "IncreaseHeight(2)",
    [SEAL_ARC_UPSCALE_W2] = "IncreaseWidth(2)",
    [SEAL_ARC_REPEAT0] = "Repeat(0, 2)",
    [SEAL_ARC_REPEAT1] = "Repeat(1, 2)",
    [SEAL_ARC_REPEAT2] = "Repeat(2, 2)",
    [SEAL_ARC_TRANSLATE] = "RandomTranslateXY()",
};

const char *seal_arc_op_name(seal_arc_op op) {
  return op >= 0 && op < SEAL_ARC_N_OPS ? op_names[op] : "?";
}

void seal_arc_op_shape(seal_arc_op op, int h, int w, int *oh, int *ow) {
  *oh = h;
  *ow = w;
  switch (op) {
    case SEAL_ARC_ROT90:
    case SEAL_ARC_ROT270:
    case SEAL_ARC_TRANSPOSE:
      *oh = w;
      *ow = h;
      break;
    case SEAL_ARC_REFLECT0_REV:
    case SEAL_ARC_REFLECT0:
    case SEAL_ARC_UPSCALE_H2:
    case SEAL_ARC_REPEAT0:
      *oh = 2 * h;
      break;
    case SEAL_ARC_REFLECT1_REV:
    case SEAL_ARC_REFLECT1:
    case SEAL_ARC_UPSCALE_W2:
    case SEAL_ARC_REPEAT1:
      *ow = 2 * w;
      break;
    case SEAL_ARC_UPSCALE2:
    case SEAL_ARC_REPEAT2:
      *oh = 2 * h;
      *ow = 2 * w;
      break;
    default:
      break;
  }
}

/* The cell (*r, *c) of an h x w input that output cell (i, j) of op copies. */
static void source_cell(seal_arc_op op, int h, int w, int i, int j, int *r, int *c) {
  *r = i;
  *c = j;
  switch (op) {
    case SEAL_ARC_ROT90: /* np.rot90 k=1: out[i][j] = g[j][w-1-i] */
      *r = j, *c = w - 1 - i;
      break;
    case SEAL_ARC_ROT180:
      *r = h - 1 - i, *c = w - 1 - j;
      break;
    case SEAL_ARC_ROT270: /* np.rot90 k=3: out[i][j] = g[h-1-j][i] */
      *r = h - 1 - j, *c = i;
      break;
    case SEAL_ARC_FLIP0:
      *r = h - 1 - i;
      break;
    case SEAL_ARC_FLIP1:
      *c = w - 1 - j;
      break;
    case SEAL_ARC_TRANSPOSE:
      *r = j, *c = i;
      break;
    case SEAL_ARC_REFLECT0_REV: /* [flipud; g] */
      *r = i < h ? h - 1 - i : i - h;
      break;
    case SEAL_ARC_REFLECT0: /* [g; flipud] */
      *r = i < h ? i : 2 * h - 1 - i;
      break;
    case SEAL_ARC_REFLECT1_REV: /* [fliplr, g] */
      *c = j < w ? w - 1 - j : j - w;
      break;
    case SEAL_ARC_REFLECT1: /* [g, fliplr] */
      *c = j < w ? j : 2 * w - 1 - j;
      break;
    case SEAL_ARC_UPSCALE2:
      *r = i / 2, *c = j / 2;
      break;
    case SEAL_ARC_UPSCALE_H2:
      *r = i / 2;
      break;
    case SEAL_ARC_UPSCALE_W2:
      *c = j / 2;
      break;
    case SEAL_ARC_REPEAT0:
      *r = i % h;
      break;
    case SEAL_ARC_REPEAT1:
      *c = j % w;
      break;
    case SEAL_ARC_REPEAT2:
      *r = i % h, *c = j % w;
      break;
    default:
      break;
  }
}

seal_arc_grid seal_arc_apply(seal_arc_op op, const seal_arc_grid *g) {
  SEAL_CHECK(op >= 0 && op < SEAL_ARC_N_OPS && op != SEAL_ARC_TRANSLATE,
             "seal_arc_apply: op %d is not a deterministic grid op", (int)op);
  if (g->h == 0) return seal_arc_grid_new(0, 0);
  int oh, ow;
  seal_arc_op_shape(op, g->h, g->w, &oh, &ow);
  seal_arc_grid out = seal_arc_grid_new(oh, ow);
  for (int i = 0; i < oh; i++) {
    for (int j = 0; j < ow; j++) {
      int r, c;
      source_cell(op, g->h, g->w, i, j, &r, &c);
      out.v[i * ow + j] = seal_arc_at(g, r, c);
    }
  }
  return out;
}

/* Rows [r0, r0+h) and columns [c0, c0+w) of g, every sy-th row and sx-th column. */
static seal_arc_grid sample(const seal_arc_grid *g, int r0, int c0, int h, int w, int sy, int sx) {
  seal_arc_grid out = seal_arc_grid_new(h, w);
  for (int i = 0; i < h; i++)
    for (int j = 0; j < w; j++) out.v[i * w + j] = seal_arc_at(g, r0 + i * sy, c0 + j * sx);
  return out;
}

seal_arc_op seal_arc_inverse_op(seal_arc_op op) {
  switch (op) {
    case SEAL_ARC_ROT90:
      return SEAL_ARC_ROT270;
    case SEAL_ARC_ROT270:
      return SEAL_ARC_ROT90;
    case SEAL_ARC_IDENTITY:
    case SEAL_ARC_ROT180:
    case SEAL_ARC_FLIP0:
    case SEAL_ARC_FLIP1:
    case SEAL_ARC_TRANSPOSE:
      return op;
    default:
      return SEAL_ARC_N_OPS;
  }
}

seal_arc_grid seal_arc_invert(seal_arc_op op, const seal_arc_grid *g) {
  int h = g->h, w = g->w;
  bool even_h = h % 2 == 0, even_w = w % 2 == 0;
  if (h == 0) return seal_arc_grid_new(0, 0);
  if (seal_arc_inverse_op(op) != SEAL_ARC_N_OPS) return seal_arc_apply(seal_arc_inverse_op(op), g);
  switch (op) {
    case SEAL_ARC_REFLECT0_REV: /* the original is the bottom half */
      return even_h ? sample(g, h / 2, 0, h / 2, w, 1, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_REFLECT0:
    case SEAL_ARC_REPEAT0:
      return even_h ? sample(g, 0, 0, h / 2, w, 1, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_REFLECT1_REV: /* the original is the right half */
      return even_w ? sample(g, 0, w / 2, h, w / 2, 1, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_REFLECT1:
    case SEAL_ARC_REPEAT1:
      return even_w ? sample(g, 0, 0, h, w / 2, 1, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_REPEAT2:
      return even_h && even_w ? sample(g, 0, 0, h / 2, w / 2, 1, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_UPSCALE2:
      return even_h && even_w ? sample(g, 0, 0, h / 2, w / 2, 2, 2) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_UPSCALE_H2:
      return even_h ? sample(g, 0, 0, h / 2, w, 2, 1) : seal_arc_grid_new(0, 0);
    case SEAL_ARC_UPSCALE_W2:
      return even_w ? sample(g, 0, 0, h, w / 2, 1, 2) : seal_arc_grid_new(0, 0);
    default:
      return seal_arc_grid_new(0, 0); /* RandomTranslateXY: invert with seal_arc_roll */
  }
}

seal_arc_grid seal_arc_roll(const seal_arc_grid *g, int dy, int dx) {
  seal_arc_grid out = seal_arc_grid_new(g->h, g->w);
  if (g->h == 0) return out;
  int sy = ((dy % g->h) + g->h) % g->h, sx = ((dx % g->w) + g->w) % g->w;
  for (int r = 0; r < g->h; r++)
    for (int c = 0; c < g->w; c++)
      out.v[((r + sy) % g->h) * g->w + (c + sx) % g->w] = seal_arc_at(g, r, c);
  return out;
}

/* ---- the augmenter table of get_augmenters --------------------------------------------------- */

#define ONE(op, name) \
  { {op, SEAL_ARC_IDENTITY}, 1, name }
#define CHAIN(op, name) \
  { {op, SEAL_ARC_UPSCALE2}, 2, "Chain([" name ", IncreaseResolution(2)])" }

static const seal_arc_augmenter basic[] = {
    ONE(SEAL_ARC_ROT90, "Rotate(90)"),
    ONE(SEAL_ARC_ROT270, "Rotate(270)"),
    ONE(SEAL_ARC_ROT180, "Rotate(180)"),
    ONE(SEAL_ARC_FLIP0, "Flip(0)"),
    ONE(SEAL_ARC_FLIP1, "Flip(1)"),
    ONE(SEAL_ARC_REFLECT0_REV, "Reflect(0, reverse=True)"),
    ONE(SEAL_ARC_REFLECT1_REV, "Reflect(1, reverse=True)"),
    ONE(SEAL_ARC_REFLECT0, "Reflect(0, reverse=False)"),
    ONE(SEAL_ARC_REFLECT1, "Reflect(1, reverse=False)"),
    ONE(SEAL_ARC_TRANSLATE, "RandomTranslateXY()"),
    ONE(SEAL_ARC_TRANSPOSE, "Transpose()"),
};
static const seal_arc_augmenter size[] = {
    ONE(SEAL_ARC_UPSCALE2, "IncreaseResolution(2)"),
    ONE(SEAL_ARC_UPSCALE_H2, "IncreaseHeight(2)"),
    ONE(SEAL_ARC_UPSCALE_W2, "IncreaseWidth(2)"),
};
static const seal_arc_augmenter chain[] = {
    CHAIN(SEAL_ARC_ROT90, "Rotate(90)"),   CHAIN(SEAL_ARC_ROT270, "Rotate(270)"),
    CHAIN(SEAL_ARC_ROT180, "Rotate(180)"), CHAIN(SEAL_ARC_FLIP0, "Flip(0)"),
    CHAIN(SEAL_ARC_FLIP1, "Flip(1)"),      CHAIN(SEAL_ARC_TRANSPOSE, "Transpose()"),
};
static const seal_arc_augmenter repeat[] = {
    ONE(SEAL_ARC_REPEAT0, "Repeat(0, 2)"),
    ONE(SEAL_ARC_REPEAT1, "Repeat(1, 2)"),
    ONE(SEAL_ARC_REPEAT2, "Repeat(2, 2)"),
};

static int append_group(const seal_arc_augmenter *g, int n, const seal_arc_augmenter **out, int k) {
  for (int i = 0; i < n; i++) out[k++] = &g[i];
  return k;
}

int seal_arc_augmenters(const seal_arc_groups *g, const seal_arc_augmenter **out) {
  int k = 0;
  if (g->basic) k = append_group(basic, 11, out, k);
  if (g->size) k = append_group(size, 3, out, k);
  if (g->chain) k = append_group(chain, 6, out, k);
  if (g->repeat) k = append_group(repeat, 3, out, k);
  return k;
}

/* ---- randomness ------------------------------------------------------------------------------ */

int seal_arc_rand_below(seal_rng *rng, int n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % (uint64_t)n; /* rejection keeps it unbiased */
  uint64_t x;
  do {
    x = seal_rng_u64(rng);
  } while (x >= limit);
  return (int)(x % (uint64_t)n);
}

/* RandomTranslateXY on one grid, drawing from the pair's generator. */
static seal_arc_grid translate(const seal_arc_grid *g, seal_rng *pair_rng) {
  if (g->h == 0) return seal_arc_grid_new(0, 0);
  int dy = seal_arc_rand_below(pair_rng, g->h < 4 ? g->h : 4);
  int dx = seal_arc_rand_below(pair_rng, g->w < 4 ? g->w : 4);
  return seal_arc_roll(g, dy, dx);
}

static void replace(seal_arc_grid *g, seal_arc_grid with) {
  seal_arc_grid_free(g);
  *g = with;
}

/* One op on every grid of p in place; a translation seeds each pair's generator alike. */
static void apply_to_problem(seal_arc_op op, seal_arc_problem *p, seal_rng *rng) {
  uint64_t seed = op == SEAL_ARC_TRANSLATE ? seal_rng_u64(rng) : 0;
  for (int i = 0; i <= p->n_train; i++) {
    seal_arc_pair *x = i < p->n_train ? &p->train[i] : &p->test;
    if (op == SEAL_ARC_TRANSLATE) {
      seal_rng pair_rng;
      seal_rng_seed(&pair_rng, seed);
      replace(&x->in, translate(&x->in, &pair_rng));
      replace(&x->out, translate(&x->out, &pair_rng));
    } else {
      replace(&x->in, seal_arc_apply(op, &x->in));
      replace(&x->out, seal_arc_apply(op, &x->out));
    }
  }
}

void seal_arc_augment(const seal_arc_augmenter *a, const seal_arc_problem *p, seal_rng *rng,
                      seal_arc_problem *out) {
  *out = seal_arc_problem_copy(p);
  for (int k = 0; k < a->n_ops; k++) apply_to_problem(a->ops[k], out, rng);
}

void seal_arc_color_perm(seal_rng *rng, uint8_t map[10]) {
  for (int c = 0; c < 10; c++) map[c] = (uint8_t)c;
  for (int i = 9; i > 1; i--) { /* Fisher-Yates over 1..9 */
    int j = 1 + seal_arc_rand_below(rng, i);
    uint8_t t = map[i];
    map[i] = map[j];
    map[j] = t;
  }
}

seal_arc_grid seal_arc_recolor(const seal_arc_grid *g, const uint8_t map[10]) {
  seal_arc_grid out = seal_arc_grid_copy(g);
  for (int i = 0; i < g->h * g->w; i++) out.v[i] = map[out.v[i]];
  return out;
}

void seal_arc_permute_colors(seal_arc_problem *p, const uint8_t map[10]) {
  for (int i = 0; i <= p->n_train; i++) {
    seal_arc_pair *x = i < p->n_train ? &p->train[i] : &p->test;
    replace(&x->in, seal_arc_recolor(&x->in, map));
    replace(&x->out, seal_arc_recolor(&x->out, map));
  }
}

void seal_arc_permute_examples(seal_arc_problem *p, seal_rng *rng) {
  for (int i = p->n_train - 1; i > 0; i--) {
    int j = seal_arc_rand_below(rng, i + 1);
    seal_arc_pair t = p->train[i];
    p->train[i] = p->train[j];
    p->train[j] = t;
  }
}
