/* trainer/export.c — a run's policy as one PEFT adapter or as a merged Hugging
 * Face checkpoint (docs/export.md). */
#include "trainer/export.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/json_file.h"
#include "model/loader.h"
#include "trainer/checkpoint.h"
#include "util/bf16.h"

/* ---- rounds and their shapes -------------------------------------------- */

int seal_export_round_count(const seal_run_state *st, int n_rounds, seal_error *e) {
  if (st->n_policy_rounds <= 0)
    return seal_errorf(e, "the checkpoint has no finished round (no policy adapter to export)");
  if (n_rounds == SEAL_EXPORT_ALL_ROUNDS) return st->n_policy_rounds;
  if (n_rounds < 1 || n_rounds > st->n_policy_rounds)
    return seal_errorf(e, "rounds %d is out of range: the checkpoint has %d finished round(s)",
                       n_rounds, st->n_policy_rounds);
  return n_rounds;
}

int seal_export_round_shape(const seal_tensor_set *t, int round, int *rank, unsigned *targets,
                            seal_error *e) {
  seal_error why;
  if (seal_lora_tensors_shape(t, rank, targets, &why))
    return seal_errorf(e, "policy round %d: %s", round, why.msg);
  return 0;
}

/* ---- one adapter from several rounds ------------------------------------ */

typedef struct {
  int rank;
  unsigned targets;
  float scale; /* alpha / rank */
} round_info;

/* in/out of each target, the same in every round and layer; layers spanned. */
static int target_dims(const seal_run_state *st, int n, int in[], int out[], int *n_layers,
                       seal_error *e) {
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) in[t] = out[t] = 0;
  int max_layer = -1;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < st->policy[i].n; k++) {
      const seal_host_tensor *x = &st->policy[i].items[k];
      int layer;
      seal_lora_target t;
      char which;
      seal_lora_peft_name_parse(x->name, &layer, &t, &which); /* checked by round_shape */
      int *dim = which == 'A' ? &in[t] : &out[t];
      int v = (int)(which == 'A' ? x->shape[1] : x->shape[0]);
      if (*dim && *dim != v)
        return seal_errorf(e,
                           "policy round %d: tensor '%s' is [%lld, %lld], other rounds' %s %s "
                           "is %d wide",
                           i, x->name, (long long)x->shape[0], (long long)x->shape[1],
                           seal_lora_target_name((seal_lora_target)t),
                           which == 'A' ? "input" : "output", *dim);
      *dim = v;
      if (layer > max_layer) max_layer = layer;
    }
  seal_model_record policy; /* the teacher's layers, when the run has one */
  seal_run_state_policy_model(st, &policy);
  *n_layers = policy.n_layers > 0 ? policy.n_layers : max_layer + 1;
  if (max_layer >= *n_layers)
    return seal_errorf(e, "the policy adapts layer %d but the model has %d layers", max_layer,
                       *n_layers);
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if ((in[t] > 0) != (out[t] > 0))
      return seal_errorf(e, "the policy has only one of lora_A and lora_B for %s",
                         seal_lora_target_name((seal_lora_target)t));
  return 0;
}

/* Copies round i's A rows into A [R, in] at row off and its scaled B columns
 * into B [out, R] at column off; leaves zeros when the round lacks the module. */
static int place_round(const seal_tensor_set *t, int round, const round_info *ri, int layer,
                       int target, int R, int off, int in, int out, float *A, float *B,
                       seal_error *e) {
  char *na = seal_lora_peft_name(layer, target, 'A'), *nb = seal_lora_peft_name(layer, target, 'B');
  const seal_host_tensor *a = seal_tensors_find(t, na), *b = seal_tensors_find(t, nb);
  int rc = 0;
  if (!a != !b)
    rc = seal_errorf(e, "policy round %d has '%s' without '%s'", round, a ? na : nb, a ? nb : na);
  if (!rc && a) {
    const int r = ri->rank;
    memcpy(A + (size_t)off * in, a->data, (size_t)r * in * sizeof(float)); /* [r, in] rows */
    for (int o = 0; o < out; o++)                                          /* [out, r] cols */
      for (int k = 0; k < r; k++)
        B[(size_t)o * R + off + k] = ri->scale * b->data[(size_t)o * r + k];
  }
  free(na);
  free(nb);
  return rc;
}

