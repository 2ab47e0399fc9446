/* tests/evaluator/test_arc_vote.c — the queries under the voting transforms, the
 * parsing of messy model output (tests/fixtures/arc/answers.json), and the
 * two-stage vote (vote.json, and ties worked out by hand below). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_fixtures.h"

static const seal_arc_op voting_xforms[] = {SEAL_ARC_IDENTITY, SEAL_ARC_TRANSPOSE, SEAL_ARC_FLIP0,
                                            SEAL_ARC_FLIP1,    SEAL_ARC_ROT90,     SEAL_ARC_ROT180};

/* The query transform whose voting group the reference calls `group`. */
static seal_arc_op xform_of_group(const char *group) {
  for (int i = 0; i < 6; i++)
    if (strcmp(seal_arc_vote_group(voting_xforms[i]), group) == 0) return voting_xforms[i];
  ck_abort_msg("no voting group %s", group);
  return SEAL_ARC_IDENTITY;
}

START_TEST(groups_are_named_as_the_reference_names_inverters) {
  const char *want[] = {"identity", "Transpose()", "Flip(0)",
                        "Flip(1)",  "Rotate(270)", "Rotate(180)"};
  for (int i = 0; i < 6; i++) ck_assert_str_eq(seal_arc_vote_group(voting_xforms[i]), want[i]);
}
END_TEST

/* ---- answers ------------------------------------------------------------------------------ */

START_TEST(messy_answers_parse_as_the_reference_decodes_them) {
  json_t *fx = arc_fixture("answers.json");
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    const json_t *want = json_object_get(c, "seal");
    seal_arc_grid g;
    char why[96] = "";
    bool ok = seal_arc_parse_answer(text, &g, why, sizeof why);
    ck_assert_msg(ok == !json_is_null(want), "%zu: %s (%s)", i, text, why);
    if (ok) {
      seal_arc_grid w = arc_grid_rows(want);
      arc_assert_grid_eq(&g, &w, text);
      seal_arc_grid_free(&w);
    } else {
      ck_assert(why[0] != 0 && g.h == 0 && g.v == NULL);
    }
    seal_arc_grid_free(&g);
  }
  /* mapped back through each transform's inverse, as the reference's inverter */
  json_array_foreach(json_object_get(fx, "inverted"), i, c) {
    seal_arc_grid g, w = arc_grid_rows(json_object_get(c, "reference"));
    seal_arc_op x = xform_of_group(json_string_value(json_object_get(c, "group")));
    ck_assert(seal_arc_answer_grid(json_string_value(json_object_get(c, "text")), x, &g, NULL, 0));
    arc_assert_grid_eq(&g, &w, seal_arc_vote_group(x));
    seal_arc_grid_free(&g);
    seal_arc_grid_free(&w);
  }
  json_decref(fx);
}
END_TEST

