/* model/gguf_model.c — a llama (or qwen2) GGUF file as seal's model: config
 * from "<arch>.*" metadata, the tokenizer from "tokenizer.*", and tensors under
 * Hugging Face names and shapes, with llama.cpp's q/k row permutation undone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/quant.h"

/* ---- config ------------------------------------------------------------- */

/* "<arch>.<key>" */
static const char *arch_key(const char *arch, const char *key, char *buf, size_t n) {
  snprintf(buf, n, "%s.%s", arch, key);
  return buf;
}

static int get_arch_int(const seal_gguf *g, const char *arch, const char *key, bool required,
                        int64_t def, int *out, seal_error *e) {
  char k[160];
  int64_t v = def;
  int found = seal_gguf_get_int(g, arch_key(arch, key, k, sizeof k), &v, e);
  if (found < 0) {
    const seal_gguf_kv *kv = seal_gguf_find(g, k);
    if (kv && kv->v.type == SEAL_GGUF_ARRAY)
      return seal_errorf(e, "%s: key '%s': per-layer values are not supported", g->path, k);
    return -1;
  }
  if (!found && required) return seal_errorf(e, "%s: missing key '%s'", g->path, k);
  if (v < 0 || v > INT32_MAX) return seal_errorf(e, "%s: key '%s' is out of range", g->path, k);
  *out = (int)v;
  return 0;
}

static int get_arch_float(const seal_gguf *g, const char *arch, const char *key, bool required,
                          double def, float *out, seal_error *e) {
  char k[160];
  double v = def;
  int found = seal_gguf_get_float(g, arch_key(arch, key, k, sizeof k), &v, e);
  if (found < 0) return -1;
  if (!found && required) return seal_errorf(e, "%s: missing key '%s'", g->path, k);
  *out = (float)v;
  return 0;
}

static int read_arch(const seal_gguf *g, const char **arch, seal_model_config *cfg, seal_error *e) {
  int found = seal_gguf_get_string(g, "general.architecture", arch, e);
  if (found < 0) return -1;
  if (!found) return seal_errorf(e, "%s: missing key 'general.architecture'", g->path);
  if (strcmp(*arch, "llama") == 0) {
    cfg->arch = SEAL_ARCH_LLAMA;
  } else if (strcmp(*arch, "qwen2") == 0) {
    cfg->arch = SEAL_ARCH_QWEN2;
    cfg->attn_bias = true;
  } else {
    return seal_errorf(e,
                       "%s: key 'general.architecture': '%s' is not supported (llama, qwen2 are)",
                       g->path, *arch);
  }
  return 0;
}

static int read_sizes(const seal_gguf *g, const char *arch, seal_model_config *cfg, seal_error *e) {
  if (get_arch_int(g, arch, "embedding_length", true, 0, &cfg->hidden, e) != 0 ||
      get_arch_int(g, arch, "feed_forward_length", true, 0, &cfg->intermediate, e) != 0 ||
      get_arch_int(g, arch, "block_count", true, 0, &cfg->n_layers, e) != 0 ||
      get_arch_int(g, arch, "attention.head_count", true, 0, &cfg->n_heads, e) != 0 ||
      get_arch_int(g, arch, "attention.head_count_kv", false, cfg->n_heads, &cfg->n_kv_heads, e) !=
          0 ||
      get_arch_int(g, arch, "context_length", false, 2048, &cfg->max_position, e) != 0)
    return -1;
  if (cfg->n_heads <= 0)
    return seal_errorf(e, "%s: key '%s.attention.head_count' must be positive", g->path, arch);
  if (get_arch_int(g, arch, "attention.key_length", false, cfg->hidden / cfg->n_heads,
                   &cfg->head_dim, e) != 0)
    return -1;
  int value_len = cfg->head_dim, rope_dims = cfg->head_dim;
  if (get_arch_int(g, arch, "attention.value_length", false, cfg->head_dim, &value_len, e) != 0 ||
      get_arch_int(g, arch, "rope.dimension_count", false, cfg->head_dim, &rope_dims, e) != 0)
    return -1;
  if (value_len != cfg->head_dim)
    return seal_errorf(e, "%s: key '%s.attention.value_length' %d differs from key_length %d",
                       g->path, arch, value_len, cfg->head_dim);
  if (rope_dims != cfg->head_dim)
    return seal_errorf(e, "%s: key '%s.rope.dimension_count' %d: partial RoPE is not supported",
                       g->path, arch, rope_dims);
  if (get_arch_float(g, arch, "attention.layer_norm_rms_epsilon", true, 0, &cfg->rms_eps, e) != 0 ||
      get_arch_float(g, arch, "rope.freq_base", false, 10000.0, &cfg->rope_theta, e) != 0)
    return -1;
  const char *scaling = NULL;
  char k[160];
  if (seal_gguf_get_string(g, arch_key(arch, "rope.scaling.type", k, sizeof k), &scaling, e) < 0)
    return -1;
  if (scaling && strcmp(scaling, "none") != 0)
    return seal_errorf(e, "%s: key '%s': rope scaling '%s' is not supported", g->path, k, scaling);
  return 0;
}

