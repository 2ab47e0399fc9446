/* tests/evaluator/test_arc_augment.c — the augmenters against the reference's own
 * outputs (tests/fixtures/arc/augment.json), their inverses on every shape from
 * 1x1 to 30x30, and the random ones by their properties. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_fixtures.h"

static const seal_arc_groups every_group = {true, true, true, true};

static seal_arc_grid random_grid(seal_rng *r, int h, int w) {
  seal_arc_grid g = seal_arc_grid_new(h, w);
  for (int i = 0; i < h * w; i++) g.v[i] = (uint8_t)seal_arc_rand_below(r, 10);
  return g;
}

/* The augmenter the reference prints as name (IdentityAugmenter too), or NULL. */
static const seal_arc_augmenter *augmenter_named(const char *name) {
  static const seal_arc_augmenter identity = {
      {SEAL_ARC_IDENTITY, SEAL_ARC_IDENTITY}, 1, "IdentityAugmenter()"};
  const seal_arc_augmenter *all[23];
  int n = seal_arc_augmenters(&every_group, all);
  for (int i = 0; i < n; i++)
    if (strcmp(all[i]->name, name) == 0) return all[i];
  return strcmp(name, identity.name) == 0 ? &identity : NULL;
}

static seal_arc_grid apply_augmenter(const seal_arc_augmenter *a, const seal_arc_grid *g) {
  seal_arc_grid x = seal_arc_grid_copy(g);
  for (int k = 0; k < a->n_ops; k++) {
    seal_arc_grid y = seal_arc_apply(a->ops[k], &x);
    seal_arc_grid_free(&x);
    x = y;
  }
  return x;
}

START_TEST(table_is_get_augmenters_in_order) {
  json_t *fx = arc_fixture("ttt.json");
  const json_t *names = json_object_get(fx, "deterministic_augmenters");
  const seal_arc_augmenter *all[23];
  ck_assert_int_eq(seal_arc_augmenters(&every_group, all), 23);
  /* the reference's list is ours without RandomTranslateXY, which is 10th */
  ck_assert_str_eq(all[9]->name, "RandomTranslateXY()");
  ck_assert_int_eq(all[9]->ops[0], SEAL_ARC_TRANSLATE);
  ck_assert_int_eq((int)json_array_size(names), 22);
  for (int i = 0, k = 0; i < 23; i++) {
    if (i == 9) continue;
    ck_assert_str_eq(all[i]->name, json_string_value(json_array_get(names, (size_t)k++)));
  }
  /* each group alone, in the same order */
  struct {
    seal_arc_groups g;
    int n, first;
  } groups[] = {{{true, false, false, false}, 11, 0},
                {{false, true, false, false}, 3, 11},
                {{false, false, true, false}, 6, 14},
                {{false, false, false, true}, 3, 20}};
  for (int k = 0; k < 4; k++) {
    const seal_arc_augmenter *some[23];
    ck_assert_int_eq(seal_arc_augmenters(&groups[k].g, some), groups[k].n);
    for (int i = 0; i < groups[k].n; i++) ck_assert_ptr_eq(some[i], all[groups[k].first + i]);
  }
  seal_arc_groups none = {0};
  ck_assert_int_eq(seal_arc_augmenters(&none, all), 0);
  json_decref(fx);
}
END_TEST

START_TEST(every_op_matches_the_reference_on_every_grid) {
  json_t *fx = arc_fixture("augment.json");
  const json_t *grids = json_object_get(fx, "grids"), *ops = json_object_get(fx, "ops");
  ck_assert_int_eq((int)json_array_size(ops), 23); /* 22 deterministic + identity */
  size_t i, j;
  const json_t *op;
  json_array_foreach(ops, i, op) {
    const char *name = json_string_value(json_object_get(op, "name"));
    const seal_arc_augmenter *a = augmenter_named(name);
    ck_assert_msg(a != NULL, "no augmenter named %s", name);
    const json_t *outs = json_object_get(op, "outputs");
    const json_t *inv_name = json_object_get(op, "inverse");
    const json_t *inv_outs = json_object_get(op, "inverse_of_outputs");
    const json_t *rows;
    json_array_foreach(grids, j, rows) {
      seal_arc_grid g = arc_grid_rows(rows), want = arc_grid_rows(json_array_get(outs, j));
      seal_arc_grid got = apply_augmenter(a, &g);
      char what[96];
      snprintf(what, sizeof what, "%s on %dx%d", name, g.h, g.w);
      arc_assert_grid_eq(&got, &want, what);
      if (json_is_string(inv_name)) {
        /* the reference's inverse(): what voting maps answers back with */
        ck_assert_int_eq(a->n_ops, 1);
        ck_assert_str_eq(seal_arc_op_name(seal_arc_inverse_op(a->ops[0])),
                         json_string_value(inv_name));
        seal_arc_grid back = seal_arc_invert(a->ops[0], &got);
        seal_arc_grid want_back = arc_grid_rows(json_array_get(inv_outs, j));
        arc_assert_grid_eq(&back, &want_back, what);
        arc_assert_grid_eq(&back, &g, what);
        seal_arc_grid_free(&back);
        seal_arc_grid_free(&want_back);
      }
      seal_arc_grid_free(&g);
      seal_arc_grid_free(&want);
      seal_arc_grid_free(&got);
    }
  }
  json_decref(fx);
}
END_TEST

