/* model/forward.c — the decoder graph, forward (training and cached inference)
 * and the LoRA backward. One graph for every backend: each step is an op of
 * kernels/ops.h. Shapes: N = B*T token rows, C hidden, I MLP width, Hq/Hkv heads
 * of width D, V vocabulary, r LoRA rank. */
#include <stdlib.h>
#include <string.h>

#include "model/graph.h"

#define OPS(m) ((m)->be->ops)

/* ---- allocation ---------------------------------------------------------- */

static void *act_alloc(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * seal_act_size(m->be));
}
static float *f32_alloc(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * sizeof(float));
}
static int32_t *i32_alloc(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * sizeof(int32_t));
}

void seal_train_acts_create(seal_train_acts *a, const seal_model *m, int B, int T, int r_max) {
  const seal_model_config *c = &m->cfg;
  memset(a, 0, sizeof *a);
  a->B = B, a->T = T, a->r_max = r_max;
  a->cap_rows = B * T, a->cap_T = T;
  size_t N = (size_t)B * T, C = c->hidden, I = c->intermediate;
  size_t QD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
  a->layers = seal_calloc((size_t)c->n_layers, sizeof *a->layers);
  for (int l = 0; l < c->n_layers; l++) {
    seal_layer_acts *L = &a->layers[l];
    L->x = act_alloc(m, N * C);
    L->ln1 = act_alloc(m, N * C);
    L->rstd1 = f32_alloc(m, N);
    L->q = act_alloc(m, N * QD);
    L->k = act_alloc(m, N * KD);
    L->v = act_alloc(m, N * KD);
    L->att = act_alloc(m, N * QD);
    L->lse = f32_alloc(m, (size_t)B * c->n_heads * T);
    L->x2 = act_alloc(m, N * C);
    L->ln2 = act_alloc(m, N * C);
    L->rstd2 = f32_alloc(m, N);
    L->gate = act_alloc(m, N * I);
    L->up = act_alloc(m, N * I);
    L->hmlp = act_alloc(m, N * I);
    for (int t = 0; t < SEAL_LORA_N_TARGETS && r_max > 0; t++)
      L->lora_h[t] = f32_alloc(m, N * (size_t)r_max);
  }
  a->x_final = act_alloc(m, N * C);
  a->ln_final = act_alloc(m, N * C);
  a->rstd_final = f32_alloc(m, N);
  a->logits = act_alloc(m, N * (size_t)c->vocab_size);
  a->losses = f32_alloc(m, N);
  a->ids = i32_alloc(m, N);
  a->targets = i32_alloc(m, N);
  a->pos = i32_alloc(m, N);
  a->q_pos = i32_alloc(m, (size_t)B);
  a->weights = f32_alloc(m, N);
  a->tmp_c = act_alloc(m, N * C);
  a->dres = act_alloc(m, N * C);
  a->dln = act_alloc(m, N * C);
  a->dq = act_alloc(m, N * QD);
  a->dk = act_alloc(m, N * KD);
  a->dv = act_alloc(m, N * KD);
  a->datt = act_alloc(m, N * QD);
  a->dgate = act_alloc(m, N * I);
  a->dup = act_alloc(m, N * I);
  a->dhmlp = act_alloc(m, N * I);
  a->lora_dh = f32_alloc(m, N * (size_t)(r_max > 0 ? r_max : 1));
}

