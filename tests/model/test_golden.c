/* tests/model/test_golden.c — the CPU engine against PyTorch/transformers/PEFT
 * results for two tiny random models (tests/fixtures/models, docs/fixtures.md):
 * logits, masked loss, LoRA gradients, five AdamW steps, PEFT adapters, merge,
 * greedy generation, and bf16/f16/sharded checkpoints.
 *
 * SEAL_TEST_DEVICE=cuda runs the same checks on the CUDA backend (on a GPU
 * machine, scripts/gpu-check.sh): bf16 weights and activations, so closeness
 * is judged by relative L2 error instead of float32's absolute bounds. So does
 * SEAL_TEST_DEVICE=cpu:bf16 (bf16 base matrices, float32 activations), which
 * ctest runs as unit_model_golden_cpu_bf16, and SEAL_TEST_DEVICE=cpu:q8 (int8
 * base matrices), unit_model_golden_cpu_q8: the inference checks only, at the
 * same tolerances (logits measured within 2.1-2.7% relative L2).
 * SEAL_TEST_DEVICE=cpu:q4 (4-bit base matrices, GGUF's Q4_1),
 * unit_model_golden_cpu_q4: the inference checks only, against PyTorch at
 * Q4's own bounds (q4_vs_pytorch below: these tiny models' weights are
 * Gaussian float32, which 4 bits round by about 8% of their spread), and
 * tightly against float32 on the very values the Q4 blocks hold
 * (compact_model_matches_float32_on_its_own_weights). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"
#include "model/graph.h"
#include "model/loader.h"
#include "model/lora.h"
#include "model/optim.h"

typedef struct {
  seal_checkpoint ck;
  seal_tensor_set golden;
  seal_backend *be;
  seal_model model;
  int32_t ids[22], targets[22];
  float weights[22];
  double bf16_rel; /* relative L2 error allowed on bf16 backends (3e-2 unless a check says) */
} fixture;

static void open_fixture(fixture *f, const char *dir) {
  memset(f, 0, sizeof *f);
  f->bf16_rel = 3e-2;
  seal_error e;
  char *gpath = seal_asprintf("%s/golden.safetensors", dir);
  if (seal_checkpoint_open(dir, &f->ck, &e)) ck_abort_msg("open %s: %s", dir, e.msg);
  if (seal_safetensors_read(gpath, &f->golden, &e)) ck_abort_msg("golden: %s", e.msg);
  free(gpath);
  const char *device = getenv("SEAL_TEST_DEVICE");
  f->be = seal_backend_create(device && *device ? device : "cpu", &e);
  if (!f->be) ck_abort_msg("backend: %s", e.msg);
  if (seal_model_create(&f->model, f->be, &f->ck.config, &f->ck.weights, &e))
    ck_abort_msg("model: %s", e.msg);
  const seal_host_tensor *ids = seal_tensors_find(&f->golden, "input_ids");
  const seal_host_tensor *mask = seal_tensors_find(&f->golden, "loss_mask");
  ck_assert_ptr_nonnull(ids);
  double count = 0;
  for (int i = 0; i < 22; i++) {
    f->ids[i] = (int32_t)ids->data[i];
    if (mask) count += mask->data[i];
  }
  for (int i = 0; i < 22; i++) {
    int t = i % 11;
    f->targets[i] = t < 10 ? f->ids[i + 1] : 0;
    f->weights[i] = mask && t < 10 ? (float)(mask->data[i] / count) : 0.0f;
  }
}

static void close_fixture(fixture *f) {
  seal_model_free(&f->model);
  seal_backend_destroy(f->be);
  seal_checkpoint_free(&f->ck);
  seal_tensors_free(&f->golden);
}

static const float *golden(fixture *f, const char *name, int64_t numel) {
  const seal_host_tensor *t = seal_tensors_find(&f->golden, name);
  ck_assert_msg(t != NULL, "golden tensor %s missing", name);
  ck_assert_int_eq(seal_tensor_numel(t), numel);
  return t->data;
}

/* max |a - b| over n */
static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

