/* tests/model/test_tokenizer.c — the tokenizer against `tokenizers` (fixtures from
 * tests/golden/make_tokenizer.py): exact ids for awkward strings under every
 * supported pre-tokenizer, both merge forms, ignore_merges, NFC; the GGUF path;
 * round trips; long runs; and load errors. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/loader.h"
#include "model/tokenizer.h"
#include "util/util.h"

#define FIX "tests/fixtures/tokenizer/"

static json_t *load_json(const char *path) {
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  ck_assert_msg(j != NULL, "%s:%d: %s (run tests/golden/make_tokenizer.py)", path, jerr.line,
                jerr.text);
  return j;
}

static seal_tokenizer *load_tok(const char *path) {
  seal_error e = {{0}};
  seal_tokenizer *t = seal_tokenizer_load_json(path, &e);
  ck_assert_msg(t != NULL, "%s", e.msg);
  return t;
}

/* Compares ids with the expected ones; on a mismatch names the case and the first
 * position that differs. */
static void check_ids(const char *name, size_t index, const char *text, const int32_t *ids, int n,
                      const json_t *want) {
  int want_n = (int)json_array_size(want);
  int first_diff = -1;
  for (int i = 0; i < (n < want_n ? n : want_n); i++) {
    if (ids[i] != json_integer_value(json_array_get(want, (size_t)i))) {
      first_diff = i;
      break;
    }
  }
  if (first_diff < 0 && n != want_n) first_diff = n < want_n ? n : want_n;
  ck_assert_msg(first_diff < 0,
                "%s case %zu \"%.60s\": %d ids, want %d; first difference at %d (got %d, want "
                "%lld)",
                name, index, text, n, want_n, first_diff, first_diff < n ? ids[first_diff] : -1,
                first_diff < want_n
                    ? (long long)json_integer_value(json_array_get(want, (size_t)first_diff))
                    : -1LL);
}

/* Every case of expected.json[name]: ids, decode, decode skipping specials, and
 * (when the tokenizer does not normalize) decode(encode(s)) == s. */
static void check_golden(const seal_tokenizer *t, const char *name, bool exact_round_trip) {
  json_t *all = load_json(FIX "expected.json");
  const json_t *cases = json_object_get(all, name);
  ck_assert_msg(json_array_size(cases) >= 40, "%s: only %zu cases", name, json_array_size(cases));
  size_t i;
  json_t *c;
  json_array_foreach(cases, i, c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    int32_t *ids = NULL;
    int n = seal_tokenizer_encode(t, text, &ids);
    ck_assert_int_ge(n, 0);
    check_ids(name, i, text, ids, n, json_object_get(c, "ids"));
    char *decoded = seal_tokenizer_decode(t, ids, n, 0);
    ck_assert_str_eq(decoded, json_string_value(json_object_get(c, "decoded")));
    if (exact_round_trip) ck_assert_str_eq(decoded, text);
    char *skipped = seal_tokenizer_decode(t, ids, n, 1);
    ck_assert_str_eq(skipped, json_string_value(json_object_get(c, "decoded_skip")));
    free(skipped);
    free(decoded);
    free(ids);
  }
  json_decref(all);
}