void seal_train_acts_free(seal_train_acts *a, const seal_model *m) {
  if (!a->layers) return;
  seal_backend *be = m->be;
  for (int l = 0; l < m->cfg.n_layers; l++) {
    seal_layer_acts *L = &a->layers[l];
    void *bufs[] = {L->x,   L->ln1, L->rstd1, L->q,     L->k,    L->v,  L->att,
                    L->lse, L->x2,  L->ln2,   L->rstd2, L->gate, L->up, L->hmlp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->ops->free(be, bufs[i]);
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
      if (L->lora_h[t]) be->ops->free(be, L->lora_h[t]);
  }
  void *bufs[] = {a->x_final, a->ln_final, a->rstd_final, a->logits,  a->losses, a->ids,
                  a->targets, a->pos,      a->q_pos,      a->weights, a->tmp_c,  a->dres,
                  a->dln,     a->dq,       a->dk,         a->dv,      a->datt,   a->dgate,
                  a->dup,     a->dhmlp,    a->lora_dh};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->ops->free(be, bufs[i]);
  free(a->layers);
  memset(a, 0, sizeof *a);
}

/* ---- one layer, shared by training and inference ------------------------- */

/* Where a layer reads and writes. Training points each field at that layer's
 * saved activations; inference reuses one scratch set for every layer. */
typedef struct {
  void *x, *ln1, *q, *k, *v, *att, *x2, *ln2, *gate, *up, *hmlp, *tmp_c;
  float *rstd1, *rstd2, *lse;
  float *const *lora_h;   /* [SEAL_LORA_N_TARGETS] of [N, r] */
  const int32_t *pos;     /* [N] RoPE positions */
  const int32_t *q_pos;   /* [B] first query position per sequence */
  const int *seq_adapter; /* host [B] adapter per sequence (multi-adapter LoRA), or NULL */
  void *kcache, *vcache;  /* keys/values attention reads: [B, Tk, Hkv*D] */
  int B, Tq, Tk;
  int cache_write; /* 1: copy k, v into kcache/vcache at q_pos (inference) */
} layer_io;

/* Rows [b*T, (b+1)*T) of a [N, width] tensor. */
static const void *rows_of(const seal_model *m, const void *p, int b, int T, int width) {
  return (const char *)p + (size_t)b * T * width * seal_act_size(m->be);
}

/* y [N, out] = x [N, in] W^T (+ bias) (+ LoRA). With several adapters each of
 * the B sequences (T rows each) adds its own adapter's update: the base GEMM is
 * shared, the LoRA products are per sequence. */
static void project(seal_model *m, const seal_lora *lora, int l, seal_lora_target t, void *y,
                    const void *x, const void *bias, float *lora_h, int N, int B,
                    const int *seq_adapter) {
  int out, in;
  void *W = seal_lora_base_weight(m, l, t, &out, &in);
  OPS(m)->matmul(m->be, y, x, W, bias, N, in, out);
  if (!seal_lora_has(lora, l, t)) return;
  if (lora->n_adapters == 1 && !seq_adapter) {
    OPS(m)->lora_forward(m->be, y, lora_h, x, seal_lora_A(lora, l, t), seal_lora_B(lora, l, t), N,
                         in, out, lora->r, lora->scale);
    return;
  }
  int T = N / B;
  for (int b = 0; b < B; b++) {
    int g = seq_adapter ? seq_adapter[b] : 0;
    if (g < 0) continue;
    OPS(m)->lora_forward(m->be, (void *)rows_of(m, y, b, T, out), lora_h + (size_t)b * T * lora->r,
                         rows_of(m, x, b, T, in), seal_lora_A_of(lora, g, l, t),
                         seal_lora_B_of(lora, g, l, t), T, in, out, lora->r, lora->scale);
  }
}

/* x [N, C] -> x_out [N, C]; ln1 must already hold rmsnorm(x). With next_norm,
 * the residual add that ends the layer is fused with the next RMSNorm:
 * next_ln [N, C] = rmsnorm(x_out) * next_norm (next_rstd [N] kept when not
 * NULL), one launch instead of two (the same arithmetic on every backend). */
static void layer_forward(seal_model *m, const seal_lora *lora, int l, const layer_io *io,
                          void *x_out, const void *next_norm, void *next_ln, float *next_rstd) {
  const seal_model_config *c = &m->cfg;
  const seal_ops *o = OPS(m);
  seal_layer *L = &m->layers[l];
  int N = io->B * io->Tq, C = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
  project(m, lora, l, SEAL_LORA_Q, io->q, io->ln1, L->bq, io->lora_h[SEAL_LORA_Q], N, io->B,
          io->seq_adapter);
  project(m, lora, l, SEAL_LORA_K, io->k, io->ln1, L->bk, io->lora_h[SEAL_LORA_K], N, io->B,
          io->seq_adapter);
  project(m, lora, l, SEAL_LORA_V, io->v, io->ln1, L->bv, io->lora_h[SEAL_LORA_V], N, io->B,
          io->seq_adapter);
  o->rope(m->be, io->q, io->pos, m->inv_freq, N, Hq, D, +1);
  o->rope(m->be, io->k, io->pos, m->inv_freq, N, Hkv, D, +1);
  if (io->cache_write) {
    o->kv_write(m->be, io->kcache, io->k, io->q_pos, io->B, io->Tq, io->Tk, Hkv * D);
    o->kv_write(m->be, io->vcache, io->v, io->q_pos, io->B, io->Tq, io->Tk, Hkv * D);
  }
  o->attention(m->be, io->att, io->lse, io->q, io->kcache, io->vcache, io->q_pos, io->B, io->Tq,
               io->Tk, Hq, Hkv, D);
  project(m, lora, l, SEAL_LORA_O, io->tmp_c, io->att, NULL, io->lora_h[SEAL_LORA_O], N, io->B,
          io->seq_adapter);
  o->residual_rmsnorm(m->be, io->x2, io->ln2, io->rstd2, io->x, io->tmp_c, L->mlp_norm, N, C,
                      c->rms_eps);
  project(m, lora, l, SEAL_LORA_GATE, io->gate, io->ln2, NULL, io->lora_h[SEAL_LORA_GATE], N, io->B,
          io->seq_adapter);
  project(m, lora, l, SEAL_LORA_UP, io->up, io->ln2, NULL, io->lora_h[SEAL_LORA_UP], N, io->B,
          io->seq_adapter);
  o->swiglu(m->be, io->hmlp, io->gate, io->up, (size_t)N * c->intermediate);
  project(m, lora, l, SEAL_LORA_DOWN, io->tmp_c, io->hmlp, NULL, io->lora_h[SEAL_LORA_DOWN], N,
          io->B, io->seq_adapter);
  if (next_norm)
    o->residual_rmsnorm(m->be, x_out, next_ln, next_rstd, io->x2, io->tmp_c, next_norm, N, C,
                        c->rms_eps);
  else
    o->add(m->be, x_out, io->x2, io->tmp_c, (size_t)N * C);
}

/* ---- training ------------------------------------------------------------ */

static layer_io train_io(seal_train_acts *a, int l) {
  seal_layer_acts *L = &a->layers[l];
  layer_io io = {.x = L->x,
                 .ln1 = L->ln1,
                 .q = L->q,
                 .k = L->k,
                 .v = L->v,
                 .att = L->att,
                 .x2 = L->x2,
                 .ln2 = L->ln2,
                 .gate = L->gate,
                 .up = L->up,
                 .hmlp = L->hmlp,
                 .tmp_c = a->tmp_c,
                 .rstd1 = L->rstd1,
                 .rstd2 = L->rstd2,
                 .lse = L->lse,
                 .lora_h = L->lora_h,
                 .pos = a->pos,
                 .q_pos = a->q_pos,
                 .seq_adapter = a->seq_adapter,
                 .kcache = L->k,
                 .vcache = L->v,
                 .B = a->B,
                 .Tq = a->T,
                 .Tk = a->T,
                 .cache_write = 0};
  return io;
}

/* Token ids index the embedding table: one out of range would read past it. */
static void check_ids(const seal_model *m, const int32_t *ids, int N, const char *what) {
  for (int n = 0; n < N; n++)
    SEAL_CHECK(ids[n] >= 0 && ids[n] < m->cfg.vocab_size, "%s id %d at row %d is outside [0, %d)",
               what, ids[n], n, m->cfg.vocab_size);
}

static void upload_batch(seal_model *m, seal_train_acts *a, const int32_t *ids,
                         const int32_t *targets, const float *weights, int N) {
  const seal_ops *o = OPS(m);
  check_ids(m, ids, N, "token");
  if (targets) check_ids(m, targets, N, "target");
  int32_t *pos = seal_malloc((size_t)N * sizeof(int32_t));
  for (int n = 0; n < N; n++) pos[n] = n % a->T;
  o->to_device_i32(m->be, a->ids, ids, (size_t)N);
  o->to_device_i32(m->be, a->pos, pos, (size_t)N);
  o->fill(m->be, a->q_pos, SEAL_I32, 0.0f, (size_t)a->B);
  if (targets) {
    o->to_device_i32(m->be, a->targets, targets, (size_t)N);
    o->to_device(m->be, a->weights, SEAL_F32, weights, (size_t)N);
  }
  free(pos);
}

double seal_forward_train(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                          const int32_t *ids, const int32_t *targets, const float *weights, int B,
                          int T) {
  const seal_model_config *c = &m->cfg;
  const seal_ops *o = OPS(m);
  SEAL_CHECK(B * T <= a->cap_rows && T <= a->cap_T,
             "batch %dx%d exceeds the activations' capacity (%d rows, T <= %d)", B, T, a->cap_rows,
             a->cap_T);
  SEAL_CHECK(!lora || lora->r <= a->r_max, "LoRA rank %d exceeds activations' %d", lora->r,
             a->r_max);
  a->B = B, a->T = T;
  int N = B * T, C = c->hidden;
  upload_batch(m, a, ids, targets, weights, N);
  o->embedding(m->be, a->layers[0].x, a->ids, m->embed, N, C);
  o->rmsnorm(m->be, a->layers[0].ln1, a->layers[0].rstd1, a->layers[0].x, m->layers[0].attn_norm, N,
             C, c->rms_eps);
  for (int l = 0; l < c->n_layers; l++) {
    layer_io io = train_io(a, l);
    /* each layer ends with the next one's RMSNorm (the final norm after the last) */
    if (l + 1 < c->n_layers) {
      seal_layer_acts *next = &a->layers[l + 1];
      layer_forward(m, lora, l, &io, next->x, m->layers[l + 1].attn_norm, next->ln1, next->rstd1);
    } else {
      layer_forward(m, lora, l, &io, a->x_final, m->final_norm, a->ln_final, a->rstd_final);
    }
  }
  o->matmul(m->be, a->logits, a->ln_final, m->lm_head, NULL, N, C, c->vocab_size);
  if (!targets) return 0.0;
  /* losses and, in place, dlogits: the backward starts from them */
  o->cross_entropy(m->be, a->losses, a->logits, a->logits, a->targets, a->weights, N, c->vocab_size,
                   1.0f);
  float *losses = seal_malloc((size_t)N * sizeof(float));
  o->to_host(m->be, losses, a->losses, SEAL_F32, (size_t)N);
  double loss = 0;
  for (int n = 0; n < N; n++) loss += (double)weights[n] * losses[n];
  free(losses);
  return loss;
}

void seal_train_losses_to_host(seal_model *m, seal_train_acts *a, float *out) {
  OPS(m)->to_host(m->be, out, a->losses, SEAL_F32, (size_t)a->B * a->T);
}

/* dx [N, in] (+= when accumulate) from dy [N, out] through W and the adapter
 * (or each sequence's adapter, as in project). */
static void project_backward(seal_model *m, seal_lora *lora, seal_train_acts *a, int l,
                             seal_lora_target t, void *dx, const void *dy, const void *x,
                             const float *lora_h, int accumulate) {
  int out, in, N = a->B * a->T;
  float *dh = a->lora_dh;
  void *W = seal_lora_base_weight(m, l, t, &out, &in);
  OPS(m)->matmul_backward_input(m->be, dx, dy, W, N, in, out, accumulate);
  if (!seal_lora_has(lora, l, t)) return;
  if (lora->n_adapters == 1 && !a->seq_adapter) {
    OPS(m)->lora_backward(m->be, dx, seal_lora_dA(lora, l, t), seal_lora_dB(lora, l, t), dh, dy, x,
                          seal_lora_A(lora, l, t), seal_lora_B(lora, l, t), lora_h, N, in, out,
                          lora->r, lora->scale);
    return;
  }
  int T = a->T;
  size_t hr = (size_t)T * lora->r;
  for (int b = 0; b < a->B; b++) {
    int g = a->seq_adapter ? a->seq_adapter[b] : 0;
    if (g < 0) continue;
    OPS(m)->lora_backward(m->be, (void *)rows_of(m, dx, b, T, in), seal_lora_dA_of(lora, g, l, t),
                          seal_lora_dB_of(lora, g, l, t), dh + b * hr, rows_of(m, dy, b, T, out),
                          rows_of(m, x, b, T, in), seal_lora_A_of(lora, g, l, t),
                          seal_lora_B_of(lora, g, l, t), lora_h + b * hr, T, in, out, lora->r,
                          lora->scale);
  }
}

/* a->dres holds d loss / d x_out; leaves d loss / d x (the layer's input). */
static void layer_backward(seal_model *m, seal_lora *lora, seal_train_acts *a, int l) {
  const seal_model_config *c = &m->cfg;
  const seal_ops *o = OPS(m);
  seal_layer_acts *L = &a->layers[l];
  seal_layer *W = &m->layers[l];
  int N = a->B * a->T, C = c->hidden, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
  /* MLP: x_out = x2 + down(swiglu(gate(ln2), up(ln2))) */
  project_backward(m, lora, a, l, SEAL_LORA_DOWN, a->dhmlp, a->dres, L->hmlp,
                   L->lora_h[SEAL_LORA_DOWN], 0);
  o->swiglu_backward(m->be, a->dgate, a->dup, a->dhmlp, L->gate, L->up,
                     (size_t)N * c->intermediate);
  project_backward(m, lora, a, l, SEAL_LORA_GATE, a->dln, a->dgate, L->ln2,
                   L->lora_h[SEAL_LORA_GATE], 0);
  project_backward(m, lora, a, l, SEAL_LORA_UP, a->dln, a->dup, L->ln2, L->lora_h[SEAL_LORA_UP], 1);
  o->rmsnorm_backward(m->be, a->dres, a->dln, L->x2, W->mlp_norm, L->rstd2, N, C);
  /* attention: x2 = x + o_proj(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))) */
  project_backward(m, lora, a, l, SEAL_LORA_O, a->datt, a->dres, L->att, L->lora_h[SEAL_LORA_O], 0);
  o->attention_backward(m->be, a->dq, a->dk, a->dv, a->datt, L->att, L->lse, L->q, L->k, L->v, a->B,
                        a->T, Hq, Hkv, D);
  o->rope(m->be, a->dq, a->pos, m->inv_freq, N, Hq, D, -1);
  o->rope(m->be, a->dk, a->pos, m->inv_freq, N, Hkv, D, -1);
  project_backward(m, lora, a, l, SEAL_LORA_Q, a->dln, a->dq, L->ln1, L->lora_h[SEAL_LORA_Q], 0);
  project_backward(m, lora, a, l, SEAL_LORA_K, a->dln, a->dk, L->ln1, L->lora_h[SEAL_LORA_K], 1);
  project_backward(m, lora, a, l, SEAL_LORA_V, a->dln, a->dv, L->ln1, L->lora_h[SEAL_LORA_V], 1);
  o->rmsnorm_backward(m->be, a->dres, a->dln, L->x, W->attn_norm, L->rstd1, N, C);
}

void seal_backward_train(seal_model *m, seal_lora *lora, seal_train_acts *a) {
  const seal_model_config *c = &m->cfg;
  const seal_ops *o = OPS(m);
  int N = a->B * a->T, C = c->hidden;
  /* a->logits already holds dlogits (cross_entropy wrote it in place) */
  o->matmul_backward_input(m->be, a->dln, a->logits, m->lm_head, N, C, c->vocab_size, 0);
  o->fill(m->be, a->dres, m->be->act, 0.0f, (size_t)N * C);
  o->rmsnorm_backward(m->be, a->dres, a->dln, a->x_final, m->final_norm, a->rstd_final, N, C);
  /* The first layer's input gradient is not needed: embeddings are frozen. */
  for (int l = c->n_layers - 1; l >= 0; l--) layer_backward(m, lora, a, l);
}

/* ---- cached inference ---------------------------------------------------- */

static void kv_scratch_grow(seal_kv_cache *c, const seal_model *m, int rows) {
  if (rows <= c->max_rows) return;
  seal_backend *be = m->be;
  void *old[] = {c->x,     c->ln,   c->q,  c->kk,     c->vv,  c->att,
                 c->tmp_c, c->gate, c->up, c->lora_h, c->ids, c->pos};
  for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
    if (old[i]) be->ops->free(be, old[i]);
  const seal_model_config *cf = &m->cfg;
  size_t R = (size_t)rows, C = cf->hidden, I = cf->intermediate;
  size_t QD = (size_t)cf->n_heads * cf->head_dim, KD = (size_t)cf->n_kv_heads * cf->head_dim;
  c->x = act_alloc(m, R * C);
  c->ln = act_alloc(m, R * C);
  c->q = act_alloc(m, R * QD);
  c->kk = act_alloc(m, R * KD);
  c->vv = act_alloc(m, R * KD);
  c->att = act_alloc(m, R * QD);
  c->tmp_c = act_alloc(m, R * C);
  c->gate = act_alloc(m, R * I);
  c->up = act_alloc(m, R * I);
  c->lora_h = f32_alloc(m, R * (size_t)(c->r_max > 0 ? c->r_max : 1));
  c->ids = i32_alloc(m, R);
  c->pos = i32_alloc(m, R);
  c->max_rows = rows;
}

void seal_kv_cache_create(seal_kv_cache *c, const seal_model *m, int slots, int Tmax, int r_max) {
  memset(c, 0, sizeof *c);
  const seal_model_config *cf = &m->cfg;
  c->slots = slots, c->Tmax = Tmax, c->r_max = r_max;
  size_t KD = (size_t)cf->n_kv_heads * cf->head_dim;
  c->k = seal_calloc((size_t)cf->n_layers, sizeof *c->k);
  c->v = seal_calloc((size_t)cf->n_layers, sizeof *c->v);
  for (int l = 0; l < cf->n_layers; l++) {
    c->k[l] = act_alloc(m, (size_t)slots * Tmax * KD);
    c->v[l] = act_alloc(m, (size_t)slots * Tmax * KD);
  }
  c->q_pos = i32_alloc(m, (size_t)slots);
  c->last = act_alloc(m, (size_t)slots * cf->hidden);
  c->logits = act_alloc(m, (size_t)slots * cf->vocab_size);
  kv_scratch_grow(c, m, slots);
}

void seal_kv_cache_free(seal_kv_cache *c, const seal_model *m) {
  if (!c->k) return;
  seal_backend *be = m->be;
  for (int l = 0; l < m->cfg.n_layers; l++) {
    be->ops->free(be, c->k[l]);
    be->ops->free(be, c->v[l]);
  }
  free(c->k);
  free(c->v);
  void *bufs[] = {c->x,  c->ln,     c->q,   c->kk,  c->vv,    c->att,  c->tmp_c, c->gate,
                  c->up, c->lora_h, c->ids, c->pos, c->q_pos, c->last, c->logits};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    if (bufs[i]) be->ops->free(be, bufs[i]);
  memset(c, 0, sizeof *c);
}

void seal_forward_infer(seal_model *m, const seal_lora *lora, seal_kv_cache *c, const int32_t *ids,
                        const int32_t *q_pos, int slot0, int B, int Tq) {
  const seal_model_config *cf = &m->cfg;
  const seal_ops *o = OPS(m);
  int N = B * Tq, C = cf->hidden, KD = cf->n_kv_heads * cf->head_dim;
  SEAL_CHECK(slot0 >= 0 && slot0 + B <= c->slots, "cache slots %d..%d out of %d", slot0, slot0 + B,
             c->slots);
  SEAL_CHECK(!lora || lora->r <= c->r_max, "LoRA rank %d exceeds the cache's %d", lora->r,
             c->r_max);
  for (int b = 0; b < B; b++)
    SEAL_CHECK(q_pos[b] >= 0 && q_pos[b] + Tq <= c->Tmax,
               "sequence %d would reach position %d, the cache holds %d", b, q_pos[b] + Tq,
               c->Tmax);
  kv_scratch_grow(c, m, N);
  check_ids(m, ids, N, "token");
  int32_t *pos = seal_malloc((size_t)N * sizeof(int32_t));
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tq; t++) pos[b * Tq + t] = q_pos[b] + t;
  o->to_device_i32(m->be, c->ids, ids, (size_t)N);
  o->to_device_i32(m->be, c->pos, pos, (size_t)N);
  o->to_device_i32(m->be, c->q_pos, q_pos, (size_t)B);
  free(pos);
  /* Every projection's LoRA shares one h scratch: inference keeps no activations. */
  float *lora_h[SEAL_LORA_N_TARGETS];
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) lora_h[t] = c->lora_h;
  size_t slot_off = (size_t)slot0 * c->Tmax * KD * seal_act_size(m->be);
  o->embedding(m->be, c->x, c->ids, m->embed, N, C);
  o->rmsnorm(m->be, c->ln, NULL, c->x, m->layers[0].attn_norm, N, C, cf->rms_eps);
  for (int l = 0; l < cf->n_layers; l++) {
    layer_io io = {.x = c->x,
                   .ln1 = c->ln,
                   .q = c->q,
                   .k = c->kk,
                   .v = c->vv,
                   .att = c->att,
                   .x2 = c->x,
                   .ln2 = c->ln,
                   .gate = c->gate,
                   .up = c->up,
                   .hmlp = c->gate,
                   .tmp_c = c->tmp_c,
                   .rstd1 = NULL,
                   .rstd2 = NULL,
                   .lse = NULL,
                   .lora_h = lora_h,
                   .pos = c->pos,
                   .q_pos = c->q_pos,
                   .seq_adapter = c->slot_adapter ? c->slot_adapter + slot0 : NULL,
                   .kcache = (char *)c->k[l] + slot_off,
                   .vcache = (char *)c->v[l] + slot_off,
                   .B = B,
                   .Tq = Tq,
                   .Tk = c->Tmax,
                   .cache_write = 1};
    /* the next layer's RMSNorm rides on this one's residual add; the last
     * layer's output is normalised below, for the last rows only */
    int last = l + 1 == cf->n_layers;
    layer_forward(m, lora, l, &io, c->x, last ? NULL : m->layers[l + 1].attn_norm, c->ln, NULL);
  }
  /* Only each sequence's last new token needs logits. */
  size_t row_bytes = (size_t)C * seal_act_size(m->be);
  for (int b = 0; b < B; b++)
    o->copy(m->be, (char *)c->last + (size_t)b * row_bytes,
            (char *)c->x + ((size_t)b * Tq + Tq - 1) * row_bytes, row_bytes);
  o->rmsnorm(m->be, c->ln, NULL, c->last, m->final_norm, B, C, cf->rms_eps);
  o->matmul(m->be, c->logits, c->ln, m->lm_head, NULL, B, C, cf->vocab_size);
}
