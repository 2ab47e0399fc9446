/* model/tokenizer.c — loading tokenizers (tokenizer.json + tokenizer_config.json,
 * or a GGUF vocabulary), and encode/decode on top of pretok.c and bpe.c. */
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "model/json_file.h"
#include "model/tokenizer_internal.h"

static seal_tokenizer *tok_new(void) {
  seal_tokenizer *t = seal_calloc(1, sizeof *t);
  t->unk_id = t->bos_id = t->eos_id = t->eot_id = -1;
  return t;
}

void seal_tokenizer_free(seal_tokenizer *t) {
  if (!t) return;
  for (int i = 0; i < t->n_vocab; i++) free(t->id_str ? t->id_str[i] : NULL);
  free(t->id_str);
  free(t->id_flags);
  tok_strmap_free(&t->vocab);
  tok_strmap_free(&t->added_map);
  tok_pairmap_free(&t->merges);
  for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
  free(t->added);
  for (int i = 0; i < t->n_splits; i++) pcre2_code_free(t->splits[i].re);
  free(t->splits);
  free(t->chat_template);
  free(t);
}

/* ---- building blocks shared by both loaders ------------------------------------------- */

static void add_added_token(seal_tokenizer *t, const char *content, int32_t id) {
  t->added = seal_realloc(t->added, (size_t)(t->n_added + 1) * sizeof *t->added);
  t->added[t->n_added++] = (tok_added){seal_strdup(content), strlen(content), id};
  tok_strmap_put(&t->added_map, content, strlen(content), id);
}

/* Sizes the id tables from the largest id in the vocabulary and the added tokens,
 * then fills them: vocabulary strings first, added tokens over them (as
 * `tokenizers`' id_to_token prefers the added vocabulary). */
static int build_id_tables(seal_tokenizer *t, const char *where, seal_error *e) {
  int32_t max_id = -1;
  for (size_t i = 0; i < t->vocab.cap; i++) {
    if (t->vocab.keys[i] && t->vocab.vals[i] > max_id) max_id = t->vocab.vals[i];
  }
  for (int i = 0; i < t->n_added; i++) {
    if (t->added[i].id > max_id) max_id = t->added[i].id;
  }
  if (max_id < 0) return seal_errorf(e, "%s: the vocabulary is empty", where);
  /* The id tables are dense: ids far beyond the number of tokens defined would
   * make a few bytes of JSON allocate gigabytes (9 bytes per id). Real
   * tokenizers number their tokens densely from 0. */
  size_t defined = t->vocab.n + (size_t)t->n_added;
  if ((size_t)max_id >= 2 * defined + 1024)
    return seal_errorf(e,
                       "%s: token id %d is far beyond the %zu tokens the file defines (ids must "
                       "be dense, from 0)",
                       where, max_id, defined);
  t->n_vocab = max_id + 1;
  t->id_str = seal_calloc((size_t)t->n_vocab, sizeof *t->id_str);
  t->id_flags = seal_calloc((size_t)t->n_vocab, sizeof *t->id_flags);
  for (size_t i = 0; i < t->vocab.cap; i++) {
    if (!t->vocab.keys[i]) continue;
    int32_t id = t->vocab.vals[i];
    if (id < 0)
      return seal_errorf(e, "%s: token \"%s\" has negative id %d", where, t->vocab.keys[i], id);
    if (t->id_str[id]) {
      return seal_errorf(e, "%s: id %d is given to both \"%s\" and \"%s\"", where, id,
                         t->id_str[id], t->vocab.keys[i]);
    }
    t->id_str[id] = seal_strdup(t->vocab.keys[i]);
  }
  return 0;
}

static void mark_added_ids(seal_tokenizer *t, const bool *special) {
  for (int i = 0; i < t->n_added; i++) {
    int32_t id = t->added[i].id;
    free(t->id_str[id]);
    t->id_str[id] = seal_strdup(t->added[i].content);
    t->id_flags[id] |= TOK_ADDED | (special[i] ? TOK_SPECIAL : 0);
  }
}

