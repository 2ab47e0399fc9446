/* tests/trainer/test_inner.c — the inner loop over the knowledge domain on the
 * tiny real model: a self-edit with nothing to train on scores zero without
 * training; one with lines trains on each line plus the passage and is
 * graded; the conditions without a self-edit; grouped inner loops equal single
 * ones; unusable samples are drawn again; self-edits written together equal
 * those written alone. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/inner.h"

typedef struct {
  seal_engine eng;
  seal_job job;
  seal_domain d;
} inner_fixture;

static void open_inner(inner_fixture *f) {
  seal_error e;
  if (seal_job_load("tests/fixtures/tiny-seal/job.yaml", &f->job, &e)) ck_abort_msg("%s", e.msg);
  if (seal_engine_open(&f->eng, f->job.model, "cpu", &e)) ck_abort_msg("%s", e.msg);
  if (seal_domain_open(&f->d, f->job.task, f->job.task_settings, "cpu", &e))
    ck_abort_msg("%s", e.msg);
}

static void close_inner(inner_fixture *f) {
  seal_domain_close(&f->d);
  seal_engine_close(&f->eng);
  seal_job_free(&f->job);
}

/* One inner loop of context 0 of the train split. */
static seal_inner_result inner(inner_fixture *f, seal_condition_kind kind, const char *text,
                               uint64_t seed) {
  seal_inner_result r;
  seal_inner_evaluate(&f->eng, &f->d, &f->job, SEAL_SPLIT_TRAIN, 0, kind, &text, 1, &seed, &r);
  return r;
}

static int questions(inner_fixture *f) {
  seal_query *q;
  int n = f->d.ops->queries(&f->d, &f->eng, SEAL_SPLIT_TRAIN, 0, &q);
  seal_queries_free(q, n);
  return n;
}

START_TEST(empty_selfedit_scores_zero_without_training) {
  inner_fixture f;
  open_inner(&f);
  const char *empties[] = {"", "   \n\n", "---\n \n---"};
  for (int i = 0; i < 3; i++) {
    seal_inner_result r = inner(&f, SEAL_COND_SELFEDIT, empties[i], 1);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_double_eq(r.reward, 0.0);
    ck_assert(isnan(r.last_loss)); /* nothing was trained */
    ck_assert_str_eq(r.reason, "the self-edit has no line to train on");
    /* it scores zero over the context's questions, which still count */
    ck_assert_int_eq(r.grade.n_items, questions(&f));
    ck_assert_int_eq(r.grade.n_correct, 0);
    seal_inner_result_free(&r);
  }
  close_inner(&f);
}
END_TEST

START_TEST(selfedit_lines_are_trained_with_the_passage) {
  inner_fixture f;
  open_inner(&f);
  const char *edit = "The salt pans flood in spring.\nRakers wear green hats.\n";
  seal_inner_result r = inner(&f, SEAL_COND_SELFEDIT, edit, 5);
  ck_assert_int_eq(r.ok, 1);
  ck_assert_int_eq(r.n_examples, 3); /* two lines + the passage */
  ck_assert(isfinite(r.first_loss) && isfinite(r.last_loss));
  ck_assert(r.reward >= 0.0 && r.reward <= 1.0);
  ck_assert_int_eq(r.grade.n_items, questions(&f));
  ck_assert_ptr_nonnull(r.grade.detail_json); /* the answers, for eval.json */
  /* the same seed gives the same result: items do not depend on who runs them */
  seal_inner_result again = inner(&f, SEAL_COND_SELFEDIT, edit, 5);
  ck_assert_double_eq(r.last_loss, again.last_loss);
  ck_assert_double_eq(r.reward, again.reward);
  ck_assert_str_eq(r.grade.detail_json, again.grade.detail_json);
  /* the passage alone (the fixed condition): one sequence */
  seal_inner_result p = inner(&f, SEAL_COND_FIXED, NULL, 5);
  ck_assert_int_eq(p.ok, 1);
  ck_assert_int_eq(p.n_examples, 1);
  ck_assert(isfinite(p.last_loss));
  /* the base model: nothing trained, still graded */
  seal_inner_result b = inner(&f, SEAL_COND_BASE, NULL, 5);
  ck_assert_int_eq(b.ok, 1);
  ck_assert_int_eq(b.n_examples, 0);
  ck_assert(isnan(b.last_loss));
  ck_assert_int_eq(b.grade.n_items, questions(&f));
  seal_inner_result_free(&r), seal_inner_result_free(&again);
  seal_inner_result_free(&p), seal_inner_result_free(&b);
  close_inner(&f);
}
END_TEST