int seal_export_combine_rounds(const seal_run_state *st, int n_rounds, seal_tensor_set *out,
                               int *rank, unsigned *targets, seal_error *e) {
  int n = seal_export_round_count(st, n_rounds, e);
  if (n < 0) return -1;
  if (!(st->lora_alpha > 0) || !isfinite(st->lora_alpha))
    return seal_errorf(e, "the checkpoint's LoRA alpha %g is not a positive number",
                       st->lora_alpha);
  round_info *ri = seal_calloc((size_t)n, sizeof *ri);
  int R = 0, rc = 0;
  unsigned all = 0;
  for (int i = 0; i < n && !rc; i++) {
    rc = seal_export_round_shape(&st->policy[i], i, &ri[i].rank, &ri[i].targets, e);
    ri[i].scale = st->lora_alpha / (float)ri[i].rank;
    R += ri[i].rank;
    all |= ri[i].targets;
  }
  int in[SEAL_LORA_N_TARGETS], dout[SEAL_LORA_N_TARGETS], n_layers = 0;
  if (!rc) rc = target_dims(st, n, in, dout, &n_layers, e);
  for (int layer = 0; layer < n_layers && !rc; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS && !rc; t++) {
      if (!(all & SEAL_LORA_BIT(t))) continue;
      float *A = seal_calloc((size_t)R * in[t], sizeof(float));   /* [R, in] */
      float *B = seal_calloc((size_t)dout[t] * R, sizeof(float)); /* [out, R] */
      for (int i = 0, off = 0; i < n && !rc; off += ri[i].rank, i++)
        rc = place_round(&st->policy[i], i, &ri[i], layer, t, R, off, in[t], dout[t], A, B, e);
      char *na = seal_lora_peft_name(layer, t, 'A'), *nb = seal_lora_peft_name(layer, t, 'B');
      seal_tensors_add(out, na, 2, (int64_t[]){R, in[t]}, A);
      seal_tensors_add(out, nb, 2, (int64_t[]){dout[t], R}, B);
      free(na);
      free(nb);
    }
  free(ri);
  *rank = R;
  *targets = all;
  return rc;
}

/* ---- PEFT adapter -------------------------------------------------------- */

/* Dumps a JSON object to path atomically (shortest reals, 2-space indent). */
static int write_json(const char *path, json_t *obj, seal_error *e) {
  char *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
  size_t n = strlen(text);
  text = seal_realloc(text, n + 2);
  text[n] = '\n', text[n + 1] = '\0';
  int rc = seal_write_file_atomic(path, text, n + 1, false, e);
  free(text);
  return rc;
}

/* The shortest decimal that reads back as f, as a JSON real. */
static json_t *json_float(float f) {
  char buf[32];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
    if (strtof(buf, NULL) == f) break;
  }
  return json_real(strtod(buf, NULL));
}

