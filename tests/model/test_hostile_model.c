/* tests/model/test_hostile_model.c — hostile and careless inputs to the model
 * room (issue 11): each crafted file is made here, in a temporary directory, and
 * must be refused with an error naming the file and the field, before anything
 * is allocated for what the file only claims. The crash cases (a zero head_dim
 * with an empty rope_freqs.weight) read out of bounds only under AddressSanitizer
 * (`make asan` runs this suite too). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/engine.h"
#include "model/gguf.h"
#include "model/loader.h"
#include "model/peft.h"

#include "gguf_builder.h"

/* ---- scaffolding ---------------------------------------------------------- */

static char *make_tmpdir(void) {
  char *dir = seal_strdup("/tmp/seal-hostile-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return dir;
}

static void remove_tree(char *dir) {
  char *cmd = seal_asprintf("rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
  free(dir);
}

/* dir/name with the given bytes; returns the path (owned). */
static char *put_file(const char *dir, const char *name, const void *data, size_t n) {
  char *path = seal_path_join(dir, name);
  seal_error e;
  ck_assert_msg(seal_write_file_atomic(path, data, n, false, &e) == 0, "%s", e.msg);
  return path;
}

static void copy_dir(const char *from, const char *to) {
  char *cmd = seal_asprintf("cp -r '%s'/. '%s'/", from, to);
  ck_assert_int_eq(system(cmd), 0);
  free(cmd);
}

/* Expects the checkpoint at path to be refused with every one of the `what`
 * strings (NULL-terminated) and the path in the message. */
static void expect_checkpoint_refused(const char *path, const char *const *what) {
  seal_checkpoint ck;
  seal_error e = {{0}};
  ck_assert_int_eq(seal_checkpoint_open(path, &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, path) != NULL, "error does not name %s: %s", path, e.msg);
  for (int i = 0; what[i]; i++)
    ck_assert_msg(strstr(e.msg, what[i]) != NULL, "expected '%s' in: %s", what[i], e.msg);
}
#define REFUSED(path, ...) expect_checkpoint_refused(path, (const char *const[]){__VA_ARGS__, NULL})

/* A GGUF written by the builder into dir, then opened as a checkpoint. */
static char *tiny_gguf(const char *dir, const char *name, float w, void (*extra)(gguf_builder *)) {
  size_t n;
  char *bytes = gb_tiny_llama(16, w, extra, &n);
  char *path = put_file(dir, name, bytes, n);
  free(bytes);
  return path;
}

/* ---- GGUF ------------------------------------------------------------------- */

START_TEST(builder_gguf_loads) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "ok.gguf", 0.01f, NULL);
  seal_checkpoint ck;
  seal_error e;
  ck_assert_msg(seal_checkpoint_open(path, &ck, &e) == 0, "%s", e.msg);
  ck_assert_int_eq(ck.config.head_dim, 4);
  ck_assert_int_eq(ck.config.vocab_size, 16);
  seal_checkpoint_free(&ck);
  free(path);
  remove_tree(dir);
}
END_TEST

/* Crash 1: key_length 0 made head_dim 0, and an empty rope_freqs.weight then
 * matched its 0 elements and was read at element -1. */
static void zero_key_length(gguf_builder *g) {
  gb_kv_u32(g, "llama.attention.key_length", 0);
  const int64_t ne[1] = {0};
  gb_tensor(g, "rope_freqs.weight", 1, ne, 0, NULL, 0);
}

START_TEST(gguf_zero_head_dim_refused_before_rope_freqs) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "crash1.gguf", 0.01f, zero_key_length);
  REFUSED(path, "head_dim must be positive");
  free(path);
  remove_tree(dir);
}
END_TEST

/* A 400-byte file whose embedding claims 2^43 elements of an unknown type: its
 * size cannot be checked against the file, so it is refused before the 32 TB
 * of float32 are asked for (which would have died in seal_malloc). */
