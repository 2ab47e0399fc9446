/* tests/trainer/test_export.c — `seal export` at the library level: several
 * policy rounds of different ranks and targets exported as one PEFT adapter
 * give the logits of the base with the rounds merged one after another; a
 * merged Hugging Face export (from HF and GGUF bases, f32 and bf16) reopens with
 * the same weights and logits; bad requests are refused with a message. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/graph.h"
#include "model/loader.h"
#include "model/lora.h"
#include "trainer/checkpoint.h"
#include "trainer/export.h"

#define TINY_LLAMA "tests/fixtures/models/tiny-llama"
#define TINY_QWEN2 "tests/fixtures/models/tiny-qwen2"
#define TINY_LLAMA_GGUF "tests/fixtures/loaders/tiny_llama.gguf"
#define TINY_QWEN2_GGUF "tests/fixtures/loaders/tiny_qwen2.gguf"
#define T_TOKENS 12

/* ---- scratch directories ------------------------------------------------ */

static char tmp[64];

static void make_tmp(void) {
  snprintf(tmp, sizeof tmp, "/tmp/seal-export-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static void remove_tmp(void) { nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- a model and its logits ---------------------------------------------- */

typedef struct {
  seal_checkpoint ck;
  seal_backend *be;
  seal_model m;
} loaded;

static void load(loaded *x, const char *path) {
  seal_error e;
  if (seal_checkpoint_open(path, &x->ck, &e)) ck_abort_msg("open %s: %s", path, e.msg);
  x->be = seal_cpu_backend_create(SEAL_F32, &e);
  if (seal_model_create(&x->m, x->be, &x->ck.config, &x->ck.weights, &e))
    ck_abort_msg("model %s: %s", path, e.msg);
}

static void unload(loaded *x) {
  seal_model_free(&x->m);
  seal_backend_destroy(x->be);
  seal_checkpoint_free(&x->ck);
}

/* Logits [T_TOKENS, V] of a fixed token sequence, on the host. */
static float *logits(seal_model *m, const seal_lora *lora) {
  int32_t ids[T_TOKENS];
  for (int t = 0; t < T_TOKENS; t++) ids[t] = (int32_t)((t * 37 + 5) % m->cfg.vocab_size);
  seal_train_acts a;
  seal_train_acts_create(&a, m, T_TOKENS, lora ? lora->r : 0);
  seal_forward_train(m, lora, &a, ids, NULL, NULL, 1, T_TOKENS);
  size_t n = (size_t)T_TOKENS * m->cfg.vocab_size;
  float *out = seal_malloc(n * sizeof(float));
  m->be->ops->to_host(m->be, out, a.logits, m->be->act, n);
  seal_train_acts_free(&a, m);
  return out;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

/* ---- a run state with random policy rounds ------------------------------- */

#define ALPHA 6.0f

static const unsigned TARGETS_0 =
    1u << SEAL_LORA_Q | 1u << SEAL_LORA_V | 1u << SEAL_LORA_DOWN; /* rank 4 */
static const unsigned TARGETS_1 = 1u << SEAL_LORA_Q | 1u << SEAL_LORA_K | 1u << SEAL_LORA_O |
                                  1u << SEAL_LORA_GATE | 1u << SEAL_LORA_UP; /* rank 2 */

/* Round tensors with random A and B (B is zero after PEFT's init; here it must
 * not be, or the rounds would change nothing). */
static void random_round(seal_model *m, int r, unsigned targets, uint64_t seed,
                         seal_tensor_set *out) {
  seal_lora l;
  seal_lora_create(&l, m, r, ALPHA, targets);
  seal_rng rng;
  seal_rng_seed(&rng, seed);
  float *p = seal_malloc(l.n_params * sizeof(float)); /* [n_params] */
  for (size_t i = 0; i < l.n_params; i++) p[i] = (float)(0.1 * seal_rng_normal(&rng));
  m->be->ops->to_device(m->be, l.params, SEAL_F32, p, l.n_params);
  free(p);
  seal_lora_to_tensors(&l, out);
  seal_lora_free(&l);
}

/* A state as the run leaves it: the base's description and two rounds of
 * ranks 4 and 2 with different targets. */
static void make_state(seal_run_state *st, loaded *base, const char *base_path) {
  const seal_model_config *c = &base->m.cfg;
  seal_run_state_init(st);
  seal_run_state_set_string(&st->base_path, base_path);
  snprintf(st->architecture, sizeof st->architecture, "%s",
           c->arch == SEAL_ARCH_QWEN2 ? "qwen2" : "llama");
  st->hidden = c->hidden, st->n_layers = c->n_layers, st->n_heads = c->n_heads;
  st->n_kv_heads = c->n_kv_heads, st->vocab_size = c->vocab_size;
  st->intermediate = c->intermediate;
  st->lora_r = 4, st->lora_alpha = ALPHA;
  st->round = 2; /* two rounds finished: a checkpoint holds no policy round ahead of it */
  const int ranks[2] = {4, 2};
  const unsigned targets[2] = {TARGETS_0, TARGETS_1};
  for (int i = 0; i < 2; i++) {
    seal_tensor_set t = {0};
    random_round(&base->m, ranks[i], targets[i], 100 + (uint64_t)i, &t);
    seal_run_state_set_policy(st, i, &t);
  }
}

/* Merges the first n rounds into m one after another, as the run did. */
static void merge_reference(seal_model *m, const seal_run_state *st, int n) {
  const int ranks[2] = {4, 2};
  const unsigned targets[2] = {TARGETS_0, TARGETS_1};
  for (int i = 0; i < n; i++) {
    seal_lora l;
    seal_error e;
    seal_lora_create(&l, m, ranks[i], st->lora_alpha, targets[i]);
    if (seal_lora_from_tensors(&l, &st->policy[i], &e)) ck_abort_msg("round %d: %s", i, e.msg);
    seal_lora_merge(&l, m);
    seal_lora_free(&l);
  }
}

/* ---- PEFT ------------------------------------------------------------------ */

static json_t *read_json(const char *dir, const char *file) {
  char *p = seal_path_join(dir, file);
  json_error_t je;
  json_t *j = json_load_file(p, 0, &je);
  ck_assert_msg(j != NULL, "%s: %s", p, je.text);
  free(p);
  return j;
}

/* Exported after n rounds, loaded back through PEFT's format onto the base:
 * the logits are those of the base with the n rounds merged. */
static void check_peft_rounds(int n) {
  loaded base, ref;
  load(&base, TINY_LLAMA);
  load(&ref, TINY_LLAMA);
  seal_run_state st;
  make_state(&st, &base, TINY_LLAMA);
  make_tmp();
  char *dir = seal_path_join(tmp, "adapter");
  seal_error e;
  if (seal_export_peft(&st, n, dir, &e)) ck_abort_msg("export: %s", e.msg);

  seal_lora l;
  if (seal_lora_load_peft(&l, &base.m, dir, &e)) ck_abort_msg("load exported: %s", e.msg);
  int want_r = n == 1 ? 4 : 6;
  unsigned want_t = n == 1 ? TARGETS_0 : TARGETS_0 | TARGETS_1;
  ck_assert_int_eq(l.r, want_r);
  ck_assert_uint_eq(l.targets, want_t);
  ck_assert_float_eq(l.scale, 1.0f);
  json_t *cfg = read_json(dir, "adapter_config.json");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "base_model_name_or_path")), TINY_LLAMA);
  ck_assert_int_eq(json_integer_value(json_object_get(cfg, "r")), want_r);
  ck_assert_int_eq(json_integer_value(json_object_get(cfg, "lora_alpha")), want_r);
  json_decref(cfg);

  float *plain = logits(&base.m, NULL);
  float *adapted = logits(&base.m, &l);
  merge_reference(&ref.m, &st, n);
  float *merged = logits(&ref.m, NULL);
  size_t count = (size_t)T_TOKENS * base.m.cfg.vocab_size;
  double moved = max_abs_diff(plain, merged, count), d = max_abs_diff(adapted, merged, count);
  ck_assert_msg(moved > 1e-2, "the rounds hardly change the logits (%g): the test is blind", moved);
  ck_assert_msg(d < 1e-4, "%d round(s): base+exported adapter vs merged rounds: max abs diff %g", n,
                d);

  free(plain), free(adapted), free(merged);
  seal_lora_free(&l);
  seal_run_state_free(&st);
  unload(&base), unload(&ref);
  free(dir);
  remove_tmp();
}