/* ||a - b|| / ||b|| */
static double rel_l2(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

static bool is_q4(const fixture *f) { return f->be->weight == SEAL_Q4; }

static bool is_bf16(const fixture *f) {
  return f->be->act == SEAL_BF16 || f->be->weight == SEAL_BF16 || f->be->weight == SEAL_Q8 ||
         is_q4(f);
}

/* How far cpu:q4 may be from PyTorch's float32 on these tiny models: relative
 * L2 of the logits, and the relative error of a loss. Rounding a block of 32
 * Gaussian weights to 16 levels between its min and max (step = range / 15,
 * about 0.27 sigma) moves each weight by about 8% of sigma (step / sqrt(12)),
 * every matrix at once; the logits of these random 2-layer models then
 * measured 29-41% from PyTorch's (logits, lora.logits, merged.logits, the
 * bf16/f16/sharded checkpoints) and the losses 1.0% and 4.4%. A broken
 * kernel (nibbles swapped, minimum dropped) lands past 100%. The tight check
 * of the arithmetic is compact_model_matches_float32_on_its_own_weights. */
static const double q4_vs_pytorch_logits = 0.5, q4_vs_pytorch_loss = 0.06;

/* Whether the training checks (LoRA gradients, AdamW steps) hold on this
 * backend: not on cpu:q8, whose int8 rounding of the base (about 3x bf16's)
 * puts the gradients at 3.2% and five Adam steps at 10.6% relative L2 from
 * PyTorch's, past the bf16 bounds of 3% and 8%; q8 is for inference, and so
 * is q4 (coarser still). */
static bool holds_training_checks(const fixture *f) {
  return f->be->weight != SEAL_Q8 && !is_q4(f);
}

/* float32 backends: max abs diff <= tol; bf16: relative L2 error <= f->bf16_rel, 3e-2
 * (METHOD.md: bf16 operands land between 1e-3 and 1e-2 per op; a whole model
 * compounds a few of them). */
static void check_close_within(const fixture *f, const float *got, const float *want, size_t n,
                               double tol, double rel, const char *what) {
  if (is_bf16(f)) {
    double r = rel_l2(got, want, n);
    ck_assert_msg(r <= rel && !isnan(r), "%s: relative L2 error %g > %g", what, r, rel);
  } else {
    double d = max_abs_diff(got, want, n);
    ck_assert_msg(d <= tol, "%s: max abs diff %g > %g", what, d, tol);
  }
}

static void check_close(const fixture *f, const float *got, const float *want, size_t n, double tol,
                        const char *what) {
  check_close_within(f, got, want, n, tol, f->bf16_rel, what);
}

static void check_scalar(const fixture *f, double got, double want, double tol, const char *what) {
  double t = is_bf16(f) ? (is_q4(f) ? q4_vs_pytorch_loss : 3e-2) * fabs(want) + 1e-3 : tol;
  ck_assert_msg(fabs(got - want) <= t, "%s: %.8g vs %.8g", what, got, want);
}

/* Compares the logits left by the last forward with golden `name`. */
static void check_logits(fixture *f, seal_train_acts *a, const char *name, double tol) {
  size_t n = (size_t)22 * f->model.cfg.vocab_size;
  float *got = seal_malloc(n * sizeof(float));
  f->be->ops->to_host(f->be, got, a->logits, f->be->act, n);
  check_close_within(f, got, golden(f, name, (int64_t)n), n, tol,
                     is_q4(f) ? q4_vs_pytorch_logits : f->bf16_rel, name);
  free(got);
}

/* Every tensor of set against golden "<its name><suffix>". */
static void check_tensors(fixture *f, const seal_tensor_set *set, const char *suffix, double tol) {
  for (int i = 0; i < set->n; i++) {
    char *name = seal_asprintf("%s%s", set->items[i].name, suffix);
    int64_t n = seal_tensor_numel(&set->items[i]);
    check_close(f, set->items[i].data, golden(f, name, n), (size_t)n, tol, name);
    free(name);
  }
}

static void load_initial_adapter(fixture *f, seal_lora *l) {
  seal_lora_create(l, &f->model, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  seal_error e;
  if (seal_lora_from_tensors(l, &f->golden, &e)) ck_abort_msg("adapter: %s", e.msg);
}

static void check_base(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 0);
  double loss = seal_forward_train(&f.model, NULL, &a, f.ids, f.targets, f.weights, 2, 11);
  check_scalar(&f, loss, golden(&f, "loss", 1)[0], 1e-5, "loss");
  /* cross_entropy turned logits into dlogits; run again without targets */
  seal_forward_train(&f.model, NULL, &a, f.ids, NULL, NULL, 2, 11);
  check_logits(&f, &a, "logits", 1e-4);
  seal_train_acts_free(&a, &f.model);
  close_fixture(&f);
}

static void check_lora_grads(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  if (!holds_training_checks(&f)) {
    close_fixture(&f);
    return;
  }
  seal_lora l;
  load_initial_adapter(&f, &l);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 4);
  double loss = seal_forward_train(&f.model, &l, &a, f.ids, f.targets, f.weights, 2, 11);
  check_scalar(&f, loss, golden(&f, "lora.loss", 1)[0], 1e-5, "lora.loss");
  seal_backward_train(&f.model, &l, &a);
  seal_tensor_set grads = {0};
  /* the gradient buffer laid out as the parameters: swap to reuse to_tensors */
  float *p = l.params;
  l.params = l.grads;
  seal_lora_to_tensors(&l, &grads);
  l.params = p;
  ck_assert_int_eq(grads.n, 28);
  check_tensors(&f, &grads, ".grad", 1e-5);
  seal_tensors_free(&grads);
  seal_forward_train(&f.model, &l, &a, f.ids, NULL, NULL, 2, 11);
  check_logits(&f, &a, "lora.logits", 1e-4);
  seal_train_acts_free(&a, &f.model);
  seal_lora_free(&l);
  close_fixture(&f);
}