static int write_adapter_config(const char *dir, int rank, unsigned targets, const char *base,
                                seal_error *e) {
  json_t *cfg = json_object();
  json_t *mods = json_array();
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if (targets & SEAL_LORA_BIT(t))
      json_array_append_new(mods, json_string(seal_lora_target_name((seal_lora_target)t)));
  json_object_set_new(cfg, "peft_type", json_string("LORA"));
  json_object_set_new(cfg, "task_type", json_string("CAUSAL_LM"));
  json_object_set_new(cfg, "base_model_name_or_path", base ? json_string(base) : json_null());
  json_object_set_new(cfg, "r", json_integer(rank));
  /* alpha = r: PEFT's scale alpha/r is 1, each round's scale is folded into B */
  json_object_set_new(cfg, "lora_alpha", json_integer(rank));
  json_object_set_new(cfg, "lora_dropout", json_real(0.0));
  json_object_set_new(cfg, "bias", json_string("none"));
  json_object_set_new(cfg, "fan_in_fan_out", json_false());
  json_object_set_new(cfg, "use_rslora", json_false());
  json_object_set_new(cfg, "inference_mode", json_true());
  json_object_set_new(cfg, "target_modules", mods);
  char *path = seal_path_join(dir, "adapter_config.json");
  int rc = write_json(path, cfg, e);
  free(path);
  json_decref(cfg);
  return rc;
}

int seal_export_peft(const seal_run_state *st, int n_rounds, const char *dir, seal_error *e) {
  seal_tensor_set ts = {0};
  int rank = 0;
  unsigned targets = 0;
  int rc = seal_export_combine_rounds(st, n_rounds, &ts, &rank, &targets, e);
  if (!rc) rc = seal_mkdirs(dir, e);
  if (!rc) {
    char *path = seal_path_join(dir, "adapter_model.safetensors");
    const char *meta[] = {"format", "pt", NULL};
    rc = seal_safetensors_write(path, &ts, meta, e);
    free(path);
  }
  seal_model_record policy; /* the teacher's, when the run has one */
  seal_run_state_policy_model(st, &policy);
  if (!rc) rc = write_adapter_config(dir, rank, targets, policy.path, e);
  seal_tensors_free(&ts);
  return rc;
}

/* ---- merged checkpoint --------------------------------------------------- */

int seal_export_merge_rounds(seal_model *m, const seal_run_state *st, int n_rounds, seal_error *e) {
  int n = seal_export_round_count(st, n_rounds, e);
  if (n < 0) return -1;
  for (int i = 0; i < n; i++) {
    int rank;
    unsigned targets;
    if (seal_export_round_shape(&st->policy[i], i, &rank, &targets, e)) return -1;
    for (int k = 0; k < st->policy[i].n; k++) {
      int layer;
      seal_lora_target t;
      char which;
      seal_lora_peft_name_parse(st->policy[i].items[k].name, &layer, &t, &which);
      if (layer >= m->cfg.n_layers)
        return seal_errorf(e, "policy round %d adapts layer %d; the model has %d layers", i, layer,
                           m->cfg.n_layers);
    }
    seal_lora l;
    seal_error inner;
    seal_lora_create(&l, m, rank, st->lora_alpha, targets);
    int rc = seal_lora_from_tensors(&l, &st->policy[i], &inner);
    if (!rc) seal_lora_merge(&l, m);
    seal_lora_free(&l);
    if (rc) return seal_errorf(e, "policy round %d: %s", i, inner.msg);
  }
  return 0;
}

/* One weight of the output file: where it lives on the backend, its shape. */
typedef struct {
  char *name;
  const void *src;
  seal_dtype type; /* on the backend: be->weight for matrices, be->act for vectors */
  int ndim;
  int64_t shape[2];
} out_tensor;

static void add_weight(seal_model *m, const char *name, out_tensor *w, int *n) {
  int rows, cols;
  void *p = seal_model_weight(m, name, &rows, &cols);
  if (!p) return; /* e.g. biases of a Llama */
  out_tensor *t = &w[(*n)++];
  t->name = seal_strdup(name);
  t->src = p;
  t->ndim = cols == 1 ? 1 : 2;
  t->type = t->ndim == 2 ? m->be->weight : m->be->act;
  t->shape[0] = rows;
  t->shape[1] = cols;
}

