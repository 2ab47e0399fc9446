/* tests/trainer/test_labelfree_reward.c — the label-free rewards of the inner
 * loop on the tiny real model (knowledge, tests/fixtures/tiny-seal): they read
 * no gold answer, so a copy of the data whose gold answers are replaced (by
 * the model's own answers, which turns the labelled grade up) gives the same
 * label-free rewards to the bit, while the labelled reward beside them
 * changes; and the reward used is the source's, the labelled one recorded
 * beside it, on the train split only. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluator/knowledge_domain.h"
#include "trainer/inner.h"

#define K(j) ((seal_knowledge_settings *)(j).task_settings)
#define EDIT "The salt pans flood in spring.\nRakers wear green hats.\n"

typedef struct {
  seal_engine eng;
  seal_job job;
  seal_domain d;
} lf_fixture;

/* The tiny job with reward.source `source`, over data file `data` (NULL: the
 * fixture's own). */
static void lf_open(lf_fixture *f, seal_reward_source source, const char *data) {
  seal_error e;
  if (seal_job_load("tests/fixtures/tiny-seal/job.yaml", &f->job, &e)) ck_abort_msg("%s", e.msg);
  f->job.reward.source = source;
  f->job.reward.majority_samples = 3;
  if (data) free(K(f->job)->data.train), K(f->job)->data.train = strdup(data);
  if (seal_engine_open(&f->eng, f->job.model, "cpu", &e)) ck_abort_msg("%s", e.msg);
  if (seal_domain_open(&f->d, f->job.task, f->job.task_settings, "cpu", &e))
    ck_abort_msg("%s", e.msg);
}

static void lf_close(lf_fixture *f) {
  seal_domain_close(&f->d);
  seal_engine_close(&f->eng);
  seal_job_free(&f->job);
}

static seal_inner_result lf_inner(lf_fixture *f, seal_split s, const char *edit) {
  seal_inner_result r;
  uint64_t seed = 5;
  seal_inner_evaluate(&f->eng, &f->d, &f->job, s, 0, SEAL_COND_SELFEDIT, &edit, 1, &seed, &r);
  return r;
}

/* A copy of the fixture's data in dir whose passage-0 gold answers are the
 * answers of grade detail `detail` (the model's own). Returns its path. */
static char *corrupted_data(const char *dir, const char *detail) {
  json_error_t je;
  json_t *data = json_load_file("tests/fixtures/tiny-seal/data.json", 0, &je);
  json_t *answers = json_loads(detail, 0, &je);
  ck_assert_ptr_nonnull(data);
  ck_assert_ptr_nonnull(answers);
  json_t *qs = json_object_get(json_array_get(data, 0), "questions");
  for (size_t j = 0; j < json_array_size(qs); j++) {
    const char *a = json_string_value(json_object_get(json_array_get(answers, j), "answer"));
    json_object_set_new(json_array_get(qs, j), "answer", json_string(a && *a ? a : "zzz"));
  }
  char *path = malloc(strlen(dir) + 16);
  sprintf(path, "%s/data.json", dir);
  ck_assert_int_eq(json_dump_file(data, path, 0), 0);
  json_decref(data);
  json_decref(answers);
  return path;
}

static void same_signals(const seal_labelfree_signals *a, const seal_labelfree_signals *b) {
  ck_assert(memcmp(&a->self_certainty, &b->self_certainty, sizeof(double)) == 0);
  ck_assert(memcmp(&a->entropy, &b->entropy, sizeof(double)) == 0);
  ck_assert(memcmp(&a->majority, &b->majority, sizeof(double)) == 0);
}

