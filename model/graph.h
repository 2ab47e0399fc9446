/* model/graph.h — running the model: training forward/backward with saved
 * activations, and cached inference. */
#ifndef SEAL_MODEL_GRAPH_H
#define SEAL_MODEL_GRAPH_H

#include "model/lora.h"
#include "model/model.h"

/* The buffers of a training step and of cached inference, each listed once:
 *   X(field, element type, element count)  followed by its shape
 * The element type is act (the backend's activation type, be->act: f32 on the
 * CPU, bf16 on CUDA), f32 or i32. Counts are written in N (a training batch's
 * token rows: its sequences packed end to end, no padding), slots x Tmax (a KV cache) and rows (its
 * scratch), with C hidden, Hq and Hkv heads of width D, I MLP width, V
 * vocabulary, r_max the largest LoRA rank and NT = SEAL_LORA_N_TARGETS. Each
 * list makes its struct's fields and drives create, grow and free
 * (model/forward.c), so adding a buffer is one line there. */
typedef void seal_elem_act; /* only ever touched through the ops */
typedef float seal_elem_f32;
typedef int32_t seal_elem_i32;
#define SEAL_ACT_FIELD_(field, elem, count) seal_elem_##elem *field;

/* clang-format off */
/* One layer's activations of a training forward, kept for the backward. */
#define SEAL_LAYER_ACTS(X)                                                       \
  X(x,      act, N * C)            /* [N, C] the layer's input (residual stream) */ \
  X(ln1,    act, N * C)            /* [N, C] rmsnorm(x) */                       \
  X(rstd1,  f32, N)                /* [N] 1 / rms(x) */                          \
  X(q,      act, N * Hq * D)       /* [N, Hq*D] after RoPE */                    \
  X(k,      act, N * Hkv * D)      /* [N, Hkv*D] after RoPE */                   \
  X(v,      act, N * Hkv * D)      /* [N, Hkv*D] */                              \
  X(att,    act, N * Hq * D)       /* [N, Hq*D] attention output before o_proj */ \
  X(lse,    f32, N * Hq)           /* [N, Hq] attention log-sum-exp */           \
  X(x2,     act, N * C)            /* [N, C] residual after attention */         \
  X(ln2,    act, N * C)            /* [N, C] rmsnorm(x2) */                      \
  X(rstd2,  f32, N)                /* [N] 1 / rms(x2) */                         \
  X(gate,   act, N * I)            /* [N, I] */                                  \
  X(up,     act, N * I)            /* [N, I] */                                  \
  X(hmlp,   act, N * I)            /* [N, I] silu(gate) * up */                  \
  X(lora_h, f32, NT * N * r_max)   /* [NT, N, r_max] x A^T of each target */

/* The rest of a training step: the final norm, the loss, the batch on the
 * backend and the backward's scratch (shared by every layer). */
#define SEAL_TRAIN_ACTS(X)                                                       \
  X(x_final,    act, N * C)        /* [N, C] residual stream after the last layer */ \
  X(ln_final,   act, N * C)        /* [N, C] */                                  \
  X(rstd_final, f32, N)            /* [N] */                                     \
  X(logits,     act, N * V)        /* [N, V]; becomes dlogits in the backward */ \
  X(losses,     f32, N)            /* [N] per-token cross-entropy */             \
  X(ids,        i32, N)            /* [N] */                                     \
  X(targets,    i32, N)            /* [N] */                                     \
  X(pos,        i32, N)            /* [N] RoPE positions, from 0 in each sequence */ \
  X(seq_start,  i32, N + 1)        /* [n_seq + 1] each sequence's first row, then N */ \
  X(weights,    f32, N)            /* [N] per-token loss weights */              \
  X(tmp_c,      act, N * C)        /* [N, C] o_proj / down_proj output */        \
  X(dres,       act, N * C)        /* [N, C] gradient of the residual stream */  \
  X(dln,        act, N * C)        /* [N, C] */                                  \
  X(dq,         act, N * Hq * D)   /* [N, Hq*D] */                               \
  X(dk,         act, N * Hkv * D)  /* [N, Hkv*D] */                              \
  X(dv,         act, N * Hkv * D)  /* [N, Hkv*D] */                              \
  X(datt,       act, N * Hq * D)   /* [N, Hq*D] */                               \
  X(dgate,      act, N * I)        /* [N, I] */                                  \
  X(dup,        act, N * I)        /* [N, I] */                                  \
  X(dhmlp,      act, N * I)        /* [N, I] */                                  \
  X(lora_dh,    f32, N * r_max)    /* [N, r_max] */
/* clang-format on */

typedef struct {
  SEAL_LAYER_ACTS(SEAL_ACT_FIELD_)
} seal_layer_acts;

/* Everything a training step needs on the backend, sized for a batch of at
 * most cap_rows token rows (any number of sequences of any lengths that add up
 * to no more) and an adapter rank of at most r_max. */
typedef struct {
  int N, n_seq, max_len; /* the current batch: rows, sequences, the longest */
  int cap_rows;          /* capacity: N <= cap_rows */
  int r_max;
  /* With a multi-adapter LoRA: the adapter each of the n_seq sequences trains
   * (host [n_seq], set by the caller before the forward; -1: none). NULL:
   * every sequence uses adapter 0. */
  const int *seq_adapter;
  int *host_seq_start;     /* host [cap_rows + 1]: seq_start of the current batch */
  seal_layer_acts *layers; /* [n_layers] */
  SEAL_TRAIN_ACTS(SEAL_ACT_FIELD_)
} seal_train_acts;

