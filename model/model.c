/* model/model.c — uploading a checkpoint's frozen weights to a backend. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* Uploads the HF tensor `name`, which must have exactly the given shape
 * (cols = 0 for a vector of `rows`). */
static void *upload(seal_backend *be, const seal_tensor_set *w, const char *name, int64_t rows,
                    int64_t cols, seal_error *e, int *failed) {
  if (*failed) return NULL;
  const seal_host_tensor *t = seal_tensors_find(w, name);
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
  size_t n = (size_t)(cols ? rows * cols : rows);
  void *d = be->ops->alloc(be, n * seal_act_size(be));
  be->ops->to_device(be, d, be->act, t->data, n);
  return d;
}

static void upload_layer(seal_model *m, const seal_tensor_set *w, int l, seal_error *e,
                         int *failed) {
  const seal_model_config *c = &m->cfg;
  seal_backend *be = m->be;
  seal_layer *L = &m->layers[l];
  int C = c->hidden, I = c->intermediate, QD = c->n_heads * c->head_dim,
      KD = c->n_kv_heads * c->head_dim;
  char name[256];
#define UP(field, suffix, rows, cols)                           \
  snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix); \
  L->field = upload(be, w, name, rows, cols, e, failed)
  UP(attn_norm, "input_layernorm.weight", C, 0);
  UP(wq, "self_attn.q_proj.weight", QD, C);
  UP(wk, "self_attn.k_proj.weight", KD, C);
  UP(wv, "self_attn.v_proj.weight", KD, C);
  UP(wo, "self_attn.o_proj.weight", C, QD);
  UP(mlp_norm, "post_attention_layernorm.weight", C, 0);
  UP(wgate, "mlp.gate_proj.weight", I, C);
  UP(wup, "mlp.up_proj.weight", I, C);
  UP(wdown, "mlp.down_proj.weight", C, I);
  if (c->attn_bias) {
    UP(bq, "self_attn.q_proj.bias", QD, 0);
    UP(bk, "self_attn.k_proj.bias", KD, 0);
    UP(bv, "self_attn.v_proj.bias", KD, 0);
  }
#undef UP
}

int seal_model_create(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                      const seal_tensor_set *w, seal_error *e) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->be = be;
  const seal_model_config *c = &m->cfg;
  int failed = 0;
  m->embed = upload(be, w, "model.embed_tokens.weight", c->vocab_size, c->hidden, e, &failed);
  m->final_norm = upload(be, w, "model.norm.weight", c->hidden, 0, e, &failed);
  if (c->tie_embeddings)
    m->lm_head = m->embed;
  else
    m->lm_head = upload(be, w, "lm_head.weight", c->vocab_size, c->hidden, e, &failed);
  m->layers = seal_calloc((size_t)c->n_layers, sizeof *m->layers);
  for (int l = 0; l < c->n_layers && !failed; l++) upload_layer(m, w, l, e, &failed);
  float *inv = seal_malloc((size_t)c->head_dim / 2 * sizeof(float));
  seal_rope_inv_freq(c, inv);
  m->inv_freq = be->ops->alloc(be, (size_t)c->head_dim / 2 * sizeof(float));
  be->ops->to_device(be, m->inv_freq, SEAL_F32, inv, (size_t)c->head_dim / 2);
  free(inv);
  if (failed) {
    seal_model_free(m);
    return -1;
  }
  return 0;
}

void seal_model_free(seal_model *m) {
  if (!m->be) return;
  const seal_ops *o = m->be->ops;
#define FREE(p) \
  if (p) o->free(m->be, p)
  for (int l = 0; m->layers && l < m->cfg.n_layers; l++) {
    seal_layer *L = &m->layers[l];
    void *all[] = {L->attn_norm, L->wq, L->wk,       L->wv,    L->bq,  L->bk,
                   L->bv,        L->wo, L->mlp_norm, L->wgate, L->wup, L->wdown};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) FREE(all[i]);
  }
  if (m->lm_head != m->embed) FREE(m->lm_head);
  FREE(m->embed);
  FREE(m->final_norm);
  FREE(m->inv_freq);
#undef FREE
  free(m->layers);
  memset(m, 0, sizeof *m);
}

void *seal_model_weight(seal_model *m, const char *name, int *rows, int *cols) {
  const seal_model_config *c = &m->cfg;
  int C = c->hidden, I = c->intermediate, QD = c->n_heads * c->head_dim,
      KD = c->n_kv_heads * c->head_dim;
  *cols = 1;
  if (!strcmp(name, "model.embed_tokens.weight")) return *rows = c->vocab_size, *cols = C, m->embed;
  if (!strcmp(name, "lm_head.weight")) return *rows = c->vocab_size, *cols = C, m->lm_head;
  if (!strcmp(name, "model.norm.weight")) return *rows = C, m->final_norm;
  int l, used = 0;
  if (sscanf(name, "model.layers.%d.%n", &l, &used) != 1 || l < 0 || l >= c->n_layers) return NULL;
  const char *s = name + used;
  seal_layer *L = &m->layers[l];
  struct {
    const char *suffix;
    void *p;
    int rows, cols;
  } table[] = {
      {"input_layernorm.weight", L->attn_norm, C, 1},
      {"self_attn.q_proj.weight", L->wq, QD, C},
      {"self_attn.k_proj.weight", L->wk, KD, C},
      {"self_attn.v_proj.weight", L->wv, KD, C},
      {"self_attn.o_proj.weight", L->wo, C, QD},
      {"self_attn.q_proj.bias", L->bq, QD, 1},
      {"self_attn.k_proj.bias", L->bk, KD, 1},
      {"self_attn.v_proj.bias", L->bv, KD, 1},
      {"post_attention_layernorm.weight", L->mlp_norm, C, 1},
      {"mlp.gate_proj.weight", L->wgate, I, C},
      {"mlp.up_proj.weight", L->wup, I, C},
      {"mlp.down_proj.weight", L->wdown, C, I},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (!strcmp(s, table[i].suffix) && table[i].p)
      return *rows = table[i].rows, *cols = table[i].cols, table[i].p;
  return NULL;
}