/* The model's weights under Hugging Face names, in the order HF writes them. */
static out_tensor *model_weights(seal_model *m, int *n) {
  out_tensor *w = seal_calloc((size_t)m->cfg.n_layers * SEAL_LAYER_N_WEIGHTS + 3, sizeof *w);
  *n = 0;
  add_weight(m, "model.embed_tokens.weight", w, n);
  for (int l = 0; l < m->cfg.n_layers; l++)
    for (int k = 0; k < SEAL_LAYER_N_WEIGHTS; k++) {
      const char *suffix;
      int64_t rows, cols;
      seal_layer_weight_spec(&m->cfg, (seal_layer_weight)k, &suffix, &rows, &cols);
      char name[96];
      snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
      add_weight(m, name, w, n);
    }
  add_weight(m, "model.norm.weight", w, n);
  if (!m->cfg.tie_embeddings) add_weight(m, "lm_head.weight", w, n);
  return w;
}

static int64_t numel(const out_tensor *t) {
  return t->ndim == 1 ? t->shape[0] : t->shape[0] * t->shape[1];
}

static char *safetensors_header(const out_tensor *w, int n, seal_export_dtype dtype, size_t *len) {
  const size_t elsz = dtype == SEAL_EXPORT_BF16 ? 2 : 4;
  json_t *root = json_object();
  json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    json_t *shape = json_array();
    for (int d = 0; d < w[i].ndim; d++) json_array_append_new(shape, json_integer(w[i].shape[d]));
    uint64_t bytes = (uint64_t)numel(&w[i]) * elsz;
    json_object_set_new(
        root, w[i].name,
        json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype == SEAL_EXPORT_BF16 ? "BF16" : "F32",
                  "shape", shape, "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
    off += bytes;
  }
  char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(root);
  /* spaces up to a multiple of 8, so the data starts aligned as safetensors does */
  size_t tn = strlen(text), padded = (tn + 7) / 8 * 8;
  text = seal_realloc(text, padded + 1);
  memset(text + tn, ' ', padded - tn);
  text[padded] = '\0';
  *len = padded;
  return text;
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

enum { CHUNK = 1 << 20 };

/* buf[k] as the file's dtype (half: scratch [CHUNK]). */
static int write_values(int fd, const float *buf, uint16_t *half, size_t k,
                        seal_export_dtype dtype) {
  if (dtype != SEAL_EXPORT_BF16) return write_all(fd, buf, k * sizeof(float));
  for (size_t j = 0; j < k; j++) half[j] = seal_f32_to_bf16(buf[j]);
  return write_all(fd, half, k * sizeof(uint16_t));
}

/* Streams each weight from the backend to the file in chunks (whole rows of a
 * matrix, whose rows may be padded on the backend: kernels/ops.h "wt"), so the
 * host never holds a second copy of the model. */
static int write_tensor_data(int fd, seal_backend *be, const out_tensor *w, int n,
                             seal_export_dtype dtype) {
  float *buf = seal_malloc(CHUNK * sizeof(float));        /* [CHUNK] */
  uint16_t *half = seal_malloc(CHUNK * sizeof(uint16_t)); /* [CHUNK] */
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    if (w[i].ndim == 2) {
      const int64_t rows = w[i].shape[0], cols = w[i].shape[1];
      SEAL_CHECK(cols <= CHUNK, "export: %s has %lld columns, more than a chunk", w[i].name,
                 (long long)cols);
      for (int64_t r0 = 0, step = CHUNK / cols; r0 < rows && !rc; r0 += step) {
        int64_t nr = rows - r0 < step ? rows - r0 : step;
        const char *src =
            (const char *)w[i].src + seal_matrix_bytes(w[i].type, (size_t)r0, (size_t)cols);
        seal_download_matrix(be, buf, src, nr, cols);
        rc = write_values(fd, buf, half, (size_t)(nr * cols), dtype);
      }
      continue;
    }
    for (int64_t at = 0, total = numel(&w[i]); at < total && !rc; at += CHUNK) {
      size_t k = (size_t)(total - at < CHUNK ? total - at : CHUNK);
      const char *src = (const char *)w[i].src + seal_matrix_bytes(w[i].type, 1, (size_t)at);
      be->ops->to_host(be, buf, src, w[i].type, k);
      rc = write_values(fd, buf, half, k, dtype);
    }
  }
  free(buf);
  free(half);
  return rc;
}