START_TEST(every_inverse_restores_every_shape) {
  seal_rng r;
  seal_rng_seed(&r, 7);
  for (int h = 1; h <= SEAL_ARC_MAX_SIDE; h++) {
    for (int w = 1; w <= SEAL_ARC_MAX_SIDE; w++) {
      seal_arc_grid g = random_grid(&r, h, w);
      for (int op = 0; op < SEAL_ARC_N_OPS; op++) {
        if (op == SEAL_ARC_TRANSLATE) continue;
        seal_arc_grid x = seal_arc_apply((seal_arc_op)op, &g);
        int oh, ow;
        seal_arc_op_shape((seal_arc_op)op, h, w, &oh, &ow);
        ck_assert_msg(x.h == oh && x.w == ow, "%s on %dx%d", seal_arc_op_name(op), h, w);
        seal_arc_grid back = seal_arc_invert((seal_arc_op)op, &x);
        ck_assert_msg(seal_arc_grid_equal(&back, &g), "%s on %dx%d", seal_arc_op_name(op), h, w);
        seal_arc_grid_free(&x);
        seal_arc_grid_free(&back);
      }
      seal_arc_grid_free(&g);
    }
  }
}
END_TEST

START_TEST(inverse_refuses_shapes_the_op_cannot_make) {
  const char *odd[] = {"123", "456", "789"};
  seal_arc_grid g = arc_grid_of(3, odd);
  seal_arc_op need_even[] = {SEAL_ARC_REFLECT0_REV, SEAL_ARC_REFLECT1_REV, SEAL_ARC_REFLECT0,
                             SEAL_ARC_REFLECT1,     SEAL_ARC_UPSCALE2,     SEAL_ARC_UPSCALE_H2,
                             SEAL_ARC_UPSCALE_W2,   SEAL_ARC_REPEAT0,      SEAL_ARC_REPEAT1,
                             SEAL_ARC_REPEAT2,      SEAL_ARC_TRANSLATE};
  for (size_t k = 0; k < sizeof need_even / sizeof *need_even; k++) {
    seal_arc_grid x = seal_arc_invert(need_even[k], &g);
    ck_assert_msg(x.h == 0 && x.v == NULL, "%s", seal_arc_op_name(need_even[k]));
  }
  seal_arc_grid_free(&g);
}
END_TEST

/* The (dy, dx) with roll(orig, dy, dx) == moved, or -1 (the grids are random,
 * so a shift is unique in practice). */
static int find_shift(const seal_arc_grid *orig, const seal_arc_grid *moved) {
  for (int dy = 0; dy < orig->h; dy++) {
    for (int dx = 0; dx < orig->w; dx++) {
      seal_arc_grid r = seal_arc_roll(orig, dy, dx);
      bool same = seal_arc_grid_equal(&r, moved);
      seal_arc_grid_free(&r);
      if (same) return dy * 100 + dx;
    }
  }
  return -1;
}