static void find_byte_ids(seal_tokenizer *t) {
  seal_buf buf = {0};
  for (int b = 0; b < 256; b++) {
    buf.len = 0;
    uint8_t byte = (uint8_t)b;
    tok_bytes_to_bytelevel(&byte, 1, &buf);
    t->byte_id[b] = tok_strmap_get(&t->vocab, buf.data, buf.len);
  }
  seal_buf_free(&buf);
}

/* Adds merge number rank, "left right", resolving the three tokens. */
static int add_merge(seal_tokenizer *t, const char *left, const char *right, int32_t rank,
                     const char *where, seal_error *e) {
  int32_t a = tok_strmap_get(&t->vocab, left, strlen(left));
  int32_t b = tok_strmap_get(&t->vocab, right, strlen(right));
  if (a < 0 || b < 0) {
    return seal_errorf(e, "%s: merge %d (\"%s %s\"): \"%s\" is not in the vocabulary", where, rank,
                       left, right, a < 0 ? left : right);
  }
  char *joined = seal_asprintf("%s%s", left, right);
  int32_t merged = tok_strmap_get(&t->vocab, joined, strlen(joined));
  if (merged < 0) {
    seal_errorf(e, "%s: merge %d (\"%s %s\"): the merged token \"%s\" is not in the vocabulary",
                where, rank, left, right, joined);
    free(joined);
    return -1;
  }
  free(joined);
  tok_pairmap_put(&t->merges, a, b, rank, merged);
  return 0;
}

/* Splits a merge written "a b" at its space (searched from the second byte, so
 * a first token that is itself a space still works, as in llama.cpp). */
static int add_merge_string(seal_tokenizer *t, const char *merge, int32_t rank, const char *where,
                            seal_error *e) {
  const char *space = merge[0] ? strchr(merge + 1, ' ') : NULL;
  if (!space) {
    return seal_errorf(e, "%s: merge %d (\"%s\") is not two tokens separated by a space", where,
                       rank, merge);
  }
  char *left = seal_malloc((size_t)(space - merge) + 1);
  memcpy(left, merge, (size_t)(space - merge));
  left[space - merge] = '\0';
  int rc = add_merge(t, left, space + 1, rank, where, e);
  free(left);
  return rc;
}

/* ---- tokenizer.json ------------------------------------------------------------------ */

static const char *json_str(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static int parse_vocab(seal_tokenizer *t, const json_t *model, const char *path, seal_error *e) {
  const json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab)) return seal_errorf(e, "%s: model.vocab is missing", path);
  tok_strmap_init(&t->vocab, json_object_size(vocab));
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    if (!json_is_integer(val) || json_integer_value(val) < 0 ||
        json_integer_value(val) > INT32_MAX / 2) {
      return seal_errorf(e, "%s: model.vocab[\"%s\"] is not a valid id", path, key);
    }
    tok_strmap_put(&t->vocab, key, strlen(key), (int32_t)json_integer_value(val));
  }
  return 0;
}