/* llama.cpp's per-dimension rope factor for transformers' llama3 parameters
 * (convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors). */
static double llama3_factor(double inv_freq, double factor, double low, double high, double old) {
  double wavelen = 2 * M_PI / inv_freq;
  if (wavelen < old / high) return 1;
  if (wavelen > old / low) return factor;
  double smooth = (old / wavelen - low) / (high - low);
  return 1 / ((1 - smooth) / factor + smooth);
}

static bool llama3_matches(const seal_model_config *cfg, const float *inv, const float *rf, int n) {
  for (int i = 0; i < n; i++) {
    double want = llama3_factor(inv[i], cfg->rope_factor, cfg->rope_low_freq_factor,
                                cfg->rope_high_freq_factor, cfg->rope_original_max_position);
    if (fabs(want - rf[i]) > 1e-4 * fabs(want)) return false;
  }
  return true;
}

/* Fits low/high frequency factors to the smoothly scaled dimensions, where
 * 1/r = (1 - s)/factor + s and s = a/wavelen - b is linear in 1/wavelen. Any
 * (original context, low, high) with the same a and b give the same factors,
 * so the original context is taken as the converter's default, 8192. */
static bool fit_llama3(seal_model_config *cfg, const float *inv, const float *rf, int n) {
  double x[2], s[2];
  int m = 0;
  for (int i = 0; i < n && m < 2; i++) {
    if (fabs(rf[i] - 1) < 1e-6 || fabs(rf[i] - cfg->rope_factor) < 1e-6 * cfg->rope_factor)
      continue;
    x[m] = inv[i] / (2 * M_PI);
    s[m++] = (1.0 / rf[i] - 1.0 / cfg->rope_factor) / (1 - 1.0 / cfg->rope_factor);
  }
  if (m < 2 || x[0] == x[1]) return false;
  double a = (s[1] - s[0]) / (x[1] - x[0]), b = a * x[0] - s[0];
  double old = 8192;
  cfg->rope_original_max_position = (int)old;
  cfg->rope_low_freq_factor = (float)(b * old / a);
  cfg->rope_high_freq_factor = (float)((b + 1) * old / a);
  return llama3_matches(cfg, inv, rf, n);
}

/* llama3 rope scaling travels in GGUF as a rope_freqs tensor of per-dimension
 * divisors, not as metadata: recover transformers' parameters from it. */
static int read_rope_freqs(const seal_gguf *g, seal_model_config *cfg, seal_error *e) {
  const seal_gguf_tensor *t = seal_gguf_find_tensor(g, "rope_freqs.weight");
  if (!t) return 0;
  int n = cfg->head_dim / 2; /* >= 1: the config is validated first */
  if (t->n_dims != 1 || t->ne[0] != n)
    return seal_errorf(e, "%s: tensor 'rope_freqs.weight' should have %d elements", g->path, n);
  /* Only a known type's data size is checked against the file: refuse others
   * before allocating for their claimed element count. */
  if (!seal_ggml_type_supported(t->type)) return seal_gguf_tensor_check_type(g, t, e);
  float *rf = seal_malloc((size_t)n * sizeof *rf), *inv = seal_malloc((size_t)n * sizeof *inv);
  int rc = seal_gguf_tensor_to_f32(g, t, rf, e);
  if (rc == 0) {
    seal_model_config plain = *cfg;
    plain.rope_llama3 = false;
    seal_rope_inv_freq(&plain, inv);
    cfg->rope_llama3 = true;
    cfg->rope_factor = rf[n - 1];
    cfg->rope_low_freq_factor = 1, cfg->rope_high_freq_factor = 4; /* Llama 3.x's values */
    cfg->rope_original_max_position = 8192;
    if (!llama3_matches(cfg, inv, rf, n) && !fit_llama3(cfg, inv, rf, n))
      rc = seal_errorf(e, "%s: tensor 'rope_freqs.weight' does not match llama3 rope scaling",
                       g->path);
  }
  free(rf);
  free(inv);
  return rc;
}

