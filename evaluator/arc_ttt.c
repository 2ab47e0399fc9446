/* evaluator/arc_ttt.c — the test-time training problems of one self-edit, as the
 * reference's get_test_time_train_data and process_task build them (see arc.h).
 *
 * The reference deduplicates with set(), whose order depends on Python's
 * per-process hash seed; seal keeps the first occurrence of each problem in the
 * order the reference's lists are built, so the result is deterministic. */
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc.h"
#include "evaluator/arc_internal.h"

/* ---- deduplication --------------------------------------------------------------------------- */

/* Drops every problem equal to an earlier one, in place (a hash set of indices). */
void seal_arc_dedup(seal_arc_problems *l) {
  size_t cap = 16;
  while (cap < 2 * (size_t)l->n) cap *= 2;
  int *slot = seal_malloc(cap * sizeof *slot);
  uint64_t *hash = seal_malloc((size_t)(l->n ? l->n : 1) * sizeof *hash);
  for (size_t i = 0; i < cap; i++) slot[i] = -1;
  int kept = 0;
  for (int i = 0; i < l->n; i++) {
    uint64_t h = seal_arc_problem_hash(&l->p[i]);
    size_t s = h & (cap - 1);
    bool dup = false;
    for (; slot[s] >= 0; s = (s + 1) & (cap - 1)) {
      if (hash[slot[s]] == h && seal_arc_problem_equal(&l->p[slot[s]], &l->p[i])) {
        dup = true;
        break;
      }
    }
    if (dup) {
      seal_arc_problem_free(&l->p[i]);
      continue;
    }
    l->p[kept] = l->p[i];
    hash[kept] = h;
    slot[s] = kept++;
  }
  l->n = kept;
  free(slot);
  free(hash);
}

/* ---- leave-n-out ----------------------------------------------------------------------------- */

/* Advances c[0..k) to the next k-combination of 0..m-1 in lexicographic order
 * (itertools.combinations); false after the last. */
bool seal_arc_next_combination(int *c, int k, int m) {
  int i = k - 1;
  while (i >= 0 && c[i] == m - k + i) i--;
  if (i < 0) return false;
  c[i]++;
  for (int j = i + 1; j < k; j++) c[j] = c[j - 1] + 1;
  return true;
}

/* The problem with demonstration `test` held out and the demonstrations marked
 * in `drop` (and `test`) left out, the rest in their order. */
seal_arc_problem seal_arc_held_out(const seal_arc_pair *demos, int n_demos, const bool *drop,
                                   const seal_arc_pair *test) {
  seal_arc_problem p = {NULL, 0, {seal_arc_grid_copy(&test->in), seal_arc_grid_copy(&test->out)}};
  SEAL_ALLOC_ARRAY(p.train, n_demos);
  for (int j = 0; j < n_demos; j++) {
    if (drop[j]) continue;
    p.train[p.n_train++] =
        (seal_arc_pair){seal_arc_grid_copy(&demos[j].in), seal_arc_grid_copy(&demos[j].out)};
  }
  return p;
}

void seal_arc_leave_n(const seal_arc_pair *demos, int n_demos, int n, seal_arc_problems *out) {
  memset(out, 0, sizeof *out);
  if (n < 1 || n > n_demos) return;
  int k = n - 1, m = n_demos - 1; /* further demonstrations left out, chosen among the others */
  int *c = seal_malloc((size_t)(k + 1) * sizeof *c),
      *others = seal_malloc((size_t)n_demos * sizeof *others);
  bool *drop = seal_malloc((size_t)n_demos);
  for (int i = 0; i < n_demos; i++) {
    for (int j = 0, o = 0; j < n_demos; j++)
      if (j != i) others[o++] = j;
    for (int j = 0; j < k; j++) c[j] = j;
    do {
      memset(drop, 0, (size_t)n_demos);
      drop[i] = true;
      for (int j = 0; j < k; j++) drop[others[c[j]]] = true;
      seal_arc_problems_push(out, seal_arc_held_out(demos, n_demos, drop, &demos[i]));
    } while (seal_arc_next_combination(c, k, m));
  }
  free(c);
  free(others);
  free(drop);
}