static int parse_merges(seal_tokenizer *t, const json_t *model, const char *path, seal_error *e) {
  const json_t *merges = json_object_get(model, "merges");
  if (!json_is_array(merges)) return seal_errorf(e, "%s: model.merges is missing", path);
  tok_pairmap_init(&t->merges, json_array_size(merges));
  size_t i;
  json_t *m;
  json_array_foreach(merges, i, m) {
    int32_t rank = (int32_t)i;
    if (json_is_string(m)) {
      if (add_merge_string(t, json_string_value(m), rank, path, e) < 0) return -1;
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
      if (add_merge(t, json_string_value(json_array_get(m, 0)),
                    json_string_value(json_array_get(m, 1)), rank, path, e) < 0) {
        return -1;
      }
    } else {
      return seal_errorf(e, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
    }
  }
  return 0;
}

static int parse_model(seal_tokenizer *t, const json_t *root, const char *path, seal_error *e) {
  const json_t *model = json_object_get(root, "model");
  if (!json_is_object(model)) return seal_errorf(e, "%s: no \"model\" object", path);
  const char *type = json_str(model, "type");
  if (type && strcmp(type, "BPE") != 0) {
    return seal_errorf(e, "%s: model.type \"%s\" is not supported (only BPE)", path, type);
  }
  if (json_is_true(json_object_get(model, "byte_fallback"))) {
    return seal_errorf(e, "%s: model.byte_fallback is not supported (byte-level BPE only)", path);
  }
  const char *prefix = json_str(model, "continuing_subword_prefix");
  const char *suffix = json_str(model, "end_of_word_suffix");
  if ((prefix && *prefix) || (suffix && *suffix)) {
    return seal_errorf(e,
                       "%s: model.continuing_subword_prefix/end_of_word_suffix are not "
                       "supported",
                       path);
  }
  if (json_number_value(json_object_get(model, "dropout")) > 0) {
    seal_warn("%s: model.dropout is ignored (encoding is deterministic)", path);
  }
  t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
  if (parse_vocab(t, model, path, e) < 0 || parse_merges(t, model, path, e) < 0) return -1;
  const char *unk = json_str(model, "unk_token");
  if (unk) t->unk_id = tok_strmap_get(&t->vocab, unk, strlen(unk));
  return 0;
}

static int parse_added_tokens(seal_tokenizer *t, const json_t *root, const char *path,
                              bool **special, seal_error *e) {
  const json_t *list = json_object_get(root, "added_tokens");
  size_t n = json_is_array(list) ? json_array_size(list) : 0;
  tok_strmap_init(&t->added_map, n);
  *special = seal_calloc(n ? n : 1, sizeof **special);
  size_t i;
  json_t *a;
  json_array_foreach(list, i, a) {
    const char *content = json_str(a, "content");
    const json_t *id = json_object_get(a, "id");
    if (!content || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) > INT32_MAX / 2) {
      return seal_errorf(e, "%s: added_tokens[%zu] needs a string \"content\" and an id", path, i);
    }
    (*special)[t->n_added] = json_is_true(json_object_get(a, "special"));
    add_added_token(t, content, (int32_t)json_integer_value(id));
  }
  return 0;
}

static int parse_normalizer(seal_tokenizer *t, const json_t *n, const char *path, seal_error *e) {
  if (!n || json_is_null(n)) return 0;
  const char *type = json_str(n, "type");
  if (type && strcmp(type, "NFC") == 0) {
    t->nfc = true;
    return 0;
  }
  if (type && strcmp(type, "Sequence") == 0) {
    size_t i;
    json_t *inner;
    json_array_foreach(json_object_get(n, "normalizers"), i, inner) {
      if (parse_normalizer(t, inner, path, e) < 0) return -1;
    }
    return 0;
  }
  return seal_errorf(e, "%s: normalizer \"%s\" is not supported (only NFC, or a Sequence of it)",
                     path, type ? type : "?");
}

static int parse_split(seal_tokenizer *t, const json_t *p, const char *path, seal_error *e) {
  const json_t *pattern = json_object_get(p, "pattern");
  const char *regex = json_str(pattern, "Regex");
  const char *literal = json_str(pattern, "String");
  if (!regex && !literal) {
    return seal_errorf(e, "%s: Split pre-tokenizer without a Regex or String pattern", path);
  }
  const char *behavior = json_str(p, "behavior");
  tok_split_behavior b;
  if (behavior && strcmp(behavior, "Isolated") == 0) {
    b = TOK_SPLIT_ISOLATED;
  } else if (behavior && strcmp(behavior, "Removed") == 0) {
    b = TOK_SPLIT_REMOVED;
  } else {
    return seal_errorf(e, "%s: Split behavior \"%s\" is not supported (Isolated, Removed)", path,
                       behavior ? behavior : "?");
  }
  if (json_is_true(json_object_get(p, "invert"))) {
    return seal_errorf(e, "%s: Split with invert=true is not supported", path);
  }
  char *where = seal_asprintf("%s: Split pattern", path);
  int rc = tok_add_split(t, regex ? regex : literal, !regex, b, where, e);
  free(where);
  return rc;
}