static void check_adamw(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  if (!holds_training_checks(&f)) {
    close_fixture(&f);
    return;
  }
  seal_lora l;
  load_initial_adapter(&f, &l);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 4);
  seal_adamw_config cfg = seal_adamw_defaults(1e-2f, 0.01f, 1.0f, SEAL_SCHEDULE_CONSTANT, 0, 5);
  seal_adamw opt;
  seal_adamw_create(&opt, f.be, l.n_params, &cfg);
  const float *losses = golden(&f, "adamw.losses", 5), *norms = golden(&f, "adamw.grad_norms", 5);
  for (int step = 0; step < 5; step++) {
    seal_lora_zero_grads(&l);
    double loss = seal_forward_train(&f.model, &l, &a, f.ids, f.targets, f.weights, 2, 11);
    check_scalar(&f, loss, losses[step], 1e-5, "adamw loss");
    seal_backward_train(&f.model, &l, &a);
    double norm = seal_adamw_step(&opt, l.params, l.grads);
    check_scalar(&f, norm, norms[step], 1e-4, "grad norm");
  }
  double final = seal_forward_train(&f.model, &l, &a, f.ids, f.targets, f.weights, 2, 11);
  check_scalar(&f, final, golden(&f, "adamw.final_loss", 1)[0], 1e-5, "final loss");
  seal_tensor_set after = {0};
  seal_lora_to_tensors(&l, &after);
  /* Adam moves each element by about lr whatever its gradient's size, so an
   * element whose gradient is near zero takes the bf16 rounding as its
   * direction: after five steps from B = 0 the parameters differ by about 5%
   * (relative L2, measured on cpu:bf16) while the losses above agree to 3%. */
  f.bf16_rel = 8e-2;
  check_tensors(&f, &after, ".final", 1e-4);
  seal_tensors_free(&after);
  seal_adamw_free(&opt);
  seal_train_acts_free(&a, &f.model);
  seal_lora_free(&l);
  close_fixture(&f);
}

static void check_peft_and_merge(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  seal_lora l;
  seal_error e;
  char *adir = seal_asprintf("%s/peft_adapter", dir);
  if (seal_lora_load_peft(&l, &f.model, adir, &e)) ck_abort_msg("peft: %s", e.msg);
  free(adir);
  ck_assert_int_eq(l.r, 4);
  ck_assert_float_eq_tol(l.scale, 2.0f, 1e-6f);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 4);
  seal_forward_train(&f.model, &l, &a, f.ids, NULL, NULL, 2, 11);
  check_logits(&f, &a, "lora.logits", 1e-4);
  /* our saved adapter reads back identically */
  char dirt[] = "/tmp/seal-peft-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dirt));
  ck_assert_int_eq(seal_lora_save_peft(&l, dirt, dir, &e), 0);
  seal_lora back;
  ck_assert_int_eq(seal_lora_load_peft(&back, &f.model, dirt, &e), 0);
  float *x = seal_malloc(l.n_params * sizeof(float)), *y = seal_malloc(l.n_params * sizeof(float));
  f.be->ops->to_host(f.be, x, l.params, SEAL_F32, l.n_params);
  f.be->ops->to_host(f.be, y, back.params, SEAL_F32, back.n_params);
  ck_assert_int_eq(back.n_params, l.n_params);
  ck_assert(memcmp(x, y, l.n_params * sizeof(float)) == 0);
  free(x);
  free(y);
  seal_lora_free(&back);
  /* merging the adapter into the base gives PEFT's merge_and_unload logits */
  seal_lora_merge(&l, &f.model);
  seal_forward_train(&f.model, NULL, &a, f.ids, NULL, NULL, 2, 11);
  check_logits(&f, &a, "merged.logits", 1e-4);
  seal_train_acts_free(&a, &f.model);
  seal_lora_free(&l);
  close_fixture(&f);
}