/* ---- the training problems of one n ---------------------------------------------------------- */

static bool fits(const seal_arc_problem *p) {
  return seal_arc_problem_max_h(p) <= SEAL_ARC_MAX_SIDE &&
         seal_arc_problem_max_w(p) <= SEAL_ARC_MAX_SIDE;
}

/* Every augmenter on every initial problem (augmenter-major, as the reference's
 * loops), too-large results dropped, then the initial problems themselves. */
static void augmented(const seal_arc_problems *initial, const seal_arc_augmenter *const *augs,
                      int n_augs, seal_rng *rng, seal_arc_problems *out) {
  for (int a = 0; a < n_augs; a++) {
    for (int t = 0; t < initial->n; t++) {
      seal_arc_problem x;
      seal_arc_augment(augs[a], &initial->p[t], rng, &x);
      if (fits(&x)) {
        seal_arc_problems_push(out, x);
      } else {
        seal_arc_problem_free(&x);
      }
    }
  }
  for (int t = 0; t < initial->n; t++)
    seal_arc_problems_push(out, seal_arc_problem_copy(&initial->p[t]));
}

void seal_arc_ttt_augmented(const seal_arc_pair *demos, int n_demos,
                            const seal_arc_augmenter *const *augs, int n_augs, int leave_n,
                            seal_rng *rng, seal_arc_problems *out) {
  seal_arc_problems initial;
  memset(out, 0, sizeof *out);
  seal_arc_leave_n(demos, n_demos, leave_n, &initial);
  augmented(&initial, augs, n_augs, rng, out);
  seal_arc_problems_free(&initial);
  seal_arc_dedup(out);
}

void seal_arc_ttt_problems(const seal_arc_pair *demos, int n_demos, const seal_arc_groups *g,
                           int leave_n, uint64_t seed, seal_arc_problems *out) {
  seal_rng rng;
  seal_rng_seed(&rng, seal_seed_derive(seed, SEAL_ARC_SEED_TTT, (uint64_t)leave_n, 0, 0));
  const seal_arc_augmenter *augs[SEAL_ARC_MAX_AUGMENTERS];
  int n_augs = seal_arc_augmenters(g, augs);
  seal_arc_problems set1;
  seal_arc_ttt_augmented(demos, n_demos, augs, n_augs, leave_n, &rng, &set1);

  /* one colour-and-example permuted copy of each, listed first */
  memset(out, 0, sizeof *out);
  for (int t = 0; t < set1.n; t++) {
    seal_arc_problem x = seal_arc_problem_copy(&set1.p[t]);
    if (n_augs > 0) { /* the reference permutes colours only when some augmenter is chosen */
      uint8_t map[10];
      seal_arc_color_perm(&rng, map);
      seal_arc_permute_colors(&x, map);
    }
    seal_arc_permute_examples(&x, &rng);
    seal_arc_problems_push(out, x);
  }
  for (int t = 0; t < set1.n; t++) seal_arc_problems_push(out, set1.p[t]);
  free(set1.p);
  seal_arc_dedup(out);
}

void seal_arc_ttt_data(const seal_arc_pair *demos, int n_demos, const seal_arc_groups *g,
                       uint64_t seed, seal_arc_problems *out) {
  seal_arc_problems two;
  seal_arc_ttt_problems(demos, n_demos, g, 1, seed, out);
  seal_arc_ttt_problems(demos, n_demos, g, 2, seed, &two);
  for (int i = 0; i < two.n; i++) seal_arc_problems_push(out, two.p[i]);
  free(two.p);
}

int seal_arc_cap(int n, int nmax, uint64_t seed, int *keep) {
  for (int i = 0; i < n; i++) keep[i] = i;
  if (n <= nmax) return n;
  seal_rng rng;
  seal_rng_seed(&rng, seal_seed_derive(seed, SEAL_ARC_SEED_CAP, 0, 0, 0));
  for (int i = n - 1; i > 0; i--) {
    int j = seal_arc_rand_below(&rng, i + 1);
    int t = keep[i];
    keep[i] = keep[j];
    keep[j] = t;
  }
  return nmax;
}
