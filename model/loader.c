/* model/loader.c — a base model from a Hugging Face directory or a GGUF file,
 * checked against its config before anyone computes with it. */
#include "model/loader.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/json_file.h"
#include "model/model.h"

/* ---- the expected weights ---------------------------------------------- */

typedef struct {
  char name[128];
  int ndim;
  int64_t shape[2];
} expected_tensor;

static void expect(expected_tensor *x, int *n, const char *name, int64_t d0, int64_t d1) {
  expected_tensor *t = &x[(*n)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = d1 > 0 ? 2 : 1;
  t->shape[0] = d0;
  t->shape[1] = d1;
}

static void expect_layer(expected_tensor *x, int *n, const seal_model_config *cfg, int l) {
  for (int i = 0; i < SEAL_LAYER_N_WEIGHTS; i++) {
    const char *suffix;
    int64_t rows, cols;
    if (!seal_layer_weight_spec(cfg, (seal_layer_weight)i, &suffix, &rows, &cols)) continue;
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
    expect(x, n, name, rows, cols);
  }
}

/* All tensors a config implies, in a stable order. */
static expected_tensor *expected_tensors(const seal_model_config *cfg, int *n) {
  expected_tensor *x = NULL;
  SEAL_ALLOC_ARRAY(x, (size_t)cfg->n_layers * SEAL_LAYER_N_WEIGHTS + 3);
  *n = 0;
  expect(x, n, "model.embed_tokens.weight", cfg->vocab_size, cfg->hidden);
  for (int l = 0; l < cfg->n_layers; l++) expect_layer(x, n, cfg, l);
  expect(x, n, "model.norm.weight", cfg->hidden, 0);
  if (!cfg->tie_embeddings) expect(x, n, "lm_head.weight", cfg->vocab_size, cfg->hidden);
  return x;
}

static void format_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t at = (size_t)snprintf(buf, n, "[");
  for (int d = 0; d < ndim && at < n; d++)
    at += (size_t)snprintf(buf + at, n - at, d ? ", %lld" : "%lld", (long long)shape[d]);
  if (at < n) snprintf(buf + at, n - at, "]");
}

static int check_one(const expected_tensor *x, const seal_tensor_set *w, const char *origin,
                     seal_error *e) {
  const seal_host_tensor *t = seal_tensors_find(w, x->name);
  char want[64], have[64];
  format_shape(want, sizeof want, x->ndim, x->shape);
  if (!t)
    return seal_errorf(e, "%s: missing tensor '%s' (expected shape %s)", origin, x->name, want);
  bool same = t->ndim == x->ndim;
  for (int d = 0; same && d < x->ndim; d++) same = t->shape[d] == x->shape[d];
  if (same) return 0;
  format_shape(have, sizeof have, t->ndim, t->shape);
  return seal_errorf(e, "%s: tensor '%s' has shape %s, the config implies %s", origin, x->name,
                     have, want);
}

int seal_checkpoint_check_weights(const seal_model_config *cfg, const seal_tensor_set *weights,
                                  const char *origin, seal_error *e) {
  /* Each layer has at least 9 tensors: a config claiming more layers than the
   * checkpoint could hold is refused before the expected list is built. */
  if (cfg->n_layers > weights->n / 9)
    return seal_errorf(e, "%s: the config has %d layers but the checkpoint holds only %d tensors",
                       origin, cfg->n_layers, weights->n);
  int n;
  expected_tensor *x = expected_tensors(cfg, &n);
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) rc = check_one(&x[i], weights, origin, e);
  for (int i = 0; i < weights->n && rc == 0; i++) {
    bool known = false;
    for (int j = 0; j < n && !known; j++) known = strcmp(weights->items[i].name, x[j].name) == 0;
    if (!known)
      rc = seal_errorf(e, "%s: unexpected tensor '%s' for this config (%d layers%s)", origin,
                       weights->items[i].name, cfg->n_layers,
                       cfg->tie_embeddings ? ", tied embeddings" : "");
  }
  free(x);
  return rc;
}

/* Drops tensors that checkpoints carry but that are derived or redundant: RoPE
 * buffers some exporters saved, and lm_head when it only repeats the tied
 * embedding. */
