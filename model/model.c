/* model/model.c — uploading a checkpoint's frozen weights to a backend. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* Uploads the HF tensor `name`, which must have exactly the given shape
 * (cols = 0 for a vector of `rows`); with `take`, frees its host data once
 * uploaded (data NULL after), so the host and backend copies of the whole
 * model never coexist. */
static void *upload(seal_backend *be, const seal_tensor_set *ts, const char *name, int64_t rows,
                    int64_t cols, bool take, seal_error *e, int *failed) {
  if (*failed) return NULL;
  const seal_host_tensor *t = seal_tensors_find(ts, name);
  if (!t) {
    seal_errorf(e, "checkpoint has no tensor '%s'", name);
    *failed = 1;
    return NULL;
  }
  bool ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                 : (t->ndim == 1 && t->shape[0] == rows);
  if (!ok) {
    seal_errorf(e, "tensor '%s' has shape [%lld%s%lld], expected [%lld%s%lld]", name,
                (long long)t->shape[0], t->ndim > 1 ? ", " : "",
                t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)rows, cols ? ", " : "",
                (long long)cols);
    *failed = 1;
    return NULL;
  }
  void *d;
  if (!cols) { /* a vector: "act" */
    d = be->ops->alloc(be, seal_matrix_bytes(be->act, 1, (size_t)rows));
    be->ops->to_device(be, d, be->act, t->data, (size_t)rows);
  } else {
    d = be->ops->alloc(be, seal_weight_bytes(be, (size_t)rows, (size_t)cols));
    seal_upload_matrix(be, d, t->data, rows, cols);
  }
  if (take) { /* to_device is done with src when it returns (kernels/ops.h) */
    free(((seal_host_tensor *)t)->data);
    ((seal_host_tensor *)t)->data = NULL;
  }
  return d;
}

void seal_upload_matrix(seal_backend *be, void *dst, const float *src, int64_t rows, int64_t cols) {
  /* A Q8 or Q4 row is whole blocks of 32 (kernels/ops.h "wt"): a matrix whose
   * rows are not goes up row by row, each row's last block padded. */
  if (!seal_dtype_is_blocked(be->weight) || cols % SEAL_Q8_BLOCK == 0) {
    be->ops->to_device(be, dst, be->weight, src, (size_t)(rows * cols));
    return;
  }
  const size_t row_bytes = seal_weight_bytes(be, 1, (size_t)cols);
  for (int64_t r = 0; r < rows; r++)
    be->ops->to_device(be, (char *)dst + (size_t)r * row_bytes, be->weight,
                       src + (size_t)(r * cols), (size_t)cols);
}

void seal_download_matrix(seal_backend *be, float *dst, const void *src, int64_t rows,
                          int64_t cols) {
  if (!seal_dtype_is_blocked(be->weight) || cols % SEAL_Q8_BLOCK == 0) {
    be->ops->to_host(be, dst, src, be->weight, (size_t)(rows * cols));
    return;
  }
  const size_t row_bytes = seal_weight_bytes(be, 1, (size_t)cols);
  for (int64_t r = 0; r < rows; r++)
    be->ops->to_host(be, dst + (size_t)(r * cols), (const char *)src + (size_t)r * row_bytes,
                     be->weight, (size_t)cols);
}

/* ---- the layer weights, from SEAL_LAYER_WEIGHTS ---------------------------- */

#define PRESENT_ALWAYS true
#define PRESENT_BIAS cfg->attn_bias

bool seal_layer_weight_spec(const seal_model_config *cfg, seal_layer_weight i, const char **name,
                            int64_t *rows, int64_t *cols) {
  const int64_t C = cfg->hidden, I = cfg->intermediate, QD = (int64_t)cfg->n_heads * cfg->head_dim,
                KD = (int64_t)cfg->n_kv_heads * cfg->head_dim;
  switch (i) {
#define SPEC(field, suffix, r, c, present) \
  case SEAL_W_##field:                     \
    *name = suffix, *rows = r, *cols = c;  \
    return PRESENT_##present;
    SEAL_LAYER_WEIGHTS(SPEC)
#undef SPEC
    default:
      SEAL_DIE("bad layer weight %d", (int)i);
  }
}

