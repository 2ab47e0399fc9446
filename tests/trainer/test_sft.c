/* tests/trainer/test_sft.c — LoRA SFT: learning-rate schedules as transformers
 * defines them, completion-only loss masks, and training that learns. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/loader.h"
#include "trainer/sft.h"

START_TEST(linear_schedule_matches_transformers) {
  /* get_linear_schedule_with_warmup(warmup=2, total=10), lr 1.0 */
  seal_adamw_config c = seal_adamw_defaults(1.0f, 0, 0, SEAL_SCHEDULE_LINEAR, 2, 10);
  const double want[] = {0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0};
  for (int s = 0; s <= 10; s++) ck_assert_double_eq_tol(seal_schedule_lr(&c, s), want[s], 1e-7);
}
END_TEST

START_TEST(cosine_schedule_matches_transformers) {
  /* get_cosine_schedule_with_warmup(warmup=1, total=5): 0.5 * (1 + cos(pi * p)) */
  seal_adamw_config c = seal_adamw_defaults(2.0f, 0, 0, SEAL_SCHEDULE_COSINE, 1, 5);
  ck_assert_double_eq_tol(seal_schedule_lr(&c, 0), 0.0, 1e-7);
  ck_assert_double_eq_tol(seal_schedule_lr(&c, 1), 2.0, 1e-6);
  ck_assert_double_eq_tol(seal_schedule_lr(&c, 3), 1.0, 1e-6); /* half way: cos(pi/2) = 0 */
  ck_assert_double_eq_tol(seal_schedule_lr(&c, 5), 0.0, 1e-6);
  seal_adamw_config k = seal_adamw_defaults(0.5f, 0, 0, SEAL_SCHEDULE_CONSTANT, 0, 5);
  ck_assert_double_eq_tol(seal_schedule_lr(&k, 4), 0.5, 1e-7);
}
END_TEST

typedef struct {
  seal_checkpoint ck;
  seal_backend *be;
  seal_model m;
} tiny;

static void open_tiny(tiny *t) {
  seal_error e;
  if (seal_checkpoint_open("tests/fixtures/models/tiny-llama", &t->ck, &e))
    ck_abort_msg("%s", e.msg);
  t->be = seal_cpu_backend_create(SEAL_F32, &e);
  if (seal_model_create(&t->m, t->be, &t->ck.config, &t->ck.weights, &e)) ck_abort_msg("%s", e.msg);
}

static void close_tiny(tiny *t) {
  seal_model_free(&t->m);
  seal_backend_destroy(t->be);
  seal_checkpoint_free(&t->ck);
}

/* With loss_from = 6 the loss is the mean of the per-token losses of the
 * tokens at index 6..11 (predicted at positions 5..10), nothing else. */
START_TEST(completion_only_loss_ignores_the_prompt) {
  tiny t;
  open_tiny(&t);
  int32_t a[12] = {5, 9, 17, 3, 44, 81, 2, 7, 100, 31, 12, 8};
  int32_t targets[12];
  float ones[12], losses[12];
  for (int i = 0; i < 12; i++) targets[i] = i + 1 < 12 ? a[i + 1] : 0, ones[i] = i + 1 < 12;
  seal_train_acts acts;
  seal_train_acts_create(&acts, &t.m, 12, 0);
  seal_forward_train(&t.m, NULL, &acts, a, targets, ones, 1, 12);
  seal_train_losses_to_host(&t.m, &acts, losses);
  double want = 0;
  for (int pos = 5; pos <= 10; pos++) want += losses[pos] / 6.0;
  seal_sft_example ex = {.ids = a, .n = 12, .loss_from = 6};
  ck_assert_double_eq_tol(seal_sft_eval_loss(&t.m, NULL, &ex, 1), want, 1e-6);
  /* and the prompt's own losses are not small: leaving them out matters */
  double prompt = 0;
  for (int pos = 0; pos < 5; pos++) prompt += losses[pos] / 5.0;
  ck_assert(fabs(prompt - want) > 1e-3);
  /* loss_from = n: nothing to learn, loss 0 */
  seal_sft_example none = {.ids = a, .n = 12, .loss_from = 12};
  ck_assert_double_eq(seal_sft_eval_loss(&t.m, NULL, &none, 1), 0.0);
  seal_train_acts_free(&acts, &t.m);
  close_tiny(&t);
}
END_TEST