START_TEST(reasons_for_a_vote_for_nothing) {
  struct {
    const char *text, *why;
  } cases[] = {
      {"", "no cells"},
      {"[[1 2]\n [3]]", "3 cells do not fill 2 rows"},
      {"[[1, 2]]", "\"1,\" is not an integer"},
      {"[[10]]", "10 is not a colour 0-9"},
      {"[[-1]]", "-1 is not a colour 0-9"},
      {"[[1_]]", "\"1_\" is not an integer"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    seal_arc_grid g;
    char why[96];
    ck_assert(!seal_arc_parse_answer(cases[k].text, &g, why, sizeof why));
    ck_assert_str_eq(why, cases[k].why);
  }
  /* a 31-row answer */
  seal_buf b = {0};
  for (int r = 0; r < 31; r++) seal_buf_puts(&b, r ? "\n [1]" : "[[1]");
  seal_buf_puts(&b, "]");
  seal_arc_grid g;
  char why[96];
  ck_assert(!seal_arc_parse_answer(b.data, &g, why, sizeof why));
  ck_assert_str_eq(why, "31 x 1 is over 30 on a side");
  seal_buf_free(&b);
  /* random bytes: never a crash, and a grid only when it is an ARC grid */
  seal_rng r;
  seal_rng_seed(&r, 8);
  const char alphabet[] = "[] 0123456789\n#`,-+_x";
  for (int trial = 0; trial < 3000; trial++) {
    char buf[128];
    int len = seal_arc_rand_below(&r, (int)sizeof buf);
    for (int i = 0; i < len; i++)
      buf[i] = trial % 2 ? alphabet[seal_arc_rand_below(&r, (int)sizeof alphabet - 1)]
                         : (char)(1 + seal_arc_rand_below(&r, 255));
    buf[len] = 0;
    if (seal_arc_parse_answer(buf, &g, NULL, 0)) {
      ck_assert(g.h >= 1 && g.h <= 30 && g.w >= 1 && g.w <= 30);
      for (int i = 0; i < g.h * g.w; i++) ck_assert(g.v[i] <= 9);
    }
    seal_arc_grid_free(&g);
  }
}
END_TEST

/* ---- the vote ---------------------------------------------------------------------------- */

/* Votes the items of a fixture case; fills attempts. */
static int vote_case(const json_t *items, seal_arc_grid attempts[2]) {
  int n = (int)json_array_size(items);
  seal_arc_vote_item *v = calloc((size_t)n, sizeof *v);
  for (int i = 0; i < n; i++) {
    const json_t *it = json_array_get(items, (size_t)i);
    v[i] = (seal_arc_vote_item){xform_of_group(json_string_value(json_object_get(it, "group"))),
                                arc_grid_rows(json_object_get(it, "grid"))};
  }
  int rc = seal_arc_vote(v, n, attempts);
  for (int i = 0; i < n; i++) seal_arc_grid_free(&v[i].grid);
  free(v);
  return rc;
}

START_TEST(votes_are_the_references_with_its_ties_resolved) {
  json_t *fx = arc_fixture("vote.json");
  /* where seal's vote differs from the reference's: ties, which the reference
   * resolves by hash order and with argmax/argsort disagreeing (docs/arc.md) */
  const char *differ[] = {"two-way-tie",           "tie-below-the-top", "tie-first-and-second",
                          "row-majority-fallback", "no-identity-group", "every-group"};
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    seal_arc_grid a[2];
    ck_assert_int_eq(vote_case(json_object_get(c, "items"), a), 2);
    const json_t *seal = json_object_get(c, "seal"), *ref = json_object_get(c, "reference");
    for (int k = 0; k < 2; k++) {
      seal_arc_grid w = arc_grid_rows(json_array_get(seal, (size_t)k));
      char what[64];
      snprintf(what, sizeof what, "%s attempt %d", name, k + 1);
      arc_assert_grid_eq(&a[k], &w, what);
      seal_arc_grid_free(&w);
      seal_arc_grid_free(&a[k]);
    }
    bool expect_same = true;
    for (size_t k = 0; k < sizeof differ / sizeof *differ; k++)
      expect_same &= strcmp(name, differ[k]) != 0;
    ck_assert_msg(json_equal(seal, ref) == expect_same, "%s", name);
  }
  json_decref(fx);
}
END_TEST

static seal_arc_grid g2(const char *r0, const char *r1) {
  const char *rows[] = {r0, r1};
  return arc_grid_of(2, rows);
}

START_TEST(two_way_tie_keeps_both_grids) {
  /* Identity answers A, B, A, B with A = [[1 2] [3 4]], B = [[1 2] [3 5]].
   *
   * The reference, get_all_type_of_votingsv2 on the group: unique_outputs =
   * list(set(...)) = [A, B] (tuple hash order), counts [2, 2]; most = unique
   * [argmax] = A; np.argsort([2, 2]) = [0, 1], so second = unique[-2 -> 0] = A
   * = most and falls back to the row majority: row 0 is (1 2) everywhere, row 1
   * ties (3 4) / (3 5) and max(set(rows), key=count) takes (3 4): A again, so the
   * column majority, A too. third = most = A likewise. Groups "all" and
   * "identity" both give (A, A, A); six A candidates; the vote is (A, A) and B
   * is never tried.
   *
   * seal ranks [A, B] by count, ties to the first seen: (A, B, third = A by the
   * same fallbacks) per group; candidates A, B, A, A, B, A: A 4, B 2; the
   * attempts are (A, B). */
  seal_arc_vote_item v[4];
  for (int i = 0; i < 4; i++)
    v[i] = (seal_arc_vote_item){SEAL_ARC_IDENTITY, i % 2 ? g2("12", "35") : g2("12", "34")};
  seal_arc_grid a[2];
  ck_assert_int_eq(seal_arc_vote(v, 4, a), 2);
  arc_assert_grid_eq(&a[0], &v[0].grid, "first");
  arc_assert_grid_eq(&a[1], &v[1].grid, "second");
  ck_assert(seal_arc_solved(a, 2, &v[1].grid));
  for (int i = 0; i < 4; i++) seal_arc_grid_free(&v[i].grid);
  seal_arc_grid_free(&a[0]);
  seal_arc_grid_free(&a[1]);
}
END_TEST