/* A token id key: absent (-1), or an id inside the vocabulary of n tokens. A
 * negative or 64-bit id is refused, never narrowed to an int. */
static int read_token_id(const seal_gguf *g, const char *key, int n_tokens, int *out,
                         seal_error *e) {
  int64_t id = -1;
  int found = seal_gguf_get_int(g, key, &id, e);
  if (found < 0) return -1;
  *out = -1;
  if (!found) return 0;
  if (id < 0 || id >= n_tokens)
    return seal_errorf(e, "%s: key '%s' = %lld is outside the vocabulary (%d tokens)", g->path, key,
                       (long long)id, n_tokens);
  *out = (int)id;
  return 0;
}

/* bos from the tokenizer; eos from eos, and eot/eom (end of turn/message) when
 * they differ, since chat models stop on those. */
static int token_ids_into_config(const seal_vocab *v, const seal_gguf *g, seal_model_config *cfg,
                                 seal_error *e) {
  cfg->bos_id = v->bos_id;
  cfg->n_eos = 0;
  int eom, n = v->n_tokens > 0 ? v->n_tokens : cfg->vocab_size;
  if (read_token_id(g, "tokenizer.ggml.eom_token_id", n, &eom, e) != 0) return -1;
  int ids[3] = {v->eos_id, v->eot_id, eom};
  for (int i = 0; i < 3; i++) {
    if (ids[i] < 0 || seal_config_is_eos(cfg, ids[i])) continue;
    cfg->eos_ids[cfg->n_eos++] = ids[i];
  }
  return 0;
}

/* ---- vocabulary --------------------------------------------------------- */

static char **copy_strings(const seal_gguf_value *v) {
  char **out = NULL;
  SEAL_ALLOC_ARRAY(out, v->arr.n);
  for (uint64_t i = 0; i < v->arr.n; i++) out[i] = seal_strdup(v->arr.strs[i]);
  return out;
}

static int string_array(const seal_gguf *g, const char *key, const seal_gguf_value **out,
                        seal_error *e) {
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  *out = NULL;
  if (!kv) return 0;
  if (kv->v.type != SEAL_GGUF_ARRAY || kv->v.arr.elem != SEAL_GGUF_STRING ||
      kv->v.arr.n > INT32_MAX)
    return seal_errorf(e, "%s: key '%s' must be an array of strings", g->path, key);
  *out = &kv->v;
  return 1;
}

static int read_token_types(const seal_gguf *g, seal_vocab *v, seal_error *e) {
  const char *key = "tokenizer.ggml.token_type";
  const seal_gguf_kv *kv = seal_gguf_find(g, key);
  if (!kv) return 0;
  if (kv->v.type != SEAL_GGUF_ARRAY || !kv->v.arr.raw || kv->v.arr.elem == SEAL_GGUF_FLOAT32 ||
      kv->v.arr.elem == SEAL_GGUF_FLOAT64)
    return seal_errorf(e, "%s: key '%s' must be an array of integers", g->path, key);
  if (kv->v.arr.n != (uint64_t)v->n_tokens)
    return seal_errorf(e, "%s: key '%s' has %llu entries for %d tokens", g->path, key,
                       (unsigned long long)kv->v.arr.n, v->n_tokens);
  SEAL_ALLOC_ARRAY(v->token_types, v->n_tokens);
  for (int i = 0; i < v->n_tokens; i++) v->token_types[i] = (int32_t)seal_gguf_array_int(&kv->v, i);
  return 0;
}

static int read_special_ids(const seal_gguf *g, seal_vocab *v, seal_error *e) {
  static const char *const keys[] = {"bos", "eos", "eot", "padding", "unknown"};
  int *dst[] = {&v->bos_id, &v->eos_id, &v->eot_id, &v->pad_id, &v->unk_id};
  for (int i = 0; i < 5; i++) {
    char k[64];
    snprintf(k, sizeof k, "tokenizer.ggml.%s_token_id", keys[i]);
    if (read_token_id(g, k, v->n_tokens, dst[i], e) != 0) return -1;
  }
  return 0;
}

