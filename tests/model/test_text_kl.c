/* tests/model/test_text_kl.c — the continual guard's KL (seal_engine_kl_add:
 * mean token KL(bare model || with the adapter) over a text, teacher-forced)
 * on the tiny random model with a random adapter, against the same quantity
 * worked out here in double precision from the definition (softmax of each
 * row, then sum p (log p - log q)) over logits taken another way: cached
 * inference, one token at a time, as generation does. The reverse KL differs
 * from it (by 1% here) by far more than the tolerance, so a swapped direction fails. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "model/engine.h"

#define TEXT "The Velmora Saltworks stand on the eastern shore of the Isle of Drenn."

/* KL(softmax(zp) || softmax(zq)) by the definition, in double. */
static double kl_by_hand(const float *zp, const float *zq, int V) {
  double mp = zp[0], mq = zq[0], sp = 0, sq = 0, kl = 0;
  for (int i = 1; i < V; i++) mp = zp[i] > mp ? zp[i] : mp, mq = zq[i] > mq ? zq[i] : mq;
  for (int i = 0; i < V; i++) sp += exp((double)zp[i] - mp), sq += exp((double)zq[i] - mq);
  for (int i = 0; i < V; i++) {
    double p = exp((double)zp[i] - mp) / sp, q = exp((double)zq[i] - mq) / sq;
    kl += p * (log(p) - log(q));
  }
  return kl;
}

/* The logits of every position of ids[0..n) by cached inference: out [n, V]. */
static void cached_logits(seal_engine *eng, const seal_lora *lora, const int32_t *ids, int n,
                          float *out) {
  int V = eng->model.cfg.vocab_size;
  seal_kv_cache kv;
  seal_kv_cache_create(&kv, &eng->model, 1, n, lora ? lora->r : 0);
  for (int t = 0; t < n; t++) {
    int32_t pos = t;
    seal_forward_infer(&eng->model, lora, &kv, &ids[t], &pos, 0, 1, 1);
    eng->be->ops->to_host(eng->be, out + (size_t)t * V, kv.logits, eng->be->act, (size_t)V);
  }
  seal_kv_cache_free(&kv, &eng->model);
}

/* A rank-4 adapter on every target with every parameter uniform in
 * [-amp, amp] (B too, unlike PEFT's initialisation, so that it changes the
 * model). */
static void random_lora(seal_engine *eng, seal_lora *lora, float amp, uint64_t seed) {
  seal_lora_create(lora, &eng->model, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  float *p = malloc(lora->n_params * sizeof(float)); /* [n_params] */
  seal_rng rng;
  seal_rng_seed(&rng, seed);
  for (size_t i = 0; i < lora->n_params; i++) p[i] = amp * (float)(2 * seal_rng_uniform(&rng) - 1);
  eng->be->ops->to_device(eng->be, lora->params, SEAL_F32, p, lora->n_params);
  free(p);
}

START_TEST(text_kl_matches_hand_computation) {
  seal_engine eng;
  seal_error e;
  if (seal_engine_open(&eng, "tests/fixtures/tiny-seal", "cpu", &e)) ck_abort_msg("%s", e.msg);
  int32_t *ids;
  int n = seal_engine_encode_prompt(&eng, TEXT, &ids), V = eng.model.cfg.vocab_size;
  ck_assert_int_gt(n, 8);
  seal_lora lora;
  random_lora(&eng, &lora, 0.3f, 3);
  float *p = malloc((size_t)n * V * sizeof(float)), *q = malloc((size_t)n * V * sizeof(float));
  cached_logits(&eng, NULL, ids, n, p);
  cached_logits(&eng, &lora, ids, n, q);
  double ref = 0, reverse = 0;
  for (int t = 0; t < n; t++) {
    ref += kl_by_hand(p + (size_t)t * V, q + (size_t)t * V, V) / n;
    reverse += kl_by_hand(q + (size_t)t * V, p + (size_t)t * V, V) / n;
  }
  seal_train_acts a;
  seal_train_acts_create(&a, &eng.model, 64, lora.r);
  double sum = 0;
  long rows = 0;
  seal_engine_kl_add(&eng, &lora, &a, ids, n, &sum, &rows);
  ck_assert_int_eq(rows, n);
  double kl = sum / (double)rows;
  ck_assert_msg(ref > 1e-3, "the adapter hardly moves the model (KL %g): the test shows nothing",
                ref);
  /* float32 logits from two summation orders: agree to ~1e-6 relative */
  ck_assert_msg(fabs(kl - ref) <= 1e-4 * ref, "KL %.9g, by hand %.9g (reverse %.9g)", kl, ref,
                reverse);
  ck_assert_msg(fabs(reverse - ref) > 5e-3 * ref, "KL(q||p) %.9g is KL(p||q) %.9g", reverse, ref);
  /* a second text adds to the sums */
  seal_engine_kl_add(&eng, &lora, &a, ids, n / 2, &sum, &rows);
  ck_assert_int_eq(rows, n + n / 2);
  /* an adapter that changes nothing: KL 0 */
  seal_lora zero;
  seal_lora_create(&zero, &eng.model, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  double zsum = 0;
  long zrows = 0;
  seal_engine_kl_add(&eng, &zero, &a, ids, n, &zsum, &zrows);
  ck_assert_msg(zsum == 0, "KL of an adapter of zeros: %g", zsum);
  seal_lora_free(&zero);
  seal_train_acts_free(&a, &eng.model);
  seal_lora_free(&lora);
  free(p), free(q), free(ids);
  seal_engine_close(&eng);
}
END_TEST

/* The row function on hand-checked values: two logits, and rows that are
 * not finite. */
START_TEST(kl_row_values) {
  float a[2] = {0, 0}, b[2] = {(float)log(3.0), 0}; /* p = (1/2, 1/2), q = (3/4, 1/4) */
  double want = 0.5 * log(0.5 / 0.75) + 0.5 * log(0.5 / 0.25);
  ck_assert_double_eq_tol(seal_logit_kl_row(a, b, 2), want, 1e-7);
  ck_assert_double_eq_tol(seal_logit_kl_row(b, b, 2), 0, 1e-15);
  float bad[2] = {NAN, 0};
  ck_assert(isnan(seal_logit_kl_row(a, bad, 2)));
  ck_assert(isnan(seal_logit_kl_row(bad, a, 2)));
}
END_TEST

Suite *text_kl_suite(void) {
  Suite *s = suite_create("text_kl");
  TCase *tc = tcase_create("text_kl");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, text_kl_matches_hand_computation);
  tcase_add_test(tc, kl_row_values);
  suite_add_tcase(s, tc);
  return s;
}