START_TEST(gguf_unknown_type_refused_before_allocation) {
  char *dir = make_tmpdir();
  gguf_builder g = {0};
  gb_kv_str(&g, "general.architecture", "llama");
  gb_kv_u32(&g, "llama.embedding_length", 8);
  gb_kv_u32(&g, "llama.feed_forward_length", 16);
  gb_kv_u32(&g, "llama.block_count", 1);
  gb_kv_u32(&g, "llama.attention.head_count", 2);
  gb_kv_f32(&g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  const int64_t ne[2] = {(int64_t)1 << 22, (int64_t)1 << 21};
  gb_tensor(&g, "token_embd.weight", 2, ne, 99, NULL, 0);
  size_t n;
  char *bytes = gb_finish(&g, &n);
  ck_assert_uint_lt(n, 512);
  char *path = put_file(dir, "unknown-type.gguf", bytes, n);
  REFUSED(path, "token_embd.weight", "which seal cannot dequantise");
  free(bytes);
  free(path);
  remove_tree(dir);
}
END_TEST

/* The same for rope_freqs.weight, whose element count comes from head_dim. */
static void unknown_type_rope(gguf_builder *g) {
  const int64_t ne[1] = {2};
  gb_tensor(g, "rope_freqs.weight", 1, ne, 77, NULL, 0);
}

START_TEST(gguf_unknown_type_rope_freqs_refused) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "rope77.gguf", 0.01f, unknown_type_rope);
  REFUSED(path, "rope_freqs.weight", "cannot dequantise");
  free(path);
  remove_tree(dir);
}
END_TEST

/* F32 data labelled F16: half of it would be read, as garbage. */
static void embedding_as_f16(gguf_builder *g) {
  g->relabel = "token_embd.weight";
  g->relabel_type = 1; /* F16 */
}
static void last_as_f16(gguf_builder *g) { /* the last tensor: its region runs to the end */
  g->skip = "output_norm.weight";
  g->relabel = "blk.0.ffn_down.weight";
  g->relabel_type = 1;
}

START_TEST(gguf_relabelled_tensor_type_refused) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "relabel.gguf", 0.01f, embedding_as_f16);
  REFUSED(path, "tensor 'token_embd.weight'", "F16 x 128 elements take 256 bytes",
          "region holds 512 (to the next tensor)", "does not match the data");
  free(path);
  path = tiny_gguf(dir, "relabel-last.gguf", 0.01f, last_as_f16);
  REFUSED(path, "tensor 'blk.0.ffn_down.weight'", "to the end of the file");
  free(path);
  remove_tree(dir);
}
END_TEST

static void negative_bos(gguf_builder *g) { gb_kv_i32(g, "tokenizer.ggml.bos_token_id", -5); }
static void wide_eom(gguf_builder *g) {
  gb_kv_u64(g, "tokenizer.ggml.eom_token_id", ((uint64_t)1 << 32) + 3);
}
static void wide_eos(gguf_builder *g) {
  gb_kv_i64(g, "tokenizer.ggml.eos_token_id", ((int64_t)1 << 32) + 2);
}

START_TEST(gguf_token_ids_not_truncated) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "bos.gguf", 0.01f, negative_bos);
  REFUSED(path, "tokenizer.ggml.bos_token_id", "-5 is outside the vocabulary");
  free(path);
  path = tiny_gguf(dir, "eom.gguf", 0.01f, wide_eom); /* was truncated to id 3 */
  REFUSED(path, "tokenizer.ggml.eom_token_id", "4294967299 is outside the vocabulary");
  free(path);
  path = tiny_gguf(dir, "eos.gguf", 0.01f, wide_eos);
  REFUSED(path, "tokenizer.ggml.eos_token_id", "outside the vocabulary");
  free(path);
  remove_tree(dir);
}
END_TEST

/* ---- non-finite weights ----------------------------------------------------- */