static void check_generation(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  const float *prompt_f = golden(&f, "gen.prompt", 5), *ids_f = golden(&f, "gen.ids", 8);
  const float *margins = golden(&f, "gen.margins", 8);
  int32_t prompt[5];
  for (int i = 0; i < 5; i++) prompt[i] = (int32_t)prompt_f[i];
  const int32_t *prompts[2] = {prompt, prompt};
  int lens[2] = {5, 5};
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = 8};
  seal_rng rngs[2];
  seal_rng_seed(&rngs[0], 1);
  seal_rng_seed(&rngs[1], 2);
  seal_generation out[2];
  /* batch of two identical prompts: both must give transformers' ids */
  seal_generate(&f.model, NULL, NULL, prompts, lens, 2, &s, rngs, out);
  for (int b = 0; b < 2; b++) {
    ck_assert_int_eq(out[b].n, 8);
    /* on q4 the first step of tiny-llama, whose margin is 0.45, already
     * flips: only the length is PyTorch's there (the generation itself is
     * checked against the cached and the full forward) */
    for (int i = 0; i < 8 && !is_q4(&f); i++) {
      /* in bf16 a step whose top-2 margin is small may flip, and after it the
       * trajectories part: compare up to the first such step */
      if (is_bf16(&f) && margins[i] < 0.25f) break;
      ck_assert_int_eq(out[b].ids[i], (int32_t)ids_f[i]);
    }
  }
  seal_generation_free(out, 2);
  close_fixture(&f);
}

START_TEST(llama_logits_and_loss) { check_base("tests/fixtures/models/tiny-llama"); }
END_TEST
START_TEST(qwen2_logits_and_loss) { check_base("tests/fixtures/models/tiny-qwen2"); }
END_TEST
START_TEST(llama_lora_gradients) { check_lora_grads("tests/fixtures/models/tiny-llama"); }
END_TEST
START_TEST(qwen2_lora_gradients) { check_lora_grads("tests/fixtures/models/tiny-qwen2"); }
END_TEST
START_TEST(llama_adamw_five_steps) { check_adamw("tests/fixtures/models/tiny-llama"); }
END_TEST
START_TEST(qwen2_adamw_five_steps) { check_adamw("tests/fixtures/models/tiny-qwen2"); }
END_TEST
START_TEST(llama_peft_adapter_and_merge) {
  check_peft_and_merge("tests/fixtures/models/tiny-llama");
}
END_TEST
START_TEST(qwen2_peft_adapter_and_merge) {
  check_peft_and_merge("tests/fixtures/models/tiny-qwen2");
}
END_TEST
START_TEST(llama_greedy_generation) { check_generation("tests/fixtures/models/tiny-llama"); }
END_TEST
START_TEST(qwen2_greedy_generation) { check_generation("tests/fixtures/models/tiny-qwen2"); }
END_TEST

static void check_variant_logits(const char *dir) {
  fixture f;
  open_fixture(&f, dir);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 0);
  seal_forward_train(&f.model, NULL, &a, f.ids, NULL, NULL, 2, 11);
  check_logits(&f, &a, "logits", 1e-4);
  seal_train_acts_free(&a, &f.model);
  close_fixture(&f);
}
START_TEST(llama_bf16_checkpoint) { check_variant_logits("tests/fixtures/models/tiny-llama-bf16"); }
END_TEST
START_TEST(llama_f16_checkpoint) { check_variant_logits("tests/fixtures/models/tiny-llama-f16"); }
END_TEST
START_TEST(llama_sharded_checkpoint) {
  check_variant_logits("tests/fixtures/models/tiny-llama-sharded");
}
END_TEST

/* Generation of prompt (len) alone with a generator seeded `seed` gives got's
 * tokens: what a sequence of a batch must give. */
static void assert_as_alone(fixture *f, const int32_t *prompt, int len, const seal_sampling *s,
                            uint64_t seed, const seal_generation *got) {
  seal_rng one;
  seal_rng_seed(&one, seed);
  seal_generation alone;
  seal_generate(&f->model, NULL, NULL, &prompt, &len, 1, s, &one, &alone);
  ck_assert_int_eq(alone.n, got->n);
  for (int i = 0; i < alone.n; i++) ck_assert_int_eq(alone.ids[i], got->ids[i]);
  seal_generation_free(&alone, 1);
}

/* A prompt repeated in a row (the k samples of one self-edit prompt) is
 * prefilled once and its keys and values copied to the next slots
 * (model/generate.c): each sequence, sampled with its own generator, still
 * gives what it gives alone; a copy of the prompt in another buffer counts as
 * the same prompt, and one that comes back after another is prefilled again. */
