/* tests/model/test_answer_certainty.c — the teacher-forced self-certainty and
 * entropy of an answer (seal_engine_answer_certainty) on the tiny random
 * model, against the same statistics worked out here in double precision from
 * the definitions (softmax, then -sum p log p and -log V - mean log p) over
 * logits taken another way: cached inference, feeding the prompt and then the
 * answer one token at a time, as generation does. This checks which logit rows
 * belong to the answer (row t predicts token t + 1) and that the EOS the answer
 * stopped on counts as one of its tokens. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "model/engine.h"

#define PROMPT "The Velmora Saltworks stand on the eastern shore of"

/* Means over the answer's tokens, by hand. */
typedef struct {
  double self_certainty, entropy;
  int n;
} by_hand;

static void add_row_by_hand(const float *z, int V, by_hand *h) {
  double zmax = z[0], sum = 0, sum_logp = 0, H = 0;
  for (int i = 1; i < V; i++) zmax = z[i] > zmax ? z[i] : zmax;
  for (int i = 0; i < V; i++) sum += exp((double)z[i] - zmax);
  for (int i = 0; i < V; i++) {
    double logp = (double)z[i] - zmax - log(sum);
    sum_logp += logp;
    H -= exp(logp) * logp;
  }
  h->self_certainty += -log((double)V) - sum_logp / V;
  h->entropy += H;
  h->n++;
}

/* The statistics of gen after the prompt, from cached inference. */
static by_hand reference(seal_engine *eng, const seal_generation *gen) {
  int32_t *p;
  int np = seal_engine_encode_prompt(eng, PROMPT, &p), V = eng->model.cfg.vocab_size;
  int n_rows = gen->n + (gen->hit_eos ? 1 : 0);
  seal_kv_cache kv;
  seal_kv_cache_create(&kv, &eng->model, 1, np + n_rows + 1, 0);
  float *row = malloc((size_t)V * sizeof(float)); /* [V] */
  by_hand h = {0};
  int32_t q_pos = 0;
  seal_forward_infer(&eng->model, NULL, &kv, p, &q_pos, 0, 1, np);
  for (int t = 0; t < n_rows; t++) {
    eng->be->ops->to_host(eng->be, row, kv.logits, eng->be->act, (size_t)V);
    add_row_by_hand(row, V, &h); /* predicts answer token t (or the EOS) */
    if (t == gen->n) break;
    q_pos = np + t;
    seal_forward_infer(&eng->model, NULL, &kv, &gen->ids[t], &q_pos, 0, 1, 1);
  }
  free(row);
  free(p);
  seal_kv_cache_free(&kv, &eng->model);
  h.self_certainty /= h.n, h.entropy /= h.n;
  return h;
}

static void check_answer(seal_engine *eng, const seal_generation *gen) {
  seal_train_acts a;
  seal_train_acts_create(&a, &eng->model, 64, 0);
  seal_answer_certainty c = {0};
  seal_engine_answer_certainty(eng, NULL, &a, PROMPT, gen, &c);
  seal_train_acts_free(&a, &eng->model);
  by_hand h = reference(eng, gen);
  ck_assert_int_eq(c.n_tokens, h.n);
  ck_assert_int_eq(c.n_tokens, gen->n + (gen->hit_eos ? 1 : 0));
  double sc = seal_answer_mean_self_certainty(&c), H = seal_answer_mean_entropy(&c);
  /* float32 logits from two summation orders: agree to ~1e-6 relative */
  ck_assert_msg(fabs(sc - h.self_certainty) <= 1e-4 * h.self_certainty,
                "self-certainty %.9g, by hand %.9g", sc, h.self_certainty);
  ck_assert_msg(fabs(H - h.entropy) <= 1e-4 * h.entropy, "entropy %.9g, by hand %.9g", H,
                h.entropy);
}

START_TEST(greedy_answer_matches_hand_computation) {
  seal_engine eng;
  seal_error e;
  if (seal_engine_open(&eng, "tests/fixtures/tiny-seal", "cpu", &e)) ck_abort_msg("%s", e.msg);
  const char *prompts[] = {PROMPT};
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = 8};
  char *text;
  seal_generation gen;
  seal_engine_complete_gens(&eng, NULL, prompts, 1, &s, NULL, NULL, &text, &gen);
  ck_assert_int_gt(gen.n, 0);
  check_answer(&eng, &gen);
  /* the model's answer is the one scored: its self-certainty differs from a
   * shifted one's */
  seal_answer_certainty own = {0}, other = {0};
  seal_train_acts a;
  seal_train_acts_create(&a, &eng.model, 64, 0);
  seal_engine_answer_certainty(&eng, NULL, &a, PROMPT, &gen, &own);
  for (int t = 0; t < gen.n; t++) gen.ids[t] = (gen.ids[t] + 1) % eng.model.cfg.vocab_size;
  seal_engine_answer_certainty(&eng, NULL, &a, PROMPT, &gen, &other);
  ck_assert(seal_answer_mean_entropy(&own) != seal_answer_mean_entropy(&other));
  seal_train_acts_free(&a, &eng.model);
  seal_generation_free(&gen, 1);
  free(text);
  seal_engine_close(&eng);
}
END_TEST

START_TEST(stop_token_counts_as_a_token) {
  seal_engine eng;
  seal_error e;
  if (seal_engine_open(&eng, "tests/fixtures/tiny-seal", "cpu", &e)) ck_abort_msg("%s", e.msg);
  int32_t ids[] = {5, 17, 42};
  seal_generation gen = {.ids = ids, .n = 3, .hit_eos = 1, .eos_id = eng.model.cfg.eos_ids[0]};
  check_answer(&eng, &gen);
  /* an answer that stopped at once still has its stop token */
  seal_generation none = {.ids = ids, .n = 0, .hit_eos = 1, .eos_id = eng.model.cfg.eos_ids[0]};
  check_answer(&eng, &none);
  seal_engine_close(&eng);
}
END_TEST

Suite *answer_certainty_suite(void) {
  Suite *s = suite_create("answer_certainty");
  TCase *tc = tcase_create("answer_certainty");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, greedy_answer_matches_hand_computation);
  tcase_add_test(tc, stop_token_counts_as_a_token);
  suite_add_tcase(s, tc);
  return s;
}