START_TEST(nan_and_inf_weights_refused_at_load) {
  char *dir = make_tmpdir();
  char *path = tiny_gguf(dir, "nan.gguf", NAN, NULL);
  REFUSED(path, "tensor 'model.embed_tokens.weight' holds 128 non-finite values",
          "at element 0 of 128");
  free(path);
  path = tiny_gguf(dir, "inf.gguf", INFINITY, NULL);
  REFUSED(path, "non-finite", "inf");
  /* SEAL_CHECK_WEIGHTS=0 skips the scan. */
  setenv("SEAL_CHECK_WEIGHTS", "0", 1);
  seal_checkpoint ck;
  seal_error e;
  ck_assert_msg(seal_checkpoint_open(path, &ck, &e) == 0, "%s", e.msg);
  seal_checkpoint_free(&ck);
  unsetenv("SEAL_CHECK_WEIGHTS");
  free(path);
  /* One NaN among finite values in a Hugging Face checkpoint. */
  copy_dir("tests/fixtures/models/tiny-llama", dir);
  seal_tensor_set w = {0};
  ck_assert_int_eq(
      seal_safetensors_read("tests/fixtures/models/tiny-llama/model.safetensors", &w, &e), 0);
  seal_tensors_find(&w, "model.layers.1.mlp.up_proj.weight")->data[77] = NAN;
  char *st = seal_path_join(dir, "model.safetensors");
  ck_assert_int_eq(seal_safetensors_write(st, &w, NULL, &e), 0);
  REFUSED(dir, "tensor 'model.layers.1.mlp.up_proj.weight' holds 1 non-finite value ",
          "(the first, nan, at element 77");
  seal_tensors_free(&w);
  free(st);
  remove_tree(dir);
}
END_TEST

/* ---- config.json and generation_config.json token ids ----------------------- */

/* tests/fixtures/models/tiny-llama with config.json's key set to value (JSON). */
static char *tiny_llama_with(const char *file, const char *key, const char *value) {
  char *dir = make_tmpdir();
  copy_dir("tests/fixtures/models/tiny-llama", dir);
  char *path = seal_path_join(dir, file);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  ck_assert_ptr_nonnull(root);
  json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
  ck_assert_msg(v != NULL, "bad test value %s", value);
  json_object_set_new(root, key, v);
  ck_assert_int_eq(json_dump_file(root, path, 0), 0);
  json_decref(root);
  free(path);
  return dir;
}

START_TEST(config_token_ids_not_truncated) {
  static const struct {
    const char *file, *key, *value, *what;
  } cases[] = {
      {"config.json", "bos_token_id", "-5", "key 'bos_token_id' = -5 is not a token id"},
      {"config.json", "bos_token_id", "4294967297", "key 'bos_token_id' = 4294967297 is not"},
      {"config.json", "eos_token_id", "4294967298", "key 'eos_token_id' = 4294967298 is not"},
      {"config.json", "eos_token_id", "[2, -1]", "key 'eos_token_id[1]' = -1 is not a token id"},
      {"generation_config.json", "eos_token_id", "4294967298", "eos_token_id"},
      {"generation_config.json", "eos_token_id", "[-2]", "eos_token_id"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dir = tiny_llama_with(cases[i].file, cases[i].key, cases[i].value);
    char *file = seal_path_join(dir, cases[i].file);
    seal_checkpoint ck;
    seal_error e = {{0}};
    ck_assert_int_eq(seal_checkpoint_open(dir, &ck, &e), -1);
    ck_assert_msg(strstr(e.msg, file) && strstr(e.msg, cases[i].what), "case %zu: %s", i, e.msg);
    free(file);
    remove_tree(dir);
  }
}
END_TEST

/* ---- tokenizer.json ------------------------------------------------------------ */

/* tiny-seal's tokenizer.json with an added token of the given id. */
static char *tiny_seal_with_added_id(long long id) {
  char *dir = make_tmpdir();
  copy_dir("tests/fixtures/tiny-seal", dir);
  char *path = seal_path_join(dir, "tokenizer.json");
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  ck_assert_ptr_nonnull(root);
  json_array_append_new(
      json_object_get(root, "added_tokens"),
      json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "content", "<|hostile|>", "special", 1));
  ck_assert_int_eq(json_dump_file(root, path, 0), 0);
  json_decref(root);
  free(path);
  return dir;
}

/* An id near 2^30 in a 50-byte entry asked for 9.6 GB of id tables. */
START_TEST(tokenizer_sparse_ids_refused) {
  char *dir = tiny_seal_with_added_id((1 << 30) - 1);
  char *path = seal_path_join(dir, "tokenizer.json");
  seal_error e;
  ck_assert_ptr_null(seal_tokenizer_load_json(path, &e));
  ck_assert_msg(strstr(e.msg, path) && strstr(e.msg, "token id 1073741823 is far beyond"), "%s",
                e.msg);
  free(path);
  remove_tree(dir);
}
END_TEST

/* A tokenizer with more ids than the embedding has rows failed only inside
 * the forward pass; now the engine refuses to open it. */