static int parse_pre_tokenizer(seal_tokenizer *t, const json_t *p, const char *path,
                               bool *byte_level, seal_error *e) {
  if (!p || json_is_null(p)) return 0;
  const char *type = json_str(p, "type");
  if (!type) return seal_errorf(e, "%s: pre_tokenizer without a type", path);
  if (strcmp(type, "Sequence") == 0) {
    size_t i;
    json_t *inner;
    json_array_foreach(json_object_get(p, "pretokenizers"), i, inner) {
      if (parse_pre_tokenizer(t, inner, path, byte_level, e) < 0) return -1;
    }
    return 0;
  }
  if (strcmp(type, "Split") == 0) return parse_split(t, p, path, e);
  if (strcmp(type, "ByteLevel") == 0) {
    if (json_is_true(json_object_get(p, "add_prefix_space"))) {
      return seal_errorf(e, "%s: ByteLevel add_prefix_space=true is not supported", path);
    }
    *byte_level = true;
    const json_t *use_regex = json_object_get(p, "use_regex");
    if (use_regex && !json_is_true(use_regex)) return 0;
    return tok_add_split(t, TOK_GPT2_REGEX, false, TOK_SPLIT_ISOLATED, path, e);
  }
  if (strcmp(type, "Digits") == 0) {
    bool each = json_is_true(json_object_get(p, "individual_digits"));
    return tok_add_split(t, each ? "\\p{N}" : "\\p{N}+", false, TOK_SPLIT_ISOLATED, path, e);
  }
  return seal_errorf(e,
                     "%s: pre_tokenizer \"%s\" is not supported (Sequence, Split, ByteLevel, "
                     "Digits)",
                     path, type);
}

static int check_decoder(const json_t *d, const char *path, seal_error *e) {
  const char *type = json_str(d, "type");
  if (type && strcmp(type, "ByteLevel") == 0) return 0;
  return seal_errorf(e, "%s: decoder \"%s\" is not supported (only ByteLevel)", path,
                     type ? type : "null");
}

/* add_bos: a TemplateProcessing post-processor (alone or in a Sequence) whose
 * "single" template starts with a special token, as Llama-3's adds BOS. Its id
 * must be one of the vocabulary's. */
static int parse_post_processor(seal_tokenizer *t, const json_t *p, const char *path,
                                seal_error *e) {
  const char *type = json_str(p, "type");
  if (!type) return 0;
  if (strcmp(type, "Sequence") == 0) {
    size_t i;
    json_t *inner;
    json_array_foreach(json_object_get(p, "processors"), i, inner) {
      if (parse_post_processor(t, inner, path, e) != 0) return -1;
    }
    return 0;
  }
  if (strcmp(type, "TemplateProcessing") != 0) return 0;
  const json_t *first = json_array_get(json_object_get(p, "single"), 0);
  const char *name = json_str(json_object_get(first, "SpecialToken"), "id");
  if (!name) return 0;
  t->add_bos = true;
  const json_t *ids =
      json_object_get(json_object_get(json_object_get(p, "special_tokens"), name), "ids");
  const json_t *id = json_array_get(ids, 0);
  if (t->bos_id >= 0 || !json_is_integer(id)) return 0;
  if (json_integer_value(id) < 0 || json_integer_value(id) >= t->n_vocab)
    return seal_errorf(e,
                       "%s: post_processor.special_tokens[\"%s\"].ids[0] = %lld is not a token id",
                       path, name, (long long)json_integer_value(id));
  t->bos_id = (int)json_integer_value(id);
  return 0;
}

/* A token in tokenizer_config.json: a string, or {"content": ...}. */
static const char *config_token(const json_t *config, const char *key) {
  const json_t *v = json_object_get(config, key);
  return json_is_string(v) ? json_string_value(v) : json_str(v, "content");
}

