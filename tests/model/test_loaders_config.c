/* tests/model/test_loaders_config.c — config.json parsing (Llama with llama3
 * rope scaling in both spellings, Qwen2), errors that name file and key, and
 * RoPE inverse frequencies against transformers. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/config.h"
#include "model/tensors.h"

#define ROPE_DIR "tests/fixtures/loaders/rope/"

static seal_model_config load_ok(const char *path) {
  seal_model_config c;
  seal_error e;
  ck_assert_msg(seal_config_load_hf(path, &c, &e) == 0, "%s", e.msg);
  return c;
}

START_TEST(llama3_config_with_rope_scaling) {
  seal_model_config c = load_ok(ROPE_DIR "llama3/config.json");
  ck_assert_int_eq(c.arch, SEAL_ARCH_LLAMA);
  ck_assert_int_eq(c.vocab_size, 128256);
  ck_assert_int_eq(c.hidden, 192);
  ck_assert_int_eq(c.intermediate, 512);
  ck_assert_int_eq(c.n_layers, 2);
  ck_assert_int_eq(c.n_heads, 3);
  ck_assert_int_eq(c.n_kv_heads, 1);
  ck_assert_int_eq(c.head_dim, 64);
  ck_assert_int_eq(c.max_position, 131072);
  ck_assert(c.rms_eps == 1e-5f);
  ck_assert(c.rope_theta == 500000.0f);
  ck_assert(c.rope_llama3);
  ck_assert(c.rope_factor == 32.0f && c.rope_low_freq_factor == 1.0f);
  ck_assert(c.rope_high_freq_factor == 4.0f);
  ck_assert_int_eq(c.rope_original_max_position, 8192);
  ck_assert(c.tie_embeddings);
  ck_assert(!c.attn_bias);
  ck_assert_int_eq(c.bos_id, 128000);
  ck_assert_int_eq(c.n_eos, 3);
  ck_assert(seal_config_is_eos(&c, 128001) && seal_config_is_eos(&c, 128009));
  ck_assert(!seal_config_is_eos(&c, 128000));
}
END_TEST

START_TEST(llama3_config_with_rope_parameters_and_explicit_head_dim) {
  seal_model_config c = load_ok(ROPE_DIR "llama3_params/config.json");
  ck_assert_int_eq(c.head_dim, 40);  /* not hidden / heads = 24 */
  ck_assert_int_eq(c.n_kv_heads, 4); /* defaults to the query heads */
  ck_assert(c.rope_theta == 10000.0f);
  ck_assert(c.rope_llama3 && c.rope_factor == 8.0f && c.rope_low_freq_factor == 2.0f);
  ck_assert(c.rope_high_freq_factor == 8.0f);
  ck_assert_int_eq(c.rope_original_max_position, 1024);
  ck_assert(!c.tie_embeddings);  /* transformers' Llama default */
  ck_assert_int_eq(c.bos_id, 1); /* Llama defaults when the key is absent */
  ck_assert_int_eq(c.n_eos, 1);
  ck_assert_int_eq(c.eos_ids[0], 7);
  ck_assert(c.rms_eps == 1e-6f);
}
END_TEST

START_TEST(qwen2_config) {
  seal_model_config c = load_ok(ROPE_DIR "qwen2/config.json");
  ck_assert_int_eq(c.arch, SEAL_ARCH_QWEN2);
  ck_assert_int_eq(c.hidden, 896);
  ck_assert_int_eq(c.n_heads, 14);
  ck_assert_int_eq(c.n_kv_heads, 2);
  ck_assert_int_eq(c.head_dim, 64);
  ck_assert(c.attn_bias);
  ck_assert(c.tie_embeddings);
  ck_assert(!c.rope_llama3);
  ck_assert(c.rope_theta == 1000000.0f);
  ck_assert_int_eq(c.bos_id, 151643);
  ck_assert_int_eq(c.n_eos, 1);
  ck_assert_int_eq(c.eos_ids[0], 151645);
  /* The tiny Qwen2 saved by transformers 5: rope_parameters, bos null. */
  c = load_ok("tests/fixtures/loaders/tiny_qwen2_hf/config.json");
  ck_assert_int_eq(c.bos_id, -1);
  ck_assert(c.rope_theta == 1000000.0f && c.attn_bias && c.tie_embeddings);
}
END_TEST

/* |a - b| in units in the last place of b */
static double ulps(float a, float b) {
  return fabs((double)a - b) / (nextafterf(fabsf(b), INFINITY) - fabsf(b));
}

START_TEST(rope_inv_freq_matches_transformers) {
  seal_tensor_set want = {0};
  seal_error e;
  ck_assert_msg(seal_safetensors_read(ROPE_DIR "rope_expected.safetensors", &want, &e) == 0, "%s",
                e.msg);
  const char *names[] = {"llama3", "llama3_params", "qwen2"};
  for (int k = 0; k < 3; k++) {
    char *path = seal_asprintf(ROPE_DIR "%s/config.json", names[k]);
    seal_model_config c = load_ok(path);
    const seal_host_tensor *t = seal_tensors_find(&want, names[k]);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->shape[0], c.head_dim / 2);
    float got[256];
    seal_rope_inv_freq(&c, got);
    int exact = 0;
    for (int i = 0; i < c.head_dim / 2; i++) {
      ck_assert_msg(ulps(got[i], t->data[i]) <= 1.0, "%s inv_freq[%d]: %.9g vs transformers %.9g",
                    names[k], i, got[i], t->data[i]);
      exact += got[i] == t->data[i];
    }
    /* Bit-exact apart from a rare last-bit difference in pow. */
    ck_assert_msg(exact >= c.head_dim / 2 - 1, "%s: only %d of %d exact", names[k], exact,
                  c.head_dim / 2);
    free(path);
  }
  /* The scaling must matter: llama3 without it differs in the low frequencies. */
  seal_model_config c = load_ok(ROPE_DIR "llama3/config.json");
  float scaled[32], plain[32];
  seal_rope_inv_freq(&c, scaled);
  c.rope_llama3 = false;
  seal_rope_inv_freq(&c, plain);
  ck_assert(scaled[0] == plain[0] && scaled[31] < plain[31] / 20);
  seal_tensors_free(&want);
}
END_TEST