START_TEST(golden_llama3_pair_merges) {
  seal_tokenizer *t = load_tok(FIX "llama3/tokenizer.json");
  check_golden(t, "llama3", true);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(golden_llama3_string_merges) {
  seal_tokenizer *t = load_tok(FIX "llama3_strings.json");
  check_golden(t, "llama3_strings", true);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(golden_llama3_ignore_merges) {
  seal_tokenizer *t = load_tok(FIX "llama3_ignore.json");
  check_golden(t, "llama3_ignore", true);
  /* The whole-word entry exists only through ignore_merges. */
  int32_t *ids = NULL;
  int n = seal_tokenizer_encode(t, " zyxwvut", &ids);
  ck_assert_int_eq(n, 1);
  ck_assert_int_eq(ids[0], seal_tokenizer_token_id(t, "Ġzyxwvut"));
  free(ids);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(golden_qwen2_nfc) {
  seal_tokenizer *t = load_tok(FIX "qwen2.json");
  check_golden(t, "qwen2", false);
  /* NFC composes a decomposed é before BPE: both spellings give the same ids. */
  int32_t *a = NULL, *b = NULL;
  int na = seal_tokenizer_encode(t, "caf\xC3\xA9", &a);
  int nb = seal_tokenizer_encode(t, "cafe\xCC\x81", &b);
  ck_assert_int_eq(na, nb);
  ck_assert_mem_eq(a, b, (size_t)na * sizeof *a);
  free(a);
  free(b);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(golden_gpt2_bytelevel_regex) {
  seal_tokenizer *t = load_tok(FIX "gpt2.json");
  check_golden(t, "gpt2", true);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(golden_smollm_digits) {
  seal_tokenizer *t = load_tok(FIX "smollm.json");
  check_golden(t, "smollm", true);
  seal_tokenizer_free(t);
}
END_TEST

/* ---- GGUF path: a seal_vocab built from a fixture's tokenizer.json -------------------- */

static char *dup_json_string(const json_t *s) { return seal_strdup(json_string_value(s)); }

static void vocab_from_json(const char *path, const char *pre, seal_vocab *v) {
  json_t *root = load_json(path);
  const json_t *model = json_object_get(root, "model");
  const json_t *vocab = json_object_get(model, "vocab");
  const json_t *added = json_object_get(root, "added_tokens");
  int n = 0;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    if (json_integer_value(val) + 1 > n) n = (int)json_integer_value(val) + 1;
  }
  size_t i;
  json_t *a;
  json_array_foreach(added, i, a) {
    int id = (int)json_integer_value(json_object_get(a, "id"));
    if (id + 1 > n) n = id + 1;
  }
  memset(v, 0, sizeof *v);
  v->model = seal_strdup("gpt2");
  v->pre = pre ? seal_strdup(pre) : NULL;
  v->n_tokens = n;
  v->tokens = seal_calloc((size_t)n, sizeof *v->tokens);
  v->token_types = seal_calloc((size_t)n, sizeof *v->token_types);
  json_object_foreach((json_t *)vocab, key, val) {
    v->tokens[json_integer_value(val)] = seal_strdup(key);
    v->token_types[json_integer_value(val)] = 1;
  }
  json_array_foreach(added, i, a) {
    int id = (int)json_integer_value(json_object_get(a, "id"));
    free(v->tokens[id]);
    v->tokens[id] = dup_json_string(json_object_get(a, "content"));
    v->token_types[id] = json_is_true(json_object_get(a, "special")) ? 3 : 4;
  }
  for (int k = 0; k < n; k++) ck_assert_msg(v->tokens[k] != NULL, "%s: id %d unused", path, k);
  const json_t *merges = json_object_get(model, "merges");
  v->n_merges = (int)json_array_size(merges);
  v->merges = seal_calloc((size_t)v->n_merges, sizeof *v->merges);
  json_array_foreach(merges, i, a) {
    v->merges[i] = json_is_string(a)
                       ? dup_json_string(a)
                       : seal_asprintf("%s %s", json_string_value(json_array_get(a, 0)),
                                       json_string_value(json_array_get(a, 1)));
  }
  v->bos_id = v->eos_id = v->eot_id = v->pad_id = v->unk_id = -1;
  json_decref(root);
}

static void check_from_vocab(const char *path, const char *pre, const char *name,
                             bool exact_round_trip) {
  seal_vocab v;
  vocab_from_json(path, pre, &v);
  seal_error e = {{0}};
  seal_tokenizer *t = seal_tokenizer_from_vocab(&v, &e);
  ck_assert_msg(t != NULL, "%s", e.msg);
  check_golden(t, name, exact_round_trip);
  seal_tokenizer_free(t);
  seal_vocab_free(&v);
}

START_TEST(from_vocab_gpt2) { check_from_vocab(FIX "gpt2.json", "gpt2", "gpt2", true); }
END_TEST

START_TEST(from_vocab_default_pre_is_gpt2) {
  check_from_vocab(FIX "gpt2.json", NULL, "gpt2", true);
}
END_TEST

START_TEST(from_vocab_smollm) { check_from_vocab(FIX "smollm.json", "smollm", "smollm", true); }
END_TEST

START_TEST(from_vocab_qwen2) { check_from_vocab(FIX "qwen2.json", "qwen2", "qwen2", false); }
END_TEST

START_TEST(from_vocab_llama_bpe_ignores_merges) {
  check_from_vocab(FIX "llama3_ignore.json", "llama-bpe", "llama3_ignore", true);
}
END_TEST

START_TEST(from_vocab_refuses_other_models) {
  seal_vocab v;
  vocab_from_json(FIX "gpt2.json", "no-such-pre", &v);
  seal_error e = {{0}};
  ck_assert_ptr_null(seal_tokenizer_from_vocab(&v, &e));
  ck_assert_msg(strstr(e.msg, "no-such-pre") != NULL, "%s", e.msg);
  free(v.model);
  v.model = seal_strdup("llama");
  free(v.pre);
  v.pre = NULL;
  ck_assert_ptr_null(seal_tokenizer_from_vocab(&v, &e));
  ck_assert_msg(strstr(e.msg, "\"llama\"") != NULL, "%s", e.msg);
  free(v.model);
  v.model = seal_strdup("gpt2");
  free(v.merges[0]);
  v.merges[0] = seal_strdup("nosuchtoken Ġ");
  ck_assert_ptr_null(seal_tokenizer_from_vocab(&v, &e));
  ck_assert_msg(strstr(e.msg, "nosuchtoken") != NULL, "%s", e.msg);
  seal_vocab_free(&v);
}
END_TEST

/* ---- special tokens, accessors, tokenizer_config.json ----------------------------------- */

START_TEST(special_tokens_split_and_flags) {
  seal_tokenizer *t = load_tok(FIX "llama3/tokenizer.json");
  int bot = seal_tokenizer_token_id(t, "<|begin_of_text|>");
  int eot = seal_tokenizer_token_id(t, "<|eot_id|>");
  int tool = seal_tokenizer_token_id(t, "<tool_call>");
  int ab = seal_tokenizer_token_id(t, "<|ab|>"), abcd = seal_tokenizer_token_id(t, "<|ab|>cd");
  ck_assert_int_ge(bot, 0);
  ck_assert_int_ge(tool, 0);
  ck_assert(seal_tokenizer_is_special(t, bot));
  ck_assert(!seal_tokenizer_is_special(t, tool));
  ck_assert(!seal_tokenizer_is_special(t, seal_tokenizer_token_id(t, "Ġthe")));

  int32_t *ids = NULL;
  int n = seal_tokenizer_encode(t, "<|begin_of_text|><tool_call>x<|eot_id|><|ab|>cd<|ab|>c", &ids);
  ck_assert_int_ge(n, 6);
  ck_assert_int_eq(ids[0], bot);
  ck_assert_int_eq(ids[1], tool);
  ck_assert_int_eq(ids[3], eot);
  ck_assert_int_eq(ids[4], abcd); /* leftmost-longest */
  ck_assert_int_eq(ids[5], ab);
  char *skipped = seal_tokenizer_decode(t, ids, n, 1);
  ck_assert_str_eq(skipped, "<tool_call>xc");
  free(skipped);
  free(ids);
  seal_tokenizer_free(t);
}
END_TEST

START_TEST(accessors_and_config) {
  seal_tokenizer *t = load_tok(FIX "llama3/tokenizer.json");
  json_t *root = load_json(FIX "llama3/tokenizer.json");
  int max_id = -1;
  const char *key;
  json_t *val;
  json_object_foreach(json_object_get(json_object_get(root, "model"), "vocab"), key, val) {
    if (json_integer_value(val) > max_id) max_id = (int)json_integer_value(val);
    ck_assert_int_eq(seal_tokenizer_token_id(t, key), json_integer_value(val));
    ck_assert_str_eq(seal_tokenizer_token_str(t, (int)json_integer_value(val)), key);
  }
  size_t i;
  json_array_foreach(json_object_get(root, "added_tokens"), i, val) {
    int id = (int)json_integer_value(json_object_get(val, "id"));
    if (id > max_id) max_id = id;
  }
  json_decref(root);
  ck_assert_int_eq(seal_tokenizer_vocab_size(t), max_id + 1);
  ck_assert_int_eq(seal_tokenizer_token_id(t, "definitely not a token"), -1);
  ck_assert_ptr_null(seal_tokenizer_token_str(t, -1));
  ck_assert_ptr_null(seal_tokenizer_token_str(t, max_id + 1));
  /* From tokenizer_config.json beside it. */
  ck_assert_int_eq(seal_tokenizer_bos_id(t), seal_tokenizer_token_id(t, "<|begin_of_text|>"));
  ck_assert_int_eq(seal_tokenizer_eos_id(t), seal_tokenizer_token_id(t, "<|eot_id|>"));
  ck_assert_int_eq(seal_tokenizer_eot_id(t), -1);
  ck_assert(!seal_tokenizer_add_bos(t));
  ck_assert_ptr_nonnull(seal_tokenizer_chat_template(t));
  ck_assert(strstr(seal_tokenizer_chat_template(t), "Cutting Knowledge Date") != NULL);
  seal_tokenizer_free(t);

  /* No tokenizer_config.json beside gpt2.json: nothing known. */
  t = load_tok(FIX "gpt2.json");
  ck_assert_int_eq(seal_tokenizer_bos_id(t), -1);
  ck_assert_int_eq(seal_tokenizer_eos_id(t), -1);
  ck_assert_ptr_null(seal_tokenizer_chat_template(t));
  seal_tokenizer_free(t);
}
END_TEST

/* ---- robustness and speed ----------------------------------------------------------------- */

START_TEST(invalid_utf8_reads_as_replacement) {
  seal_tokenizer *t = load_tok(FIX "llama3/tokenizer.json");
  int32_t *ids = NULL;
  int n = seal_tokenizer_encode(t,
                                "ab\xFF"
                                "cd\xE6\x97",
                                &ids);
  ck_assert_int_gt(n, 0);
  char *s = seal_tokenizer_decode(t, ids, n, 0);
  ck_assert_str_eq(s,
                   "ab\xEF\xBF\xBD"
                   "cd\xEF\xBF\xBD\xEF\xBF\xBD");
  free(s);
  free(ids);
  /* Ids outside the vocabulary are skipped by decode. */
  int32_t odd[] = {-5, 1 << 30, seal_tokenizer_token_id(t, "a")};
  s = seal_tokenizer_decode(t, odd, 3, 0);
  ck_assert_str_eq(s, "a");
  free(s);
  seal_tokenizer_free(t);
}
END_TEST

/* This thread's CPU time in seconds: unlike the wall clock it does not grow
 * when a loaded machine runs other processes. */
static double thread_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A long run is one pre-token (spaces, a word) or thousands (digits under \p{N}{1,3});
 * either way encoding must stay near-linear. 100k characters: a quadratic merge
 * loop would take minutes here; a linear one takes well under a second (a few
 * times that under the sanitizers), so 5 CPU seconds separates them. */
static void check_long_run(const seal_tokenizer *t, const char *name, char c, size_t len) {
  char *text = seal_malloc(len + 2);
  memset(text, c, len);
  text[len] = 'x';
  text[len + 1] = '\0';
  double t0 = thread_cpu_seconds();
  int32_t *ids = NULL;
  int n = seal_tokenizer_encode(t, text, &ids);
  double dt = thread_cpu_seconds() - t0;
  ck_assert_int_gt(n, 0);
  ck_assert_msg(dt < 5.0, "%s: %zu x '%c' took %.2f CPU s", name, len, c, dt);
  char *back = seal_tokenizer_decode(t, ids, n, 0);
  ck_assert_msg(strcmp(back, text) == 0, "%s: round trip of %zu x '%c' differs", name, len, c);
  free(back);
  free(ids);
  free(text);
}

START_TEST(long_runs_are_fast) {
  const char *paths[] = {FIX "llama3/tokenizer.json", FIX "gpt2.json", FIX "qwen2.json",
                         FIX "smollm.json"};
  for (int p = 0; p < 4; p++) {
    seal_tokenizer *t = load_tok(paths[p]);
    check_long_run(t, paths[p], '7', 100000);
    check_long_run(t, paths[p], ' ', 100000);
    check_long_run(t, paths[p], '\n', 100000);
    check_long_run(t, paths[p], 'e', 100000);
    seal_tokenizer_free(t);
  }
}
END_TEST

/* Random mixtures of awkward pieces round-trip exactly (no normalizer). */
START_TEST(random_text_round_trips) {
  static const char *const pieces[] = {"a",
                                       "The",
                                       " the",
                                       "'s",
                                       "'LL",
                                       " ",
                                       "  ",
                                       "\n",
                                       "\r\n",
                                       "\t",
                                       "0",
                                       "123",
                                       "4567",
                                       "\xE6\x97\xA5\xE6\x9C\xAC",
                                       "\xF0\x9F\x98\x80",
                                       "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
                                       "\xE2\x80\x8D",
                                       "e\xCC\x81",
                                       "\xC3\xA9",
                                       "\xD0\xBC\xD0\xB8\xD1\x80",
                                       "!?",
                                       "...",
                                       "<|",
                                       "|>",
                                       "<|eot_id|>",
                                       "<|begin_of_text|>",
                                       "\xC2\xA0",
                                       "\xE3\x80\x80",
                                       "{\"k\": [1]}"};
  const int n_pieces = (int)(sizeof pieces / sizeof *pieces);
  const char *paths[] = {FIX "llama3/tokenizer.json", FIX "gpt2.json", FIX "smollm.json"};
  seal_rng rng;
  seal_rng_seed(&rng, 1234);
  for (int p = 0; p < 3; p++) {
    seal_tokenizer *t = load_tok(paths[p]);
    for (int trial = 0; trial < 300; trial++) {
      seal_buf text = {0};
      seal_buf_append(&text, "", 0);
      int len = (int)(seal_rng_u64(&rng) % 40);
      for (int k = 0; k < len; k++) seal_buf_puts(&text, pieces[seal_rng_u64(&rng) % n_pieces]);
      int32_t *ids = NULL;
      int n = seal_tokenizer_encode(t, text.data, &ids);
      ck_assert_int_ge(n, 0);
      char *back = seal_tokenizer_decode(t, ids, n, 0);
      ck_assert_msg(strcmp(back, text.data) == 0, "%s: \"%s\" came back as \"%s\"", paths[p],
                    text.data, back);
      /* Decoding token by token gives the same bytes. */
      seal_buf pieced = {0};
      seal_buf_append(&pieced, "", 0);
      for (int k = 0; k < n; k++) {
        char *one = seal_tokenizer_decode(t, &ids[k], 1, 0);
        seal_buf_puts(&pieced, one);
        free(one);
      }
      ck_assert_str_eq(pieced.data, text.data);
      seal_buf_free(&pieced);
      free(back);
      free(ids);
      seal_buf_free(&text);
    }
    seal_tokenizer_free(t);
  }
}
END_TEST

/* ---- load errors ------------------------------------------------------------------------- */

static char *write_temp(const char *dir, const char *name, const char *text) {
  char *path = seal_path_join(dir, name);
  seal_error e;
  ck_assert_int_eq(seal_write_file_atomic(path, text, strlen(text), false, &e), 0);
  return path;
}

static void expect_load_error(const char *dir, const char *json, const char *needle) {
  char *path = write_temp(dir, "tokenizer.json", json);
  seal_error e = {{0}};
  seal_tokenizer *t = seal_tokenizer_load_json(path, &e);
  ck_assert_msg(t == NULL, "loaded a bad tokenizer: %s", json);
  ck_assert_msg(strstr(e.msg, needle) != NULL, "error \"%s\" lacks \"%s\"", e.msg, needle);
  ck_assert_msg(strstr(e.msg, path) != NULL, "error \"%s\" does not name %s", e.msg, path);
  unlink(path);
  free(path);
}

#define BYTELEVEL_TAIL                                                          \
  "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}, " \
  "\"decoder\": {\"type\": \"ByteLevel\"}}"

START_TEST(load_errors_are_reported) {
  char dir[] = "/tmp/seal-tokenizer-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  seal_error e = {{0}};
  ck_assert_ptr_null(seal_tokenizer_load_json("/nonexistent/tokenizer.json", &e));
  ck_assert_msg(strstr(e.msg, "/nonexistent/tokenizer.json") != NULL, "%s", e.msg);

  expect_load_error(dir, "{\"model\": {\"type\": \"BPE\",\n \"vocab\": {\"a\": 0,}}}", ":2:");
  expect_load_error(dir, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "WordPiece");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
                    "\"merges\": [\"a c\"]}, " BYTELEVEL_TAIL,
                    "\"c\" is not in the vocabulary");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, "
                    "\"merges\": [[\"a\", \"b\"]]}, " BYTELEVEL_TAIL,
                    "merged token \"ab\"");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                    "\"normalizer\": {\"type\": \"NFKC\"}, " BYTELEVEL_TAIL,
                    "NFKC");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                    "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
                    "\"behavior\": \"Isolated\"}, \"decoder\": {\"type\": \"ByteLevel\"}}",
                    "bad regex");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                    "\"pre_tokenizer\": {\"type\": \"Whitespace\"}, "
                    "\"decoder\": {\"type\": \"ByteLevel\"}}",
                    "Whitespace");
  expect_load_error(dir,
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                    "\"decoder\": {\"type\": \"ByteLevel\"}}",
                    "ByteLevel");
  rmdir(dir);
}
END_TEST