START_TEST(tokenizer_larger_than_embedding_refused) {
  char *dir = tiny_seal_with_added_id(600); /* the embedding has 512 rows */
  seal_engine eng;
  seal_error e;
  ck_assert_int_eq(seal_engine_open(&eng, dir, "cpu", &e), -1);
  ck_assert_msg(strstr(e.msg,
                       "tokenizer.json: the tokenizer has 601 token ids but the model's "
                       "embedding only 512 rows"),
                "%s", e.msg);
  remove_tree(dir);
}
END_TEST

/* ---- the context window ----------------------------------------------------- */

static char *tiny_seal_with_context(int n) {
  char *dir = make_tmpdir();
  copy_dir("tests/fixtures/tiny-seal", dir);
  char *path = seal_path_join(dir, "config.json");
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  json_object_set_new(root, "max_position_embeddings", json_integer(n));
  ck_assert_int_eq(json_dump_file(root, path, 0), 0);
  json_decref(root);
  free(path);
  return dir;
}

START_TEST(context_window_enforced_or_truncated) {
  char *dir = tiny_seal_with_context(16);
  seal_engine eng;
  seal_error e;
  ck_assert_msg(seal_engine_open(&eng, dir, "cpu", &e) == 0, "%s", e.msg);
  ck_assert_int_eq(seal_engine_context(&eng), 16);
  int32_t ids[40];
  for (int i = 0; i < 40; i++) ids[i] = 100 + i;
  int n = 40;
  ck_assert_int_eq(seal_engine_fit_window(&eng, ids, &n, 4, SEAL_TRUNCATE_NONE, "p.txt", &e), -1);
  ck_assert_msg(strstr(e.msg,
                       "p.txt: the prompt has 40 tokens and 4 more are to be generated: 44 "
                       "positions, beyond the model's context window of 16"),
                "%s", e.msg);
  ck_assert_int_eq(n, 40);
  ck_assert_int_eq(seal_engine_fit_window(&eng, ids, &n, 4, SEAL_TRUNCATE_LEFT, "p.txt", &e), 0);
  ck_assert_int_eq(n, 12); /* the newest 12 tokens */
  ck_assert_int_eq(ids[0], 128);
  ck_assert_int_eq(ids[11], 139);
  n = 10; /* fits: untouched */
  ck_assert_int_eq(seal_engine_fit_window(&eng, ids, &n, 6, SEAL_TRUNCATE_NONE, "p.txt", &e), 0);
  ck_assert_int_eq(n, 10);
  ck_assert_int_eq(seal_engine_fit_window(&eng, ids, &n, 16, SEAL_TRUNCATE_LEFT, "p.txt", &e), -1);
  seal_engine_close(&eng);
  remove_tree(dir);
}
END_TEST

/* ---- PEFT adapters ------------------------------------------------------------ */

typedef struct {
  seal_checkpoint ck;
  seal_backend *be;
  seal_model model;
} tiny_model;

static void tiny_model_open(tiny_model *t) {
  seal_error e;
  ck_assert_msg(seal_checkpoint_open("tests/fixtures/models/tiny-llama", &t->ck, &e) == 0, "%s",
                e.msg);
  t->be = seal_backend_create("cpu", &e);
  ck_assert_ptr_nonnull(t->be);
  ck_assert_msg(seal_model_create(&t->model, t->be, &t->ck.config, &t->ck.weights, &e) == 0, "%s",
                e.msg);
}

static void tiny_model_close(tiny_model *t) {
  seal_model_free(&t->model);
  seal_backend_destroy(t->be);
  seal_checkpoint_free(&t->ck);
}

/* The fixture adapter with adapter_config.json's key set to value (JSON). */
static char *adapter_with(const char *key, const char *value) {
  char *dir = make_tmpdir();
  copy_dir("tests/fixtures/models/tiny-llama/peft_adapter", dir);
  char *path = seal_path_join(dir, "adapter_config.json");
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  ck_assert_ptr_nonnull(root);
  json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
  ck_assert_msg(v != NULL, "bad test value %s", value);
  json_object_set_new(root, key, v);
  ck_assert_int_eq(json_dump_file(root, path, 0), 0);
  json_decref(root);
  free(path);
  return dir;
}

static long max_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