START_TEST(identity_votes_break_a_second_third_tie) {
  /* identity: C; Transpose(): B, B; Flip(0): A, A, A, A.
   *
   * "all" (groups in the order first seen) = C, B, B, A, A, A, A: A 4, B 2, C 1,
   * top three (A, B, C). identity = [C]: one grid, so second and third fall back
   * to the row and column majorities, both C: (C, C, C). Transpose: (B, B, B).
   * Flip(0): (A, A, A). Candidates A B C C C C B B B A A A: 4 each, ranked first
   * seen: C1 = A, C2 = B, C3 = C. C2 and C3 have 4 candidate votes each, and C
   * has more identity votes (1 against 0): the second attempt is C. The
   * reference gives (A, C) too (vote.json "identity-breaks-tie"). */
  seal_arc_grid A = g2("12", "34"), B = g2("12", "35"), C = g2("99", "99");
  seal_arc_vote_item v[] = {
      {SEAL_ARC_IDENTITY, C}, {SEAL_ARC_TRANSPOSE, B}, {SEAL_ARC_TRANSPOSE, B}, {SEAL_ARC_FLIP0, A},
      {SEAL_ARC_FLIP0, A},    {SEAL_ARC_FLIP0, A},     {SEAL_ARC_FLIP0, A}};
  seal_arc_grid a[2];
  ck_assert_int_eq(seal_arc_vote(v, 7, a), 2);
  arc_assert_grid_eq(&a[0], &A, "first");
  arc_assert_grid_eq(&a[1], &C, "second");
  seal_arc_grid_free(&a[0]);
  seal_arc_grid_free(&a[1]);
  /* without the identity vote for C the tie goes to B, the first seen */
  v[0] = (seal_arc_vote_item){SEAL_ARC_FLIP1, C};
  ck_assert_int_eq(seal_arc_vote(v, 7, a), 2);
  arc_assert_grid_eq(&a[1], &B, "second without identity");
  seal_arc_grid_free(&a[0]);
  seal_arc_grid_free(&a[1]);
  seal_arc_grid_free(&A), seal_arc_grid_free(&B), seal_arc_grid_free(&C);
}
END_TEST

START_TEST(a_tie_with_a_fallback_third_does_not_repeat_the_first) {
  /* identity: A, A; Flip(0): C, C; Transpose(): C, A (in that order of items:
   * identity A, Flip(0) C, Transpose() C, identity A, Transpose() A, Flip(0) C).
   *
   * "all" = A, A, C, C, C, A (groups in the order first seen): A 3, C 3, ranked
   * A, C; two distinct grids, so the third falls back to the row majority, A (row
   * by row the first seen wins the 3-3 ties), which is taken, so to the column
   * majority, A: (A, C, A). identity: (A, A, A). Transpose(): C, A ranked C, A,
   * third C by the same fallbacks: (C, A, C). Flip(0): (C, C, C). Candidates, in
   * the order all, identity, Transpose(), Flip(0): A C A A A A C A C C C C: A 6,
   * C 6; C1 = A, C2 = C, and C3 falls back to A = C1. C2 and C3 have 6 candidate
   * votes each and A has more identity votes (2 against 0): the reference's rule
   * would make the second attempt A, the first again; seal keeps C. */
  seal_arc_grid A = g2("12", "34"), C = g2("99", "99");
  seal_arc_vote_item v[] = {{SEAL_ARC_IDENTITY, A},  {SEAL_ARC_FLIP0, C},
                            {SEAL_ARC_TRANSPOSE, C}, {SEAL_ARC_IDENTITY, A},
                            {SEAL_ARC_TRANSPOSE, A}, {SEAL_ARC_FLIP0, C}};
  seal_arc_grid a[2];
  ck_assert_int_eq(seal_arc_vote(v, 6, a), 2);
  arc_assert_grid_eq(&a[0], &A, "first");
  arc_assert_grid_eq(&a[1], &C, "second");
  seal_arc_grid_free(&a[0]), seal_arc_grid_free(&a[1]);
  seal_arc_grid_free(&A), seal_arc_grid_free(&C);
}
END_TEST