START_TEST(repeated_prompts_share_a_prefill_and_match_single) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-qwen2");
  int32_t copy[7];
  memcpy(copy, f.ids, sizeof copy);
  const int32_t *prompts[5] = {f.ids, f.ids, copy, f.ids + 11, f.ids};
  int lens[5] = {7, 7, 7, 3, 7};
  seal_sampling s = {.temperature = 0.9f, .top_p = 0.95f, .max_new_tokens = 8};
  seal_rng rngs[5];
  for (int b = 0; b < 5; b++) seal_rng_seed(&rngs[b], 40 + (uint64_t)b);
  seal_generation all[5];
  seal_generate(&f.model, NULL, NULL, prompts, lens, 5, &s, rngs, all);
  int differ = 0;
  for (int b = 0; b < 5; b++) {
    assert_as_alone(&f, prompts[b], lens[b], &s, 40 + (uint64_t)b, &all[b]);
    differ += b > 0 && (all[b].n != all[0].n ||
                        memcmp(all[b].ids, all[0].ids, (size_t)all[0].n * sizeof(int32_t)) != 0);
  }
  /* the same prompt with other generators drew other tokens: the test sees them */
  ck_assert_msg(differ > 0, "every sample drew the same tokens: the test proves nothing");
  seal_generation_free(all, 5);
  close_fixture(&f);
}
END_TEST

/* Prompts of different lengths batched together give what each gives alone,
 * greedy or sampled (each sequence has its own generator), and generation
 * stops on any EOS id. */
START_TEST(batched_generation_matches_single_and_stops_on_eos) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-qwen2");
  const int32_t *prompts[2] = {f.ids, f.ids + 11};
  int lens[2] = {7, 3};
  for (int sampled = 0; sampled < 2; sampled++) {
    seal_sampling s = {.temperature = sampled ? 0.9f : 0.0f, .top_p = 0.9f, .max_new_tokens = 6};
    seal_rng rngs[2];
    seal_rng_seed(&rngs[0], 11);
    seal_rng_seed(&rngs[1], 12);
    seal_generation both[2];
    seal_generate(&f.model, NULL, NULL, prompts, lens, 2, &s, rngs, both);
    for (int b = 0; b < 2; b++)
      assert_as_alone(&f, prompts[b], lens[b], &s, 11 + (uint64_t)b, &both[b]);
    seal_generation_free(both, 2);
  }
  /* make the third greedy token of sequence 0 an EOS: it stops before it */
  seal_sampling g = {.temperature = 0, .top_p = 1, .max_new_tokens = 6};
  seal_rng r;
  seal_rng_seed(&r, 1);
  seal_generation first;
  seal_generate(&f.model, NULL, NULL, prompts, lens, 1, &g, &r, &first);
  ck_assert_int_eq(first.hit_eos, 0);
  f.model.cfg.eos_ids[f.model.cfg.n_eos++] = first.ids[2];
  seal_generation cut;
  seal_generate(&f.model, NULL, NULL, prompts, lens, 1, &g, &r, &cut);
  ck_assert_int_eq(cut.hit_eos, 1);
  ck_assert_int_le(cut.n, 2);
  seal_generation_free(&first, 1);
  seal_generation_free(&cut, 1);
  close_fixture(&f);
}
END_TEST

/* Sequences decoding with different adapters of a multi-adapter LoRA in one
 * batch give what each adapter gives alone. */