static int read_vocab(const seal_gguf *g, seal_vocab *v, seal_error *e) {
  memset(v, 0, sizeof *v);
  v->bos_id = v->eos_id = v->eot_id = v->pad_id = v->unk_id = -1;
  const char *s = NULL;
  const seal_gguf_value *tokens, *merges;
  if (string_array(g, "tokenizer.ggml.tokens", &tokens, e) < 0 ||
      string_array(g, "tokenizer.ggml.merges", &merges, e) < 0)
    return -1;
  if (!tokens) return 0; /* no tokenizer in this file */
  v->tokens = copy_strings(tokens);
  v->n_tokens = (int)tokens->arr.n;
  if (merges) v->merges = copy_strings(merges), v->n_merges = (int)merges->arr.n;
  if (seal_gguf_get_string(g, "tokenizer.ggml.model", &s, e) < 0) return -1;
  if (!s) return seal_errorf(e, "%s: missing key 'tokenizer.ggml.model'", g->path);
  v->model = seal_strdup(s);
  s = NULL;
  if (seal_gguf_get_string(g, "tokenizer.ggml.pre", &s, e) < 0) return -1;
  if (s) v->pre = seal_strdup(s);
  s = NULL;
  if (seal_gguf_get_string(g, "tokenizer.chat_template", &s, e) < 0) return -1;
  if (s) v->chat_template = seal_strdup(s);
  bool add_bos = false;
  if (seal_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, e) < 0) return -1;
  v->add_bos = add_bos;
  if (read_token_types(g, v, e) != 0) return -1;
  return read_special_ids(g, v, e);
}

/* ---- tensors ------------------------------------------------------------ */

void seal_gguf_unpermute_rows(float *w, int n_head, int64_t rows, int64_t cols) {
  const int64_t d = rows / n_head, half = d / 2;
  float *head = seal_malloc((size_t)(d * cols) * sizeof *head); /* [D, cols] */
  for (int h = 0; h < n_head; h++) {
    float *block = w + (int64_t)h * d * cols;
    memcpy(head, block, (size_t)(d * cols) * sizeof *head);
    /* GGUF row 2i + j holds Hugging Face row j * D/2 + i. */
    for (int64_t i = 0; i < half; i++)
      for (int j = 0; j < 2; j++)
        memcpy(block + (j * half + i) * cols, head + (2 * i + j) * cols,
               (size_t)cols * sizeof *head);
  }
  free(head);
}

typedef struct {
  const char *gguf, *hf;
  int permute; /* 0 none, 1 by query heads, 2 by key/value heads */
} name_map;

static const name_map layer_names[] = {
    {"attn_norm.weight", "input_layernorm.weight", 0},
    {"attn_q.weight", "self_attn.q_proj.weight", 1},
    {"attn_k.weight", "self_attn.k_proj.weight", 2},
    {"attn_v.weight", "self_attn.v_proj.weight", 0},
    {"attn_output.weight", "self_attn.o_proj.weight", 0},
    {"attn_q.bias", "self_attn.q_proj.bias", 1},
    {"attn_k.bias", "self_attn.k_proj.bias", 2},
    {"attn_v.bias", "self_attn.v_proj.bias", 0},
    {"ffn_norm.weight", "post_attention_layernorm.weight", 0},
    {"ffn_gate.weight", "mlp.gate_proj.weight", 0},
    {"ffn_up.weight", "mlp.up_proj.weight", 0},
    {"ffn_down.weight", "mlp.down_proj.weight", 0},
};

/* The Hugging Face name for a GGUF tensor name (owned), and the permutation it
 * needs; NULL for names seal does not know. */
static char *hf_name(const char *name, int n_layers, int *permute) {
  *permute = 0;
  if (strcmp(name, "token_embd.weight") == 0) return seal_strdup("model.embed_tokens.weight");
  if (strcmp(name, "output_norm.weight") == 0) return seal_strdup("model.norm.weight");
  if (strcmp(name, "output.weight") == 0) return seal_strdup("lm_head.weight");
  if (strncmp(name, "blk.", 4) != 0) return NULL;
  char *end;
  long layer = strtol(name + 4, &end, 10);
  if (end == name + 4 || *end != '.' || layer < 0 || layer >= n_layers) return NULL;
  for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++) {
    if (strcmp(end + 1, layer_names[i].gguf) != 0) continue;
    *permute = layer_names[i].permute;
    return seal_asprintf("model.layers.%ld.%s", layer, layer_names[i].hf);
  }
  return NULL;
}