/* Reads bos/eos and the chat template from tokenizer_config.json beside path. */
static int load_tokenizer_config(seal_tokenizer *t, const char *path, seal_error *e) {
  char *copy = seal_strdup(path);
  char *config_path = seal_path_join(dirname(copy), "tokenizer_config.json");
  free(copy);
  int rc = 0;
  if (seal_file_exists(config_path)) {
    json_t *config = seal_json_read_file(config_path, 0, e);
    if (!config) {
      rc = -1;
    } else {
      const char *bos = config_token(config, "bos_token");
      const char *eos = config_token(config, "eos_token");
      if (bos) t->bos_id = seal_tokenizer_token_id(t, bos);
      if (eos) t->eos_id = seal_tokenizer_token_id(t, eos);
      const json_t *tmpl = json_object_get(config, "chat_template");
      const char *text = json_string_value(tmpl);
      size_t i;
      json_t *named;
      json_array_foreach(tmpl, i, named) { /* [{name, template}, ...]: the default one */
        const char *name = json_str(named, "name");
        if (name && strcmp(name, "default") == 0) text = json_str(named, "template");
      }
      if (text) t->chat_template = seal_strdup(text);
      json_decref(config);
    }
  }
  free(config_path);
  return rc;
}

seal_tokenizer *seal_tokenizer_load_json(const char *path, seal_error *e) {
  json_t *root = seal_json_read_file(path, 0, e);
  if (!root) return NULL;
  seal_tokenizer *t = tok_new();
  bool *special = NULL, byte_level = false;
  int rc = parse_model(t, root, path, e);
  if (rc == 0) rc = parse_added_tokens(t, root, path, &special, e);
  if (rc == 0) rc = parse_normalizer(t, json_object_get(root, "normalizer"), path, e);
  if (rc == 0) {
    rc = parse_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"), path, &byte_level, e);
  }
  if (rc == 0 && !byte_level) {
    rc = seal_errorf(e, "%s: no ByteLevel pre-tokenizer (only byte-level BPE is supported)", path);
  }
  if (rc == 0) rc = check_decoder(json_object_get(root, "decoder"), path, e);
  if (rc == 0) rc = build_id_tables(t, path, e);
  if (rc == 0) {
    mark_added_ids(t, special);
    find_byte_ids(t);
    tok_index_added(t);
    rc = parse_post_processor(t, json_object_get(root, "post_processor"), path, e);
    if (rc == 0) rc = load_tokenizer_config(t, path, e);
  }
  free(special);
  json_decref(root);
  if (rc < 0) {
    seal_tokenizer_free(t);
    return NULL;
  }
  return t;
}

/* ---- GGUF vocabulary ----------------------------------------------------------------- */

/* The pre-tokenizer llama.cpp picks for tokenizer.ggml.pre, as `tokenizers` runs it. */
static int setup_gguf_pre(seal_tokenizer *t, const char *pre, seal_error *e) {
  const char *where = "GGUF tokenizer.ggml.pre";
  if (!pre || !*pre || strcmp(pre, "gpt2") == 0 || strcmp(pre, "default") == 0) {
    return tok_add_split(t, TOK_GPT2_REGEX, false, TOK_SPLIT_ISOLATED, where, e);
  }
  if (strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "llama3") == 0) {
    t->ignore_merges = true; /* Llama-3's tokenizer.json sets it; llama.cpp does too */
    return tok_add_split(t, TOK_LLAMA3_REGEX, false, TOK_SPLIT_ISOLATED, where, e);
  }
  if (strcmp(pre, "smollm") == 0) { /* Digits(individual) then ByteLevel's GPT-2 regex */
    if (tok_add_split(t, "\\p{N}", false, TOK_SPLIT_ISOLATED, where, e) < 0) return -1;
    return tok_add_split(t, TOK_GPT2_REGEX, false, TOK_SPLIT_ISOLATED, where, e);
  }
  if (strcmp(pre, "qwen2") == 0) {
    t->nfc = true;
    return tok_add_split(t, TOK_QWEN2_REGEX, false, TOK_SPLIT_ISOLATED, where, e);
  }
  return seal_errorf(e, "%s \"%s\" is not supported (llama-bpe, llama3, smollm, qwen2, gpt2)",
                     where, pre);
}

