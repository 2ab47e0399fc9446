/* tests/evaluator/test_arc_ttt.c — the test-time training problems: leave-n-out
 * as the reference builds it, deduplicated counts equal to the reference's
 * (tests/fixtures/arc/ttt.json), the permuted copies, and the 250 cap. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_fixtures.h"
#include "evaluator/arc_internal.h"

/* n demonstrations that differ: input [[k]], output [[k+1]] (as the fixture's). */
static seal_arc_pair *distinct_demos(int n) {
  seal_arc_pair *d = calloc((size_t)n, sizeof *d);
  for (int k = 0; k < n; k++) {
    d[k] = (seal_arc_pair){seal_arc_grid_new(1, 1), seal_arc_grid_new(1, 1)};
    d[k].in.v[0] = (uint8_t)k;
    d[k].out.v[0] = (uint8_t)(k + 1);
  }
  return d;
}

/* A problem as "test:train,train" of demonstration numbers. */
static void describe(const seal_arc_problem *p, char *out, size_t n) {
  int k = snprintf(out, n, "%d:", p->test.in.v[0]);
  for (int i = 0; i < p->n_train; i++)
    k += snprintf(out + k, n - (size_t)k, "%s%d", i ? "," : "", p->train[i].in.v[0]);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

START_TEST(leave_n_is_the_references) {
  json_t *fx = arc_fixture("ttt.json");
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "leave_n"), i, c) {
    int N = (int)json_integer_value(json_object_get(c, "n_demos"));
    int n = (int)json_integer_value(json_object_get(c, "n"));
    const json_t *want = json_object_get(c, "problems");
    seal_arc_pair *demos = distinct_demos(N);
    seal_arc_problems got;
    seal_arc_leave_n(demos, N, n, &got);
    ck_assert_msg(got.n == (int)json_array_size(want), "N=%d n=%d: %d problems", N, n, got.n);
    /* the reference's set() loses the order, so compare sorted descriptions */
    char(*g)[32] = calloc((size_t)got.n + 1, 32), (*w)[32] = calloc((size_t)got.n + 1, 32);
    for (int k = 0; k < got.n; k++) {
      describe(&got.p[k], g[k], 32);
      const json_t *wk = json_array_get(want, (size_t)k), *train = json_array_get(wk, 1);
      int len = snprintf(w[k], 32, "%lld:", json_integer_value(json_array_get(wk, 0)));
      for (size_t t = 0; t < json_array_size(train); t++)
        len += snprintf(w[k] + len, 32 - (size_t)len, "%s%lld", t ? "," : "",
                        json_integer_value(json_array_get(train, t)));
    }
    qsort(g, (size_t)got.n, 32, cmp_str);
    qsort(w, (size_t)got.n, 32, cmp_str);
    for (int k = 0; k < got.n; k++) ck_assert_str_eq(g[k], w[k]);
    free(g);
    free(w);
    seal_arc_problems_free(&got);
    arc_pairs_free(demos, N);
  }
  json_decref(fx);
}
END_TEST

START_TEST(leave_two_is_in_itertools_order) {
  /* held out i = 0..3 in turn; for each, one more left out in increasing order:
   * itertools.combinations({others}, 1) and `indices - set(comb)` kept sorted */
  const char *want[] = {"0:2,3", "0:1,3", "0:1,2", "1:2,3", "1:0,3", "1:0,2",
                        "2:1,3", "2:0,3", "2:0,1", "3:1,2", "3:0,2", "3:0,1"};
  seal_arc_pair *demos = distinct_demos(4);
  seal_arc_problems got;
  seal_arc_leave_n(demos, 4, 2, &got);
  ck_assert_int_eq(got.n, 12);
  for (int k = 0; k < 12; k++) {
    char d[32];
    describe(&got.p[k], d, sizeof d);
    ck_assert_str_eq(d, want[k]);
  }
  seal_arc_problems_free(&got);
  seal_arc_leave_n(demos, 4, 5, &got); /* more left out than there are */
  ck_assert_int_eq(got.n, 0);
  arc_pairs_free(demos, 4);
}
END_TEST