START_TEST(test_peft_all_rounds_equal_sequential_merge) { check_peft_rounds(2); }
END_TEST

START_TEST(test_peft_first_round_only) { check_peft_rounds(1); }
END_TEST

/* The concatenated tensors themselves: A stacks the rounds' rows, B their
 * columns scaled by alpha/r_i, zeros where a round lacks the module. */
START_TEST(test_peft_tensor_layout) {
  loaded base;
  load(&base, TINY_LLAMA);
  seal_run_state st;
  make_state(&st, &base, TINY_LLAMA);
  seal_tensor_set out = {0};
  int rank;
  unsigned targets;
  seal_error e;
  if (seal_export_combine_rounds(&st, SEAL_EXPORT_ALL_ROUNDS, &out, &rank, &targets, &e))
    ck_abort_msg("%s", e.msg);
  ck_assert_int_eq(rank, 6);
  const char *v_b = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
  const char *k_a = "base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight";
  const seal_host_tensor *vb = seal_tensors_find(&out, v_b), *ka = seal_tensors_find(&out, k_a);
  const seal_host_tensor *vb0 = seal_tensors_find(&st.policy[0], v_b);
  const seal_host_tensor *ka1 = seal_tensors_find(&st.policy[1], k_a);
  ck_assert_ptr_nonnull(vb);
  ck_assert_ptr_nonnull(ka);
  ck_assert_ptr_nonnull(vb0);
  ck_assert_ptr_nonnull(ka1);
  ck_assert_int_eq(vb->shape[1], 6);
  ck_assert_int_eq(ka->shape[0], 6);
  for (int64_t o = 0; o < vb->shape[0]; o++)
    for (int k = 0; k < 6; k++) {
      float want = k < 4 ? ALPHA / 4 * vb0->data[o * 4 + k] : 0.0f; /* round 1 has no v */
      ck_assert_float_eq(vb->data[o * 6 + k], want);
    }
  int64_t in = ka->shape[1];
  for (int64_t i = 0; i < 6 * in; i++) {
    float want = i < 4 * in ? 0.0f : ka1->data[i - 4 * in]; /* round 0 has no k */
    ck_assert_float_eq(ka->data[i], want);
  }
  seal_tensors_free(&out);
  seal_run_state_free(&st);
  unload(&base);
}
END_TEST