/* Padding in a batch must not change the loss: the same two examples trained
 * as one batch of 2 (padded) and as two batches of 1 with the same total
 * normalisation give the same first-step loss. */
START_TEST(batched_padding_does_not_change_the_loss) {
  tiny t;
  open_tiny(&t);
  int32_t a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b[5] = {50, 60, 70, 80, 90};
  seal_sft_example ex[2] = {{a, 9, 3}, {b, 5, 1}};
  double separate = (seal_sft_eval_loss(&t.m, NULL, &ex[0], 1) * 6 +
                     seal_sft_eval_loss(&t.m, NULL, &ex[1], 1) * 4) /
                    10.0;
  seal_lora l;
  seal_lora_create(&l, &t.m, 2, 4.0f, 1u << SEAL_LORA_Q);
  seal_sft_config cfg = {.epochs = 1,
                         .batch_size = 2,
                         .seed = 1,
                         .opt = seal_adamw_defaults(0.0f, 0, 0, SEAL_SCHEDULE_CONSTANT, 0, 0)};
  seal_sft_stats st;
  seal_sft_train(&t.m, &l, ex, 2, &cfg, &st);
  ck_assert_double_eq_tol(st.first_loss, separate, 1e-6);
  seal_lora_free(&l);
  close_tiny(&t);
}
END_TEST

