/* tests/trainer/test_arc_domain.c — few-shot ARC through the domain interface
 * on the tiny model with a ChatML template (tests/fixtures/tiny-arc): the job's
 * ARC defaults and keys; the guard (more than arc.max_steps optimizer steps,
 * or a configuration that does not parse, trains nothing, with the reason);
 * the plan's loss boundary (output tokens: the final assistant turn only; all
 * tokens: every token); the self-edit's lr and epochs; the conditions without
 * a self-edit; the vote and reward from completions. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator/arc_domain.h"
#include "trainer/inner.h"

typedef struct {
  seal_engine eng;
  seal_job job;
  seal_domain d;
} arc_fixture;

static void open_arc(arc_fixture *f, int max_steps) {
  seal_error e;
  if (seal_job_load("tests/fixtures/tiny-arc/job.yaml", &f->job, &e)) ck_abort_msg("%s", e.msg);
  if (max_steps > 0) ((seal_arc_settings *)f->job.task_settings)->arc.max_steps = max_steps;
  if (seal_engine_open(&f->eng, f->job.model, "cpu", &e)) ck_abort_msg("%s", e.msg);
  if (seal_domain_open(&f->d, f->job.task, f->job.task_settings, "cpu", &e))
    ck_abort_msg("%s", e.msg);
}

static void close_arc(arc_fixture *f) {
  seal_domain_close(&f->d);
  seal_engine_close(&f->eng);
  seal_job_free(&f->job);
}

static void plan(arc_fixture *f, seal_condition_kind kind, const char *selfedit,
                 seal_inner_plan *p) {
  seal_inner_plan_of(&f->job, &f->d, &f->eng, SEAL_SPLIT_TRAIN, 0, kind, selfedit, 5, p);
}

/* A configuration with every group, the strategy and the epochs given. */
static char *config(const char *strategy, int epochs) {
  return seal_asprintf(
      "Sure! {\"data_generation\": {\"use_basic_augmentations\": true, "
      "\"use_size_augmentations\": true, \"use_chain_augmentations\": true, "
      "\"use_repeat_augmentations\": true}, \"training\": {\"strategy\": "
      "\"%s\", \"learning_rate\": 0.003, \"num_train_epochs\": %d}}",
      strategy, epochs);
}

START_TEST(job_takes_the_papers_arc_settings) {
  arc_fixture f;
  open_arc(&f, 0);
  const seal_arc_settings *a = f.job.task_settings;
  ck_assert_str_eq(f.job.task->name, "arc");
  ck_assert_int_eq(a->arc.max_steps, 375);       /* default */
  ck_assert_int_eq(a->arc.max_examples, 8);      /* the job's */
  ck_assert_int_eq(f.job.inner.batch_size, 2);   /* the ARC default */
  ck_assert_int_eq(f.job.inner.warmup_steps, 1); /* the job over the ARC default 11 */
  ck_assert_int_eq(f.job.inner.schedule, SEAL_SCHEDULE_COSINE);
  ck_assert_double_eq_tol(f.job.selfedit.temperature, 0.8, 1e-12);
  ck_assert_int_eq(f.job.rest_em.epochs, 1);
  ck_assert_int_eq(f.d.ops->n_contexts(&f.d, SEAL_SPLIT_TRAIN), 3);
  close_arc(&f);
}
END_TEST