/* Every deterministic augmenter (all but RandomTranslateXY), in order. */
static int deterministic_augmenters(const seal_arc_augmenter **out) {
  const seal_arc_groups all = {true, true, true, true};
  const seal_arc_augmenter *a[23];
  int n = seal_arc_augmenters(&all, a), k = 0;
  for (int i = 0; i < n; i++)
    if (a[i]->ops[0] != SEAL_ARC_TRANSLATE) out[k++] = a[i];
  return k;
}

START_TEST(deduplicated_counts_are_the_references) {
  json_t *fx = arc_fixture("ttt.json");
  const json_t *tasks = json_object_get(fx, "tasks");
  const seal_arc_augmenter *det[23];
  int n_det = deterministic_augmenters(det);
  ck_assert_int_eq(n_det, 22);
  size_t i;
  const json_t *c;
  json_array_foreach(json_object_get(fx, "cases"), i, c) {
    const char *task = json_string_value(json_object_get(c, "task"));
    int n_demos;
    seal_arc_pair *demos = arc_pairs_of(json_object_get(tasks, task), &n_demos);
    int leave_n = (int)json_integer_value(json_object_get(c, "leave_n"));
    bool with = strcmp(json_string_value(json_object_get(c, "augmenters")), "deterministic") == 0;
    seal_rng rng;
    seal_rng_seed(&rng, 1);
    seal_arc_problems got;
    seal_arc_ttt_augmented(demos, n_demos, det, with ? n_det : 0, leave_n, &rng, &got);
    int max_side = 0;
    for (int k = 0; k < got.n; k++) {
      int h = seal_arc_problem_max_h(&got.p[k]), w = seal_arc_problem_max_w(&got.p[k]);
      max_side = h > max_side ? h : max_side;
      max_side = w > max_side ? w : max_side;
    }
    ck_assert_msg(got.n == json_integer_value(json_object_get(c, "count")),
                  "%s leave-%d %s: %d problems", task, leave_n, with ? "augmented" : "plain",
                  got.n);
    ck_assert_int_eq(max_side, (int)json_integer_value(json_object_get(c, "max_side")));
    seal_arc_problems_free(&got);
    arc_pairs_free(demos, n_demos);
  }
  json_decref(fx);
}
END_TEST

/* Whether p is q with its colours mapped by one map fixing 0 and its
 * demonstrations reordered. */
static bool is_permuted_copy(const seal_arc_problem *p, const seal_arc_problem *q) {
  if (p->n_train != q->n_train) return false;
  int map[10];
  for (int c = 0; c < 10; c++) map[c] = -1;
  map[0] = 0;
  bool *used = calloc((size_t)q->n_train + 1, 1);
  bool ok = true;
  for (int i = 0; i <= p->n_train && ok; i++) {
    const seal_arc_pair *a = i < p->n_train ? &p->train[i] : &p->test;
    ok = false;
    for (int j = 0; j <= q->n_train && !ok; j++) {
      if ((i == p->n_train) != (j == q->n_train) || (j < q->n_train && used[j])) continue;
      const seal_arc_pair *b = j < q->n_train ? &q->train[j] : &q->test;
      int trial[10];
      memcpy(trial, map, sizeof trial);
      bool fits =
          a->in.h == b->in.h && a->in.w == b->in.w && a->out.h == b->out.h && a->out.w == b->out.w;
      for (int k = 0; fits && k < b->in.h * b->in.w + b->out.h * b->out.w; k++) {
        int from = k < b->in.h * b->in.w ? b->in.v[k] : b->out.v[k - b->in.h * b->in.w];
        int to = k < b->in.h * b->in.w ? a->in.v[k] : a->out.v[k - b->in.h * b->in.w];
        if (trial[from] == -1) trial[from] = to;
        fits = trial[from] == to;
      }
      if (fits) {
        memcpy(map, trial, sizeof map);
        if (j < q->n_train) used[j] = true;
        ok = true;
      }
    }
  }
  for (int c = 0; c < 10 && ok; c++)
    for (int d = c + 1; d < 10; d++) ok &= map[c] < 0 || map[c] != map[d];
  free(used);
  return ok;
}