static void drop_redundant(const seal_model_config *cfg, seal_tensor_set *w) {
  for (int i = w->n - 1; i >= 0; i--) {
    const char *name = w->items[i].name;
    size_t len = strlen(name);
    const char *suffix = "rotary_emb.inv_freq";
    if (len >= strlen(suffix) && strcmp(name + len - strlen(suffix), suffix) == 0)
      seal_tensors_remove(w, name);
  }
  if (cfg->tie_embeddings && seal_tensors_find(w, "lm_head.weight")) {
    seal_debug("lm_head.weight ignored: embeddings are tied");
    seal_tensors_remove(w, "lm_head.weight");
  }
}

/* ---- Hugging Face directories ------------------------------------------ */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The shard files an index names (unique, sorted), checked to be plain names. */
static int index_shards(const char *index_path, json_t *map, char ***files, int *n, seal_error *e) {
  *files = NULL;
  *n = 0;
  SEAL_ALLOC_ARRAY(*files, json_object_size(map));
  const char *name;
  json_t *v;
  json_object_foreach(map, name, v) {
    if (!json_is_string(v))
      return seal_errorf(e, "%s: key 'weight_map.%s' must be a file name", index_path, name);
    const char *f = json_string_value(v);
    if (strchr(f, '/') || strcmp(f, "..") == 0 || !*f)
      return seal_errorf(e, "%s: key 'weight_map.%s': '%s' is not a file in the directory",
                         index_path, name, f);
    bool seen = false;
    for (int i = 0; i < *n && !seen; i++) seen = strcmp((*files)[i], f) == 0;
    if (!seen) (*files)[(*n)++] = seal_strdup(f);
  }
  qsort(*files, (size_t)*n, sizeof **files, cmp_str);
  return 0;
}

/* Every tensor the index lists was loaded (from somewhere). */
static int check_index_complete(const char *index_path, json_t *map, const seal_tensor_set *w,
                                seal_error *e) {
  const char *name;
  json_t *v;
  json_object_foreach(map, name, v) {
    if (!seal_tensors_find(w, name) && !strstr(name, "rotary_emb.inv_freq"))
      return seal_errorf(e, "%s: tensor '%s' is listed but not in %s", index_path, name,
                         json_string_value(v));
  }
  return 0;
}

static int read_sharded(const char *dir, const char *index_path, seal_tensor_set *w,
                        seal_error *e) {
  json_t *root = seal_json_read_file(index_path, JSON_REJECT_DUPLICATES, e);
  if (!root) return -1;
  json_t *map = json_object_get(root, "weight_map");
  char **files = NULL;
  int n = 0, rc = -1;
  if (!json_is_object(map)) {
    seal_errorf(e, "%s: missing object 'weight_map'", index_path);
  } else if (index_shards(index_path, map, &files, &n, e) == 0) {
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
      char *p = seal_path_join(dir, files[i]);
      seal_debug("reading %s", p);
      rc = seal_safetensors_read(p, w, e);
      free(p);
    }
    if (rc == 0) rc = check_index_complete(index_path, map, w, e);
  }
  for (int i = 0; i < n; i++) free(files[i]);
  free(files);
  json_decref(root);
  return rc;
}

/* generation_config.json's eos ids join config.json's: chat models list their
 * end-of-turn token there (transformers' generate() stops on it). */
static int merge_generation_eos(const char *path, seal_model_config *cfg, seal_error *e) {
  json_t *root = seal_json_read_file(path, 0, e);
  if (!root) return -1;
  json_t *eos = json_object_get(root, "eos_token_id");
  size_t n = json_is_array(eos) ? json_array_size(eos) : (eos && !json_is_null(eos) ? 1 : 0);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    json_t *v = json_is_array(eos) ? json_array_get(eos, i) : eos;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) >= cfg->vocab_size) {
      rc = seal_errorf(e, "%s: key 'eos_token_id' must hold token ids below %d", path,
                       cfg->vocab_size);
    } else if (!seal_config_is_eos(cfg, (int)json_integer_value(v))) {
      if (cfg->n_eos == SEAL_MAX_EOS)
        rc = seal_errorf(e, "%s: key 'eos_token_id': more than %d ids in all", path, SEAL_MAX_EOS);
      else
        cfg->eos_ids[cfg->n_eos++] = (int)json_integer_value(v);
    }
  }
  json_decref(root);
  return rc;
}