static void gold_answers_are_never_read(seal_reward_source source) {
  lf_fixture f;
  lf_open(&f, source, NULL);
  seal_inner_result r = lf_inner(&f, SEAL_SPLIT_TRAIN, EDIT);
  ck_assert(r.ok);
  ck_assert_ptr_nonnull(r.grade.detail_json);
  char dir[] = "/tmp/seal-labelfree-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = corrupted_data(dir, r.grade.detail_json);
  lf_fixture g;
  lf_open(&g, source, path);
  seal_inner_result c = lf_inner(&g, SEAL_SPLIT_TRAIN, EDIT);
  /* the corruption reached the grade ... */
  ck_assert_msg(c.label_reward > r.label_reward,
                "labelled reward %g with the model's answers as "
                "gold, %g with the real ones",
                c.label_reward, r.label_reward);
  /* ... and not the label-free reward */
  ck_assert(isfinite(r.reward));
  ck_assert(memcmp(&r.reward, &c.reward, sizeof(double)) == 0);
  same_signals(&r.signals, &c.signals);
  seal_inner_result_free(&r), seal_inner_result_free(&c);
  lf_close(&g), lf_close(&f);
  unlink(path), rmdir(dir);
  free(path);
}

START_TEST(self_certainty_reads_no_gold_answer) {
  gold_answers_are_never_read(SEAL_REWARD_SELF_CERTAINTY);
}
END_TEST

START_TEST(majority_reads_no_gold_answer) { gold_answers_are_never_read(SEAL_REWARD_MAJORITY); }
END_TEST

/* Which reward is used, and what is recorded beside it. */
START_TEST(reward_is_the_sources_on_train_only) {
  lf_fixture f;
  lf_open(&f, SEAL_REWARD_ENTROPY, NULL);
  seal_inner_result r = lf_inner(&f, SEAL_SPLIT_TRAIN, EDIT);
  ck_assert(r.signals.entropy > 0 && r.signals.self_certainty > 0);
  ck_assert(isnan(r.signals.majority)); /* not the source: not sampled */
  ck_assert_double_eq(r.reward, -r.signals.entropy);
  ck_assert_double_eq(r.label_reward, r.grade.reward);
  /* evaluation measures against the truth, whatever the source */
  seal_inner_result v = lf_inner(&f, SEAL_SPLIT_EVAL, EDIT);
  ck_assert_double_eq(v.reward, v.label_reward);
  ck_assert(isnan(v.signals.entropy));
  /* an unusable self-edit gets the source's worst reward, -log V */
  seal_inner_result u = lf_inner(&f, SEAL_SPLIT_TRAIN, "");
  ck_assert(!u.ok);
  ck_assert_double_eq_tol(u.reward, -log((double)f.eng.model.cfg.vocab_size), 1e-12);
  ck_assert_double_eq(u.label_reward, 0.0);
  seal_inner_result_free(&r), seal_inner_result_free(&v), seal_inner_result_free(&u);
  lf_close(&f);
  /* with labels the signals are still measured, the reward is the grade;
   * reward.signals all adds the vote */
  lf_open(&f, SEAL_REWARD_LABELS, NULL);
  r = lf_inner(&f, SEAL_SPLIT_TRAIN, EDIT);
  ck_assert_double_eq(r.reward, r.label_reward);
  ck_assert(r.signals.self_certainty > 0);
  ck_assert(isnan(r.signals.majority));
  f.job.reward.signals = SEAL_SIGNALS_ALL;
  seal_inner_result all = lf_inner(&f, SEAL_SPLIT_TRAIN, EDIT);
  ck_assert(all.signals.majority > 0 && all.signals.majority <= 1);
  ck_assert_double_eq(all.reward, all.label_reward);
  ck_assert_double_eq(all.signals.self_certainty, r.signals.self_certainty);
  f.job.reward.signals = SEAL_SIGNALS_NONE; /* nothing measured beyond the grade */
  seal_inner_result none = lf_inner(&f, SEAL_SPLIT_TRAIN, EDIT);
  ck_assert(isnan(none.signals.self_certainty) && isnan(none.signals.majority));
  ck_assert_double_eq(none.reward, r.reward);
  seal_inner_result_free(&r), seal_inner_result_free(&all), seal_inner_result_free(&none);
  lf_close(&f);
}
END_TEST

Suite *labelfree_reward_suite(void) {
  Suite *s = suite_create("labelfree_reward");
  TCase *tc = tcase_create("labelfree_reward");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, self_certainty_reads_no_gold_answer);
  tcase_add_test(tc, majority_reads_no_gold_answer);
  tcase_add_test(tc, reward_is_the_sources_on_train_only);
  suite_add_tcase(s, tc);
  return s;
}