void **seal_layer_weight_ref(seal_layer *w, seal_layer_weight i) {
  switch (i) {
#define REF(field, suffix, r, c, present) \
  case SEAL_W_##field:                    \
    return &w->field;
    SEAL_LAYER_WEIGHTS(REF)
#undef REF
    default:
      SEAL_DIE("bad layer weight %d", (int)i);
  }
}

static void upload_layer(seal_model *m, const seal_tensor_set *ts, int l, bool take, seal_error *e,
                         int *failed) {
  for (int i = 0; i < SEAL_LAYER_N_WEIGHTS; i++) {
    const char *suffix;
    int64_t rows, cols;
    if (!seal_layer_weight_spec(&m->cfg, (seal_layer_weight)i, &suffix, &rows, &cols)) continue;
    char name[256];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
    *seal_layer_weight_ref(&m->layers[l], (seal_layer_weight)i) =
        upload(m->be, ts, name, rows, cols, take, e, failed);
  }
}

static int create(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                  const seal_tensor_set *ts, bool take, seal_error *e) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->be = be;
  cfg = &m->cfg; /* from here on, the model's own copy */
  int failed = 0;
  m->embed =
      upload(be, ts, "model.embed_tokens.weight", cfg->vocab_size, cfg->hidden, take, e, &failed);
  m->final_norm = upload(be, ts, "model.norm.weight", cfg->hidden, 0, take, e, &failed);
  if (cfg->tie_embeddings)
    m->lm_head = m->embed;
  else
    m->lm_head = upload(be, ts, "lm_head.weight", cfg->vocab_size, cfg->hidden, take, e, &failed);
  m->layers = seal_calloc((size_t)cfg->n_layers, sizeof *m->layers);
  for (int l = 0; l < cfg->n_layers && !failed; l++) upload_layer(m, ts, l, take, e, &failed);
  float *inv = seal_malloc((size_t)cfg->head_dim / 2 * sizeof(float));
  seal_rope_inv_freq(cfg, inv);
  m->inv_freq = be->ops->alloc(be, (size_t)cfg->head_dim / 2 * sizeof(float));
  be->ops->to_device(be, m->inv_freq, SEAL_F32, inv, (size_t)cfg->head_dim / 2);
  free(inv);
  if (failed) {
    seal_model_free(m);
    return -1;
  }
  return 0;
}

int seal_model_create(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                      const seal_tensor_set *ts, seal_error *e) {
  return create(m, be, cfg, ts, false, e);
}

int seal_model_create_taking(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                             seal_tensor_set *ts, seal_error *e) {
  return create(m, be, cfg, ts, true, e);
}

void seal_model_free(seal_model *m) {
  if (!m->be) return;
  const seal_ops *o = m->be->ops;
#define FREE(p) \
  if (p) o->free(m->be, p)
  for (int l = 0; m->layers && l < m->cfg.n_layers; l++)
    for (int i = 0; i < SEAL_LAYER_N_WEIGHTS; i++)
      FREE(*seal_layer_weight_ref(&m->layers[l], (seal_layer_weight)i));
  if (m->lm_head != m->embed) FREE(m->lm_head);
  FREE(m->embed);
  FREE(m->final_norm);
  FREE(m->inv_freq);
#undef FREE
  free(m->layers);
  memset(m, 0, sizeof *m);
}

void *seal_model_weight(seal_model *m, const char *name, int *rows, int *cols) {
  const seal_model_config *cfg = &m->cfg;
  int C = cfg->hidden, V = cfg->vocab_size;
  *cols = 1;
  if (!strcmp(name, "model.embed_tokens.weight")) return *rows = V, *cols = C, m->embed;
  if (!strcmp(name, "lm_head.weight")) return *rows = V, *cols = C, m->lm_head;
  if (!strcmp(name, "model.norm.weight")) return *rows = C, m->final_norm;
  int l, used = 0;
  if (sscanf(name, "model.layers.%d.%n", &l, &used) != 1 || l < 0 || l >= cfg->n_layers)
    return NULL;
  for (int i = 0; i < SEAL_LAYER_N_WEIGHTS; i++) {
    const char *suffix;
    int64_t r, c;
    void *p = *seal_layer_weight_ref(&m->layers[l], (seal_layer_weight)i);
    if (seal_layer_weight_spec(cfg, (seal_layer_weight)i, &suffix, &r, &c) && p &&
        !strcmp(name + used, suffix))
      return *rows = (int)r, *cols = c ? (int)c : 1, p;
  }
  return NULL;
}