START_TEST(no_votes_no_attempts) {
  seal_arc_grid a[2] = {{0}};
  ck_assert_int_eq(seal_arc_vote(NULL, 0, a), 0);
  ck_assert(!seal_arc_solved(a, 0, &a[0]));
}
END_TEST

/* ---- queries ------------------------------------------------------------------------------ */

static seal_arc_pair *random_demos(int n, int h, int w, seal_rng *r) {
  seal_arc_pair *d = calloc((size_t)n, sizeof *d);
  for (int k = 0; k < n; k++) {
    d[k] = (seal_arc_pair){seal_arc_grid_new(h, w), seal_arc_grid_new(h, w)};
    for (int c = 0; c < h * w; c++) {
      d[k].in.v[c] = (uint8_t)seal_arc_rand_below(r, 10);
      d[k].out.v[c] = (uint8_t)seal_arc_rand_below(r, 10);
    }
  }
  return d;
}

/* p with op on every grid. */
static seal_arc_problem transformed(const seal_arc_problem *p, seal_arc_op op) {
  seal_arc_augmenter a = {{op, SEAL_ARC_IDENTITY}, 1, ""};
  seal_rng r;
  seal_rng_seed(&r, 0);
  seal_arc_problem x;
  seal_arc_augment(&a, p, &r, &x);
  return x;
}

START_TEST(queries_are_leave_one_out_permutations_and_five_transforms) {
  seal_rng r;
  seal_rng_seed(&r, 4);
  seal_arc_pair *demos = random_demos(4, 3, 4, &r);
  seal_arc_grid test = seal_arc_grid_new(3, 4);
  for (int c = 0; c < 12; c++) test.v[c] = (uint8_t)seal_arc_rand_below(&r, 10);
  seal_arc_query *q;
  int n = seal_arc_queries(demos, 4, &test, 1, 2, 77, &q);
  /* 4 leave-1 problems x (itself + 2 permutations of 3 demonstrations), deduplicated,
   * then the 5 transforms (none can coincide with a plain one on random grids) */
  int plain = 0, seen[SEAL_ARC_N_OPS] = {0};
  for (int i = 0; i < n; i++) {
    seen[q[i].xform]++;
    ck_assert_int_eq(q[i].problem.n_train, 3);
    ck_assert(q[i].problem.test.out.h == 0);
    for (int j = 0; j < i; j++) ck_assert(!seal_arc_problem_equal(&q[i].problem, &q[j].problem));
    if (q[i].xform == SEAL_ARC_IDENTITY) {
      plain++;
      ck_assert(i >= 5); /* transformed ones are listed first */
      ck_assert(seal_arc_grid_equal(&q[i].problem.test.in, &test));
    } else {
      /* a transform of one of the plain queries */
      bool found = false;
      for (int j = 0; j < n && !found; j++) {
        if (q[j].xform != SEAL_ARC_IDENTITY) continue;
        seal_arc_problem x = transformed(&q[j].problem, q[i].xform);
        found = seal_arc_problem_equal(&x, &q[i].problem);
        seal_arc_problem_free(&x);
      }
      ck_assert_msg(found, "%s", seal_arc_op_name(q[i].xform));
    }
  }
  ck_assert(plain >= 4 && plain <= 12);
  ck_assert(seen[SEAL_ARC_TRANSPOSE] == 1 && seen[SEAL_ARC_FLIP0] == 1 &&
            seen[SEAL_ARC_FLIP1] == 1 && seen[SEAL_ARC_ROT90] == 1 && seen[SEAL_ARC_ROT180] == 1);
  /* the same seed, the same queries */
  seal_arc_query *again;
  ck_assert_int_eq(seal_arc_queries(demos, 4, &test, 1, 2, 77, &again), n);
  for (int i = 0; i < n; i++) ck_assert(seal_arc_problem_equal(&q[i].problem, &again[i].problem));
  seal_arc_queries_free(again, n);
  seal_arc_queries_free(q, n);
  /* leave-0 is every demonstration at once; more left out than there are, nothing */
  n = seal_arc_queries(demos, 4, &test, 0, 2, 77, &q);
  for (int i = 0; i < n; i++) ck_assert_int_eq(q[i].problem.n_train, 4);
  seal_arc_queries_free(q, n);
  ck_assert_int_eq(seal_arc_queries(demos, 4, &test, 5, 2, 77, &q), 0);
  seal_arc_queries_free(q, 0);
  arc_pairs_free(demos, 4);
  seal_arc_grid_free(&test);
}
END_TEST