/* ---- merged checkpoints --------------------------------------------------- */

/* Exports base + both rounds as an HF directory and reopens it. */
static void check_merged(const char *base_path, seal_export_dtype dtype, double tol) {
  loaded base, ref;
  load(&base, base_path);
  load(&ref, base_path);
  seal_run_state st;
  make_state(&st, &base, base_path);
  make_tmp();
  char *dir = seal_path_join(tmp, "merged");
  seal_error e;
  if (seal_export_merged(&st, SEAL_EXPORT_ALL_ROUNDS, NULL, dir, dtype, &e))
    ck_abort_msg("export %s: %s", base_path, e.msg);
  merge_reference(&ref.m, &st, 2);
  loaded back;
  load(&back, dir);

  const seal_model_config *a = &ref.m.cfg, *b = &back.m.cfg;
  ck_assert_int_eq(a->arch, b->arch);
  ck_assert_int_eq(a->head_dim, b->head_dim);
  ck_assert_int_eq(a->max_position, b->max_position);
  ck_assert_float_eq(a->rms_eps, b->rms_eps);
  ck_assert_float_eq(a->rope_theta, b->rope_theta);
  ck_assert_int_eq(a->rope_llama3, b->rope_llama3);
  ck_assert_float_eq(a->rope_factor, b->rope_factor);
  ck_assert_int_eq(a->tie_embeddings, b->tie_embeddings);
  ck_assert_int_eq(a->bos_id, b->bos_id);
  ck_assert_int_eq(a->n_eos, b->n_eos);
  for (int i = 0; i < a->n_eos; i++) ck_assert_int_eq(a->eos_ids[i], b->eos_ids[i]);
  ck_assert_int_eq(a->attn_bias, b->attn_bias);

  /* every weight is the reference's, rounded to bf16 when asked */
  ck_assert_int_eq(back.ck.weights.n, base.ck.weights.n);
  for (int i = 0; i < back.ck.weights.n; i++) {
    const seal_host_tensor *t = &back.ck.weights.items[i];
    int rows, cols;
    void *w = seal_model_weight(&ref.m, t->name, &rows, &cols);
    ck_assert_msg(w != NULL, "unexpected tensor %s", t->name);
    size_t n = (size_t)seal_tensor_numel(t);
    ck_assert_uint_eq(n, (size_t)rows * cols);
    float *want = seal_malloc(n * sizeof(float));
    ref.be->ops->to_host(ref.be, want, w, ref.be->act, n);
    for (size_t k = 0; k < n; k++) {
      uint32_t u;
      memcpy(&u, &want[k], 4);
      if (dtype == SEAL_EXPORT_BF16) u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
      float expect;
      memcpy(&expect, &u, 4);
      ck_assert_msg(t->data[k] == expect, "%s[%zu]: %.9g, expected %.9g", t->name, k,
                    (double)t->data[k], (double)expect);
    }
    free(want);
  }
  float *want = logits(&ref.m, NULL), *got = logits(&back.m, NULL);
  double d = max_abs_diff(want, got, (size_t)T_TOKENS * a->vocab_size);
  ck_assert_msg(d < tol, "%s: reopened merged export vs merged reference: max abs diff %g",
                base_path, d);

  free(want), free(got);
  unload(&back), unload(&ref), unload(&base);
  seal_run_state_free(&st);
  free(dir);
}