void seal_train_acts_create(seal_train_acts *a, const seal_model *m, int rows, int r_max);
void seal_train_acts_free(seal_train_acts *a, const seal_model *m);

/* Forward over n_seq sequences packed end to end, without padding: sequence s
 * is rows seq_start[s] .. seq_start[s+1]-1 of ids [N] (host; seq_start host
 * [n_seq + 1], from 0, every length at least 1, N = seq_start[n_seq]), at
 * positions 0, 1, ... and attending only to itself. Uses the adapter when lora
 * is not NULL (each sequence its own with a->seq_adapter). Leaves logits [N, V]
 * in a->logits. With targets and weights (host [N]) also computes the loss:
 * sum_n weights[n] * CE_n, returned; the caller chooses the reduction through
 * the weights (e.g. 1/count on masked tokens). Returns 0 when targets is NULL. */
double seal_forward_train_packed(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                                 const int32_t *ids, const int32_t *targets, const float *weights,
                                 const int *seq_start, int n_seq);
/* The same for B sequences of T tokens each (ids, targets, weights [B*T]). */
double seal_forward_train(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                          const int32_t *ids, const int32_t *targets, const float *weights, int B,
                          int T);
/* Backward of the last forward (which must have had targets): accumulates
 * (+=) the gradients of every LoRA parameter into lora->grads. */
void seal_backward_train(seal_model *m, seal_lora *lora, seal_train_acts *a);

/* Per-token losses of the last forward to the host ([N], 0 where weight 0). */
void seal_train_losses_to_host(seal_model *m, seal_train_acts *a, float *out);

/* ---- cached inference ---------------------------------------------------- */

/* clang-format off */
/* One layer's cache: the keys and values of every slot. A slot holds one
 * sequence; a batch of inference occupies consecutive slots. */
#define SEAL_KV_LAYER(X)                                                         \
  X(k, act, slots * Tmax * Hkv * D)  /* [slots, Tmax, Hkv*D] */                  \
  X(v, act, slots * Tmax * Hkv * D)  /* [slots, Tmax, Hkv*D] */

/* One entry per slot. */
#define SEAL_KV_SLOTS(X)                                                         \
  X(q_pos,  i32, slots)            /* [slots] first new position of each sequence */ \
  X(last,   act, slots * C)        /* [slots, C] hidden state of each last new token */ \
  X(logits, act, slots * V)        /* [slots, V] */

/* Scratch for `rows` token rows, reused by every layer and grown on demand. */
#define SEAL_KV_SCRATCH(X)                                                       \
  X(x,      act, rows * C)         /* [rows, C] residual stream (x and x2) */    \
  X(ln,     act, rows * C)         /* [rows, C] every rmsnorm's output */        \
  X(q,      act, rows * Hq * D)    /* [rows, Hq*D] */                            \
  X(kk,     act, rows * Hkv * D)   /* [rows, Hkv*D] the new tokens' keys */      \
  X(vv,     act, rows * Hkv * D)   /* [rows, Hkv*D] the new tokens' values */    \
  X(att,    act, rows * Hq * D)    /* [rows, Hq*D] */                            \
  X(tmp_c,  act, rows * C)         /* [rows, C] o_proj / down_proj output */     \
  X(gate,   act, rows * I)         /* [rows, I] gate, then silu(gate) * up */    \
  X(up,     act, rows * I)         /* [rows, I] */                               \
  X(lora_h, f32, rows * r_max)     /* [rows, r_max] x A^T, shared by every target */ \
  X(ids,    i32, rows)             /* [rows] */                                  \
  X(pos,    i32, rows)             /* [rows] */
/* clang-format on */

typedef struct {
  SEAL_KV_LAYER(SEAL_ACT_FIELD_)
} seal_kv_layer;

typedef struct {
  int slots, Tmax; /* sequences the cache holds, positions per sequence */
  int max_rows;    /* the scratch's rows */
  int r_max;
  seal_kv_layer *layers; /* [n_layers] */
  SEAL_KV_SLOTS(SEAL_ACT_FIELD_)
  SEAL_KV_SCRATCH(SEAL_ACT_FIELD_)
  /* With a multi-adapter LoRA: the adapter of each slot's sequence (host
   * [slots], set by the caller; -1: none). NULL: adapter 0 everywhere. */
  const int *slot_adapter;
  int *row_start; /* host [slots + 1]: the first scratch row of each sequence of a call */
  /* Decoding steps as CUDA graphs (model/decode_graphs.h): on when wanted at
   * creation; invalidated whenever the scratch is reallocated. */
  int graphs_on;
  struct seal_decode_graphs *graphs;
} seal_kv_cache;

void seal_kv_cache_create(seal_kv_cache *kv, const seal_model *m, int slots, int Tmax, int r_max);
void seal_kv_cache_free(seal_kv_cache *kv, const seal_model *m);
/* Copies the keys and values of positions [0, n_pos) of slot src to slot dst:
 * a prompt that another sequence already prefilled, computed once (the same
 * bits: a slot's keys and values depend on its tokens alone). */
void seal_kv_cache_copy_slot(seal_model *m, seal_kv_cache *kv, int src, int dst, int n_pos);

/* Feeds Tq new tokens (ids host [B*Tq]) to the B sequences in cache slots
 * slot0..slot0+B-1, whose first new token sits at position q_pos[b] (host).
 * Writes their keys and values into the cache and leaves in kv->logits rows
 * 0..B-1 the logits [B, V] of each sequence's last new token. */
void seal_forward_infer(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, const int32_t *ids,
                        const int32_t *q_pos, int slot0, int B, int Tq);

#endif