START_TEST(multi_adapter_generation_matches_views) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-qwen2");
  unsigned all = (1u << SEAL_LORA_N_TARGETS) - 1;
  seal_lora multi;
  seal_lora_create_multi(&multi, &f.model, 2, 4, 8.0f, all);
  seal_error e;
  seal_lora v0 = seal_lora_view(&multi, 0), v1 = seal_lora_view(&multi, 1);
  if (seal_lora_from_tensors(&v0, &f.golden, &e)) ck_abort_msg("%s", e.msg);
  /* adapter 1: the golden adapter after five AdamW steps (".final" names) */
  seal_tensor_set fin = {0};
  for (int i = 0; i < f.golden.n; i++) {
    const seal_host_tensor *t = &f.golden.items[i];
    size_t len = strlen(t->name);
    if (len < 6 || strcmp(t->name + len - 6, ".final")) continue;
    char *name = seal_strdup(t->name);
    name[len - 6] = '\0';
    float *d = seal_malloc((size_t)seal_tensor_numel(t) * sizeof(float));
    memcpy(d, t->data, (size_t)seal_tensor_numel(t) * sizeof(float));
    seal_tensors_add(&fin, name, t->ndim, t->shape, d);
    free(name);
  }
  if (seal_lora_from_tensors(&v1, &fin, &e)) ck_abort_msg("%s", e.msg);
  const int32_t *prompts[4] = {f.ids, f.ids + 11, f.ids + 2, f.ids + 13};
  int lens[4] = {6, 4, 5, 7}, adapter[4] = {0, 1, 1, 0};
  seal_sampling s = {.temperature = 0, .top_p = 1, .max_new_tokens = 6};
  seal_rng rngs[4];
  for (int b = 0; b < 4; b++) seal_rng_seed(&rngs[b], (uint64_t)b);
  seal_generation both[4];
  seal_generate_multi(&f.model, &multi, NULL, prompts, lens, 4, &s, rngs, adapter, both);
  int differ = 0;
  for (int b = 0; b < 4; b++) {
    seal_lora v = seal_lora_view(&multi, adapter[b]);
    seal_generation alone;
    seal_generate(&f.model, &v, NULL, &prompts[b], &lens[b], 1, &s, &rngs[b], &alone);
    ck_assert_int_eq(alone.n, both[b].n);
    for (int i = 0; i < alone.n; i++) ck_assert_int_eq(alone.ids[i], both[b].ids[i]);
    /* the other adapter would have answered differently somewhere */
    seal_lora w = seal_lora_view(&multi, 1 - adapter[b]);
    seal_generation other;
    seal_generate(&f.model, &w, NULL, &prompts[b], &lens[b], 1, &s, &rngs[b], &other);
    for (int i = 0; i < other.n && i < alone.n; i++) differ += other.ids[i] != alone.ids[i];
    seal_generation_free(&alone, 1);
    seal_generation_free(&other, 1);
  }
  ck_assert_msg(differ > 0, "the two adapters decode alike: the test would not notice a mix-up");
  seal_generation_free(both, 4);
  seal_tensors_free(&fin);
  seal_lora_free(&multi);
  close_fixture(&f);
}
END_TEST

/* PEFT's initialisation: A kaiming-uniform within 1/sqrt(in), B zero. */
START_TEST(lora_init_is_pefts) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-llama");
  seal_lora l;
  seal_lora_create(&l, &f.model, 4, 8.0f, (1u << SEAL_LORA_N_TARGETS) - 1);
  seal_rng rng;
  seal_rng_seed(&rng, 5);
  seal_lora_init(&l, &rng);
  seal_tensor_set t = {0};
  seal_lora_to_tensors(&l, &t);
  for (int i = 0; i < t.n; i++) {
    const seal_host_tensor *x = &t.items[i];
    int64_t n = seal_tensor_numel(x);
    bool is_a = strstr(x->name, "lora_A") != NULL;
    double bound = 1.0 / sqrt((double)x->shape[1]), maxabs = 0;
    for (int64_t j = 0; j < n; j++) maxabs = fmax(maxabs, fabs(x->data[j]));
    if (is_a)
      ck_assert_msg(maxabs <= bound && maxabs > 0.5 * bound, "%s: max %g, bound %g", x->name,
                    maxabs, bound);
    else
      ck_assert_msg(maxabs == 0.0, "%s is not zero", x->name);
  }
  seal_tensors_free(&t);
  seal_lora_free(&l);
  close_fixture(&f);
}
END_TEST

/* KV-cached inference must give the same last-token logits as the full forward. */
START_TEST(cached_inference_matches_full_forward) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-qwen2");
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 0);
  seal_forward_train(&f.model, NULL, &a, f.ids, NULL, NULL, 2, 11);
  int V = f.model.cfg.vocab_size;
  float *full = seal_malloc((size_t)22 * V * sizeof(float));
  f.be->ops->to_host(f.be, full, a.logits, f.be->act, (size_t)22 * V);
  seal_kv_cache c;
  seal_kv_cache_create(&c, &f.model, 2, 16, 0);
  /* row 0: prefill 6 tokens then feed 5 one at a time; row 1: prefill all 11 */
  int32_t zero = 0;
  float *got = seal_malloc((size_t)V * seal_act_size(f.be));
  seal_forward_infer(&f.model, NULL, &c, f.ids, &zero, 0, 1, 6);
  f.be->ops->to_host(f.be, got, c.logits, f.be->act, (size_t)V);
  check_close(&f, got, full + (size_t)5 * V, (size_t)V, 1e-4, "cached logits");
  seal_forward_infer(&f.model, NULL, &c, f.ids + 11, &zero, 1, 1, 11);
  f.be->ops->to_host(f.be, got, c.logits, f.be->act, (size_t)V);
  check_close(&f, got, full + (size_t)21 * V, (size_t)V, 1e-4, "cached logits");
  for (int t = 6; t < 11; t++) {
    int32_t pos[2] = {t, 10};
    int32_t next[2] = {f.ids[t], f.ids[11 + 10]};
    /* row 1 re-feeds its last token at its last position: same logits again */
    seal_forward_infer(&f.model, NULL, &c, next, pos, 0, 2, 1);
    f.be->ops->to_host(f.be, got, c.logits, f.be->act, (size_t)V);
    check_close(&f, got, full + (size_t)t * V, (size_t)V, 1e-4, "cached logits (decode)");
  }
  f.be->ops->to_host(f.be, got, (char *)c.logits + (size_t)V * seal_act_size(f.be), f.be->act,
                     (size_t)V);
  check_close(&f, got, full + (size_t)21 * V, (size_t)V, 1e-4, "cached logits");
  free(got);
  free(full);
  seal_kv_cache_free(&c, &f.model);
  seal_train_acts_free(&a, &f.model);
  close_fixture(&f);
}
END_TEST