/* ---- the real SmolLM2 GGUF ------------------------------------------------------------------ */

START_TEST(smollm2_gguf_matches_tokenizers) {
  const char *cache = getenv("SEAL_CACHE");
  char *home_cache =
      cache ? NULL : seal_path_join(getenv("HOME") ? getenv("HOME") : "/", ".cache/seal");
  char *path = seal_path_join(cache ? cache : home_cache, "models/SmolLM2-135M-Instruct.Q4_1.gguf");
  free(home_cache);
  if (!seal_file_exists(path)) {
    fprintf(stderr,
            "tokenizer: SKIP smollm2_gguf_matches_tokenizers: %s is absent "
            "(scripts/fetch-model.sh fetches it)\n",
            path);
    free(path);
    return;
  }
  seal_checkpoint ck;
  seal_error e = {{0}};
  ck_assert_msg(seal_checkpoint_open(path, &ck, &e) == 0, "%s", e.msg);
  ck_assert(ck.has_vocab);
  seal_tokenizer *t = seal_tokenizer_from_vocab(&ck.vocab, &e);
  ck_assert_msg(t != NULL, "%s", e.msg);
  json_t *ref = load_json(FIX "smollm2_gguf.json");
  ck_assert_int_eq(seal_tokenizer_vocab_size(t),
                   json_integer_value(json_object_get(ref, "n_tokens")));
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(ref, "cases"), i, c) {
    const char *text = json_string_value(json_object_get(c, "text"));
    int32_t *ids = NULL;
    int n = seal_tokenizer_encode(t, text, &ids);
    check_ids("SmolLM2 GGUF", i, text, ids, n, json_object_get(c, "ids"));
    char *back = seal_tokenizer_decode(t, ids, n, 0);
    ck_assert_str_eq(back, text);
    free(back);
    free(ids);
  }
  ck_assert_int_eq(seal_tokenizer_eos_id(t), seal_tokenizer_token_id(t, "<|im_end|>"));
  ck_assert_ptr_nonnull(seal_tokenizer_chat_template(t));
  json_decref(ref);
  seal_tokenizer_free(t);
  seal_checkpoint_free(&ck);
  free(path);
}
END_TEST