seal_tokenizer *seal_tokenizer_from_vocab(const seal_vocab *v, seal_error *e) {
  if (!v->model || strcmp(v->model, "gpt2") != 0) {
    seal_errorf(e,
                "GGUF tokenizer.ggml.model \"%s\" is not supported (only \"gpt2\", "
                "byte-level BPE)",
                v->model ? v->model : "(none)");
    return NULL;
  }
  if (v->n_tokens <= 0 || !v->tokens) {
    seal_errorf(e, "GGUF tokenizer.ggml.tokens is empty");
    return NULL;
  }
  seal_tokenizer *t = tok_new();
  tok_strmap_init(&t->vocab, (size_t)v->n_tokens);
  tok_strmap_init(&t->added_map, 16);
  bool *special = seal_calloc((size_t)v->n_tokens, sizeof *special);
  for (int i = 0; i < v->n_tokens; i++) {
    const char *s = v->tokens[i] ? v->tokens[i] : "";
    if (!tok_strmap_put(&t->vocab, s, strlen(s), i)) {
      seal_debug("GGUF vocabulary: token %d \"%s\" repeats an earlier one", i, s);
    }
    int32_t type = v->token_types ? v->token_types[i] : 1;
    if (type == 3 || type == 4) { /* control, user-defined */
      special[t->n_added] = type == 3;
      add_added_token(t, s, i);
    }
  }
  int rc = 0;
  tok_pairmap_init(&t->merges, (size_t)(v->n_merges > 0 ? v->n_merges : 1));
  for (int i = 0; i < v->n_merges && rc == 0; i++) {
    rc = add_merge_string(t, v->merges[i], i, "GGUF tokenizer.ggml.merges", e);
  }
  if (rc == 0) rc = setup_gguf_pre(t, v->pre, e);
  if (rc == 0) {
    /* Ids are positions here, so the tables are filled directly. */
    t->n_vocab = v->n_tokens;
    t->id_str = seal_calloc((size_t)t->n_vocab, sizeof *t->id_str);
    t->id_flags = seal_calloc((size_t)t->n_vocab, sizeof *t->id_flags);
    for (int i = 0; i < v->n_tokens; i++)
      t->id_str[i] = seal_strdup(v->tokens[i] ? v->tokens[i] : "");
    mark_added_ids(t, special);
    find_byte_ids(t);
    tok_index_added(t);
    t->bos_id = v->bos_id;
    t->eos_id = v->eos_id;
    t->eot_id = v->eot_id;
    t->add_bos = v->add_bos != 0;
    if (v->chat_template) t->chat_template = seal_strdup(v->chat_template);
  }
  free(special);
  if (rc < 0) {
    seal_tokenizer_free(t);
    return NULL;
  }
  return t;
}

/* ---- encode ---------------------------------------------------------------------------- */

typedef struct {
  const seal_tokenizer *t;
  tok_bpe_work work;
  int32_t *ids;
  int n, cap;
} encode_state;

static void encode_piece(const uint8_t *piece, size_t len, void *ctx) {
  encode_state *s = ctx;
  tok_bpe_word(s->t, &s->work, piece, len, &s->ids, &s->n, &s->cap);
}

static void push_added(encode_state *s, int32_t id) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->ids = seal_realloc(s->ids, (size_t)s->cap * sizeof *s->ids);
  }
  s->ids[s->n++] = id;
}

/* Returns a copy of text with invalid UTF-8 replaced by U+FFFD, or NULL when the
 * text is valid (the usual case), so the regexes can skip their own checks. */