START_TEST(test_merged_hf_llama_reopens_same) {
  check_merged(TINY_LLAMA, SEAL_EXPORT_F32, 1e-5);
  /* an HF base's companions come along */
  char *gen = seal_asprintf("%s/merged/generation_config.json", tmp);
  ck_assert(seal_file_exists(gen));
  free(gen);
  json_t *cfg = read_json(tmp, "merged/config.json");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "dtype")), "float32");
  json_decref(cfg);
  remove_tmp();
}
END_TEST

START_TEST(test_merged_hf_qwen2_reopens_same) {
  check_merged(TINY_QWEN2, SEAL_EXPORT_F32, 1e-5); /* q/k/v biases, untied lm_head */
  remove_tmp();
}
END_TEST

START_TEST(test_merged_gguf_llama_reopens_same) {
  check_merged(TINY_LLAMA_GGUF, SEAL_EXPORT_F32, 1e-5); /* config.json written from the config */
  json_t *cfg = read_json(tmp, "merged/config.json");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "model_type")), "llama");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "torch_dtype")), "float32");
  json_decref(cfg);
  remove_tmp();
}
END_TEST

START_TEST(test_merged_gguf_qwen2_reopens_same) {
  check_merged(TINY_QWEN2_GGUF, SEAL_EXPORT_F32, 1e-5);
  remove_tmp();
}
END_TEST

START_TEST(test_merged_bf16) {
  check_merged(TINY_LLAMA, SEAL_EXPORT_BF16, 0.1);
  char *p = seal_asprintf("%s/merged/model.safetensors", tmp);
  size_t n;
  seal_error e;
  char *bytes = seal_read_file(p, &n, &e);
  ck_assert_ptr_nonnull(bytes);
  ck_assert_ptr_nonnull(strstr(bytes + 8, "\"dtype\":\"BF16\""));
  ck_assert_ptr_null(strstr(bytes + 8, "\"dtype\":\"F32\""));
  free(bytes), free(p);
  json_t *cfg = read_json(tmp, "merged/config.json");
  ck_assert_str_eq(json_string_value(json_object_get(cfg, "dtype")), "bfloat16");
  json_decref(cfg);
  remove_tmp();
}
END_TEST

