/* tests/trainer/test_resume_check.c — seal_run_check_resume (issue 11): a
 * checkpoint continues only under the job and model that made it. Settings that
 * may change (rounds, output, device, paths, evaluation) pass; the others, the
 * model's dims and hash, the data's hash and out-of-range self-edit ids are
 * refused with every difference listed. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/knowledge_domain.h"
#include "trainer/resume_check.h"

static seal_job job;
static seal_run run;

/* The tiny fixture's data: 6 passages. */
static const char job_yaml[] =
    "model: tests/fixtures/tiny-seal\n"
    "seed: 7\n"
    "repeats: 2\n"
    "output: runs/x\n"
    "data: {train: tests/fixtures/tiny-seal/data.json, eval: tests/fixtures/tiny-seal/data.json}\n"
    "selfedit: {k: 2}\n";

static seal_knowledge_settings *knowledge(seal_job *j) { return j->task_settings; }

/* A run open on a job like the tiny fixture's, over its 6 passages. */
static void open_run(void) {
  seal_error e = {{0}};
  ck_assert_msg(seal_job_parse(job_yaml, "resume.yaml", &job, &e) == 0, "%s", e.msg);
  memset(&run, 0, sizeof run);
  run.job = &job;
  run.ckpt_path = "runs/x/checkpoint.h5";
  ck_assert_msg(seal_domain_open(&run.domain, job.task, job.task_settings, "cpu", &e) == 0, "%s",
                e.msg);
  seal_run_state_init(&run.st);
  char *yaml = seal_job_to_yaml(&job);
  seal_run_state_set_string(&run.st.job_yaml, yaml);
  free(yaml);
  run.st.run_seed = job.seed;
  snprintf(run.st.architecture, sizeof run.st.architecture, "llama");
  run.st.hidden = 64, run.st.n_layers = 2, run.st.n_heads = 4, run.st.n_kv_heads = 2;
  run.st.vocab_size = 300, run.st.intermediate = 128;
  snprintf(run.st.model_fnv1a, sizeof run.st.model_fnv1a, "00112233aabbccdd");
  snprintf(run.st.train_fnv1a, sizeof run.st.train_fnv1a, "0000000000000001");
}

static void close_run(void) {
  seal_domain_close(&run.domain);
  seal_run_state_free(&run.st);
  seal_job_free(&job);
}

/* A checkpoint of `made` (the job it was made with) and the run's model. */
static void checkpoint_of(const seal_job *made, seal_run_state *ck) {
  seal_run_state_init(ck);
  char *yaml = seal_job_to_yaml(made);
  seal_run_state_set_string(&ck->job_yaml, yaml);
  free(yaml);
  ck->run_seed = made->seed;
  memcpy(ck->architecture, run.st.architecture, sizeof ck->architecture);
  ck->hidden = run.st.hidden, ck->n_layers = run.st.n_layers, ck->n_heads = run.st.n_heads;
  ck->n_kv_heads = run.st.n_kv_heads, ck->vocab_size = run.st.vocab_size;
  ck->intermediate = run.st.intermediate;
  memcpy(ck->model_fnv1a, run.st.model_fnv1a, sizeof ck->model_fnv1a);
  memcpy(ck->train_fnv1a, run.st.train_fnv1a, sizeof ck->train_fnv1a);
}

/* The checkpoint must be refused with every one of the expected lines. */
static void expect_refused(const seal_run_state *ck, const char *const *want, int n_want) {
  seal_error e = {{0}};
  ck_assert_int_eq(seal_run_check_resume(&run, ck, &e), -1);
  ck_assert_msg(
      strstr(e.msg, "runs/x/checkpoint.h5: the checkpoint was made by another job") != NULL, "%s",
      e.msg);
  for (int i = 0; i < n_want; i++)
    ck_assert_msg(strstr(e.msg, want[i]) != NULL, "expected '%s' in: %s", want[i], e.msg);
}