/* Relative L2 of a compact CPU backend's logits from float32's on the values
 * its base matrices hold (checked at each dtype's bound below), for the
 * fixture at dir: the model's arithmetic, without the rounding of the
 * checkpoint's weights. */
static void check_against_float32_on_own_weights(const char *dir, double rel, double rel_few) {
  fixture f;
  open_fixture(&f, dir);
  seal_error e = {{0}};
  seal_backend *cpu = seal_backend_create("cpu", &e);
  ck_assert_msg(cpu != NULL, "cpu: %s", e.msg);
  seal_model ref;
  if (seal_model_create(&ref, cpu, &f.ck.config, &f.ck.weights, &e)) ck_abort_msg("%s", e.msg);
  int matrices = 0;
  for (int i = 0; i < f.ck.weights.n; i++) {
    const char *name = f.ck.weights.items[i].name;
    int rows, cols, rrows, rcols;
    void *w = seal_model_weight(&f.model, name, &rows, &cols);
    float *r = seal_model_weight(&ref, name, &rrows, &rcols);
    if (!w || f.ck.weights.items[i].ndim != 2) continue; /* norms, biases: float32 on both */
    ck_assert(r && rows == rrows && cols == rcols);
    seal_download_matrix(f.be, r, w, rows, cols); /* cpu's f32 weights are host memory */
    matrices++;
  }
  ck_assert_int_ge(matrices, 7);
  seal_train_acts a, ra;
  seal_train_acts_create(&a, &f.model, 2 * 11, 0);
  seal_train_acts_create(&ra, &ref, 2 * 11, 0);
  seal_forward_train(&f.model, NULL, &a, f.ids, NULL, NULL, 2, 11);
  seal_forward_train(&ref, NULL, &ra, f.ids, NULL, NULL, 2, 11);
  size_t n = (size_t)22 * f.model.cfg.vocab_size;
  float *got = seal_malloc(n * sizeof(float)), *want = seal_malloc(n * sizeof(float));
  f.be->ops->to_host(f.be, got, a.logits, SEAL_F32, n);
  cpu->ops->to_host(cpu, want, ra.logits, SEAL_F32, n);
  double r = rel_l2(got, want, n);
  ck_assert_msg(r <= rel, "%s: logits %g from float32 on its own weights (relative L2) > %g", dir,
                r, rel);
  /* 6 tokens through the KV cache: 6 rows, the few-row (decoding) kernels */
  seal_kv_cache c, rc;
  seal_kv_cache_create(&c, &f.model, 1, 16, 0);
  seal_kv_cache_create(&rc, &ref, 1, 16, 0);
  int32_t zero = 0;
  seal_forward_infer(&f.model, NULL, &c, f.ids, &zero, 0, 1, 6);
  seal_forward_infer(&ref, NULL, &rc, f.ids, &zero, 0, 1, 6);
  const size_t V = (size_t)f.model.cfg.vocab_size;
  f.be->ops->to_host(f.be, got, c.logits, SEAL_F32, V);
  cpu->ops->to_host(cpu, want, rc.logits, SEAL_F32, V);
  r = rel_l2(got, want, V);
  ck_assert_msg(r <= rel_few,
                "%s: cached logits %g from float32 on its own weights (relative L2) > %g", dir, r,
                rel_few);
  seal_kv_cache_free(&rc, &ref);
  seal_kv_cache_free(&c, &f.model);
  free(got), free(want);
  seal_train_acts_free(&ra, &ref);
  seal_train_acts_free(&a, &f.model);
  seal_model_free(&ref);
  seal_backend_destroy(cpu);
  close_fixture(&f);
}