/* Several self-edits' inner loops trained together give what each gives alone;
 * an empty one among them still scores zero untrained. */
START_TEST(batched_inner_loops_equal_single_ones) {
  inner_fixture f;
  open_inner(&f);
  const char *edits[3] = {"The salt pans flood in spring.\nRakers wear green hats.\n", "",
                          "Ilse Marrow mapped the flats.\n---\nForty-two pans.\nSeven years.\n"};
  uint64_t seeds[3] = {11, 12, 13};
  seal_inner_result many[3];
  seal_inner_evaluate(&f.eng, &f.d, &f.job, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT, edits, 3,
                      seeds, many);
  for (int i = 0; i < 3; i++) {
    seal_inner_result one = inner(&f, SEAL_COND_SELFEDIT, edits[i], seeds[i]);
    ck_assert_int_eq(many[i].ok, one.ok);
    ck_assert_int_eq(many[i].n_examples, one.n_examples);
    ck_assert_double_eq(many[i].reward, one.reward);
    if (one.ok)
      ck_assert_msg(fabs(many[i].last_loss - one.last_loss) <= 1e-4 * fabs(one.last_loss),
                    "self-edit %d: last loss %g batched, %g alone", i, many[i].last_loss,
                    one.last_loss);
    else
      ck_assert(isnan(many[i].last_loss) && many[i].reward == 0.0);
    seal_inner_result_free(&one);
    seal_inner_result_free(&many[i]);
  }
  close_inner(&f);
}
END_TEST

/* A deliberately strict task for the resampling test: knowledge, but a
 * self-edit of odd length is unusable. */
static bool even_length_only(const seal_domain *d, seal_split s, int i, const char *selfedit,
                             char *reason, size_t reason_size) {
  (void)d, (void)s, (void)i;
  if (strlen(selfedit) % 2 == 0) return true;
  snprintf(reason, reason_size, "odd length %zu", strlen(selfedit));
  return false;
}

/* Samples k = 8 self-edits of context 0 with max_resamples R. */
static void sample8(inner_fixture *f, const seal_domain *d, int R, char **texts, bool *usable,
                    char (*reasons)[SEAL_REASON_SIZE], int *attempts) {
  uint64_t seeds[8];
  for (int j = 0; j < 8; j++) seeds[j] = 1000 + (uint64_t)j;
  f->job.selfedit.max_resamples = R;
  seal_sample_selfedits(&f->eng, d, &f->job, SEAL_SPLIT_TRAIN, 0, 8, seeds, texts, usable, reasons,
                        attempts);
}

