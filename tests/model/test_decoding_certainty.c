/* tests/model/test_decoding_certainty.c — the self-certainty and entropy that
 * generation measures as it decodes (seal_sampling.certainty) on the tiny
 * random model, against the teacher-forced computation the label-free rewards
 * used before: one training forward (seal_forward_train) over prompt + answer
 * + its EOS, whose row t predicts token t + 1, so the answer's tokens are
 * rows np - 1 .. n - 2. Batched, with sequences stopping on EOS and on the
 * token limit, greedy and sampled, with one adapter per sequence; and the
 * tokens do not depend on whether the certainty is measured. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/engine.h"

static const char *const PROMPTS[] = {
    "The Velmora Saltworks stand on the eastern shore of",
    "Rakers wear green hats.",
    "In spring the salt pans flood and the",
};
#define N_PROMPTS 3
#define MAX_NEW 8

/* The logits of the training forward and of cached decoding are float32 sums
 * in two orders: their statistics differ by at most ~1e-7 relative here (a
 * wrong row or a missing token moves them by percents). */
#define REL_TOL 1e-5

typedef struct {
  seal_engine eng;
  int32_t *ids[N_PROMPTS]; /* [lens[b]] each prompt's tokens */
  int lens[N_PROMPTS];
} fixture;

static void open_fixture(fixture *f) {
  seal_error e;
  if (seal_engine_open(&f->eng, "tests/fixtures/tiny-seal", "cpu", &e)) ck_abort_msg("%s", e.msg);
  for (int b = 0; b < N_PROMPTS; b++)
    f->lens[b] = seal_engine_encode_prompt(&f->eng, PROMPTS[b], &f->ids[b]);
}

static void close_fixture(fixture *f) {
  for (int b = 0; b < N_PROMPTS; b++) free(f->ids[b]);
  seal_engine_close(&f->eng);
}

/* Generates for prompts 0..B-1 with adapters seq_adapter (NULL: adapter 0 or
 * the bare model) and fresh generators seeded 100 + b. */
static void generate(fixture *f, const seal_lora *lora, const int *seq_adapter, int B,
                     const seal_sampling *s, seal_generation *out) {
  seal_rng rngs[N_PROMPTS];
  for (int b = 0; b < B; b++) seal_rng_seed(&rngs[b], 100 + (uint64_t)b);
  seal_generate_multi(&f->eng.model, lora, NULL, (const int32_t *const *)f->ids, f->lens, B, s,
                      rngs, seq_adapter, out);
}

/* The old computation: the answer gen of prompt b teacher-forced with lora
 * (one adapter or NULL), the rows that predicted its tokens and its EOS. */
static seal_answer_certainty teacher_forced(fixture *f, const seal_lora *lora, int b,
                                            const seal_generation *gen) {
  seal_model *m = &f->eng.model;
  int np = f->lens[b], n = np + gen->n + (gen->hit_eos ? 1 : 0), V = m->cfg.vocab_size;
  int32_t *ids = malloc((size_t)n * sizeof(int32_t)); /* [n] prompt, answer, its EOS */
  memcpy(ids, f->ids[b], (size_t)np * sizeof(int32_t));
  memcpy(ids + np, gen->ids, (size_t)gen->n * sizeof(int32_t));
  if (gen->hit_eos) ids[n - 1] = gen->eos_id;
  seal_train_acts a;
  seal_train_acts_create(&a, m, n, lora ? lora->r : 0);
  seal_forward_train(m, lora, &a, ids, NULL, NULL, 1, n);
  float *rows = malloc((size_t)n * V * sizeof(float)); /* [n, V] */
  m->be->ops->to_host(m->be, rows, a.logits, m->be->act, (size_t)n * V);
  seal_answer_certainty c = {0};
  for (int t = np - 1; t < n - 1; t++)
    seal_answer_certainty_add(&c, seal_logit_stats_row(rows + (size_t)t * V, V));
  free(rows);
  seal_train_acts_free(&a, m);
  free(ids);
  return c;
}

/* gen's measured certainty is the teacher-forced one of its own tokens. */
static void check_matches_teacher_forced(fixture *f, const seal_lora *lora, int b,
                                         const seal_generation *gen) {
  seal_answer_certainty want = teacher_forced(f, lora, b, gen);
  const seal_answer_certainty *got = &gen->certainty;
  ck_assert_int_eq(want.n_tokens, gen->n + (gen->hit_eos ? 1 : 0));
  ck_assert_msg(got->n_tokens == want.n_tokens, "sequence %d: %d tokens measured, %d chosen", b,
                got->n_tokens, want.n_tokens);
  double sc = seal_answer_mean_self_certainty(got), sc0 = seal_answer_mean_self_certainty(&want);
  double h = seal_answer_mean_entropy(got), h0 = seal_answer_mean_entropy(&want);
  ck_assert_msg(fabs(sc - sc0) <= REL_TOL * sc0,
                "sequence %d: self-certainty %.9g while decoding, %.9g teacher-forced", b, sc, sc0);
  ck_assert_msg(fabs(h - h0) <= REL_TOL * h0,
                "sequence %d: entropy %.9g while decoding, %.9g teacher-forced", b, h, h0);
}

static int contains(const int32_t *ids, int n, int32_t tok) {
  for (int i = 0; i < n; i++)
    if (ids[i] == tok) return 1;
  return 0;
}

/* Makes a token of sequence 0's greedy answer an EOS that no other sequence's
 * answer holds, so that in the next generation sequence 0 stops on it after
 * some tokens while the others run on to the limit (and ride along after it
 * is done). Returns that token. */