static seal_arc_pair *five_by_five_demos(int n, uint64_t seed) {
  seal_rng r;
  seal_rng_seed(&r, seed);
  seal_arc_pair *d = calloc((size_t)n, sizeof *d);
  for (int k = 0; k < n; k++) {
    d[k] = (seal_arc_pair){seal_arc_grid_new(5, 5), seal_arc_grid_new(5, 5)};
    for (int c = 0; c < 25; c++) {
      d[k].in.v[c] = (uint8_t)seal_arc_rand_below(&r, 4); /* 0..3: colours to spare */
      d[k].out.v[c] = (uint8_t)(d[k].in.v[c] ? 4 - d[k].in.v[c] : 0);
    }
  }
  return d;
}

static int max_colour(const seal_arc_problem *p) {
  int m = 0;
  for (int i = 0; i <= p->n_train; i++) {
    const seal_arc_pair *x = i < p->n_train ? &p->train[i] : &p->test;
    for (int k = 0; k < x->in.h * x->in.w; k++) m = x->in.v[k] > m ? x->in.v[k] : m;
    for (int k = 0; k < x->out.h * x->out.w; k++) m = x->out.v[k] > m ? x->out.v[k] : m;
  }
  return m;
}

START_TEST(permuted_copies_follow_the_deduplicated_problems) {
  /* colours 0..3 only, so a recoloured copy shows itself by a colour over 3 */
  seal_arc_pair *demos = five_by_five_demos(4, 1);
  const seal_arc_groups basic = {true, false, false, false}, none = {0};
  const seal_arc_groups *choices[] = {&basic, &none};
  for (int k = 0; k < 2; k++) {
    const seal_arc_augmenter *augs[23];
    int n_augs = seal_arc_augmenters(choices[k], augs);
    seal_rng rng;
    seal_rng_seed(&rng, 9);
    seal_arc_problems set1, out, again, other;
    seal_arc_ttt_augmented(demos, 4, augs, n_augs, 1, &rng, &set1);
    seal_arc_ttt_problems(demos, 4, choices[k], 1, 42, &out);
    ck_assert(out.n >= set1.n && out.n <= 2 * set1.n);
    int recoloured = 0;
    for (int i = 0; i < out.n; i++) {
      ck_assert(seal_arc_problem_max_h(&out.p[i]) <= 30 && seal_arc_problem_max_w(&out.p[i]) <= 30);
      for (int j = i + 1; j < out.n; j++) ck_assert(!seal_arc_problem_equal(&out.p[i], &out.p[j]));
      recoloured += max_colour(&out.p[i]) > 3;
    }
    if (k == 0) {
      ck_assert_int_gt(recoloured, 0);
    } else {
      /* no augmenter: the reference permutes the examples but not the colours; with
       * no translation either, set1 is seed-free, so every problem of it is kept
       * and every other one is an example permutation of one */
      ck_assert_int_eq(recoloured, 0);
      for (int i = 0; i < set1.n; i++) {
        bool found = false;
        for (int j = 0; j < out.n && !found; j++)
          found = seal_arc_problem_equal(&set1.p[i], &out.p[j]);
        ck_assert(found);
      }
      for (int i = 0; i < out.n; i++) {
        bool copy = false;
        for (int j = 0; j < set1.n && !copy; j++) copy = is_permuted_copy(&out.p[i], &set1.p[j]);
        ck_assert(copy);
      }
    }
    seal_arc_ttt_problems(demos, 4, choices[k], 1, 42, &again);
    seal_arc_ttt_problems(demos, 4, choices[k], 1, 43, &other);
    ck_assert_int_eq(again.n, out.n);
    for (int i = 0; i < out.n; i++) ck_assert(seal_arc_problem_equal(&again.p[i], &out.p[i]));
    bool differs = other.n != out.n;
    for (int i = 0; i < out.n && !differs; i++)
      differs = !seal_arc_problem_equal(&other.p[i], &out.p[i]);
    ck_assert(differs);
    seal_arc_problems_free(&set1);
    seal_arc_problems_free(&out);
    seal_arc_problems_free(&again);
    seal_arc_problems_free(&other);
  }
  arc_pairs_free(demos, 4);
}
END_TEST