/* ---- through a checkpoint file ------------------------------------------- */

START_TEST(test_from_checkpoint_file) {
  loaded base;
  load(&base, TINY_LLAMA);
  seal_run_state st;
  make_state(&st, &base, TINY_LLAMA);
  make_tmp();
  char *ckpt = seal_path_join(tmp, "checkpoint.h5"), *dir = seal_path_join(tmp, "a");
  char *mdir = seal_path_join(tmp, "m");
  seal_error e;
  if (seal_checkpoint_write(ckpt, &st, &e)) ck_abort_msg("write: %s", e.msg);
  if (seal_export_checkpoint_peft(ckpt, 2, dir, &e)) ck_abort_msg("peft: %s", e.msg);
  if (seal_export_checkpoint_merged(ckpt, 1, NULL, mdir, SEAL_EXPORT_F32, &e))
    ck_abort_msg("merged: %s", e.msg);
  /* the adapter from the file is the one from the state, bit for bit */
  seal_tensor_set want = {0}, got = {0};
  int rank;
  unsigned targets;
  ck_assert_int_eq(seal_export_combine_rounds(&st, 2, &want, &rank, &targets, &e), 0);
  char *st_path = seal_path_join(dir, "adapter_model.safetensors");
  ck_assert_int_eq(seal_safetensors_read(st_path, &got, &e), 0);
  ck_assert_int_eq(got.n, want.n);
  for (int i = 0; i < want.n; i++) {
    const seal_host_tensor *g = seal_tensors_find(&got, want.items[i].name);
    ck_assert_ptr_nonnull(g);
    size_t n = (size_t)seal_tensor_numel(g);
    ck_assert_uint_eq(n, (size_t)seal_tensor_numel(&want.items[i]));
    ck_assert(memcmp(g->data, want.items[i].data, n * sizeof(float)) == 0);
  }
  /* merged after round 0 only */
  loaded ref, back;
  load(&ref, TINY_LLAMA);
  merge_reference(&ref.m, &st, 1);
  load(&back, mdir);
  float *a = logits(&ref.m, NULL), *b = logits(&back.m, NULL);
  double d = max_abs_diff(a, b, (size_t)T_TOKENS * ref.m.cfg.vocab_size);
  ck_assert_msg(d < 1e-5, "merged after round 0: max abs diff %g", d);
  free(a), free(b);
  unload(&ref), unload(&back), unload(&base);
  seal_tensors_free(&want), seal_tensors_free(&got);
  seal_run_state_free(&st);
  free(ckpt), free(dir), free(mdir), free(st_path);
  remove_tmp();
}
END_TEST

/* ---- errors ------------------------------------------------------------------ */

static void expect_error(int rc, const seal_error *e, const char *needle) {
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(e->msg, needle) != NULL, "error '%s' does not mention '%s'", e->msg, needle);
}