static char *sanitize_utf8(const char *text, size_t len, size_t *out_len) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
  utf8proc_int32_t cp;
  size_t i = 0;
  while (i < len) {
    utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
    if (n < 0) break;
    i += (size_t)n;
  }
  if (i == len) return NULL;
  seal_buf buf = {0};
  seal_buf_append(&buf, text, i);
  while (i < len) {
    utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
    if (n < 0) {
      seal_buf_append(&buf, "\xEF\xBF\xBD", 3);
      i++;
    } else {
      seal_buf_append(&buf, text + i, (size_t)n);
      i += (size_t)n;
    }
  }
  *out_len = buf.len;
  return seal_buf_take(&buf);
}

int seal_tokenizer_encode(const seal_tokenizer *t, const char *text, int32_t **ids) {
  size_t len = strlen(text);
  char *clean = sanitize_utf8(text, len, &len);
  const char *s = clean ? clean : text;
  encode_state st = {.t = t};
  int rc = 0;
  size_t pos = 0;
  while (pos < len && rc == 0) {
    size_t at = 0;
    int k = tok_find_added(t, s + pos, len - pos, &at);
    size_t plain_end = k >= 0 ? pos + at : len;
    rc = tok_pretokenize(t, s + pos, plain_end - pos, encode_piece, &st);
    if (k < 0) break;
    push_added(&st, t->added[k].id);
    pos = plain_end + t->added[k].len;
  }
  tok_bpe_work_free(&st.work);
  free(clean);
  if (rc < 0) {
    free(st.ids);
    *ids = NULL;
    return -1;
  }
  if (!st.ids) st.ids = seal_malloc(sizeof *st.ids);
  *ids = st.ids;
  return st.n;
}

/* ---- decode ---------------------------------------------------------------------------- */

/* Appends the bytes token stands for: each character mapped back through GPT-2's
 * table, or, if any character is outside it, the token's own text (what
 * `tokenizers`' ByteLevel decoder does, e.g. for added tokens with spaces). */
static void decode_token(const char *token, seal_buf *out) {
  size_t start = out->len, len = strlen(token), i = 0;
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)token;
  while (i < len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
    int byte = n > 0 ? tok_cp_to_byte((uint32_t)cp) : -1;
    if (byte < 0) {
      out->len = start;
      seal_buf_append(out, token, len);
      return;
    }
    uint8_t b = (uint8_t)byte;
    seal_buf_append(out, &b, 1);
    i += (size_t)n;
  }
}

char *seal_tokenizer_decode(const seal_tokenizer *t, const int32_t *ids, int n, int skip_special) {
  seal_buf out = {0};
  seal_buf_append(&out, "", 0);
  for (int i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (id < 0 || id >= t->n_vocab || !t->id_str[id]) continue;
    if (skip_special && (t->id_flags[id] & TOK_SPECIAL)) continue;
    decode_token(t->id_str[id], &out);
  }
  return seal_buf_take(&out);
}

/* ---- accessors --------------------------------------------------------------------------- */

const char *seal_tokenizer_token_str(const seal_tokenizer *t, int id) {
  return id >= 0 && id < t->n_vocab ? t->id_str[id] : NULL;
}

int seal_tokenizer_token_id(const seal_tokenizer *t, const char *token) {
  int32_t id = tok_strmap_get(&t->added_map, token, strlen(token));
  return id >= 0 ? id : tok_strmap_get(&t->vocab, token, strlen(token));
}

int seal_tokenizer_vocab_size(const seal_tokenizer *t) { return t->n_vocab; }

bool seal_tokenizer_is_special(const seal_tokenizer *t, int id) {
  return id >= 0 && id < t->n_vocab && (t->id_flags[id] & TOK_SPECIAL);
}

int seal_tokenizer_bos_id(const seal_tokenizer *t) { return t->bos_id; }
int seal_tokenizer_eos_id(const seal_tokenizer *t) { return t->eos_id; }
int seal_tokenizer_eot_id(const seal_tokenizer *t) { return t->eot_id; }
bool seal_tokenizer_add_bos(const seal_tokenizer *t) { return t->add_bos; }
const char *seal_tokenizer_chat_template(const seal_tokenizer *t) { return t->chat_template; }