START_TEST(peft_options_that_change_the_arithmetic_refused) {
  static const struct {
    const char *key, *value, *what;
  } cases[] = {
      {"use_dora", "true", "key 'use_dora': DoRA"},
      {"fan_in_fan_out", "true", "key 'fan_in_fan_out'"},
      {"bias", "\"all\"", "key 'bias': trained biases"},
      {"bias", "\"lora_only\"", "key 'bias'"},
      {"lora_bias", "true", "key 'lora_bias'"},
      {"rank_pattern", "{\"q_proj\": 2}", "key 'rank_pattern': per-module ranks"},
      {"alpha_pattern", "{\"q_proj\": 2}", "key 'alpha_pattern'"},
      {"layers_to_transform", "[0]", "key 'layers_to_transform'"},
      {"layers_to_transform", "0", "key 'layers_to_transform'"},
      {"modules_to_save", "[\"lm_head\"]", "key 'modules_to_save'"},
      {"exclude_modules", "[\"q_proj\"]", "key 'exclude_modules'"},
      {"layer_replication", "[[0, 1]]", "key 'layer_replication'"},
      {"trainable_token_indices", "[1, 2]", "key 'trainable_token_indices'"},
      {"init_lora_weights", "\"pissa\"", "key 'init_lora_weights'"},
      {"peft_type", "\"PREFIX_TUNING\"", "key 'peft_type': only LORA"},
      {"peft_type", "\"LOHA\"", "key 'peft_type'"},
      {"lora_alpha", "0", "key 'lora_alpha' = 0 must be a finite number above 0"},
      {"lora_alpha", "-8", "key 'lora_alpha' = -8"},
      {"lora_alpha", "1e300", "key 'lora_alpha' = 1e+300"},
      {"r", "4294967300", "key 'r' = 4294967300 is out of range"}, /* was truncated to 4 */
      {"r", "0", "key 'r' = 0 is out of range"},
      {"r", "4.0", "key 'r' must be a positive integer"},
      {"target_modules", "[\"q\"]", "target_modules[0]': unsupported target module q"},
      {"target_modules", "[\"embed_tokens\"]", "unsupported target module embed_tokens"},
      {"target_modules", "\"q_proj\"", "a regular expression for PEFT"},
      {"target_modules", "[]", "non-empty list"},
      {"use_rslora", "\"yes\"", "key 'use_rslora'"},
  };
  tiny_model t;
  tiny_model_open(&t);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dir = adapter_with(cases[i].key, cases[i].value);
    char *file = seal_path_join(dir, "adapter_config.json");
    seal_lora l;
    seal_error e = {{0}};
    ck_assert_msg(seal_lora_load_peft(&l, &t.model, dir, &e) == -1, "case %zu (%s: %s) loaded", i,
                  cases[i].key, cases[i].value);
    ck_assert_msg(strstr(e.msg, file) && strstr(e.msg, cases[i].what), "case %zu: %s", i, e.msg);
    free(file);
    remove_tree(dir);
  }
  /* The harmless spellings still load: "all-linear" is every projection. */
  char *dir = adapter_with("target_modules", "\"all-linear\"");
  seal_lora l;
  seal_error e;
  ck_assert_msg(seal_lora_load_peft(&l, &t.model, dir, &e) == 0, "%s", e.msg);
  ck_assert_uint_eq(l.targets, (1u << SEAL_LORA_N_TARGETS) - 1);
  seal_lora_free(&l);
  remove_tree(dir);
  tiny_model_close(&t);
}
END_TEST

/* r = 300000 in the config of an r = 4 adapter: the shapes are compared with
 * the file before the adapter is laid out (which took 2 x 300000 x (in + out)
 * floats per projection: about 1.5 GB here, 3.8 GB for a real model). */
START_TEST(peft_rank_checked_before_allocation) {
  tiny_model t;
  tiny_model_open(&t);
  char *dir = adapter_with("r", "300000");
  long before = max_rss_kb();
  seal_lora l;
  seal_error e;
  ck_assert_int_eq(seal_lora_load_peft(&l, &t.model, dir, &e), -1);
  ck_assert_msg(strstr(e.msg, "adapter_model.safetensors: tensor") &&
                    strstr(e.msg, "has the wrong shape (r = 300000 implies [300000, 60])"),
                "%s", e.msg);
  long grown_mb = (max_rss_kb() - before) / 1024;
  ck_assert_msg(grown_mb < 100, "a refused adapter grew the process by %ld MB", grown_mb);
  remove_tree(dir);
  tiny_model_close(&t);
}
END_TEST

