/* tests/model/test_loaders_gguf.c — GGUF: metadata of every type, each tensor
 * type dequantised as gguf-py does, corrupt files refused, llama.cpp's q/k
 * permutation undone, and whole checkpoints (HF directory and GGUF) loaded and
 * checked against each other. The real SmolLM2 test runs only when the model is
 * in the cache (scripts/fetch-model.sh); otherwise it is left out of the suite
 * with a message on stderr. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/loader.h"
#include "model/quant.h"

#define FIX "tests/fixtures/loaders/"

START_TEST(metadata_of_every_type) {
  seal_gguf g;
  seal_error e;
  ck_assert_msg(seal_gguf_open(FIX "quant.gguf", &g, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(g.version, 3);
  ck_assert_int_eq(g.alignment, 64);
  ck_assert_int_eq(g.data_offset % 64, 0);
  int64_t i;
  double f;
  bool b;
  const char *s;
  ck_assert(seal_gguf_get_int(&g, "test.u8", &i, &e) == 1 && i == 200);
  ck_assert(seal_gguf_get_int(&g, "test.i8", &i, &e) == 1 && i == -100);
  ck_assert(seal_gguf_get_int(&g, "test.u16", &i, &e) == 1 && i == 60000);
  ck_assert(seal_gguf_get_int(&g, "test.i16", &i, &e) == 1 && i == -30000);
  ck_assert(seal_gguf_get_int(&g, "test.u32", &i, &e) == 1 && i == 4000000000LL);
  ck_assert(seal_gguf_get_int(&g, "test.i32", &i, &e) == 1 && i == -2000000000LL);
  ck_assert(seal_gguf_get_int(&g, "test.u64", &i, &e) == 1 && i == (1LL << 40));
  ck_assert(seal_gguf_get_int(&g, "test.i64", &i, &e) == 1 && i == -(1LL << 40));
  ck_assert(seal_gguf_get_float(&g, "test.f32", &f, &e) == 1 && f == 0.15625);
  ck_assert(seal_gguf_get_float(&g, "test.f64", &f, &e) == 1 && f == 2.718281828459045);
  ck_assert(seal_gguf_get_float(&g, "test.i32", &f, &e) == 1 && f == -2e9); /* ints widen */
  ck_assert(seal_gguf_get_bool(&g, "test.bool", &b, &e) == 1 && b);
  ck_assert(seal_gguf_get_string(&g, "test.str", &s, &e) == 1 && strcmp(s, "h\xc3\xa9llo") == 0);
  ck_assert(seal_gguf_get_string(&g, "general.architecture", &s, &e) == 1 && !strcmp(s, "llama"));
  ck_assert_int_eq(seal_gguf_get_int(&g, "test.absent", &i, &e), 0);
  ck_assert_int_eq(seal_gguf_get_int(&g, "test.str", &i, &e), -1);
  ck_assert(strstr(e.msg, FIX "quant.gguf") && strstr(e.msg, "test.str"));
  ck_assert_int_eq(seal_gguf_get_string(&g, "test.u8", &s, &e), -1);
  const seal_gguf_kv *kv = seal_gguf_find(&g, "test.arr_i32");
  ck_assert(kv && kv->v.type == SEAL_GGUF_ARRAY && kv->v.arr.elem == SEAL_GGUF_INT32);
  ck_assert_int_eq(kv->v.arr.n, 3);
  ck_assert(seal_gguf_array_int(&kv->v, 0) == 1 && seal_gguf_array_int(&kv->v, 1) == -2);
  kv = seal_gguf_find(&g, "test.arr_f32");
  ck_assert(kv && kv->v.arr.elem == SEAL_GGUF_FLOAT32 && seal_gguf_array_float(&kv->v, 1) == -1.25);
  kv = seal_gguf_find(&g, "test.arr_str");
  ck_assert(kv && kv->v.arr.elem == SEAL_GGUF_STRING && kv->v.arr.n == 3);
  ck_assert(!strcmp(kv->v.arr.strs[0], "a") && !strcmp(kv->v.arr.strs[1], "") &&
            !strcmp(kv->v.arr.strs[2], "ccc"));
  kv = seal_gguf_find(&g, "test.arr_nested");
  ck_assert(kv && kv->v.arr.elem == SEAL_GGUF_ARRAY && kv->v.arr.n == 2);
  ck_assert_int_eq(kv->v.arr.items[0].arr.n, 2);
  ck_assert_int_eq(seal_gguf_array_int(&kv->v.arr.items[1], 0), 3);
  seal_gguf_close(&g);
}
END_TEST