/* 8 examples in batches of 2: epochs * 4 steps against the guard. */
START_TEST(guard_refuses_too_many_steps_and_invalid_configs) {
  arc_fixture f;
  open_arc(&f, 12);
  seal_inner_plan p;
  char *fits = config("train_using_output_tokens", 3), *over = config("train_using_all_tokens", 4);
  plan(&f, SEAL_COND_SELFEDIT, fits, &p); /* 3 * 8 / 2 = 12 steps: the limit itself */
  ck_assert(p.ok);
  ck_assert(p.train);
  ck_assert_int_eq(p.n_ex, 8);
  ck_assert_int_eq(p.hp.epochs, 3);
  ck_assert_double_eq_tol(p.hp.lr, 0.003, 1e-15);
  seal_inner_plan_free(&p);
  plan(&f, SEAL_COND_SELFEDIT, over, &p); /* 16 steps > 12 */
  ck_assert(!p.ok);
  ck_assert_msg(strstr(p.reason, "16 steps > 12"), "reason: %s", p.reason);
  seal_inner_plan_free(&p);
  plan(&f, SEAL_COND_SELFEDIT, "{\"data_generation\": {}}", &p);
  ck_assert(!p.ok);
  ck_assert_int_eq(p.n_ex, 0);
  ck_assert_msg(strlen(p.reason) > 0, "an invalid configuration needs its reason");
  char reason[SEAL_REASON_SIZE] = "";
  ck_assert(
      !f.d.ops->selfedit_usable(&f.d, SEAL_SPLIT_TRAIN, 0, "not json", reason, sizeof reason));
  ck_assert(strlen(reason) > 0);
  ck_assert(f.d.ops->selfedit_usable(&f.d, SEAL_SPLIT_TRAIN, 0, over, reason, sizeof reason));
  /* scored through the inner loop: 0 without training, the reason kept */
  seal_inner_result r;
  uint64_t seed = 5;
  seal_inner_evaluate(&f.eng, &f.d, &f.job, SEAL_SPLIT_TRAIN, 0, SEAL_COND_SELFEDIT,
                      (const char *const *)&over, 1, &seed, &r);
  ck_assert(!r.ok);
  ck_assert_double_eq(r.reward, 0);
  ck_assert_msg(strstr(r.reason, "steps >"), "reason: %s", r.reason);
  seal_inner_result_free(&r);
  free(fits), free(over);
  close_arc(&f);
}
END_TEST

/* Decodes ids[from..n). */
static char *decode_from(const arc_fixture *f, const seal_plan_example *x, int from) {
  return seal_engine_decode(&f->eng, x->ids + from, x->n - from);
}

START_TEST(loss_covers_the_final_assistant_turn_or_every_token) {
  arc_fixture f;
  open_arc(&f, 0);
  char *out_only = config("train_using_output_tokens", 1),
       *all = config("train_using_all_tokens", 1);
  seal_inner_plan p, q;
  plan(&f, SEAL_COND_SELFEDIT, out_only, &p);
  plan(&f, SEAL_COND_SELFEDIT, all, &q);
  ck_assert(p.ok && q.ok);
  ck_assert_int_eq(p.n_ex, q.n_ex);
  int im_end = seal_tokenizer_token_id(f.eng.tok, "<|im_end|>");
  ck_assert_int_ge(im_end, 0);
  for (int j = 0; j < p.n_ex; j++) {
    const seal_plan_example *x = &p.ex[j];
    ck_assert_int_eq(q.ex[j].loss_from, 0);
    ck_assert_int_eq(q.ex[j].n, x->n);
    ck_assert_int_gt(x->loss_from, 0);
    ck_assert_int_lt(x->loss_from, x->n);
    /* the loss part is the answer grid, its "#" and the end of the turn
     * (<|im_end|> is a special token, dropped by decoding: counted by id);
     * the part before it ends with the assistant's header */
    char *tail = decode_from(&f, x, x->loss_from);
    char *head = seal_engine_decode(&f.eng, x->ids, x->loss_from);
    ck_assert_msg(!strncmp(tail, "[[", 2), "loss starts at: %s", tail);
    ck_assert_msg(!strcmp(tail + strlen(tail) - 3, "]#\n"), "loss ends with: %s", tail);
    int ends = 0;
    for (int t = x->loss_from; t < x->n; t++) ends += x->ids[t] == im_end;
    ck_assert_int_eq(ends, 1);
    const char *header = "assistant\n";
    ck_assert(strlen(head) > strlen(header) &&
              !strcmp(head + strlen(head) - strlen(header), header));
    ck_assert_ptr_nonnull(strstr(x->detail_json, "\"messages\""));
    free(tail), free(head);
  }
  seal_inner_plan_free(&p);
  seal_inner_plan_free(&q);
  free(out_only), free(all);
  close_arc(&f);
}
END_TEST

START_TEST(conditions_without_a_selfedit) {
  arc_fixture f;
  open_arc(&f, 0);
  seal_inner_plan p;
  plan(&f, SEAL_COND_BASE, NULL, &p);
  ck_assert(p.ok);
  ck_assert(!p.train);
  ck_assert_int_eq(p.n_ex, 0);
  seal_inner_plan_free(&p);
  plan(&f, SEAL_COND_FIXED, NULL, &p); /* every group, all tokens, the job's arc.fixed */
  ck_assert(p.ok && p.train);
  ck_assert_int_eq(p.n_ex, 8);
  ck_assert_double_eq_tol(p.hp.lr, 1e-2, 1e-15);
  ck_assert_int_eq(p.hp.epochs, 1);
  for (int j = 0; j < p.n_ex; j++) ck_assert_int_eq(p.ex[j].loss_from, 0);
  seal_inner_plan_free(&p);
  close_arc(&f);
}
END_TEST