/* A tensor the config does not declare (a DoRA magnitude) was silently
 * dropped; a NaN in the adapter is refused like one in the base. */
START_TEST(peft_unexpected_or_nonfinite_tensors_refused) {
  tiny_model t;
  tiny_model_open(&t);
  seal_error e;
  for (int k = 0; k < 2; k++) {
    char *dir = adapter_with("r", "4");
    char *st = seal_path_join(dir, "adapter_model.safetensors");
    seal_tensor_set w = {0};
    ck_assert_int_eq(seal_safetensors_read(st, &w, &e), 0);
    if (k == 0) {
      int64_t shape[1] = {60};
      seal_tensors_add(
          &w, "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector.weight", 1,
          shape, seal_calloc(60, sizeof(float)));
    } else {
      w.items[3].data[1] = -INFINITY;
    }
    ck_assert_int_eq(seal_safetensors_write(st, &w, NULL, &e), 0);
    seal_lora l;
    ck_assert_int_eq(seal_lora_load_peft(&l, &t.model, dir, &e), -1);
    ck_assert_msg(strstr(e.msg, st) && strstr(e.msg, k == 0 ? "unexpected tensor" : "non-finite"),
                  "%s", e.msg);
    seal_tensors_free(&w);
    free(st);
    remove_tree(dir);
  }
  tiny_model_close(&t);
}
END_TEST

/* ---- files that are not regular files ------------------------------------------ */

/* A FIFO as a shard, a GGUF path or a config blocked forever in open(). */
START_TEST(fifos_refused_without_blocking) {
  char *dir = make_tmpdir();
  copy_dir("tests/fixtures/models/tiny-llama-sharded", dir);
  char *shard = seal_path_join(dir, "model-00002-of-00003.safetensors");
  unlink(shard);
  ck_assert_int_eq(mkfifo(shard, 0600), 0);
  alarm(20); /* a regression blocks: fail rather than hang */
  seal_checkpoint ck;
  seal_error e;
  ck_assert_int_eq(seal_checkpoint_open(dir, &ck, &e), -1);
  ck_assert_msg(strstr(e.msg, shard) && strstr(e.msg, "not a regular file (a FIFO)"), "%s", e.msg);
  char *fifo = seal_path_join(dir, "model.gguf");
  ck_assert_int_eq(mkfifo(fifo, 0600), 0);
  REFUSED(fifo, "not a regular file (a FIFO)");
  char *cfg = seal_path_join(dir, "adapter_config.json");
  ck_assert_int_eq(mkfifo(cfg, 0600), 0);
  seal_peft_config pc;
  ck_assert_int_eq(seal_peft_config_read(cfg, &pc, &e), -1);
  ck_assert_msg(strstr(e.msg, "a FIFO"), "%s", e.msg);
  alarm(0);
  free(cfg);
  free(fifo);
  free(shard);
  remove_tree(dir);
}
END_TEST

Suite *hostile_model_suite(void) {
  Suite *s = suite_create("hostile_model");
  TCase *tc = tcase_create("hostile");
  tcase_add_test(tc, builder_gguf_loads);
  tcase_add_test(tc, gguf_zero_head_dim_refused_before_rope_freqs);
  tcase_add_test(tc, gguf_unknown_type_refused_before_allocation);
  tcase_add_test(tc, gguf_unknown_type_rope_freqs_refused);
  tcase_add_test(tc, gguf_relabelled_tensor_type_refused);
  tcase_add_test(tc, gguf_token_ids_not_truncated);
  tcase_add_test(tc, nan_and_inf_weights_refused_at_load);
  tcase_add_test(tc, config_token_ids_not_truncated);
  tcase_add_test(tc, tokenizer_sparse_ids_refused);
  tcase_add_test(tc, tokenizer_larger_than_embedding_refused);
  tcase_add_test(tc, context_window_enforced_or_truncated);
  tcase_add_test(tc, peft_options_that_change_the_arithmetic_refused);
  tcase_add_test(tc, peft_rank_checked_before_allocation);
  tcase_add_test(tc, peft_unexpected_or_nonfinite_tensors_refused);
  tcase_add_test(tc, fifos_refused_without_blocking);
  suite_add_tcase(s, tc);
  return s;
}