Suite *tokenizer_suite(void) {
  Suite *s = suite_create("tokenizer");
  TCase *golden = tcase_create("golden");
  tcase_add_test(golden, golden_llama3_pair_merges);
  tcase_add_test(golden, golden_llama3_string_merges);
  tcase_add_test(golden, golden_llama3_ignore_merges);
  tcase_add_test(golden, golden_qwen2_nfc);
  tcase_add_test(golden, golden_gpt2_bytelevel_regex);
  tcase_add_test(golden, golden_smollm_digits);
  suite_add_tcase(s, golden);
  TCase *gguf = tcase_create("from_vocab");
  tcase_add_test(gguf, from_vocab_gpt2);
  tcase_add_test(gguf, from_vocab_default_pre_is_gpt2);
  tcase_add_test(gguf, from_vocab_smollm);
  tcase_add_test(gguf, from_vocab_qwen2);
  tcase_add_test(gguf, from_vocab_llama_bpe_ignores_merges);
  tcase_add_test(gguf, from_vocab_refuses_other_models);
  tcase_add_test(gguf, smollm2_gguf_matches_tokenizers);
  tcase_set_timeout(gguf, 120);
  suite_add_tcase(s, gguf);
  TCase *misc = tcase_create("misc");
  tcase_add_test(misc, special_tokens_split_and_flags);
  tcase_add_test(misc, accessors_and_config);
  tcase_add_test(misc, invalid_utf8_reads_as_replacement);
  tcase_add_test(misc, long_runs_are_fast);
  tcase_add_test(misc, random_text_round_trips);
  tcase_add_test(misc, load_errors_are_reported);
  tcase_set_timeout(misc, 120);
  suite_add_tcase(s, misc);
  return s;
}