START_TEST(translate_shifts_pairs_of_equal_shape_alike) {
  seal_rng r;
  seal_rng_seed(&r, 11);
  /* two 6x5 demonstrations, a 1x3 test pair: the 1-row grid can only move sideways */
  seal_arc_problem p = {
      calloc(2, sizeof(seal_arc_pair)), 2, {random_grid(&r, 1, 3), random_grid(&r, 1, 3)}};
  for (int i = 0; i < 2; i++)
    p.train[i] = (seal_arc_pair){random_grid(&r, 6, 5), random_grid(&r, 6, 5)};
  const seal_arc_augmenter *all[23];
  seal_arc_augmenters(&every_group, all);
  bool seen[4][4] = {{false}}, out_differs = false;
  for (int trial = 0; trial < 200; trial++) {
    seal_arc_problem x;
    seal_arc_augment(all[9], &p, &r, &x);
    int s_in = find_shift(&p.train[0].in, &x.train[0].in);
    int s_out = find_shift(&p.train[0].out, &x.train[0].out);
    ck_assert(s_in >= 0 && s_out >= 0);
    ck_assert(s_in / 100 < 4 && s_in % 100 < 4 && s_out / 100 < 4 && s_out % 100 < 4);
    /* the second demonstration drew the same shifts from its copy of the generator */
    ck_assert_int_eq(find_shift(&p.train[1].in, &x.train[1].in), s_in);
    ck_assert_int_eq(find_shift(&p.train[1].out, &x.train[1].out), s_out);
    int t = find_shift(&p.test.in, &x.test.in);
    ck_assert(t >= 0 && t / 100 == 0 && t % 100 < 3);
    seen[s_in / 100][s_in % 100] = true;
    out_differs |= s_in != s_out;
    seal_arc_problem_free(&x);
  }
  /* every shift in [0, 4) x [0, 4) turns up, and outputs are not tied to inputs */
  for (int dy = 0; dy < 4; dy++)
    for (int dx = 0; dx < 4; dx++)
      ck_assert_msg(seen[dy][dx], "shift (%d, %d) never drawn", dy, dx);
  ck_assert(out_differs);
  seal_arc_problem_free(&p);
}
END_TEST

START_TEST(color_permutations_fix_zero_and_cover_the_rest) {
  seal_rng r;
  seal_rng_seed(&r, 3);
  int hits[10][10] = {{0}};
  for (int trial = 0; trial < 3000; trial++) {
    uint8_t map[10];
    seal_arc_color_perm(&r, map);
    ck_assert_int_eq(map[0], 0);
    bool used[10] = {false};
    for (int c = 0; c < 10; c++) {
      ck_assert(map[c] < 10 && !used[map[c]]);
      used[map[c]] = true;
      hits[c][map[c]]++;
    }
  }
  /* uniform over the 9! permutations of 1..9: each colour lands on each about 333 times */
  for (int c = 1; c < 10; c++)
    for (int d = 1; d < 10; d++)
      ck_assert_msg(hits[c][d] > 250 && hits[c][d] < 420, "%d->%d: %d", c, d, hits[c][d]);
  const char *rows[] = {"0123", "4567", "8900"};
  seal_arc_grid g = arc_grid_of(3, rows);
  uint8_t swap[10] = {0, 2, 1, 3, 4, 5, 6, 7, 8, 9};
  const char *want_rows[] = {"0213", "4567", "8900"};
  seal_arc_grid got = seal_arc_recolor(&g, swap), want = arc_grid_of(3, want_rows);
  arc_assert_grid_eq(&got, &want, "recolor");
  seal_arc_grid_free(&g);
  seal_arc_grid_free(&got);
  seal_arc_grid_free(&want);
}
END_TEST

START_TEST(example_permutations_reach_every_order) {
  seal_rng r;
  seal_rng_seed(&r, 5);
  seal_arc_problem p = {
      calloc(3, sizeof(seal_arc_pair)), 3, {seal_arc_grid_new(1, 1), seal_arc_grid_new(1, 1)}};
  for (int i = 0; i < 3; i++) {
    p.train[i] = (seal_arc_pair){seal_arc_grid_new(1, 1), seal_arc_grid_new(1, 1)};
    p.train[i].in.v[0] = (uint8_t)i;
  }
  int seen[27] = {0};
  for (int trial = 0; trial < 600; trial++) {
    seal_arc_problem x = seal_arc_problem_copy(&p);
    seal_arc_permute_examples(&x, &r);
    int a = x.train[0].in.v[0], b = x.train[1].in.v[0], c = x.train[2].in.v[0];
    ck_assert(a != b && b != c && a != c);
    seen[a * 9 + b * 3 + c]++;
    seal_arc_problem_free(&x);
  }
  int orders = 0;
  for (int k = 0; k < 27; k++) orders += seen[k] > 60;
  ck_assert_int_eq(orders, 6);
  seal_arc_problem_free(&p);
}
END_TEST

Suite *arc_augment_suite(void) {
  Suite *s = suite_create("arc_augment");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, table_is_get_augmenters_in_order);
  tcase_add_test(tc, every_op_matches_the_reference_on_every_grid);
  tcase_add_test(tc, every_inverse_restores_every_shape);
  tcase_add_test(tc, inverse_refuses_shapes_the_op_cannot_make);
  tcase_add_test(tc, translate_shifts_pairs_of_equal_shape_alike);
  tcase_add_test(tc, color_permutations_fix_zero_and_cover_the_rest);
  tcase_add_test(tc, example_permutations_reach_every_order);
  suite_add_tcase(s, tc);
  return s;
}