static int32_t add_eos_for_first(fixture *f, const seal_generation *g, int B) {
  for (int k = 1; k < g[0].n; k++) {
    int32_t tok = g[0].ids[k];
    int elsewhere = contains(g[0].ids, k, tok);
    for (int b = 1; b < B; b++) elsewhere |= contains(g[b].ids, g[b].n, tok);
    if (elsewhere) continue;
    seal_model_config *cfg = &f->eng.model.cfg;
    ck_assert_int_lt(cfg->n_eos, SEAL_MAX_EOS);
    cfg->eos_ids[cfg->n_eos++] = tok;
    return tok;
  }
  ck_abort_msg("no token of answer 0 is missing from the others: choose other prompts");
  return -1;
}

START_TEST(greedy_batch_stopping_on_eos_and_on_the_limit) {
  fixture f;
  open_fixture(&f);
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = MAX_NEW, .certainty = 1};
  seal_generation first[N_PROMPTS], g[N_PROMPTS];
  generate(&f, NULL, NULL, N_PROMPTS, &s, first);
  for (int b = 0; b < N_PROMPTS; b++) {
    ck_assert_msg(!first[b].hit_eos && first[b].n == MAX_NEW, "answer %d stopped early", b);
    check_matches_teacher_forced(&f, NULL, b, &first[b]);
  }
  int32_t eos = add_eos_for_first(&f, first, N_PROMPTS);
  generate(&f, NULL, NULL, N_PROMPTS, &s, g);
  ck_assert(g[0].hit_eos && g[0].eos_id == eos && g[0].n < MAX_NEW);
  for (int b = 0; b < N_PROMPTS; b++) check_matches_teacher_forced(&f, NULL, b, &g[b]);
  /* an answer that stops at once has its EOS and nothing else */
  f.eng.model.cfg.eos_ids[f.eng.model.cfg.n_eos - 1] = first[0].ids[0];
  seal_generation at_once;
  generate(&f, NULL, NULL, 1, &s, &at_once);
  ck_assert(at_once.hit_eos && at_once.n == 0 && at_once.certainty.n_tokens == 1);
  check_matches_teacher_forced(&f, NULL, 0, &at_once);
  seal_generation_free(&at_once, 1);
  seal_generation_free(first, N_PROMPTS);
  seal_generation_free(g, N_PROMPTS);
  close_fixture(&f);
}
END_TEST

/* Sampling: the same tokens whether the certainty is measured or not (the
 * measurement only reads the logits), and the statistics are those of the
 * model's distribution (the logits before the temperature). */
START_TEST(sampled_tokens_unchanged_and_certainty_matches) {
  fixture f;
  open_fixture(&f);
  seal_sampling s = {.temperature = 0.9f, .top_p = 0.9f, .max_new_tokens = MAX_NEW};
  seal_generation off[N_PROMPTS], on[N_PROMPTS];
  generate(&f, NULL, NULL, N_PROMPTS, &s, off);
  s.certainty = 1;
  generate(&f, NULL, NULL, N_PROMPTS, &s, on);
  for (int b = 0; b < N_PROMPTS; b++) {
    ck_assert_int_eq(off[b].certainty.n_tokens, 0); /* not asked: not measured */
    ck_assert_int_eq(on[b].n, off[b].n);
    ck_assert_int_eq(on[b].hit_eos, off[b].hit_eos);
    ck_assert(!memcmp(on[b].ids, off[b].ids, (size_t)on[b].n * sizeof(int32_t)));
    check_matches_teacher_forced(&f, NULL, b, &on[b]);
  }
  seal_generation_free(off, N_PROMPTS);
  seal_generation_free(on, N_PROMPTS);
  close_fixture(&f);
}
END_TEST

/* Sequences of one batch decoding with different adapters each get the
 * certainty of their own adapter's model. */
START_TEST(each_sequence_measured_under_its_adapter) {
  fixture f;
  open_fixture(&f);
  seal_model *m = &f.eng.model;
  seal_lora multi;
  seal_lora_create_multi(&multi, m, 2, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  float *host = malloc(multi.n_params * sizeof(float)); /* [2, n_per]: B not zero, so it acts */
  seal_rng rng;
  seal_rng_seed(&rng, 7);
  for (size_t i = 0; i < multi.n_params; i++) host[i] = (float)(seal_rng_uniform(&rng) - 0.5);
  m->be->ops->to_device(m->be, multi.params, SEAL_F32, host, multi.n_params);
  free(host);
  int adapter[N_PROMPTS] = {1, 0, 1};
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = MAX_NEW, .certainty = 1};
  seal_generation g[N_PROMPTS];
  generate(&f, &multi, adapter, N_PROMPTS, &s, g);
  for (int b = 0; b < N_PROMPTS; b++) {
    seal_lora own = seal_lora_view(&multi, adapter[b]), other = seal_lora_view(&multi, !adapter[b]);
    check_matches_teacher_forced(&f, &own, b, &g[b]);
    /* the other adapter is sure of these tokens to another degree */
    seal_answer_certainty o = teacher_forced(&f, &other, b, &g[b]);
    ck_assert(fabs(seal_answer_mean_entropy(&o) - seal_answer_mean_entropy(&g[b].certainty)) >
              REL_TOL * seal_answer_mean_entropy(&o));
  }
  seal_generation_free(g, N_PROMPTS);
  seal_lora_free(&multi);
  close_fixture(&f);
}
END_TEST

Suite *decoding_certainty_suite(void) {
  Suite *s = suite_create("decoding_certainty");
  TCase *tc = tcase_create("decoding_certainty");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, greedy_batch_stopping_on_eos_and_on_the_limit);
  tcase_add_test(tc, sampled_tokens_unchanged_and_certainty_matches);
  tcase_add_test(tc, each_sequence_measured_under_its_adapter);
  suite_add_tcase(s, tc);
  return s;
}