/* On the CPU's compact base matrices (bf16, q8, q4; float32 activations),
 * the logits against float32's on the same dequantised weights: what is left
 * is the kernels' own rounding.
 * - A 22-token forward takes the dequantised tiles through the same sgemm:
 *   measured 0 on all three; bound 1e-5 (float32 summation order).
 * - 6 tokens through the KV cache take the few-row kernels: bf16's are
 *   float32 products (measured 1e-8), q8's and q4's quantise each input row
 *   to int8 per block of 32 (about 0.5% of a Gaussian input's sigma per
 *   value, in every matmul of the two layers): measured 2.1% and 1.4% (q8),
 *   2.5% and 1.3% (q4) on tiny-llama and tiny-qwen2; bound 4e-2. */
START_TEST(compact_model_matches_float32_on_its_own_weights) {
  const char *device = getenv("SEAL_TEST_DEVICE");
  if (!device || strncmp(device, "cpu:", 4)) return; /* float32 itself, or CUDA */
  check_against_float32_on_own_weights("tests/fixtures/models/tiny-llama", 1e-5, 4e-2);
  check_against_float32_on_own_weights("tests/fixtures/models/tiny-qwen2", 1e-5, 4e-2);
}
END_TEST

/* The whole model's LoRA gradient against central finite differences of the
 * loss, for a spread of parameters of every target. */
START_TEST(whole_model_lora_gradient_matches_finite_differences) {
  fixture f;
  open_fixture(&f, "tests/fixtures/models/tiny-qwen2");
  if (is_bf16(&f)) { /* finite differences need float32 resolution */
    close_fixture(&f);
    return;
  }
  seal_lora l;
  load_initial_adapter(&f, &l);
  seal_train_acts a;
  seal_train_acts_create(&a, &f.model, 2 * 11, 4);
  seal_forward_train(&f.model, &l, &a, f.ids, f.targets, f.weights, 2, 11);
  seal_backward_train(&f.model, &l, &a);
  float *grad = seal_malloc(l.n_params * sizeof(float));
  float *param = seal_malloc(l.n_params * sizeof(float));
  f.be->ops->to_host(f.be, grad, l.grads, SEAL_F32, l.n_params);
  f.be->ops->to_host(f.be, param, l.params, SEAL_F32, l.n_params);
  int checked = 0;
  for (size_t i = 7; i < l.n_params; i += l.n_params / 23) {
    if (fabsf(grad[i]) < 1e-3f) continue; /* too small to resolve in float32 */
    const float eps = 1e-2f;
    float orig = param[i];
    double loss[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      param[i] = orig + (sgn ? -eps : eps);
      f.be->ops->to_device(f.be, l.params, SEAL_F32, param, l.n_params);
      loss[sgn] = seal_forward_train(&f.model, &l, &a, f.ids, f.targets, f.weights, 2, 11);
    }
    param[i] = orig;
    double fd = (loss[0] - loss[1]) / (2.0 * eps);
    ck_assert_msg(fabs(fd - grad[i]) <= 2e-2 * fabs(grad[i]) + 1e-4,
                  "parameter %zu: finite difference %g, backward %g", i, fd, grad[i]);
    checked++;
  }
  ck_assert_int_ge(checked, 10);
  free(grad);
  free(param);
  seal_train_acts_free(&a, &f.model);
  seal_lora_free(&l);
  close_fixture(&f);
}
END_TEST

Suite *golden_suite(void) {
  Suite *s = suite_create("golden");
  TCase *tc = tcase_create("pytorch");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, llama_logits_and_loss);
  tcase_add_test(tc, qwen2_logits_and_loss);
  tcase_add_test(tc, llama_lora_gradients);
  tcase_add_test(tc, qwen2_lora_gradients);
  tcase_add_test(tc, llama_adamw_five_steps);
  tcase_add_test(tc, qwen2_adamw_five_steps);
  tcase_add_test(tc, llama_peft_adapter_and_merge);
  tcase_add_test(tc, qwen2_peft_adapter_and_merge);
  tcase_add_test(tc, llama_greedy_generation);
  tcase_add_test(tc, qwen2_greedy_generation);
  tcase_add_test(tc, llama_bf16_checkpoint);
  tcase_add_test(tc, llama_f16_checkpoint);
  tcase_add_test(tc, llama_sharded_checkpoint);
  tcase_add_test(tc, cached_inference_matches_full_forward);
  tcase_add_test(tc, compact_model_matches_float32_on_its_own_weights);
  tcase_add_test(tc, whole_model_lora_gradient_matches_finite_differences);
  tcase_add_test(tc, batched_generation_matches_single_and_stops_on_eos);
  tcase_add_test(tc, repeated_prompts_share_a_prefill_and_match_single);
  tcase_add_test(tc, lora_init_is_pefts);
  tcase_add_test(tc, multi_adapter_generation_matches_views);
  suite_add_tcase(s, tc);
  return s;
}