/* The transform and test input of query q (its detail). */
static seal_arc_op query_xform(const seal_query *q, int *test) {
  *test = strstr(q->detail_json, "\"test_index\":1") ? 1 : 0;
  for (int op = 0; op < SEAL_ARC_N_OPS; op++) {
    char *key = seal_asprintf("\"transform\":\"%s\"", seal_arc_op_name((seal_arc_op)op));
    bool found = strstr(q->detail_json, key) != NULL;
    free(key);
    if (found) return (seal_arc_op)op;
  }
  ck_abort_msg("no transform in %s", q->detail_json);
  return SEAL_ARC_IDENTITY;
}

/* Answers to task 2 (tiny-fill, two test inputs): each the solution under
 * the query's transform, as a model that knows it answers; test 1's answers
 * "no grid" when wrong_second. */
static char **answers(const seal_query *q, int n, bool wrong_second) {
  seal_arc_grid sol[2] = {seal_arc_grid_new(2, 2), seal_arc_grid_new(2, 2)};
  const uint8_t cells[2][4] = {{4, 2, 4, 4}, {6, 4, 4, 6}};
  for (int k = 0; k < 2; k++) memcpy(sol[k].v, cells[k], 4);
  char **ans = seal_calloc((size_t)n, sizeof *ans);
  for (int j = 0; j < n; j++) {
    int test;
    seal_arc_op op = query_xform(&q[j], &test);
    seal_arc_grid g = seal_arc_apply(op, &sol[test]);
    char *text = seal_arc_grid_text(&g);
    ans[j] = test == 1 && wrong_second ? seal_strdup("no grid") : seal_asprintf("%s#", text);
    free(text);
    seal_arc_grid_free(&g);
  }
  for (int k = 0; k < 2; k++) seal_arc_grid_free(&sol[k]);
  return ans;
}

START_TEST(vote_and_reward_from_completions) {
  arc_fixture f;
  open_arc(&f, 0);
  seal_query *q;
  int n = f.d.ops->queries(&f.d, &f.eng, SEAL_SPLIT_EVAL, 2, &q), seen[2] = {0, 0};
  for (int j = 0; j < n; j++) {
    int test;
    query_xform(&q[j], &test);
    seen[test]++;
    ck_assert_int_eq(q[j].max_tokens, 8);
  }
  ck_assert_int_gt(seen[0], 2); /* leave-1 x 2 permutations, then transforms */
  ck_assert_int_gt(seen[1], 2);
  for (int wrong = 0; wrong < 2; wrong++) {
    char **ans = answers(q, n, wrong);
    seal_grade g;
    f.d.ops->grade(&f.d, SEAL_SPLIT_EVAL, 2, q, (const char *const *)ans, n, &g);
    ck_assert_int_eq(g.n_items, 2);
    ck_assert_int_eq(g.n_correct, wrong ? 1 : 2);
    ck_assert_double_eq(g.reward, wrong ? 0 : 1); /* a task needs every test input */
    ck_assert_double_eq_tol(g.metric[1], wrong ? (double)seen[0] / n : 1.0, 1e-12);
    seal_grade_free(&g);
    for (int j = 0; j < n; j++) {
      int test;
      query_xform(&q[j], &test);
      char *c = f.d.ops->canonical_answer(&f.d, SEAL_SPLIT_EVAL, 2, q, j, ans[j]);
      if (wrong && test == 1)
        ck_assert_str_eq(c, "");
      else
        ck_assert_str_eq(c, test ? "test 1: [[6 4]\n [4 6]]" : "test 0: [[4 2]\n [4 4]]");
      free(c);
      free(ans[j]);
    }
    free(ans);
  }
  seal_queries_free(q, n);
  close_arc(&f);
}
END_TEST

Suite *arc_domain_suite(void) {
  Suite *s = suite_create("arc_domain");
  TCase *tc = tcase_create("tiny-arc");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, job_takes_the_papers_arc_settings);
  tcase_add_test(tc, guard_refuses_too_many_steps_and_invalid_configs);
  tcase_add_test(tc, loss_covers_the_final_assistant_turn_or_every_token);
  tcase_add_test(tc, conditions_without_a_selfedit);
  tcase_add_test(tc, vote_and_reward_from_completions);
  suite_add_tcase(s, tc);
  return s;
}