START_TEST(every_tensor_type_dequantises_like_gguf_py) {
  seal_gguf g;
  seal_error e;
  ck_assert_msg(seal_gguf_open(FIX "quant.gguf", &g, &e) == 0, "%s", e.msg);
  seal_tensor_set want = {0};
  ck_assert_msg(seal_safetensors_read(FIX "quant_expected.safetensors", &want, &e) == 0, "%s",
                e.msg);
  const char *names[] = {"f32", "f16", "bf16", "q4_0", "q4_1", "q8_0", "q6_k"};
  const uint32_t types[] = {SEAL_GGML_F32,  SEAL_GGML_F16,  SEAL_GGML_BF16, SEAL_GGML_Q4_0,
                            SEAL_GGML_Q4_1, SEAL_GGML_Q8_0, SEAL_GGML_Q6_K};
  for (int k = 0; k < 7; k++) {
    const seal_gguf_tensor *t = seal_gguf_find_tensor(&g, names[k]);
    const seal_host_tensor *w = seal_tensors_find(&want, names[k]);
    ck_assert_msg(t && w, "%s missing", names[k]);
    ck_assert_int_eq(t->type, types[k]);
    ck_assert_int_eq(t->n_dims, 2);
    ck_assert_int_eq(t->ne[0], w->shape[1]); /* ggml's dims are PyTorch's reversed */
    ck_assert_int_eq(t->ne[1], w->shape[0]);
    int64_t n = seal_gguf_tensor_numel(t);
    float *got = seal_malloc((size_t)n * sizeof *got);
    ck_assert_msg(seal_gguf_tensor_to_f32(&g, t, got, &e) == 0, "%s", e.msg);
    for (int64_t i = 0; i < n; i++)
      ck_assert_msg(got[i] == w->data[i], "%s[%lld]: %.9g, gguf-py says %.9g", names[k],
                    (long long)i, got[i], w->data[i]);
    free(got);
  }
  seal_tensors_free(&want);
  seal_gguf_close(&g);
}
END_TEST

/* ---- corrupt files ------------------------------------------------------ */

static unsigned char *fixture_bytes(const char *path, size_t *n) {
  seal_error e;
  unsigned char *b = (unsigned char *)seal_read_file(path, n, &e);
  ck_assert_msg(b != NULL, "%s", e.msg);
  return b;
}

static void expect_refused_bytes(const void *bytes, size_t n, const char *what) {
  char dir[] = "/tmp/seal-loaders-gguf-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = seal_path_join(dir, "bad.gguf");
  seal_error e;
  ck_assert_int_eq(seal_write_file_atomic(path, bytes, n, false, &e), 0);
  seal_gguf g;
  memset(&e, 0, sizeof e);
  ck_assert_int_eq(seal_gguf_open(path, &g, &e), -1);
  ck_assert_msg(strstr(e.msg, path) != NULL, "error does not name the file: %s", e.msg);
  ck_assert_msg(strstr(e.msg, what) != NULL, "expected '%s' in: %s", what, e.msg);
  /* The model loader refuses it too. */
  seal_checkpoint ck;
  if (n >= 4 && memcmp(bytes, "GGUF", 4) == 0)
    ck_assert_int_eq(seal_checkpoint_open(path, &ck, &e), -1);
  unlink(path);
  rmdir(dir);
  free(path);
}

