/* tests/trainer/test_teacher_tokens.c — a teacher with a tokenizer of its own
 * (docs/teacher.md, "The self-edit is text"): tests/fixtures/tiny-teacher-tok,
 * whose 300 ids are a shuffled cut of the student's (tests/fixtures/tiny-seal)
 * 512, writes the self-edits; the student learns them. The token ids each side
 * sees are checked, through the run's own phase functions (trainer/run.h) on a
 * run that holds the two engines as seal_run_open does:
 *
 *   GENERATE: the self-edit is the teacher's sampled ids decoded by the
 *     teacher's tokenizer (the same ids mean other text to the student's);
 *   EVALUATE: the student's training examples are the text re-encoded by the
 *     student's tokenizer, and the run trains the student on them;
 *   UPDATE: the policy's examples are the teacher's prompt and the self-edit
 *     in the teacher's ids, ending in the teacher's end token (299; the
 *     student's is 0). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/run.h"
#include "trainer/seeds.h"

#define TEACHER "tests/fixtures/tiny-teacher-tok"
#define TEACHER_EOS 299 /* <|endoftext|>, last of the teacher's 300 ids */
#define STUDENT_EOS 0

static seal_job job;
static seal_run run;

/* tests/fixtures/tiny-seal's job with `teacher: TEACHER`, both engines and the
 * task opened on the cpu, wired as seal_run_open wires them. */