START_TEST(test_errors) {
  loaded base;
  load(&base, TINY_LLAMA);
  seal_run_state st;
  make_state(&st, &base, TINY_LLAMA);
  make_tmp();
  char *dir = seal_path_join(tmp, "out");
  seal_error e;

  /* rounds out of range */
  expect_error(seal_export_peft(&st, 0, dir, &e), &e, "out of range");
  expect_error(seal_export_peft(&st, 3, dir, &e), &e, "out of range");
  expect_error(seal_export_merged(&st, 3, NULL, dir, SEAL_EXPORT_F32, &e), &e, "out of range");
  ck_assert(!seal_file_exists(dir));

  /* an output directory that cannot be created: its parent is a file */
  char *file = seal_path_join(tmp, "a-file");
  ck_assert_int_eq(seal_write_file_atomic(file, "x", 1, false, &e), 0);
  char *under = seal_path_join(file, "adapter");
  expect_error(seal_export_peft(&st, SEAL_EXPORT_ALL_ROUNDS, under, &e), &e, file);
  expect_error(seal_export_merged(&st, SEAL_EXPORT_ALL_ROUNDS, NULL, under, SEAL_EXPORT_F32, &e),
               &e, file);

  /* a base that is not the model the run trained */
  expect_error(seal_export_merged(&st, 1, TINY_QWEN2, dir, SEAL_EXPORT_F32, &e), &e,
               "is a qwen2 model");
  seal_run_state_set_string(&st.base_path, NULL);
  expect_error(seal_export_merged(&st, 1, NULL, dir, SEAL_EXPORT_F32, &e), &e, "--model");

  /* a round whose tensors are not a LoRA */
  seal_tensors_add(&st.policy[1], "model.layers.0.mlp.up_proj.weight", 2, (int64_t[]){1, 1},
                   seal_calloc(1, sizeof(float)));
  expect_error(seal_export_peft(&st, 2, dir, &e), &e, "model.layers.0.mlp.up_proj.weight");

  /* no finished round */
  seal_run_state empty;
  seal_run_state_init(&empty);
  expect_error(seal_export_peft(&empty, SEAL_EXPORT_ALL_ROUNDS, dir, &e), &e, "no finished round");
  seal_run_state_free(&empty);

  /* checkpoints that cannot be read */
  char *missing = seal_path_join(tmp, "missing.h5");
  expect_error(seal_export_checkpoint_peft(missing, SEAL_EXPORT_ALL_ROUNDS, dir, &e), &e, missing);
  expect_error(seal_export_checkpoint_merged(TINY_LLAMA "/config.json", SEAL_EXPORT_ALL_ROUNDS,
                                             NULL, dir, SEAL_EXPORT_F32, &e),
               &e, "config.json");

  free(dir), free(file), free(under), free(missing);
  seal_run_state_free(&st);
  unload(&base);
  remove_tmp();
}
END_TEST

/* The base's config.json, copied into the export, as a FIFO (it used to block
 * the export forever) and as JSON that is not an object. */
START_TEST(test_hostile_base_config) {
  loaded base;
  load(&base, TINY_LLAMA);
  make_tmp();
  char *base_dir = seal_path_join(tmp, "base"), *dir = seal_path_join(tmp, "out");
  char *config = seal_path_join(base_dir, "config.json");
  seal_error e;
  ck_assert_int_eq(seal_mkdirs(base_dir, &e), 0);
  ck_assert_int_eq(mkfifo(config, 0600), 0);
  expect_error(seal_export_hf_model(&base.m, base_dir, dir, SEAL_EXPORT_F32, &e), &e,
               "config.json: not a regular file (a FIFO)");
  unlink(config);
  ck_assert_int_eq(seal_write_file_atomic(config, "[1]", 3, false, &e), 0);
  expect_error(seal_export_hf_model(&base.m, base_dir, dir, SEAL_EXPORT_F32, &e), &e,
               "config.json: expected a JSON object (the model's configuration), got an array");
  free(base_dir), free(dir), free(config);
  unload(&base);
  remove_tmp();
}
END_TEST

/* The file is test_export.c, so the generated main calls export_suite(); the
 * suite is named export_policy (CK_RUN_SUITE=export_policy). */
Suite *export_suite(void) {
  Suite *s = suite_create("export_policy");
  TCase *tc = tcase_create("export");
  tcase_add_test(tc, test_peft_all_rounds_equal_sequential_merge);
  tcase_add_test(tc, test_peft_first_round_only);
  tcase_add_test(tc, test_peft_tensor_layout);
  tcase_add_test(tc, test_merged_hf_llama_reopens_same);
  tcase_add_test(tc, test_merged_hf_qwen2_reopens_same);
  tcase_add_test(tc, test_merged_gguf_llama_reopens_same);
  tcase_add_test(tc, test_merged_gguf_qwen2_reopens_same);
  tcase_add_test(tc, test_merged_bf16);
  tcase_add_test(tc, test_from_checkpoint_file);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_hostile_base_config);
  suite_add_tcase(s, tc);
  return s;
}