START_TEST(sft_learns_a_sequence) {
  tiny t;
  open_tiny(&t);
  int32_t a[16] = {11, 22, 33, 44, 55, 66, 77, 88, 99, 111, 122, 133, 144, 155, 166, 177};
  seal_sft_example ex = {a, 16, 0};
  seal_lora l;
  seal_lora_create(&l, &t.m, 8, 16.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  seal_rng rng;
  seal_rng_seed(&rng, 3);
  seal_lora_init(&l, &rng);
  double before = seal_sft_eval_loss(&t.m, &l, &ex, 1);
  seal_sft_config cfg = {.epochs = 30,
                         .batch_size = 1,
                         .seed = 2,
                         .opt = seal_adamw_defaults(1e-2f, 0, 1.0f, SEAL_SCHEDULE_LINEAR, 0, 0)};
  seal_sft_stats st;
  seal_sft_train(&t.m, &l, &ex, 1, &cfg, &st);
  double after = seal_sft_eval_loss(&t.m, &l, &ex, 1);
  ck_assert_int_eq(st.steps, 30);
  ck_assert_msg(after < 0.5 * before, "loss %g -> %g", before, after);
  seal_lora_free(&l);
  close_tiny(&t);
}
END_TEST

/* Three adapters trained together end where each would alone: different
 * example counts, lengths, completion masks, batch sizes, epochs and seeds. */
START_TEST(multi_adapter_training_equals_separate_training) {
  tiny t;
  open_tiny(&t);
  static int32_t toks[64];
  for (int i = 0; i < 64; i++) toks[i] = (i * 37 + 11) % 263;
  seal_sft_example a[3] = {{toks, 12, 0}, {toks + 5, 9, 4}, {toks + 20, 15, 0}};
  seal_sft_example b[1] = {{toks + 30, 7, 2}};
  seal_sft_example c[4] = {
      {toks + 1, 5, 0}, {toks + 40, 13, 6}, {toks + 9, 10, 0}, {toks + 50, 8, 0}};
  const seal_sft_example *ex[3] = {a, b, c};
  int n[3] = {3, 1, 4};
  seal_sft_config cfg[3];
  int epochs[3] = {2, 5, 1}, batch[3] = {1, 1, 2};
  for (int g = 0; g < 3; g++)
    cfg[g] = (seal_sft_config){
        .epochs = epochs[g],
        .batch_size = batch[g],
        .shuffle = true,
        .seed = 100 + (uint64_t)g,
        .opt = seal_adamw_defaults(5e-3f, 0.01f, 1.0f, SEAL_SCHEDULE_LINEAR, 1, 0)};
  unsigned targets = (1u << SEAL_LORA_Q) | (1u << SEAL_LORA_V) | (1u << SEAL_LORA_DOWN);
  seal_lora multi;
  seal_lora_create_multi(&multi, &t.m, 3, 4, 8.0f, targets);
  for (int g = 0; g < 3; g++) {
    seal_lora v = seal_lora_view(&multi, g);
    seal_rng rng;
    seal_rng_seed(&rng, 7 + (uint64_t)g);
    seal_lora_init(&v, &rng);
  }
  seal_sft_stats ms[3];
  seal_sft_train_multi(&t.m, &multi, ex, n, cfg, ms);
  float *got = seal_malloc(multi.n_params * sizeof(float));
  t.be->ops->to_host(t.be, got, multi.params, SEAL_F32, multi.n_params);
  for (int g = 0; g < 3; g++) {
    seal_lora one;
    seal_lora_create(&one, &t.m, 4, 8.0f, targets);
    seal_rng rng;
    seal_rng_seed(&rng, 7 + (uint64_t)g);
    seal_lora_init(&one, &rng);
    seal_sft_stats st;
    seal_sft_train(&t.m, &one, ex[g], n[g], &cfg[g], &st);
    ck_assert_int_eq(ms[g].steps, st.steps);
    ck_assert_double_eq_tol(ms[g].first_loss, st.first_loss, 1e-5);
    ck_assert_double_eq_tol(ms[g].last_loss, st.last_loss, 1e-5);
    float *want = seal_malloc(one.n_params * sizeof(float));
    t.be->ops->to_host(t.be, want, one.params, SEAL_F32, one.n_params);
    double d = 0;
    for (size_t i = 0; i < one.n_params; i++)
      d = fmax(d, fabs((double)got[(size_t)g * multi.n_per + i] - want[i]));
    ck_assert_msg(d < 1e-5, "adapter %d: max diff %g", g, d);
    free(want);
    seal_lora_free(&one);
  }
  free(got);
  seal_lora_free(&multi);
  close_tiny(&t);
}
END_TEST

/* Sequences of very different lengths (2, 41, 1 and 17 tokens) trained as one
 * right-padded [4, 41] batch and packed without padding give the same loss and
 * the same gradients, each of two adapters on its own sequences (the grouped
 * LoRA ops and per-sequence attention): padding is computed and thrown away,
 * packing never computes it. */
START_TEST(packed_step_equals_padded_step) {
  tiny t;
  open_tiny(&t);
  enum { S = 4, T = 41 };
  const int len[S] = {2, 41, 1, 17}, adapter[S] = {1, 0, 0, 1};
  int seq_start[S + 1] = {0};
  for (int s = 0; s < S; s++) seq_start[s + 1] = seq_start[s] + len[s];
  int N = seq_start[S];
  int32_t pad_ids[S * T] = {0}, pad_tg[S * T] = {0}, ids[S * T], tg[S * T];
  float pad_w[S * T] = {0}, w[S * T];
  for (int s = 0; s < S; s++)
    for (int i = 0; i < len[s]; i++) {
      int row = seq_start[s] + i;
      ids[row] = pad_ids[s * T + i] = (s * 53 + i * 29 + 3) % 263;
      tg[row] = pad_tg[s * T + i] = (s * 17 + i * 41 + 7) % 263;
      w[row] = pad_w[s * T + i] = 1.0f / (float)N;
    }
  for (int s = 0; s < S; s++) /* padding rows hold a real token: it must not matter */
    for (int i = len[s]; i < T; i++) pad_ids[s * T + i] = 77;
  seal_lora l;
  seal_lora_create_multi(&l, &t.m, 2, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  seal_rng rng;
  seal_rng_seed(&rng, 5);
  float *p = seal_malloc(l.n_params * sizeof(float)), *g[2];
  for (size_t i = 0; i < l.n_params; i++) p[i] = (float)(seal_rng_uniform(&rng) - 0.5) * 0.2f;
  t.be->ops->to_device(t.be, l.params, SEAL_F32, p, l.n_params);
  seal_train_acts acts;
  seal_train_acts_create(&acts, &t.m, S * T, l.r);
  acts.seq_adapter = adapter;
  double loss[2];
  for (int packed = 0; packed < 2; packed++) {
    seal_lora_zero_grads(&l);
    loss[packed] = packed ? seal_forward_train_packed(&t.m, &l, &acts, ids, tg, w, seq_start, S)
                          : seal_forward_train(&t.m, &l, &acts, pad_ids, pad_tg, pad_w, S, T);
    ck_assert_int_eq(acts.N, packed ? N : S * T); /* the rows the step computed */
    seal_backward_train(&t.m, &l, &acts);
    g[packed] = seal_malloc(l.n_params * sizeof(float));
    t.be->ops->to_host(t.be, g[packed], l.grads, SEAL_F32, l.n_params);
  }
  ck_assert_double_eq_tol(loss[1], loss[0], 1e-5 * fabs(loss[0]));
  double d = 0, scale = 0;
  for (size_t i = 0; i < l.n_params; i++) {
    d = fmax(d, fabs((double)g[1][i] - g[0][i]));
    scale = fmax(scale, fabs((double)g[0][i]));
  }
  ck_assert_msg(scale > 1e-3, "the gradients are %g: the test would prove nothing", scale);
  ck_assert_msg(d < 1e-5, "packed and padded gradients differ by %g (largest %g)", d, scale);
  free(p), free(g[0]), free(g[1]);
  seal_train_acts_free(&acts, &t.m);
  seal_lora_free(&l);
  close_tiny(&t);
}
END_TEST

/* A packed step processes each sequence's own tokens and no padding:
 * seal_sft_stats.tokens counts sum(len) per epoch. */
START_TEST(sft_counts_real_tokens) {
  tiny t;
  open_tiny(&t);
  static int32_t toks[64];
  for (int i = 0; i < 64; i++) toks[i] = (i * 37 + 11) % 263;
  seal_sft_example ex[3] = {{toks, 3, 0}, {toks + 3, 40, 0}, {toks + 10, 17, 5}};
  seal_lora l;
  seal_lora_create(&l, &t.m, 2, 4.0f, 1u << SEAL_LORA_Q);
  seal_sft_config cfg = {.epochs = 2,
                         .batch_size = 3,
                         .seed = 1,
                         .opt = seal_adamw_defaults(1e-3f, 0, 0, SEAL_SCHEDULE_CONSTANT, 0, 0)};
  seal_sft_stats st;
  seal_sft_train(&t.m, &l, ex, 3, &cfg, &st);
  ck_assert_int_eq(st.steps, 2);
  ck_assert_int_eq(st.tokens, 2 * (3 + 40 + 17)); /* padded to 40 it was 2 * 3 * 40 */
  seal_lora_free(&l);
  close_tiny(&t);
}
END_TEST

Suite *sft_suite(void) {
  Suite *s = suite_create("sft");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, linear_schedule_matches_transformers);
  tcase_add_test(tc, cosine_schedule_matches_transformers);
  tcase_add_test(tc, completion_only_loss_ignores_the_prompt);
  tcase_add_test(tc, batched_padding_does_not_change_the_loss);
  tcase_add_test(tc, sft_learns_a_sequence);
  tcase_add_test(tc, multi_adapter_training_equals_separate_training);
  tcase_add_test(tc, packed_step_equals_padded_step);
  tcase_add_test(tc, sft_counts_real_tokens);
  suite_add_tcase(s, tc);
  return s;
}
