/* tests/trainer/test_item_cost.c — the work items' expected costs
 * (trainer/item_cost.h), by which the queue hands the costliest out first, on
 * the tiny knowledge job (tests/fixtures/tiny-seal): training costs its plan's
 * tokens and steps times its epochs, so a self-edit with more lines costs more, and one
 * with nothing to train on (or the base condition) trains for nothing; seal
 * eval's conditions rank self-edit (writes, trains, answers) over passage
 * (trains, answers) over base (answers); writing k self-edits costs k times
 * one. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/item_cost.h"

static seal_job job;
static seal_run run;

static void open_tiny_run(void) {
  seal_error e;
  ck_assert_msg(seal_job_load("tests/fixtures/tiny-seal/job.yaml", &job, &e) == 0, "%s", e.msg);
  memset(&run, 0, sizeof run);
  run.job = &job;
  ck_assert_msg(seal_engine_open(&run.eng, job.model, "cpu", &e) == 0, "%s", e.msg);
  run.student = &run.eng; /* no teacher: the policy learns itself */
  ck_assert_msg(seal_domain_open(&run.domain, job.task, job.task_settings, "cpu", &e) == 0, "%s",
                e.msg);
}

static void close_tiny_run(void) {
  seal_domain_close(&run.domain);
  seal_engine_close(&run.eng);
  seal_job_free(&job);
}

/* One epoch of context i's plan under a condition, counted from the plan: its
 * tokens and its steps (batch 1 in the job: one per example). */
static double plan_epoch(int i, seal_condition_kind kind, const char *selfedit) {
  seal_inner_plan p;
  seal_inner_plan_of(&job, &run.domain, run.student, SEAL_SPLIT_TRAIN, i, kind, selfedit, 1, &p);
  ck_assert_int_eq(p.hp.batch_size, 1);
  double n = SEAL_COST_STEP * p.n_ex;
  for (int j = 0; j < p.n_ex; j++) n += p.ex[j].n;
  seal_inner_plan_free(&p);
  return n;
}

static const char short_edit[] = "Ilse Marrow mapped the tidal flats in 1761.\n";
static const char long_edit[] =
    "Ilse Marrow mapped the tidal flats in 1761.\nThe pans flood only during spring tides.\n"
    "Rakers wear green felt hats.\nSalt is gathered in forty-two pans.\n";

START_TEST(training_costs_the_plans_tokens_and_steps_times_its_epochs) {
  open_tiny_run();
  double s = seal_cost_train(&run, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT, short_edit, 1);
  double l = seal_cost_train(&run, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT, long_edit, 1);
  ck_assert_double_eq(s, job.inner.epochs * plan_epoch(0, SEAL_COND_SELFEDIT, short_edit));
  ck_assert_double_eq(l, job.inner.epochs * plan_epoch(0, SEAL_COND_SELFEDIT, long_edit));
  ck_assert_double_gt(l, s); /* more lines, more to train on: handed out first */
  /* the epochs multiply: twice as many, twice the cost */
  job.inner.epochs *= 2;
  ck_assert_double_eq(seal_cost_train(&run, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT, short_edit, 1),
                      2 * s);
  job.inner.epochs /= 2;
  /* what trains nothing costs nothing to train: base, and a self-edit without a line */
  ck_assert_double_eq(seal_cost_train(&run, SEAL_SPLIT_TRAIN, 0, SEAL_COND_BASE, NULL, 1), 0);
  ck_assert_double_eq(seal_cost_train(&run, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT, "", 1), 0);
  close_tiny_run();
}
END_TEST

START_TEST(an_unwritten_selfedit_costs_the_passage_and_one_step_of_its_most_tokens) {
  open_tiny_run();
  double fixed = seal_cost_train(&run, SEAL_SPLIT_EVAL, 1, SEAL_COND_FIXED, NULL, 1);
  ck_assert_double_gt(fixed, 0);
  ck_assert_double_eq(seal_cost_train_unwritten(&run, SEAL_SPLIT_EVAL, 1, 1),
                      fixed + (job.selfedit.max_tokens + SEAL_COST_STEP) * job.inner.epochs);
  close_tiny_run();
}
END_TEST

START_TEST(eval_conditions_rank_selfedit_over_passage_over_base) {
  open_tiny_run();
  for (int i = 0; i < 2; i++) {
    double answer = seal_cost_answer(&run, SEAL_SPLIT_EVAL, i);
    ck_assert_double_gt(answer, 0);
    double base = answer;
    double passage = answer + seal_cost_train(&run, SEAL_SPLIT_EVAL, i, SEAL_COND_FIXED, NULL, 1);
    double selfedit = answer + seal_cost_write(&run, SEAL_SPLIT_EVAL, i, 1) +
                      seal_cost_train_unwritten(&run, SEAL_SPLIT_EVAL, i, 1);
    ck_assert_double_gt(passage, base);
    ck_assert_double_gt(selfedit, passage);
  }
  close_tiny_run();
}
END_TEST

START_TEST(writing_k_selfedits_costs_k_times_one) {
  open_tiny_run();
  double one = seal_cost_write(&run, SEAL_SPLIT_TRAIN, 2, 1);
  /* at least its decoded tokens: the prompt adds to them */
  ck_assert_double_gt(one, job.selfedit.max_tokens * SEAL_COST_DECODED_TOKEN);
  ck_assert_double_eq_tol(seal_cost_write(&run, SEAL_SPLIT_TRAIN, 2, 3), 3 * one, 1e-9 * one);
  close_tiny_run();
}
END_TEST

Suite *item_cost_suite(void) {
  Suite *s = suite_create("item_cost");
  TCase *tc = tcase_create("tiny-seal");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, training_costs_the_plans_tokens_and_steps_times_its_epochs);
  tcase_add_test(tc, an_unwritten_selfedit_costs_the_passage_and_one_step_of_its_most_tokens);
  tcase_add_test(tc, eval_conditions_rank_selfedit_over_passage_over_base);
  tcase_add_test(tc, writing_k_selfedits_costs_k_times_one);
  suite_add_tcase(s, tc);
  return s;
}
