/* model/model.h — the transformer graph, written once against kernels/ops.h.
 *
 * A seal_model holds the frozen base weights on a backend. Everything that
 * trains is a LoRA adapter (model/lora.h). Inference runs over a KV cache
 * (forward_infer); training runs a full forward with saved activations and a
 * backward that produces LoRA gradients only (the base stays frozen). */
#ifndef SEAL_MODEL_MODEL_H
#define SEAL_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "model/config.h"
#include "model/tensors.h"

/* One decoder layer's frozen weights on the backend, all in be->act. */
typedef struct {
  void *attn_norm;    /* [C] */
  void *wq, *wk, *wv; /* [Hq*D, C], [Hkv*D, C], [Hkv*D, C] */
  void *bq, *bk, *bv; /* [Hq*D], [Hkv*D], [Hkv*D] or NULL (Qwen2 only) */
  void *wo;           /* [C, Hq*D] */
  void *mlp_norm;     /* [C] */
  void *wgate, *wup;  /* [I, C] */
  void *wdown;        /* [C, I] */
} seal_layer;

typedef struct {
  seal_model_config cfg;
  seal_backend *be;   /* borrowed */
  void *embed;        /* [V, C] */
  void *lm_head;      /* [V, C]; equals embed when tied */
  void *final_norm;   /* [C] */
  seal_layer *layers; /* [n_layers] */
  float *inv_freq;    /* f32 [D/2] on the backend, llama3 scaling folded in */
} seal_model;

/* Uploads the named HF tensors to the backend (converting to be->act). Every
 * tensor the config implies must be present with its shape. */
int seal_model_create(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                      const seal_tensor_set *weights, seal_error *e);
void seal_model_free(seal_model *m);

/* Returns a backend weight by HF name ("model.layers.3.self_attn.q_proj.weight")
 * with its [rows, cols] (cols = 1 for vectors); NULL when the model has none. */
void *seal_model_weight(seal_model *m, const char *name, int *rows, int *cols);

#endif