START_TEST(refuses_truncated_and_corrupt_files) {
  size_t n;
  unsigned char *b = fixture_bytes(FIX "quant.gguf", &n);
  /* Where the last tensor's data ends (the file may carry alignment padding after it). */
  seal_gguf g;
  seal_error e;
  ck_assert_int_eq(seal_gguf_open(FIX "quant.gguf", &g, &e), 0);
  size_t data_end = 0;
  for (int64_t i = 0; i < g.n_tensors; i++) {
    size_t end = (size_t)(g.data_offset + g.tensors[i].offset + g.tensors[i].nbytes);
    if (end > data_end) data_end = end;
  }
  seal_gguf_close(&g);
  ck_assert(data_end <= n && data_end > n / 2);
  /* Cut anywhere before the end: header, metadata, tensor infos or data. */
  const size_t cuts[] = {0, 3, 10, 23, 40, 200, 600, n / 2, data_end - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
    expect_refused_bytes(b, cuts[i], cuts[i] == 0 ? "empty" : "truncated");
  unsigned char *c = seal_malloc(n);
  memcpy(c, b, n);
  c[0] = 'X';
  expect_refused_bytes(c, n, "bad magic");
  memcpy(c, b, n);
  c[4] = 1;
  expect_refused_bytes(c, n, "version 1");
  memcpy(c, b, n);
  c[4] = 0, c[7] = 3; /* version 3, big-endian */
  expect_refused_bytes(c, n, "big-endian");
  memcpy(c, b, n);
  c[15] = 0x10; /* absurd tensor count */
  expect_refused_bytes(c, n, "more than the file holds");
  /* First metadata key's value type (after 24-byte header, 8-byte length, key): */
  memcpy(c, b, n);
  uint64_t klen;
  memcpy(&klen, c + 24, 8);
  c[24 + 8 + klen] = 77;
  expect_refused_bytes(c, n, "unknown value type 77");
  /* A version-2 file is read like version 3. */
  memcpy(c, b, n);
  c[4] = 2;
  char dir[] = "/tmp/seal-loaders-gguf-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = seal_path_join(dir, "v2.gguf");
  ck_assert_int_eq(seal_write_file_atomic(path, c, n, false, &e), 0);
  ck_assert_msg(seal_gguf_open(path, &g, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(g.version, 2);
  seal_gguf_close(&g);
  unlink(path);
  rmdir(dir);
  free(path);
  free(c);
  free(b);
}
END_TEST

START_TEST(refuses_misplaced_tensor_data) {
  size_t n;
  unsigned char *b = fixture_bytes(FIX "quant.gguf", &n);
  seal_gguf g;
  seal_error e;
  ck_assert_int_eq(seal_gguf_open(FIX "quant.gguf", &g, &e), 0);
  /* Locate the last tensor info's offset field: its name then dims, type, offset. */
  const seal_gguf_tensor *t = &g.tensors[g.n_tensors - 1];
  size_t name_len = strlen(t->name);
  unsigned char *at = memmem(b, g.data_offset, t->name, name_len);
  ck_assert_ptr_nonnull(at);
  size_t off_pos = (size_t)(at - b) + name_len + 4 + 8 * (size_t)t->n_dims + 4;
  uint64_t off;
  memcpy(&off, b + off_pos, 8);
  ck_assert_int_eq(off, t->offset);
  unsigned char *c = seal_malloc(n);
  memcpy(c, b, n);
  uint64_t bad = t->offset + 1;
  memcpy(c + off_pos, &bad, 8);
  expect_refused_bytes(c, n, "alignment");
  memcpy(c, b, n);
  bad = g.tensors[0].offset; /* on top of the first tensor */
  memcpy(c + off_pos, &bad, 8);
  expect_refused_bytes(c, n, "overlaps");
  memcpy(c, b, n);
  bad = t->offset + 64 * 1024;
  memcpy(c + off_pos, &bad, 8);
  expect_refused_bytes(c, n, "past the end");
  seal_gguf_close(&g);
  free(c);
  free(b);
}
END_TEST

/* ---- q/k permutation ----------------------------------------------------- */

START_TEST(unpermute_recovers_hf_rows) {
  seal_tensor_set p = {0};
  seal_error e;
  ck_assert_msg(seal_safetensors_read(FIX "permute.safetensors", &p, &e) == 0, "%s", e.msg);
  const seal_host_tensor *hf = seal_tensors_find(&p, "hf"), *gg = seal_tensors_find(&p, "gguf");
  int64_t rows = hf->shape[0], cols = hf->shape[1], n = rows * cols;
  ck_assert(memcmp(hf->data, gg->data, (size_t)n * sizeof(float)) != 0); /* really permuted */
  float *w = seal_malloc((size_t)n * sizeof *w);
  memcpy(w, gg->data, (size_t)n * sizeof *w);
  seal_gguf_unpermute_rows(w, 3, rows, cols);
  ck_assert(memcmp(w, hf->data, (size_t)n * sizeof *w) == 0);
  /* A bias is a one-column matrix. */
  float bias[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* 2 heads of 4, GGUF order */
  seal_gguf_unpermute_rows(bias, 2, 8, 1);
  const float want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  ck_assert(memcmp(bias, want, sizeof want) == 0);
  free(w);
  seal_tensors_free(&p);
}
END_TEST

/* ---- whole checkpoints ----------------------------------------------------- */

static void assert_same_weights(const seal_tensor_set *a, const seal_tensor_set *b) {
  ck_assert_int_eq(a->n, b->n);
  for (int i = 0; i < a->n; i++) {
    const seal_host_tensor *x = &a->items[i], *y = seal_tensors_find(b, x->name);
    ck_assert_msg(y != NULL, "%s missing", x->name);
    ck_assert_int_eq(x->ndim, y->ndim);
    for (int d = 0; d < x->ndim; d++) ck_assert_int_eq(x->shape[d], y->shape[d]);
    ck_assert_msg(memcmp(x->data, y->data, (size_t)seal_tensor_numel(x) * sizeof(float)) == 0,
                  "%s differs", x->name);
  }
}

START_TEST(tiny_llama_gguf_equals_hf_checkpoint) {
  seal_checkpoint hf, gg;
  seal_error e;
  ck_assert_msg(seal_checkpoint_open(FIX "tiny_llama_hf", &hf, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_open(FIX "tiny_llama.gguf", &gg, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(hf.weights.n, 1 + 2 * 9 + 1 + 1); /* sharded: both files read */
  ck_assert_ptr_nonnull(seal_tensors_find(&hf.weights, "lm_head.weight"));
  assert_same_weights(&hf.weights, &gg.weights);
  const seal_model_config *a = &hf.config, *b = &gg.config;
  ck_assert(a->arch == b->arch && a->vocab_size == b->vocab_size && a->hidden == b->hidden);
  ck_assert(a->intermediate == b->intermediate && a->n_layers == b->n_layers);
  ck_assert(a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads);
  ck_assert(a->head_dim == b->head_dim && a->max_position == b->max_position);
  ck_assert(a->rms_eps == b->rms_eps && a->rope_theta == b->rope_theta);
  ck_assert(!b->tie_embeddings && !b->attn_bias && !b->rope_llama3);
  ck_assert_int_eq(b->bos_id, 1);
  ck_assert_int_eq(b->n_eos, 2); /* eos and eot */
  ck_assert(seal_config_is_eos(b, 2) && seal_config_is_eos(b, 3));
  ck_assert(!hf.has_vocab && hf.tokenizer_json == NULL);
  ck_assert_int_eq(a->n_eos, 2); /* config.json's 2, generation_config.json's 5 */
  ck_assert(seal_config_is_eos(a, 2) && seal_config_is_eos(a, 5));
  ck_assert_str_eq(hf.source, FIX "tiny_llama_hf");
  /* The GGUF tokenizer */
  ck_assert(gg.has_vocab);
  const seal_vocab *v = &gg.vocab;
  ck_assert_str_eq(v->model, "gpt2");
  ck_assert_str_eq(v->pre, "smollm");
  ck_assert_int_eq(v->n_tokens, 37);
  ck_assert_str_eq(v->tokens[3], "<|eot|>");
  ck_assert_str_eq(v->tokens[36], "t36");
  ck_assert(v->token_types[0] == 2 && v->token_types[1] == 3 && v->token_types[10] == 1);
  ck_assert_int_eq(v->n_merges, 3);
  ck_assert_str_eq(v->merges[1], "t4 5");
  ck_assert(v->bos_id == 1 && v->eos_id == 2 && v->eot_id == 3 && v->pad_id == 2 && v->unk_id == 0);
  ck_assert_int_eq(v->add_bos, 1);
  ck_assert_str_eq(v->chat_template, "{{ messages }}");
  seal_checkpoint_free(&hf);
  seal_checkpoint_free(&gg);
}
END_TEST

START_TEST(tiny_qwen2_gguf_equals_hf_checkpoint) {
  seal_checkpoint hf, gg;
  seal_error e;
  ck_assert_msg(seal_checkpoint_open(FIX "tiny_qwen2_hf", &hf, &e) == 0, "%s", e.msg);
  ck_assert_msg(seal_checkpoint_open(FIX "tiny_qwen2.gguf", &gg, &e) == 0, "%s", e.msg);
  ck_assert(hf.config.arch == SEAL_ARCH_QWEN2 && hf.config.attn_bias && hf.config.tie_embeddings);
  ck_assert(gg.config.arch == SEAL_ARCH_QWEN2 && gg.config.attn_bias && gg.config.tie_embeddings);
  ck_assert_ptr_nonnull(seal_tensors_find(&hf.weights, "model.layers.0.self_attn.k_proj.bias"));
  ck_assert_ptr_null(seal_tensors_find(&hf.weights, "lm_head.weight"));
  assert_same_weights(&hf.weights, &gg.weights);
  seal_checkpoint_free(&hf);
  seal_checkpoint_free(&gg);
}
END_TEST

/* Copies the tiny Qwen2 directory, lets `edit` change its weights, and expects
 * the loader to refuse it with `what`. */
static void expect_checkpoint_refused(void (*edit)(seal_tensor_set *), const char *what) {
  char dir[] = "/tmp/seal-loaders-ck-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *cmd = seal_asprintf("cp " FIX "tiny_qwen2_hf/config.json '%s'/", dir);
  ck_assert_int_eq(system(cmd), 0);
  seal_tensor_set w = {0};
  seal_error e;
  ck_assert_int_eq(seal_safetensors_read(FIX "tiny_qwen2_hf/model.safetensors", &w, &e), 0);
  edit(&w);
  char *path = seal_path_join(dir, "model.safetensors");
  ck_assert_int_eq(seal_safetensors_write(path, &w, NULL, &e), 0);
  seal_checkpoint ck;
  ck_assert_int_eq(seal_checkpoint_open(dir, &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, dir) && strstr(e.msg, what), "expected '%s' in: %s", what, e.msg);
  seal_tensors_free(&w);
  free(cmd);
  cmd = seal_asprintf("rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
  free(path);
}

static void drop_bias(seal_tensor_set *w) {
  seal_tensors_remove(w, "model.layers.0.self_attn.v_proj.bias");
}
static void shrink_mlp(seal_tensor_set *w) {
  seal_tensors_find(w, "model.layers.0.mlp.up_proj.weight")->shape[0] -= 1;
}
static void add_stray(seal_tensor_set *w) {
  int64_t one = 1;
  seal_tensors_add(w, "model.layers.1.input_layernorm.weight", 1, &one, seal_calloc(1, 4));
}
static void add_inv_freq(seal_tensor_set *w) { /* tolerated: old exporters saved it */
  int64_t four = 4;
  seal_tensors_add(w, "model.layers.0.self_attn.rotary_emb.inv_freq", 1, &four, seal_calloc(4, 4));
  seal_tensors_remove(w, "model.norm.weight");
}

START_TEST(loader_checks_weights_against_config) {
  expect_checkpoint_refused(drop_bias, "missing tensor 'model.layers.0.self_attn.v_proj.bias'");
  expect_checkpoint_refused(shrink_mlp, "has shape [23, 32], the config implies [24, 32]");
  expect_checkpoint_refused(add_stray, "unexpected tensor 'model.layers.1.input_layernorm.weight'");
  expect_checkpoint_refused(add_inv_freq, "missing tensor 'model.norm.weight'");
  seal_checkpoint ck;
  seal_error e;
  ck_assert_int_eq(seal_checkpoint_open("/nonexistent/model", &ck, &e), -1);
  ck_assert(strstr(e.msg, "/nonexistent/model"));
  ck_assert_int_eq(seal_checkpoint_open(FIX "rope", &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, "config.json"), "%s", e.msg);
  ck_assert_int_eq(seal_checkpoint_open(FIX "rope/llama3", &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, "model.safetensors"), "%s", e.msg);
  ck_assert_int_eq(seal_checkpoint_open(FIX "permute.safetensors", &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, "neither"), "%s", e.msg);
}
END_TEST

/* llama.cpp stores llama3 rope scaling as rope_freqs.weight; the loader turns
 * it back into transformers' parameters. */
START_TEST(llama3_rope_freqs_become_llama3_scaling) {
  seal_tensor_set want = {0};
  seal_error e;
  ck_assert_msg(seal_safetensors_read(FIX "llama3_gguf_expected.safetensors", &want, &e) == 0, "%s",
                e.msg);
  const char *names[] = {"std", "odd"};
  for (int k = 0; k < 2; k++) {
    char *path = seal_asprintf(FIX "llama3_%s.gguf", names[k]);
    seal_checkpoint ck;
    ck_assert_msg(seal_checkpoint_open(path, &ck, &e) == 0, "%s", e.msg);
    const seal_model_config *c = &ck.config;
    ck_assert(c->rope_llama3);
    ck_assert_int_eq(c->head_dim, 64);
    ck_assert_ptr_null(seal_tensors_find(&ck.weights, "rope_freqs.weight"));
    ck_assert(!ck.has_vocab);
    if (k == 0) { /* Llama 3.x's parameters come back exactly */
      ck_assert(c->rope_factor == 32 && c->rope_low_freq_factor == 1);
      ck_assert(c->rope_high_freq_factor == 4 && c->rope_original_max_position == 8192);
    } else {
      ck_assert(c->rope_factor == 8);
    }
    float got[32];
    seal_rope_inv_freq(c, got);
    const seal_host_tensor *t = seal_tensors_find(&want, names[k]);
    for (int i = 0; i < 32; i++)
      ck_assert_msg(fabsf(got[i] - t->data[i]) <= 1e-5f * t->data[i],
                    "%s inv_freq[%d] %.9g vs %.9g", names[k], i, got[i], t->data[i]);
    seal_checkpoint_free(&ck);
    free(path);
  }
  seal_tensors_free(&want);
}
END_TEST

/* ---- the real model ---------------------------------------------------------- */

static char *smollm2_path(void) {
  const char *cache = getenv("SEAL_CACHE");
  const char *home = getenv("HOME");
  if (cache && *cache) return seal_asprintf("%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
  return seal_asprintf("%s/.cache/seal/models/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : "");
}

START_TEST(smollm2_gguf_loads) {
  char *path = smollm2_path();
  seal_checkpoint ck;
  seal_error e;
  ck_assert_msg(seal_checkpoint_open(path, &ck, &e) == 0, "%s", e.msg);
  const seal_model_config *c = &ck.config;
  ck_assert_int_eq(c->arch, SEAL_ARCH_LLAMA);
  ck_assert_int_eq(c->hidden, 576);
  ck_assert_int_eq(c->n_layers, 30);
  ck_assert_int_eq(c->n_heads, 9);
  ck_assert_int_eq(c->n_kv_heads, 3);
  ck_assert_int_eq(c->head_dim, 64);
  ck_assert_int_eq(c->intermediate, 1536);
  ck_assert_int_eq(c->vocab_size, 49152);
  ck_assert(c->tie_embeddings);
  ck_assert(c->rope_theta == 100000.0f);
  ck_assert(fabsf(c->rms_eps - 1e-5f) < 1e-12f);
  ck_assert(ck.has_vocab);
  ck_assert_int_eq(ck.vocab.n_tokens, 49152);
  ck_assert_int_eq(ck.vocab.n_merges, 48900);
  ck_assert_str_eq(ck.vocab.tokens[2], "<|im_end|>");
  ck_assert(seal_config_is_eos(c, 2));
  ck_assert_ptr_nonnull(ck.vocab.chat_template);
  ck_assert_int_eq(ck.weights.n, 1 + 30 * 9 + 1);
  const seal_host_tensor *emb = seal_tensors_find(&ck.weights, "model.embed_tokens.weight");
  ck_assert(emb->shape[0] == 49152 && emb->shape[1] == 576);
  double sum_sq = 0;
  for (int64_t i = 0; i < seal_tensor_numel(emb); i++)
    sum_sq += (double)emb->data[i] * emb->data[i];
  ck_assert(isfinite(sum_sq) && sum_sq > 0);
  seal_checkpoint_free(&ck);
  free(path);
}
END_TEST

Suite *loaders_gguf_suite(void) {
  Suite *s = suite_create("loaders_gguf");
  TCase *tc = tcase_create("gguf");
  tcase_add_test(tc, metadata_of_every_type);
  tcase_add_test(tc, every_tensor_type_dequantises_like_gguf_py);
  tcase_add_test(tc, refuses_truncated_and_corrupt_files);
  tcase_add_test(tc, refuses_misplaced_tensor_data);
  tcase_add_test(tc, unpermute_recovers_hf_rows);
  tcase_add_test(tc, tiny_llama_gguf_equals_hf_checkpoint);
  tcase_add_test(tc, tiny_qwen2_gguf_equals_hf_checkpoint);
  tcase_add_test(tc, loader_checks_weights_against_config);
  tcase_add_test(tc, llama3_rope_freqs_become_llama3_scaling);
  suite_add_tcase(s, tc);
  char *model = smollm2_path();
  if (seal_file_exists(model)) {
    TCase *real = tcase_create("smollm2");
    tcase_set_timeout(real, 300);
    tcase_add_test(real, smollm2_gguf_loads);
    suite_add_tcase(s, real);
  } else {
    fprintf(stderr,
            "loaders_gguf: SKIPPED smollm2_gguf_loads: %s is absent (scripts/fetch-model.sh "
            "fetches it)\n",
            model);
  }
  free(model);
  return s;
}