START_TEST(cap_keeps_250_of_a_seeded_shuffle) {
  int keep[2000];
  ck_assert_int_eq(seal_arc_cap(250, SEAL_ARC_MAX_EXAMPLES, 1, keep), 250);
  for (int i = 0; i < 250; i++) ck_assert_int_eq(keep[i], i); /* no shuffle at or under the cap */
  ck_assert_int_eq(seal_arc_cap(2000, SEAL_ARC_MAX_EXAMPLES, 1, keep), 250);
  bool seen[2000] = {false};
  int late = 0, in_order = 0;
  for (int i = 0; i < 250; i++) {
    ck_assert(keep[i] >= 0 && keep[i] < 2000 && !seen[keep[i]]);
    seen[keep[i]] = true;
    late += keep[i] >= 1000;
    in_order += i > 0 && keep[i] > keep[i - 1];
  }
  ck_assert(late > 90 && late < 160); /* drawn from the whole list, not its head */
  ck_assert(in_order < 200);
  int again[2000], other[2000];
  seal_arc_cap(2000, SEAL_ARC_MAX_EXAMPLES, 1, again);
  seal_arc_cap(2000, SEAL_ARC_MAX_EXAMPLES, 2, other);
  ck_assert(memcmp(keep, again, 250 * sizeof *keep) == 0);
  ck_assert(memcmp(keep, other, 250 * sizeof *keep) != 0);
}
END_TEST

START_TEST(a_full_configuration_on_six_demonstrations_is_capped) {
  /* 6 leave-1 and 30 leave-2 problems, 23 augmenters each, then permuted copies:
   * far more than 250 */
  seal_arc_pair *demos = five_by_five_demos(6, 2);
  const seal_arc_groups all = {true, true, true, true};
  seal_arc_problems data;
  seal_arc_ttt_data(demos, 6, &all, 5, &data);
  ck_assert_int_gt(data.n, 1000);
  /* leave-1 problems (5 demonstrations) come first, then leave-2 (4) */
  int k = 0;
  while (k < data.n && data.p[k].n_train == 5) k++;
  ck_assert_int_gt(k, 0);
  for (int i = k; i < data.n; i++) ck_assert_int_eq(data.p[i].n_train, 4);
  int *keep = malloc((size_t)data.n * sizeof *keep);
  ck_assert_int_eq(seal_arc_cap(data.n, SEAL_ARC_MAX_EXAMPLES, 5, keep), 250);
  free(keep);
  seal_arc_problems_free(&data);
  arc_pairs_free(demos, 6);
}
END_TEST

Suite *arc_ttt_suite(void) {
  Suite *s = suite_create("arc_ttt");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, leave_n_is_the_references);
  tcase_add_test(tc, leave_two_is_in_itertools_order);
  tcase_add_test(tc, deduplicated_counts_are_the_references);
  tcase_add_test(tc, permuted_copies_follow_the_deduplicated_problems);
  tcase_add_test(tc, cap_keeps_250_of_a_seeded_shuffle);
  tcase_add_test(tc, a_full_configuration_on_six_demonstrations_is_capped);
  suite_add_tcase(s, tc);
  return s;
}