START_TEST(a_transform_that_changes_nothing_is_skipped) {
  /* every grid symmetric under flipud: Flip(0) of a query is a query already */
  const char *sym[] = {"121", "343", "121"}, *sym2[] = {"505", "000", "505"};
  seal_arc_pair demos[2] = {{arc_grid_of(3, sym), arc_grid_of(3, sym2)},
                            {arc_grid_of(3, sym2), arc_grid_of(3, sym)}};
  seal_arc_grid test = arc_grid_of(3, sym);
  seal_arc_query *q;
  int n = seal_arc_queries(demos, 2, &test, 1, 2, 1, &q);
  for (int i = 0; i < n; i++) ck_assert_int_ne(q[i].xform, SEAL_ARC_FLIP0);
  seal_arc_queries_free(q, n);
  for (int k = 0; k < 2; k++) seal_arc_grid_free(&demos[k].in), seal_arc_grid_free(&demos[k].out);
  seal_arc_grid_free(&test);
}
END_TEST

START_TEST(answers_under_every_transform_vote_for_the_solution) {
  seal_rng r;
  seal_rng_seed(&r, 6);
  seal_arc_pair *demos = random_demos(3, 2, 3, &r);
  const char *sol_rows[] = {"123", "456"}, *wrong_rows[] = {"999", "999"};
  seal_arc_grid test = seal_arc_grid_new(2, 3), sol = arc_grid_of(2, sol_rows),
                wrong = arc_grid_of(2, wrong_rows);
  seal_arc_query *q;
  int n = seal_arc_queries(demos, 3, &test, 1, 2, 3, &q);
  char **answers = calloc((size_t)n, sizeof *answers);
  for (int i = 0; i < n; i++) {
    /* the model answers the solution as the query shows it, or garbage */
    seal_arc_grid shown = seal_arc_apply(q[i].xform, &sol);
    char *t = seal_arc_grid_text(i == 0 ? &wrong : &shown);
    answers[i] = i == 1 ? seal_strdup("I do not know") : seal_asprintf("%s#", t);
    free(t);
    seal_arc_grid_free(&shown);
  }
  seal_arc_grid a[2];
  int valid;
  ck_assert_int_eq(seal_arc_vote_answers(q, (const char *const *)answers, n, a, &valid), 2);
  ck_assert_int_eq(valid, n - 1);
  arc_assert_grid_eq(&a[0], &sol, "voted first");
  ck_assert(seal_arc_solved(a, 2, &sol));
  for (int i = 0; i < n; i++) free(answers[i]);
  free(answers);
  seal_arc_grid_free(&a[0]), seal_arc_grid_free(&a[1]);
  seal_arc_queries_free(q, n);
  arc_pairs_free(demos, 3);
  seal_arc_grid_free(&test), seal_arc_grid_free(&sol), seal_arc_grid_free(&wrong);
}
END_TEST

Suite *arc_vote_suite(void) {
  Suite *s = suite_create("arc_vote");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, groups_are_named_as_the_reference_names_inverters);
  tcase_add_test(tc, messy_answers_parse_as_the_reference_decodes_them);
  tcase_add_test(tc, reasons_for_a_vote_for_nothing);
  tcase_add_test(tc, votes_are_the_references_with_its_ties_resolved);
  tcase_add_test(tc, two_way_tie_keeps_both_grids);
  tcase_add_test(tc, identity_votes_break_a_second_third_tie);
  tcase_add_test(tc, a_tie_with_a_fallback_third_does_not_repeat_the_first);
  tcase_add_test(tc, no_votes_no_attempts);
  tcase_add_test(tc, queries_are_leave_one_out_permutations_and_five_transforms);
  tcase_add_test(tc, a_transform_that_changes_nothing_is_skipped);
  tcase_add_test(tc, answers_under_every_transform_vote_for_the_solution);
  suite_add_tcase(s, tc);
  return s;
}
