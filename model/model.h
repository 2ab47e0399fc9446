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

/* One decoder layer's frozen weights on the backend (matrices in be->weight,
 * vectors in be->act), in the
 * order Hugging Face writes them. One line a weight:
 *   X(field, name after "model.layers.{l}.", rows, cols, present)
 * with rows and cols written in C (hidden), QD = Hq*D, KD = Hkv*D and I (MLP
 * width); cols 0 for a vector; present ALWAYS, or BIAS when only configs with
 * attention biases (Qwen2) have it. The struct, the upload, the free, the
 * lookup by name and the loader's expected tensors all come from this list. */
/* clang-format off */
#define SEAL_LAYER_WEIGHTS(X)                                                    \
  X(attn_norm, "input_layernorm.weight",          C,  0,  ALWAYS) /* [C] */        \
  X(wq,        "self_attn.q_proj.weight",         QD, C,  ALWAYS) /* [Hq*D, C] */  \
  X(bq,        "self_attn.q_proj.bias",           QD, 0,  BIAS)   /* [Hq*D] */     \
  X(wk,        "self_attn.k_proj.weight",         KD, C,  ALWAYS) /* [Hkv*D, C] */ \
  X(bk,        "self_attn.k_proj.bias",           KD, 0,  BIAS)   /* [Hkv*D] */    \
  X(wv,        "self_attn.v_proj.weight",         KD, C,  ALWAYS) /* [Hkv*D, C] */ \
  X(bv,        "self_attn.v_proj.bias",           KD, 0,  BIAS)   /* [Hkv*D] */    \
  X(wo,        "self_attn.o_proj.weight",         C,  QD, ALWAYS) /* [C, Hq*D] */  \
  X(mlp_norm,  "post_attention_layernorm.weight", C,  0,  ALWAYS) /* [C] */        \
  X(wgate,     "mlp.gate_proj.weight",            I,  C,  ALWAYS) /* [I, C] */     \
  X(wup,       "mlp.up_proj.weight",              I,  C,  ALWAYS) /* [I, C] */     \
  X(wdown,     "mlp.down_proj.weight",            C,  I,  ALWAYS) /* [C, I] */
/* clang-format on */

#define SEAL_WEIGHT_FIELD_(field, name, rows, cols, present) void *field;
#define SEAL_WEIGHT_ID_(field, name, rows, cols, present) SEAL_W_##field,
typedef struct {
  SEAL_LAYER_WEIGHTS(SEAL_WEIGHT_FIELD_) /* NULL where absent */
} seal_layer;
/* SEAL_W_attn_norm, SEAL_W_wq, ...: a layer weight by its place in the list. */
typedef enum { SEAL_LAYER_WEIGHTS(SEAL_WEIGHT_ID_) SEAL_LAYER_N_WEIGHTS } seal_layer_weight;

/* Name (after "model.layers.{l}.") and [rows, cols] (cols 0: a vector) of
 * layer weight i under this config; false when the config has none (the
 * attention biases of a Llama). */
bool seal_layer_weight_spec(const seal_model_config *cfg, seal_layer_weight i, const char **name,
                            int64_t *rows, int64_t *cols);
/* Where layer weight i lives in a layer's weights. */
void **seal_layer_weight_ref(seal_layer *w, seal_layer_weight i);

typedef struct {
  seal_model_config cfg;
  seal_backend *be;   /* borrowed */
  void *embed;        /* [V, C] */
  void *lm_head;      /* [V, C]; equals embed when tied */
  void *final_norm;   /* [C] */
  seal_layer *layers; /* [n_layers] */
  float *inv_freq;    /* f32 [D/2] on the backend, llama3 scaling folded in */
} seal_model;

/* Uploads the named HF tensors to the backend (converting matrices to
 * be->weight, vectors to be->act). Every
 * tensor the config implies must be present with its shape. */
int seal_model_create(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                      const seal_tensor_set *weights, seal_error *e);
/* The same, freeing each tensor's host data as soon as it is uploaded (its
 * data is NULL after; free the set as usual): the peak memory of a load is
 * then about one copy of the model, not the host's and the backend's. */
int seal_model_create_taking(seal_model *m, seal_backend *be, const seal_model_config *cfg,
                             seal_tensor_set *ts, seal_error *e);
void seal_model_free(seal_model *m);

/* Returns a backend weight by HF name ("model.layers.3.self_attn.q_proj.weight")
 * with its [rows, cols] (cols = 1 for vectors); NULL when the model has none. */
void *seal_model_weight(seal_model *m, const char *name, int *rows, int *cols);

/* A base matrix src[rows, cols] (host float32) into dst on the backend, in
 * be->weight (dst takes seal_weight_bytes(be, rows, cols)), and back: row by
 * row where a Q8 row is padded to whole blocks. */
void seal_upload_matrix(seal_backend *be, void *dst, const float *src, int64_t rows, int64_t cols);
void seal_download_matrix(seal_backend *be, float *dst, const void *src, int64_t rows,
                          int64_t cols);

#endif