static int write_model_safetensors(seal_model *m, const char *path, seal_export_dtype dtype,
                                   seal_error *e) {
  int n;
  out_tensor *w = model_weights(m, &n);
  size_t hlen;
  char *header = safetensors_header(w, n, dtype, &hlen);
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  char *tmp = seal_asprintf("%s.tmp", path);
  int rc = -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    seal_errorf(e, "%s: cannot create: %s", tmp, strerror(errno));
  } else if (write_all(fd, len8, 8) || write_all(fd, header, hlen) ||
             write_tensor_data(fd, m->be, w, n, dtype) || fsync(fd)) {
    seal_errorf(e, "%s: write failed: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
  } else if (close(fd) || rename(tmp, path)) {
    seal_errorf(e, "%s: cannot move into place: %s", path, strerror(errno));
    unlink(tmp);
  } else {
    rc = 0;
  }
  free(tmp);
  free(header);
  for (int i = 0; i < n; i++) free(w[i].name);
  free(w);
  return rc;
}

static const char *dtype_name(seal_export_dtype d) {
  return d == SEAL_EXPORT_BF16 ? "bfloat16" : "float32";
}

/* config.json from the model's config, in the layout both transformers 4 and 5
 * read (top-level rope_theta, rope_scaling for llama3). */
static json_t *config_from_model(const seal_model_config *c, seal_export_dtype dtype) {
  bool qwen = c->arch == SEAL_ARCH_QWEN2;
  json_t *j = json_object();
  json_object_set_new(j, "architectures",
                      json_pack("[s]", qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
  json_object_set_new(j, "model_type", json_string(qwen ? "qwen2" : "llama"));
  json_object_set_new(j, "vocab_size", json_integer(c->vocab_size));
  json_object_set_new(j, "hidden_size", json_integer(c->hidden));
  json_object_set_new(j, "intermediate_size", json_integer(c->intermediate));
  json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
  json_object_set_new(j, "num_attention_heads", json_integer(c->n_heads));
  json_object_set_new(j, "num_key_value_heads", json_integer(c->n_kv_heads));
  json_object_set_new(j, "head_dim", json_integer(c->head_dim));
  json_object_set_new(j, "max_position_embeddings", json_integer(c->max_position));
  json_object_set_new(j, "rms_norm_eps", json_float(c->rms_eps));
  json_object_set_new(j, "hidden_act", json_string("silu"));
  json_object_set_new(j, "rope_theta", json_float(c->rope_theta));
  json_t *scaling = json_null();
  if (c->rope_llama3) {
    scaling = json_object();
    json_object_set_new(scaling, "rope_type", json_string("llama3"));
    json_object_set_new(scaling, "factor", json_float(c->rope_factor));
    json_object_set_new(scaling, "low_freq_factor", json_float(c->rope_low_freq_factor));
    json_object_set_new(scaling, "high_freq_factor", json_float(c->rope_high_freq_factor));
    json_object_set_new(scaling, "original_max_position_embeddings",
                        json_integer(c->rope_original_max_position));
  }
  json_object_set_new(j, "rope_scaling", scaling);
  json_object_set_new(j, "tie_word_embeddings", json_boolean(c->tie_embeddings));
  if (qwen)
    json_object_set_new(j, "use_sliding_window", json_false());
  else
    json_object_set_new(j, "attention_bias", json_false());
  json_object_set_new(j, "mlp_bias", json_false());
  json_object_set_new(j, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
  json_t *eos = json_null();
  if (c->n_eos == 1) eos = json_integer(c->eos_ids[0]);
  if (c->n_eos > 1) {
    eos = json_array();
    for (int i = 0; i < c->n_eos; i++) json_array_append_new(eos, json_integer(c->eos_ids[i]));
  }
  json_object_set_new(j, "eos_token_id", eos);
  json_object_set_new(j, "torch_dtype", json_string(dtype_name(dtype)));
  json_object_set_new(j, "use_cache", json_true());
  return j;
}

/* The base's config.json, with its dtype key(s) set to the exported dtype. Read
 * the one safe way (a regular file under the size cap: never a FIFO or a device). */
static json_t *config_from_base(const char *base_dir, seal_export_dtype dtype, seal_error *e) {
  char *path = seal_path_join(base_dir, "config.json");
  json_t *j = seal_json_read_file(path, JSON_REJECT_DUPLICATES, e);
  if (j && !json_is_object(j)) {
    seal_errorf(e, "%s: expected a JSON object (the model's configuration), got %s", path,
                seal_json_type_name(j));
    json_decref(j), j = NULL;
  }
  free(path);
  if (!j) return NULL;
  bool has_dtype = json_object_get(j, "dtype") != NULL;
  if (has_dtype) json_object_set_new(j, "dtype", json_string(dtype_name(dtype)));
  if (json_object_get(j, "torch_dtype") || !has_dtype)
    json_object_set_new(j, "torch_dtype", json_string(dtype_name(dtype)));
  return j;
}

/* Files a Hugging Face directory carries beside the weights that the merged
 * model shares with its base. */
static const char *const companion_files[] = {"generation_config.json",
                                              "tokenizer.json",
                                              "tokenizer_config.json",
                                              "special_tokens_map.json",
                                              "chat_template.jinja",
                                              "vocab.json",
                                              "merges.txt",
                                              "tokenizer.model",
                                              "added_tokens.json"};

static int copy_file(const char *from, const char *to, seal_error *e) {
  size_t n;
  char *data = seal_read_file(from, &n, e);
  if (!data) return -1;
  int rc = seal_write_file_atomic(to, data, n, false, e);
  free(data);
  return rc;
}

static int copy_companions(const char *base_dir, const char *dir, seal_error *e) {
  int rc = 0;
  for (size_t i = 0; i < sizeof companion_files / sizeof *companion_files && !rc; i++) {
    char *from = seal_path_join(base_dir, companion_files[i]);
    char *to = seal_path_join(dir, companion_files[i]);
    if (seal_file_exists(from)) rc = copy_file(from, to, e);
    free(from);
    free(to);
  }
  return rc;
}

int seal_export_hf_model(seal_model *m, const char *base_dir, const char *dir,
                         seal_export_dtype dtype, seal_error *e) {
  if (seal_mkdirs(dir, e)) return -1;
  json_t *cfg = base_dir ? config_from_base(base_dir, dtype, e) : config_from_model(&m->cfg, dtype);
  if (!cfg) return -1;
  /* a shard index left in dir from an earlier export would hide model.safetensors */
  char *index = seal_path_join(dir, "model.safetensors.index.json");
  if (seal_file_exists(index) && unlink(index)) {
    seal_errorf(e, "%s: cannot remove a stale shard index: %s", index, strerror(errno));
    free(index);
    json_decref(cfg);
    return -1;
  }
  free(index);
  char *st_path = seal_path_join(dir, "model.safetensors");
  char *cfg_path = seal_path_join(dir, "config.json");
  int rc = write_model_safetensors(m, st_path, dtype, e);
  if (!rc) rc = write_json(cfg_path, cfg, e);
  if (!rc && base_dir) rc = copy_companions(base_dir, dir, e);
  free(st_path);
  free(cfg_path);
  json_decref(cfg);
  return rc;
}

/* The base must be the model the run trained (the teacher, when it had one):
 * same architecture and sizes. */
static int check_base_matches(const seal_run_state *st, const seal_model_config *c,
                              const char *base, seal_error *e) {
  const char *arch = c->arch == SEAL_ARCH_QWEN2 ? "qwen2" : "llama";
  seal_model_record p;
  seal_run_state_policy_model(st, &p);
  if (p.architecture[0] && strcmp(p.architecture, arch))
    return seal_errorf(e, "%s is a %s model; the checkpoint's run trained a %s model", base, arch,
                       p.architecture);
  const struct {
    const char *key;
    int run, base;
  } dims[] = {{"hidden_size", p.hidden, c->hidden},
              {"num_hidden_layers", p.n_layers, c->n_layers},
              {"num_attention_heads", p.n_heads, c->n_heads},
              {"num_key_value_heads", p.n_kv_heads, c->n_kv_heads},
              {"vocab_size", p.vocab_size, c->vocab_size},
              {"intermediate_size", p.intermediate, c->intermediate}};
  for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
    if (dims[i].run > 0 && dims[i].run != dims[i].base)
      return seal_errorf(e, "%s is not the model the run trained: %s is %d, the checkpoint says %d",
                         base, dims[i].key, dims[i].base, dims[i].run);
  return 0;
}

int seal_export_merged(const seal_run_state *st, int n_rounds, const char *base_path,
                       const char *dir, seal_export_dtype dtype, seal_error *e) {
  if (seal_export_round_count(st, n_rounds, e) < 0) return -1;
  seal_model_record policy; /* the teacher, when the run had one */
  seal_run_state_policy_model(st, &policy);
  const char *base = base_path ? base_path : policy.path;
  if (!base || !*base)
    return seal_errorf(e, "the checkpoint does not name its %s; give one with --model",
                       st->has_teacher ? "teacher" : "base model");
  if (seal_mkdirs(dir, e)) return -1; /* before the (slow) load: fail fast on a bad dir */
  seal_checkpoint ck;
  seal_error inner;
  if (seal_checkpoint_open(base, &ck, &inner)) {
    if (base_path) return seal_errorf(e, "%s", inner.msg);
    return seal_errorf(e, "the checkpoint's base model: %s (give another with --model)", inner.msg);
  }
  int rc = check_base_matches(st, &ck.config, base, e);
  seal_backend *be = NULL;
  seal_model m;
  memset(&m, 0, sizeof m);
  if (!rc) be = seal_cpu_backend_create(SEAL_F32, e), rc = be ? 0 : -1;
  if (!rc) rc = seal_model_create(&m, be, &ck.config, &ck.weights, e);
  seal_tensors_free(&ck.weights); /* the model holds its own copy */
  if (!rc) rc = seal_export_merge_rounds(&m, st, n_rounds, e);
  struct stat sb;
  bool hf_dir = stat(base, &sb) == 0 && S_ISDIR(sb.st_mode);
  if (!rc) rc = seal_export_hf_model(&m, hf_dir ? base : NULL, dir, dtype, e);
  if (m.be) seal_model_free(&m);
  if (be) seal_backend_destroy(be);
  seal_checkpoint_free(&ck);
  return rc;
}

/* ---- from a checkpoint file ---------------------------------------------- */

int seal_export_checkpoint_peft(const char *ckpt_path, int n_rounds, const char *dir,
                                seal_error *e) {
  seal_run_state st;
  int rc = seal_checkpoint_read(ckpt_path, &st, e);
  if (!rc) rc = seal_export_peft(&st, n_rounds, dir, e);
  seal_run_state_free(&st);
  return rc;
}

int seal_export_checkpoint_merged(const char *ckpt_path, int n_rounds, const char *base_path,
                                  const char *dir, seal_export_dtype dtype, seal_error *e) {
  seal_run_state st;
  int rc = seal_checkpoint_read(ckpt_path, &st, e);
  if (!rc) rc = seal_export_merged(&st, n_rounds, base_path, dir, dtype, e);
  seal_run_state_free(&st);
  return rc;
}