static int open_hf_dir(const char *dir, seal_checkpoint *ck, seal_error *e) {
  char *config = seal_path_join(dir, "config.json");
  char *single = seal_path_join(dir, "model.safetensors");
  char *index = seal_path_join(dir, "model.safetensors.index.json");
  char *tok = seal_path_join(dir, "tokenizer.json");
  char *gen = seal_path_join(dir, "generation_config.json");
  int rc = -1;
  if (!seal_file_exists(config)) {
    seal_errorf(e, "%s: not a model directory (no config.json)", dir);
  } else if (seal_config_load_hf(config, &ck->config, e) == 0 &&
             (!seal_file_exists(gen) || merge_generation_eos(gen, &ck->config, e) == 0)) {
    if (seal_file_exists(index))
      rc = read_sharded(dir, index, &ck->weights, e);
    else if (seal_file_exists(single))
      rc = seal_safetensors_read(single, &ck->weights, e);
    else
      seal_errorf(e, "%s: no model.safetensors or model.safetensors.index.json", dir);
  }
  if (rc == 0 && seal_file_exists(tok)) ck->tokenizer_json = seal_strdup(tok);
  free(config), free(single), free(index), free(tok), free(gen);
  return rc;
}

/* ---- entry point -------------------------------------------------------- */

static void log_loaded(const seal_checkpoint *ck, double seconds) {
  int64_t params = 0;
  for (int i = 0; i < ck->weights.n; i++) params += seal_tensor_numel(&ck->weights.items[i]);
  const seal_model_config *cfg = &ck->config;
  seal_debug(
      "loaded %s in %.1f s: %s, %d layers, hidden %d, %d/%d heads, vocab %d, %.1fM parameters",
      ck->source, seconds, cfg->arch == SEAL_ARCH_QWEN2 ? "qwen2" : "llama", cfg->n_layers,
      cfg->hidden, cfg->n_heads, cfg->n_kv_heads, cfg->vocab_size, (double)params / 1e6);
}

bool seal_weights_check_enabled(void) {
  const char *v = getenv("SEAL_CHECK_WEIGHTS");
  return !(v && strcmp(v, "0") == 0);
}

/* 1 for a GGUF file, 0 for another regular file, -1 (e filled) for what
 * cannot be read as a file at all (a FIFO would block a plain open). */
static int has_gguf_magic(const char *path, seal_error *e) {
  struct stat st;
  int fd = seal_open_regular(path, &st, e);
  if (fd < 0) return -1;
  char m[4] = {0};
  ssize_t n = read(fd, m, 4);
  close(fd);
  return n == 4 && memcmp(m, "GGUF", 4) == 0;
}

int seal_checkpoint_open(const char *path, seal_checkpoint *ck, seal_error *e) {
  double start = seal_now();
  memset(ck, 0, sizeof *ck);
  ck->vocab.bos_id = ck->vocab.eos_id = ck->vocab.eot_id = ck->vocab.pad_id = ck->vocab.unk_id = -1;
  struct stat st;
  if (stat(path, &st) != 0) return seal_errorf(e, "%s: no such file or directory", path);
  int rc, gguf = S_ISDIR(st.st_mode) ? 0 : has_gguf_magic(path, e);
  if (S_ISDIR(st.st_mode)) {
    rc = open_hf_dir(path, ck, e);
  } else if (gguf < 0) {
    rc = -1;
  } else if (gguf) {
    rc = seal_gguf_load_model(path, &ck->config, &ck->weights, &ck->vocab, e);
    ck->has_vocab = rc == 0 && ck->vocab.n_tokens > 0;
  } else {
    rc = seal_errorf(e, "%s: neither a model directory nor a GGUF file", path);
  }
  if (rc == 0) {
    drop_redundant(&ck->config, &ck->weights);
    rc = seal_checkpoint_check_weights(&ck->config, &ck->weights, path, e);
  }
  if (rc == 0 && seal_weights_check_enabled())
    rc = seal_tensors_check_finite(&ck->weights, path, e);
  if (rc != 0) {
    seal_checkpoint_free(ck);
    return -1;
  }
  ck->source = seal_strdup(path);
  log_loaded(ck, seal_now() - start);
  return 0;
}

void seal_checkpoint_free(seal_checkpoint *ck) {
  seal_tensors_free(&ck->weights);
  seal_vocab_free(&ck->vocab);
  free(ck->tokenizer_json);
  free(ck->source);
  memset(ck, 0, sizeof *ck);
}