static void open_teacher_run(void) {
  seal_error e;
  char *yaml = seal_read_file("tests/fixtures/tiny-seal/job.yaml", NULL, &e);
  ck_assert_msg(yaml, "%s", e.msg);
  char *with = seal_asprintf("%s\nteacher: " TEACHER "\n", yaml);
  free(yaml);
  ck_assert_msg(seal_job_parse(with, "teacher.yaml", &job, &e) == 0, "%s", e.msg);
  free(with);
  memset(&run, 0, sizeof run);
  run.job = &job;
  ck_assert_msg(seal_engine_open(&run.eng, job.teacher, "cpu", &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_engine_open(&run.student_eng, job.model, "cpu", &e) == 0, "%s", e.msg);
  run.student = &run.student_eng;
  ck_assert_msg(seal_domain_open(&run.domain, job.task, job.task_settings, "cpu", &e) == 0, "%s",
                e.msg);
}

static void close_teacher_run(void) {
  seal_domain_close(&run.domain);
  seal_engine_close(&run.student_eng);
  seal_engine_close(&run.eng);
  seal_job_free(&job);
}

static bool same_ids(const int32_t *a, int na, const int32_t *b, int nb) {
  return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

/* The fixture is what the tests need: the same text is other ids on each side,
 * and each side decodes its own ids back to the text. */
START_TEST(the_two_tokenizers_differ) {
  open_teacher_run();
  const char *text = "The salt pans of Wenmouth flood in spring.";
  int32_t *t, *s;
  int nt = seal_engine_encode(&run.eng, text, &t), ns = seal_engine_encode(run.student, text, &s);
  ck_assert_int_gt(nt, ns); /* 200 merges against 412: more, shorter pieces */
  ck_assert(!same_ids(t, nt, s, ns));
  char *back_t = seal_engine_decode(&run.eng, t, nt),
       *back_s = seal_engine_decode(run.student, s, ns);
  ck_assert_str_eq(back_t, text);
  ck_assert_str_eq(back_s, text);
  ck_assert_int_eq(run.eng.model.cfg.vocab_size, 300);
  ck_assert_int_eq(run.student->model.cfg.vocab_size, 512);
  ck_assert_int_eq(run.eng.model.cfg.eos_ids[0], TEACHER_EOS);
  ck_assert_int_eq(run.student->model.cfg.eos_ids[0], STUDENT_EOS);
  free(t), free(s), free(back_t), free(back_s);
  close_teacher_run();
}
END_TEST

/* GENERATE: each self-edit of seal_run_write_selfedits is the teacher's
 * completion (prompt in the teacher's template and ids, the job's sampling,
 * the item's seed) decoded by the teacher; the student's tokenizer reads the
 * same ids as other text. */
START_TEST(the_teacher_writes_and_decodes_with_its_own_tokenizer) {
  open_teacher_run();
  int context = 1, round = 0;
  seal_selfedit_batch b;
  seal_run_write_selfedits(&run, round, &context, 1, &b);
  ck_assert_int_eq(b.k, job.selfedit.k);
  char *prompt =
      run.domain.ops->selfedit_prompt(&run.domain, &run.eng, SEAL_SPLIT_TRAIN, context, NULL);
  seal_sampling smp = {.temperature = (float)job.selfedit.temperature,
                       .top_p = (float)job.selfedit.top_p,
                       .max_new_tokens = job.selfedit.max_tokens};
  int checked = 0;
  for (int s = 0; s < b.k; s++) {
    if (b.attempts[s] != 1) continue; /* resampled: drawn with another seed */
    uint64_t seed = seal_item_seed(job.seed, round, context, s, SEAL_STREAM_GENERATE);
    const char *prompts[1] = {prompt};
    char *text;
    seal_generation gen;
    seal_engine_complete_gens(&run.eng, NULL, prompts, 1, &smp, &seed, NULL, &text, &gen);
    ck_assert_int_gt(gen.n, 0);
    ck_assert_str_eq(b.texts[s], text);
    char *by_teacher = seal_engine_decode(&run.eng, gen.ids, gen.n);
    char *by_student = seal_engine_decode(run.student, gen.ids, gen.n);
    ck_assert_str_eq(b.texts[s], by_teacher);
    ck_assert_str_ne(b.texts[s], by_student);
    free(by_teacher), free(by_student), free(text);
    seal_generation_free(&gen, 1);
    checked++;
  }
  ck_assert_int_gt(checked, 0);
  free(prompt);
  seal_selfedit_batch_free(&b);
  close_teacher_run();
}
END_TEST

/* EVALUATE: the student's plan of a teacher-written text holds the student's
 * ids of each example's text (not the teacher's), and seal_run_learn_selfedits
 * trains the student: what the inner loop on the student alone gives, not what
 * the same loop on the teacher would. */
START_TEST(the_student_learns_the_text_through_its_own_tokenizer) {
  open_teacher_run();
  int context = 0, round = 1;
  const char *edit = "The salt pans flood in spring.\nRakers wear green hats.\n";
  seal_inner_plan plan;
  seal_inner_plan_of(&job, &run.domain, run.student, SEAL_SPLIT_TRAIN, context, SEAL_COND_SELFEDIT,
                     edit, 3, &plan);
  ck_assert_int_eq(plan.n_from_selfedit, 2);
  for (int i = 0; i < plan.n_ex; i++) {
    const seal_plan_example *x = &plan.ex[i];
    int32_t *s, *t;
    int ns = seal_engine_encode_prompt(run.student, x->text, &s);
    int nt = seal_engine_encode_prompt(&run.eng, x->text, &t);
    ck_assert_msg(same_ids(x->ids, x->n, s, ns), "example %d is not the student's ids", i);
    ck_assert(!same_ids(x->ids, x->n, t, nt));
    free(s), free(t);
  }
  seal_inner_plan_free(&plan);

  seal_evaluate_pair pair = {.sample = 1, .repeat = 0, .text = (char *)edit};
  seal_inner_result got, student, teacher;
  seal_run_learn_selfedits(&run, round, context, &pair, 1, &got);
  uint64_t seed = seal_item_seed(job.seed, round, context, 1, SEAL_STREAM_EVALUATE + 0);
  seal_inner_evaluate(run.student, &run.domain, &job, SEAL_SPLIT_TRAIN, context, SEAL_COND_SELFEDIT,
                      &edit, 1, &seed, &student);
  seal_inner_evaluate(&run.eng, &run.domain, &job, SEAL_SPLIT_TRAIN, context, SEAL_COND_SELFEDIT,
                      &edit, 1, &seed, &teacher);
  ck_assert_int_eq(got.ok, 1);
  ck_assert(isfinite(got.first_loss) && isfinite(got.last_loss));
  ck_assert_double_eq(got.first_loss, student.first_loss);
  ck_assert_double_eq(got.last_loss, student.last_loss);
  ck_assert(got.first_loss != teacher.first_loss);
  seal_inner_result_free(&got), seal_inner_result_free(&student), seal_inner_result_free(&teacher);
  close_teacher_run();
}
END_TEST

/* UPDATE: the policy's example of a kept self-edit is the teacher's prompt ids,
 * then the self-edit's teacher ids (loss from there), then the teacher's end
 * token. */
START_TEST(the_policy_update_tokenizes_with_the_teacher) {
  open_teacher_run();
  const char *edit = "Ilse Marrow mapped the flats in 1761.";
  seal_kept item = {.context = 2, .sample = 0, .mean = 1, .text = (char *)edit};
  seal_kept_list kept = {.n = 1, .items = &item};
  seal_sft_example ex;
  seal_run_update_examples(&run, &kept, &ex);
  char *prompt = run.domain.ops->selfedit_prompt(&run.domain, &run.eng, SEAL_SPLIT_TRAIN, 2, NULL);
  int32_t *p, *c, *sc;
  int np = seal_engine_encode_prompt(&run.eng, prompt, &p),
      nc = seal_engine_encode(&run.eng, edit, &c);
  int nsc = seal_engine_encode(run.student, edit, &sc);
  ck_assert_int_eq(ex.n, np + nc + 1);
  ck_assert_int_eq(ex.loss_from, np);
  ck_assert(same_ids(ex.ids, np, p, np));
  ck_assert(same_ids(ex.ids + np, nc, c, nc));
  ck_assert(!same_ids(ex.ids + np, nc, sc, nsc));
  ck_assert_int_eq(ex.ids[ex.n - 1], TEACHER_EOS);
  for (int i = 0; i < ex.n; i++) ck_assert_int_lt(ex.ids[i], 300);
  free(p), free(c), free(sc), free(prompt), free((void *)ex.ids);
  close_teacher_run();
}
END_TEST

Suite *teacher_tokens_suite(void) {
  Suite *s = suite_create("teacher_tokens");
  TCase *tc = tcase_create("tiny-teacher-tok");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, the_two_tokenizers_differ);
  tcase_add_test(tc, the_teacher_writes_and_decodes_with_its_own_tokenizer);
  tcase_add_test(tc, the_student_learns_the_text_through_its_own_tokenizer);
  tcase_add_test(tc, the_policy_update_tokenizes_with_the_teacher);
  suite_add_tcase(s, tc);
  return s;
}