START_TEST(unusable_selfedits_are_sampled_again) {
  inner_fixture f;
  open_inner(&f);
  seal_domain_ops strict_ops = *f.d.ops;
  strict_ops.selfedit_usable = even_length_only;
  seal_domain strict = f.d;
  strict.ops = &strict_ops;
  char *once[8], *again[8], *again2[8], reasons[8][SEAL_REASON_SIZE];
  bool usable[8], usable_again[8];
  int attempts[8], attempts_again[8];
  sample8(&f, &strict, 0, once, usable, reasons, attempts);
  int unusable = 0;
  for (int j = 0; j < 8; j++) {
    ck_assert_int_eq(attempts[j], 1);
    ck_assert_int_eq(usable[j], strlen(once[j]) % 2 == 0);
    if (!usable[j]) ck_assert_msg(strstr(reasons[j], "odd length"), "%s", reasons[j]);
    unusable += !usable[j];
  }
  ck_assert_msg(unusable > 0, "no sample of 8 was unusable: the test proves nothing");
  sample8(&f, &strict, 6, again, usable_again, reasons, attempts_again);
  for (int j = 0; j < 8; j++) {
    if (usable[j]) { /* a usable first draw is kept as it was */
      ck_assert_int_eq(attempts_again[j], 1);
      ck_assert_str_eq(again[j], once[j]);
      continue;
    }
    ck_assert_int_gt(attempts_again[j], 1);
    ck_assert_int_le(attempts_again[j], 7);
    ck_assert_int_eq(usable_again[j], strlen(again[j]) % 2 == 0);
    if (attempts_again[j] < 7) ck_assert(usable_again[j]); /* stopped because it was usable */
  }
  /* seeded per attempt: the same call draws the same texts */
  sample8(&f, &strict, 6, again2, usable_again, reasons, attempts);
  for (int j = 0; j < 8; j++) {
    ck_assert_str_eq(again2[j], again[j]);
    free(once[j]), free(again[j]), free(again2[j]);
  }
  close_inner(&f);
}
END_TEST

/* Self-edits of several contexts written together (seal eval's batches of up
 * to 8) are the ones each gets written alone, resampled ones included: each
 * sequence keeps its own seed, and a decode step of up to 8 rows computes each
 * row as for one. */
START_TEST(selfedits_written_together_equal_alone) {
  inner_fixture f;
  open_inner(&f);
  seal_domain_ops strict_ops = *f.d.ops;
  strict_ops.selfedit_usable = even_length_only; /* so that some are drawn again */
  seal_domain strict = f.d;
  strict.ops = &strict_ops;
  f.job.selfedit.max_resamples = 3;
  enum { N = 7 };
  const int contexts[N] = {0, 1, 1, 2, 0, 2, 1};
  uint64_t seeds[N];
  char *together[N], reasons[N][SEAL_REASON_SIZE];
  bool usable[N];
  int attempts[N], resampled = 0;
  for (int t = 0; t < N; t++) seeds[t] = 7000 + 13 * (uint64_t)t;
  seal_sample_selfedits_of(&f.eng, &strict, &f.job, SEAL_SPLIT_EVAL, contexts, N, seeds, together,
                           usable, reasons, attempts);
  for (int t = 0; t < N; t++) {
    char *alone, why[1][SEAL_REASON_SIZE];
    bool ok;
    int tries;
    seal_sample_selfedits(&f.eng, &strict, &f.job, SEAL_SPLIT_EVAL, contexts[t], 1, &seeds[t],
                          &alone, &ok, why, &tries);
    ck_assert_str_eq(together[t], alone);
    ck_assert_int_eq(usable[t], ok);
    ck_assert_int_eq(attempts[t], tries);
    resampled += tries > 1;
    free(alone), free(together[t]);
  }
  ck_assert_msg(resampled > 0, "no self-edit was drawn again: the test proves less than it says");
  close_inner(&f);
}
END_TEST

Suite *inner_suite(void) {
  Suite *s = suite_create("inner");
  TCase *tc = tcase_create("tiny-seal");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, empty_selfedit_scores_zero_without_training);
  tcase_add_test(tc, selfedit_lines_are_trained_with_the_passage);
  tcase_add_test(tc, batched_inner_loops_equal_single_ones);
  tcase_add_test(tc, unusable_selfedits_are_sampled_again);
  tcase_add_test(tc, selfedits_written_together_equal_alone);
  suite_add_tcase(s, tc);
  return s;
}