static int load_tensor(const seal_gguf *g, const seal_gguf_tensor *t, const seal_model_config *cfg,
                       seal_tensor_set *w, seal_error *e) {
  int permute;
  char *name = hf_name(t->name, cfg->n_layers, &permute);
  if (!name)
    return seal_errorf(e, "%s: unexpected tensor '%s' for a %d-layer %s model", g->path, t->name,
                       cfg->n_layers, cfg->arch == SEAL_ARCH_QWEN2 ? "qwen2" : "llama");
  int64_t shape[SEAL_MAX_DIMS]; /* PyTorch order: ggml's reversed */
  for (int d = 0; d < t->n_dims; d++) shape[d] = t->ne[t->n_dims - 1 - d];
  /* A known type's size was checked against the file when it was opened; an
   * unknown type's element count is unchecked: refuse it before allocating. */
  if (!seal_ggml_type_supported(t->type)) {
    free(name);
    return seal_gguf_tensor_check_type(g, t, e);
  }
  int64_t numel = seal_gguf_tensor_numel(t);
  float *data = seal_malloc((size_t)(numel ? numel : 1) * sizeof *data);
  if (seal_gguf_tensor_to_f32(g, t, data, e) != 0) {
    free(name);
    free(data);
    return -1;
  }
  /* llama.cpp permutes q/k for its interleaved RoPE; qwen2 uses NEOX RoPE, unpermuted. */
  if (permute && cfg->arch == SEAL_ARCH_LLAMA) {
    int heads = permute == 1 ? cfg->n_heads : cfg->n_kv_heads;
    int64_t rows = shape[0], cols = numel / (rows ? rows : 1);
    if (rows != (int64_t)heads * cfg->head_dim) {
      free(name);
      free(data);
      return seal_errorf(e, "%s: tensor '%s' has %lld rows, expected %d heads x %d", g->path,
                         t->name, (long long)rows, heads, cfg->head_dim);
    }
    seal_gguf_unpermute_rows(data, heads, rows, cols);
  }
  seal_tensors_add(w, name, t->n_dims, shape, data);
  free(name);
  return 0;
}

static int load_tensors(const seal_gguf *g, const seal_model_config *cfg, seal_tensor_set *w,
                        seal_error *e) {
  for (int64_t i = 0; i < g->n_tensors; i++) {
    const seal_gguf_tensor *t = &g->tensors[i];
    if (strcmp(t->name, "rope_freqs.weight") == 0) continue; /* folded into the config */
    if (load_tensor(g, t, cfg, w, e) != 0) return -1;
  }
  return 0;
}

/* The shape is validated before rope_freqs.weight is read against it (a
 * head_dim of 0 would otherwise index its element -1), and again after, for the
 * llama3 parameters recovered from it. */
static int read_config(const seal_gguf *g, const seal_vocab *v, seal_model_config *cfg,
                       seal_error *e) {
  const char *arch;
  if (read_arch(g, &arch, cfg, e) != 0 || read_sizes(g, arch, cfg, e) != 0) return -1;
  /* Vocabulary size: stated, else the token list, else the embedding's rows. */
  const seal_gguf_tensor *emb = seal_gguf_find_tensor(g, "token_embd.weight");
  int64_t fallback = v->n_tokens > 0 ? v->n_tokens : (emb && emb->n_dims == 2 ? emb->ne[1] : 0);
  if (get_arch_int(g, arch, "vocab_size", false, fallback, &cfg->vocab_size, e) != 0) return -1;
  if (v->n_tokens > cfg->vocab_size)
    return seal_errorf(e, "%s: %d tokens but a vocabulary of %d", g->path, v->n_tokens,
                       cfg->vocab_size);
  cfg->tie_embeddings = seal_gguf_find_tensor(g, "output.weight") == NULL;
  if (cfg->arch == SEAL_ARCH_LLAMA && seal_gguf_find_tensor(g, "blk.0.attn_q.bias"))
    return seal_errorf(e, "%s: llama attention biases are not supported", g->path);
  if (token_ids_into_config(v, g, cfg, e) != 0 || seal_config_validate(cfg, g->path, e) != 0 ||
      read_rope_freqs(g, cfg, e) != 0)
    return -1;
  return seal_config_validate(cfg, g->path, e);
}

int seal_gguf_load_model(const char *path, seal_model_config *cfg, seal_tensor_set *weights,
                         seal_vocab *vocab, seal_error *e) {
  seal_gguf g;
  memset(cfg, 0, sizeof *cfg);
  if (seal_gguf_open(path, &g, e) != 0) return -1;
  int keep = weights->n;
  int rc = -1;
  if (read_vocab(&g, vocab, e) == 0 && read_config(&g, vocab, cfg, e) == 0 &&
      load_tensors(&g, cfg, weights, e) == 0)
    rc = 0;
  if (rc != 0) {
    while (weights->n > keep) seal_tensors_remove(weights, weights->items[weights->n - 1].name);
    seal_vocab_free(vocab);
  }
  seal_gguf_close(&g);
  return rc;
}
