/* model/graph.h — running the model: training forward/backward with saved
 * activations, and cached inference. */
#ifndef SEAL_MODEL_GRAPH_H
#define SEAL_MODEL_GRAPH_H

#include "model/lora.h"
#include "model/model.h"

/* Per-layer activations of a training forward, kept for the backward. */
typedef struct {
  void *x;                            /* [N, C] the layer's input (residual stream) */
  void *ln1;                          /* [N, C] */
  float *rstd1;                       /* [N] */
  void *q, *k, *v;                    /* [N, Hq*D], [N, Hkv*D], [N, Hkv*D]; q, k after RoPE */
  void *att;                          /* [N, Hq*D] attention output before o_proj */
  float *lse;                         /* [B, Hq, T] */
  void *x2;                           /* [N, C] residual after attention */
  void *ln2;                          /* [N, C] */
  float *rstd2;                       /* [N] */
  void *gate, *up;                    /* [N, I] */
  void *hmlp;                         /* [N, I] silu(gate) * up */
  float *lora_h[SEAL_LORA_N_TARGETS]; /* [N, r] x A^T of each adapted projection, or NULL */
} seal_layer_acts;

/* Everything a training step needs on the backend, sized for B x T tokens and
 * an adapter rank of at most r_max. */
typedef struct {
  int B, T;            /* the current batch's shape */
  int cap_rows, cap_T; /* capacity: B*T <= cap_rows and T <= cap_T */
  int r_max;
  /* With a multi-adapter LoRA: the adapter each of the B sequences trains
   * (host [B], set by the caller before the forward; -1: none). NULL: every
   * sequence uses adapter 0. */
  const int *seq_adapter;
  seal_layer_acts *layers;              /* [n_layers] */
  void *x_final;                        /* [N, C] residual stream after the last layer */
  void *ln_final;                       /* [N, C] */
  float *rstd_final;                    /* [N] */
  void *logits;                         /* [N, V]; becomes dlogits in the backward */
  float *losses;                        /* [N] per-token cross-entropy */
  int32_t *ids, *targets, *pos, *q_pos; /* [N], [N], [N], [B] */
  float *weights;                       /* [N] per-token loss weights */
  void *tmp_c;                          /* [N, C] o_proj / down_proj output */
  /* backward scratch */
  void *dres;                /* [N, C] gradient of the residual stream */
  void *dln;                 /* [N, C] */
  void *dq, *dk, *dv, *datt; /* [N, Hq*D], [N, Hkv*D], [N, Hkv*D], [N, Hq*D] */
  void *dgate, *dup, *dhmlp; /* [N, I] */
  float *lora_dh;            /* [N, r_max] */
} seal_train_acts;

void seal_train_acts_create(seal_train_acts *a, const seal_model *m, int B, int T, int r_max);
void seal_train_acts_free(seal_train_acts *a, const seal_model *m);

/* Forward over ids [B*T] (host), positions 0..T-1 in each row, with the adapter
 * when lora is not NULL. Leaves logits in a->logits. With targets and weights
 * (host [B*T]) also computes the loss: sum_n weights[n] * CE_n, returned; the
 * caller chooses the reduction through the weights (e.g. 1/count on masked
 * tokens). Returns 0 when targets is NULL. */
double seal_forward_train(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                          const int32_t *ids, const int32_t *targets, const float *weights, int B,
                          int T);
/* Backward of the last seal_forward_train (which must have had targets):
 * accumulates (+=) the gradients of every LoRA parameter into lora->grads. */
void seal_backward_train(seal_model *m, seal_lora *lora, seal_train_acts *a);

/* Per-token losses of the last forward to the host ([B*T], 0 where weight 0). */
void seal_train_losses_to_host(seal_model *m, seal_train_acts *a, float *out);

/* ---- cached inference ---------------------------------------------------- */

typedef struct {
  int slots, Tmax; /* sequences the cache holds, positions per sequence */
  void **k, **v;   /* [n_layers] of [slots, Tmax, Hkv*D] */
  /* scratch for up to max_rows token rows */
  int max_rows;
  void *x, *ln, *q, *kk, *vv, *att, *tmp_c, *gate, *up; /* [rows, ...] */
  float *lora_h;                                        /* [rows, r_max] */
  int r_max;
  int32_t *ids, *pos, *q_pos; /* [rows], [rows], [slots] */
  void *last;                 /* [slots, C] final hidden state of each sequence's last new token */
  void *logits;               /* [slots, V] */
  /* With a multi-adapter LoRA: the adapter of each slot's sequence (host
   * [slots], set by the caller; -1: none). NULL: adapter 0 everywhere. */
  const int *slot_adapter;
} seal_kv_cache;

void seal_kv_cache_create(seal_kv_cache *c, const seal_model *m, int slots, int Tmax, int r_max);
void seal_kv_cache_free(seal_kv_cache *c, const seal_model *m);

/* Feeds Tq new tokens (ids host [B*Tq]) to the B sequences in cache slots
 * slot0..slot0+B-1, whose first new token sits at position q_pos[b] (host).
 * Writes their keys and values into the cache and leaves in c->logits rows
 * 0..B-1 the logits [B, V] of each sequence's last new token. */
void seal_forward_infer(seal_model *m, const seal_lora *lora, seal_kv_cache *c, const int32_t *ids,
                        const int32_t *q_pos, int slot0, int B, int Tq);

#endif