START_TEST(the_same_job_and_model_resume) {
  open_run();
  seal_run_state ck;
  checkpoint_of(&job, &ck);
  seal_run_state_add_selfedit(&ck, 0,
                              &(seal_selfedit_record){.context_id = 2,
                                                      .sample = 1,
                                                      .repeat = 1,
                                                      .reward = 0.5,
                                                      .label_reward = NAN,
                                                      .ok = 1,
                                                      .attempts = 1,
                                                      .reason = "",
                                                      .metrics = "{}",
                                                      .text = "x"});
  seal_error e = {{0}};
  ck_assert_msg(seal_run_check_resume(&run, &ck, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_run_check_model(&run, &ck, &e) == 0, "%s", e.msg);
  seal_run_state_free(&ck);
  close_run();
}
END_TEST

/* More rounds, another output and device (the model's and the teacher's),
 * moved model and data, other evaluation settings: all allowed. */
START_TEST(settings_that_may_change_do_not_matter) {
  open_run();
  seal_job made = job;
  made.rounds = 1, made.device = SEAL_DEVICE_CUDA, made.teacher_device = SEAL_TEACHER_DEVICE_CPU;
  made.output = (char *)"runs/elsewhere", made.model = (char *)"/old/place/model";
  made.data.n_eval = 9;
  seal_knowledge_settings moved = *knowledge(&job);
  moved.data.train = (char *)"/old/train.json", moved.data.eval = (char *)"/old/eval.json";
  moved.cpt.epochs = 99;
  made.task_settings = &moved;
  made.evaluation.protocols |= 1u << SEAL_PROTOCOL_CPT;
  seal_run_state ck;
  checkpoint_of(&made, &ck);
  snprintf(ck.model_device, sizeof ck.model_device, "cuda:0"); /* where it ran then */
  seal_error e = {{0}};
  ck_assert_msg(seal_run_check_resume(&run, &ck, &e) == 0, "%s", e.msg);
  seal_run_state_free(&ck);
  close_run();
}
END_TEST

START_TEST(work_shaping_settings_are_listed) {
  open_run();
  seal_job made = job;
  made.selfedit.k = 3, made.inner.lr = 0.5, made.inner.group = 2, made.seed = 8;
  seal_run_state ck;
  checkpoint_of(&made, &ck);
  const char *want[] = {"(4 differences)", "selfedit.k: 3 in the checkpoint, 2 in the job",
                        "inner_loop.lr: 0.5 in the checkpoint, 0.001 in the job",
                        "inner_loop.group: 2 in the checkpoint, 1 in the job",
                        "seed: 8 in the checkpoint, 7 in the job"};
  expect_refused(&ck, want, 5);
  seal_run_state_free(&ck);
  close_run();
}
END_TEST

START_TEST(another_model_or_data_is_refused) {
  open_run();
  seal_run_state ck;
  checkpoint_of(&job, &ck);
  ck.hidden = 96;
  snprintf(ck.model_fnv1a, sizeof ck.model_fnv1a, "ffffffffffffffff");
  snprintf(ck.train_fnv1a, sizeof ck.train_fnv1a, "0000000000000002");
  const char *want[] = {"model hidden size: 96 in the checkpoint, 64 in the job",
                        "the model files' hash (fnv1a64): ffffffffffffffff in the checkpoint, "
                        "00112233aabbccdd in the job",
                        "data.train's hash (fnv1a64): 0000000000000002"};
  expect_refused(&ck, want, 3);
  seal_error e = {{0}};
  ck_assert_int_eq(seal_run_check_model(&run, &ck, &e), -1); /* seal eval's check */
  ck_assert_msg(strstr(e.msg, "model hidden size") && !strstr(e.msg, "data.train"), "%s", e.msg);
  /* a checkpoint of an older seal has no hashes: not compared */
  ck.hidden = 64;
  ck.model_fnv1a[0] = ck.train_fnv1a[0] = '\0';
  ck_assert_msg(seal_run_check_resume(&run, &ck, &e) == 0, "%s", e.msg);
  seal_run_state_free(&ck);
  close_run();
}
END_TEST

/* Ids the rounds would index with: a passage past data.train, a sample past k,
 * a repeat past repeats. */
START_TEST(self_edit_ids_out_of_the_job_are_refused) {
  const seal_selfedit_record bad[] = {{.context_id = 6,
                                       .sample = 0,
                                       .repeat = 0,
                                       .reward = 0.5,
                                       .label_reward = NAN,
                                       .ok = 1,
                                       .attempts = 1,
                                       .reason = "",
                                       .metrics = "{}",
                                       .text = "passage 6 of 6"},
                                      {.context_id = 0,
                                       .sample = 2,
                                       .repeat = -1,
                                       .reward = 0.5,
                                       .label_reward = NAN,
                                       .ok = 1,
                                       .attempts = 1,
                                       .reason = "",
                                       .metrics = "{}",
                                       .text = "sample 2 of k = 2"},
                                      {.context_id = 0,
                                       .sample = 0,
                                       .repeat = 2,
                                       .reward = 0.5,
                                       .label_reward = NAN,
                                       .ok = 1,
                                       .attempts = 1,
                                       .reason = "",
                                       .metrics = "{}",
                                       .text = "repeat 2 of 2"}};
  for (int i = 0; i < 3; i++) {
    open_run();
    seal_run_state ck;
    checkpoint_of(&job, &ck);
    seal_run_state_add_selfedit(&ck, 1, &bad[i]);
    const char *want[] = {"self-edit 0 of round 1", "6 contexts, k = 2, repeats = 2"};
    expect_refused(&ck, want, 2);
    seal_run_state_free(&ck);
    close_run();
  }
}
END_TEST

START_TEST(many_differences_are_counted) {
  open_run();
  seal_job made = job;
  made.selfedit.k = 9, made.selfedit.max_tokens = 9, made.selfedit.top_p = 0.5;
  made.inner.epochs = 9, made.inner.batch_size = 9;
  seal_knowledge_settings longer = *knowledge(&job);
  longer.answer.max_tokens = 9;
  made.task_settings = &longer;
  made.rest_em.epochs = 9, made.rest_em.batch_size = 9;
  seal_run_state ck;
  checkpoint_of(&made, &ck);
  const char *want[] = {"(8 differences)", "and 2 more"};
  expect_refused(&ck, want, 2);
  seal_run_state_free(&ck);
  close_run();
}
END_TEST

Suite *resume_check_suite(void) {
  Suite *s = suite_create("resume_check");
  TCase *tc = tcase_create("resume_check");
  tcase_add_test(tc, the_same_job_and_model_resume);
  tcase_add_test(tc, settings_that_may_change_do_not_matter);
  tcase_add_test(tc, work_shaping_settings_are_listed);
  tcase_add_test(tc, another_model_or_data_is_refused);
  tcase_add_test(tc, self_edit_ids_out_of_the_job_are_refused);
  tcase_add_test(tc, many_differences_are_counted);
  suite_add_tcase(s, tc);
  return s;
}
