/* tests/trainer/test_inner.c — the inner loop on the tiny real model: a
 * self-edit with nothing to train on scores zero without training; one with
 * lines trains on each line plus the passage and is graded. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "trainer/inner.h"

typedef struct {
  seal_engine eng;
  seal_job job;
  seal_squad data;
  seal_qa_config qa;
} inner_fixture;

static void open_inner(inner_fixture *f) {
  seal_error e;
  if (seal_job_load("tests/fixtures/tiny-seal/job.yaml", &f->job, &e)) ck_abort_msg("%s", e.msg);
  if (seal_engine_open(&f->eng, f->job.model, "cpu", &e)) ck_abort_msg("%s", e.msg);
  if (seal_squad_load(f->job.data.train, &f->data, &e)) ck_abort_msg("%s", e.msg);
  f->qa = seal_job_qa_config(&f->job, NULL);
}

static void close_inner(inner_fixture *f) {
  seal_squad_free(&f->data);
  seal_engine_close(&f->eng);
  seal_job_free(&f->job);
}

START_TEST(empty_selfedit_scores_zero_without_training) {
  inner_fixture f;
  open_inner(&f);
  const char *empties[] = {"", "   \n\n", "---\n \n---"};
  for (int i = 0; i < 3; i++) {
    seal_inner_result r;
    seal_inner_evaluate(&f.eng, &f.job, &f.qa, &f.data.passages[0], SEAL_TRAIN_SELFEDIT, empties[i],
                        1, &r);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_double_eq(r.reward, 0.0);
    ck_assert(isnan(r.last_loss)); /* nothing was trained */
  }
  close_inner(&f);
}
END_TEST

START_TEST(selfedit_lines_are_trained_with_the_passage) {
  inner_fixture f;
  open_inner(&f);
  seal_inner_result r;
  seal_inner_evaluate(&f.eng, &f.job, &f.qa, &f.data.passages[0], SEAL_TRAIN_SELFEDIT,
                      "The salt pans flood in spring.\nRakers wear green hats.\n", 5, &r);
  ck_assert_int_eq(r.ok, 1);
  ck_assert_int_eq(r.n_sequences, 3); /* two lines + the passage */
  ck_assert(isfinite(r.first_loss) && isfinite(r.last_loss));
  ck_assert(r.reward >= 0.0 && r.reward <= 1.0);
  /* the same seed gives the same result: items do not depend on who runs them */
  seal_inner_result again;
  seal_inner_evaluate(&f.eng, &f.job, &f.qa, &f.data.passages[0], SEAL_TRAIN_SELFEDIT,
                      "The salt pans flood in spring.\nRakers wear green hats.\n", 5, &again);
  ck_assert_double_eq(r.last_loss, again.last_loss);
  ck_assert_double_eq(r.reward, again.reward);
  /* the passage alone: one sequence */
  seal_inner_result p;
  seal_inner_evaluate(&f.eng, &f.job, &f.qa, &f.data.passages[0], SEAL_TRAIN_PASSAGE, NULL, 5, &p);
  ck_assert_int_eq(p.ok, 1);
  ck_assert_int_eq(p.n_sequences, 1);
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
  seal_inner_evaluate_many(&f.eng, &f.job, &f.qa, &f.data.passages[0], edits, 3, seeds, many);
  for (int i = 0; i < 3; i++) {
    seal_inner_result one;
    seal_inner_evaluate(&f.eng, &f.job, &f.qa, &f.data.passages[0], SEAL_TRAIN_SELFEDIT, edits[i],
                        seeds[i], &one);
    ck_assert_int_eq(many[i].ok, one.ok);
    ck_assert_int_eq(many[i].n_sequences, one.n_sequences);
    ck_assert_double_eq(many[i].reward, one.reward);
    if (one.ok)
      ck_assert_msg(fabs(many[i].last_loss - one.last_loss) <= 1e-4 * fabs(one.last_loss),
                    "self-edit %d: last loss %g batched, %g alone", i, many[i].last_loss,
                    one.last_loss);
    else
      ck_assert(isnan(many[i].last_loss) && many[i].reward == 0.0);
  }
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
  suite_add_tcase(s, tc);
  return s;
}