/* Writes text to a temp config.json and expects an error mentioning `what`. */
static void expect_bad(const char *json, const char *what) {
  char dir[] = "/tmp/seal-loaders-cfg-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = seal_path_join(dir, "config.json");
  seal_error e;
  ck_assert_int_eq(seal_write_file_atomic(path, json, strlen(json), false, &e), 0);
  seal_model_config c;
  ck_assert_int_eq(seal_config_load_hf(path, &c, &e), -1);
  ck_assert_msg(strstr(e.msg, path) != NULL, "error does not name the file: %s", e.msg);
  ck_assert_msg(strstr(e.msg, what) != NULL, "expected '%s' in: %s", what, e.msg);
  unlink(path);
  rmdir(dir);
  free(path);
}

#define BASE                                                                              \
  "\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 100, \"hidden_size\": 64, " \
  "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4"

START_TEST(bad_configs_name_file_and_key) {
  expect_bad("{" BASE ", \"num_key_value_heads\": 3}", "num_key_value_heads");
  expect_bad(
      "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 100, \"hidden_size\": 64, "
      "\"intermediate_size\": 128, \"num_attention_heads\": 4}",
      "missing key 'num_hidden_layers'");
  expect_bad("{" BASE ", \"rms_norm_eps\": \"small\"}", "key 'rms_norm_eps' must be a number");
  expect_bad(
      "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 100, \"hidden_size\": 64.5, "
      "\"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
      "key 'hidden_size' must be an integer");
  expect_bad("{\"architectures\": [\"MistralForCausalLM\"], \"vocab_size\": 100}",
             "unsupported architecture 'MistralForCausalLM'");
  expect_bad("{\"vocab_size\": 100}", "missing key 'architectures'");
  expect_bad("{" BASE ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
             "rope_scaling.rope_type': 'yarn'");
  expect_bad("{" BASE
             ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, "
             "\"low_freq_factor\": 1}}",
             "missing key 'rope_scaling.high_freq_factor'");
  expect_bad("{" BASE
             ", \"rope_parameters\": {\"rope_type\": \"llama3\", \"factor\": \"8\", "
             "\"low_freq_factor\": 1, \"high_freq_factor\": 4}}",
             "rope_parameters.factor");
  expect_bad("{" BASE ", \"eos_token_id\": \"</s>\"}", "eos_token_id");
  expect_bad("{" BASE ", \"eos_token_id\": [1, 2.5]}", "eos_token_id[1]");
  expect_bad("{" BASE ", \"eos_token_id\": 100}", "outside the vocabulary");
  expect_bad("{" BASE ", \"tie_word_embeddings\": 1}", "tie_word_embeddings");
  expect_bad("{" BASE ", \"attention_bias\": true}", "attention_bias");
  expect_bad("{" BASE ", \"hidden_act\": \"gelu\"}", "hidden_act");
  expect_bad("{" BASE ", \"head_dim\": 15}", "head_dim 15 is odd");
  expect_bad("{" BASE ",}", "invalid JSON");
  /* A line/column position for JSON syntax errors. */
  expect_bad("{\n  \"a\": 1,\n  \"b\": }\n", ":3:");
  seal_model_config c;
  seal_error e;
  ck_assert_int_eq(seal_config_load_hf("/nonexistent/config.json", &c, &e), -1);
  ck_assert(strstr(e.msg, "/nonexistent/config.json") != NULL);
}
END_TEST

START_TEST(validate_checks_consistency) {
  seal_model_config c = load_ok(ROPE_DIR "qwen2/config.json");
  seal_error e;
  ck_assert_int_eq(seal_config_validate(&c, "x", &e), 0);
  seal_model_config bad = c;
  bad.n_kv_heads = 4;
  ck_assert_int_eq(seal_config_validate(&bad, "origin.gguf", &e), -1);
  ck_assert(strstr(e.msg, "origin.gguf") && strstr(e.msg, "multiple"));
  bad = c;
  bad.n_layers = 0;
  ck_assert_int_eq(seal_config_validate(&bad, "o", &e), -1);
  ck_assert(strstr(e.msg, "num_hidden_layers"));
  bad = c;
  bad.rope_llama3 = true;
  bad.rope_factor = 8, bad.rope_low_freq_factor = 4, bad.rope_high_freq_factor = 1;
  bad.rope_original_max_position = 8192;
  ck_assert_int_eq(seal_config_validate(&bad, "o", &e), -1);
  ck_assert(strstr(e.msg, "llama3"));
}
END_TEST

Suite *loaders_config_suite(void) {
  Suite *s = suite_create("loaders_config");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, llama3_config_with_rope_scaling);
  tcase_add_test(tc, llama3_config_with_rope_parameters_and_explicit_head_dim);
  tcase_add_test(tc, qwen2_config);
  tcase_add_test(tc, rope_inv_freq_matches_transformers);
  tcase_add_test(tc, bad_configs_name_file_and_key);
  tcase_add_test(tc, validate_checks_consistency);
  suite_add_tcase(s, tc);
  return s;
}
