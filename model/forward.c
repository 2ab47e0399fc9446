/* model/forward.c — the decoder graph, forward (training and cached inference)
 * and the LoRA backward. One graph for every backend: each step is an op of
 * kernels/ops.h. Shapes: N token rows (a training batch's sequences packed end
 * to end; B*Tq at inference), C hidden, I MLP width, Hq/Hkv heads
 * of width D, V vocabulary, r LoRA rank. Names: m the model, w a layer's
 * weights, a the training activations (la one layer's), kv the KV cache, cfg
 * the model's config, l a layer index, t a LoRA target. */
#include <stdlib.h>
#include <string.h>

#include "model/decode_graphs.h"
#include "model/graph.h"

#define OPS(m) ((m)->be->ops)

/* ---- buffers, from the lists of graph.h ------------------------------------- */

/* The sizes the lists' element counts are written in. */
typedef struct {
  size_t N;                 /* a training batch's token rows */
  size_t slots, Tmax, rows; /* a KV cache and its scratch */
  size_t C, Hq, Hkv, D, I, V, r_max;
} buf_sizes;

static buf_sizes sizes_of(const seal_model *m, int r_max) {
  const seal_model_config *cfg = &m->cfg;
  return (buf_sizes){.C = (size_t)cfg->hidden,
                     .Hq = (size_t)cfg->n_heads,
                     .Hkv = (size_t)cfg->n_kv_heads,
                     .D = (size_t)cfg->head_dim,
                     .I = (size_t)cfg->intermediate,
                     .V = (size_t)cfg->vocab_size,
                     .r_max = (size_t)(r_max > 0 ? r_max : 0)};
}

static void *alloc_act(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * seal_act_size(m->be));
}
static float *alloc_f32(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * sizeof(float));
}
static int32_t *alloc_i32(const seal_model *m, size_t n) {
  return m->be->ops->alloc(m->be, (n ? n : 1) * sizeof(int32_t));
}
static void free_buf(const seal_model *m, void *p) {
  if (p) m->be->ops->free(m->be, p);
}

/* <name>_alloc and <name>_free of every buffer of a list, into struct s. The
 * sizes are locals so that the lists' counts read as shapes. */
#define ALLOC_(field, elem, count) s->field = alloc_##elem(m, count);
#define FREE_(field, elem, count) free_buf(m, s->field), s->field = NULL;
#define BUFFERS(name, type, LIST)                                                                \
  static void name##_alloc(type *s, const seal_model *m, buf_sizes z) {                          \
    __attribute__((unused)) const size_t N = z.N, slots = z.slots, Tmax = z.Tmax, rows = z.rows, \
                                         C = z.C, Hq = z.Hq, Hkv = z.Hkv, D = z.D, I = z.I,      \
                                         V = z.V, r_max = z.r_max, NT = SEAL_LORA_N_TARGETS;     \
    LIST(ALLOC_)                                                                                 \
  }                                                                                              \
  static void name##_free(type *s, const seal_model *m) { LIST(FREE_) }

BUFFERS(layer_acts, seal_layer_acts, SEAL_LAYER_ACTS)
BUFFERS(train_bufs, seal_train_acts, SEAL_TRAIN_ACTS)
BUFFERS(kv_layer, seal_kv_layer, SEAL_KV_LAYER)
BUFFERS(kv_slots, seal_kv_cache, SEAL_KV_SLOTS)
BUFFERS(kv_scratch, seal_kv_cache, SEAL_KV_SCRATCH)

void seal_train_acts_create(seal_train_acts *a, const seal_model *m, int rows, int r_max) {
  SEAL_CHECK(rows > 0, "training activations for %d rows", rows);
  memset(a, 0, sizeof *a);
  a->r_max = r_max;
  a->cap_rows = rows;
  a->host_seq_start = seal_calloc((size_t)rows + 1, sizeof(int));
  buf_sizes z = sizes_of(m, r_max);
  z.N = (size_t)rows;
  a->layers = seal_calloc((size_t)m->cfg.n_layers, sizeof *a->layers);
  for (int l = 0; l < m->cfg.n_layers; l++) layer_acts_alloc(&a->layers[l], m, z);
  train_bufs_alloc(a, m, z);
}

void seal_train_acts_free(seal_train_acts *a, const seal_model *m) {
  if (!a->layers) return;
  for (int l = 0; l < m->cfg.n_layers; l++) layer_acts_free(&a->layers[l], m);
  train_bufs_free(a, m);
  free(a->layers);
  free(a->host_seq_start);
  memset(a, 0, sizeof *a);
}

/* ---- one layer, shared by training and inference ------------------------- */

/* Where a layer reads and writes. Training points each field at that layer's
 * saved activations; inference reuses one scratch set for every layer. */
typedef struct {
  void *x, *ln1, *q, *k, *v, *att, *x2, *ln2, *gate, *up, *hmlp, *tmp_c;
  float *rstd1, *rstd2, *lse;
  float *lora_h[SEAL_LORA_N_TARGETS]; /* [N, r] each */
  const int32_t *pos;                 /* [N] RoPE positions */
  int N, n_seq;                       /* token rows; sequences */
  const int *row_start;   /* host [n_seq + 1] each sequence's first row (grouped LoRA) */
  const int *seq_adapter; /* host [n_seq] adapter per sequence (multi-adapter LoRA), or NULL */
  /* training (packed sequences, each attending to itself): */
  const int32_t *seq_start; /* [n_seq + 1] row_start on the backend; NULL at inference */
  int max_len;              /* the longest sequence */
  /* inference (n_seq sequences of Tq new tokens each, after their cached ones): */
  const int32_t *q_pos;  /* [n_seq] first query position per sequence */
  void *kcache, *vcache; /* keys/values attention reads: [n_seq, Tk, Hkv*D] */
  int Tq, Tk;
} layer_io;

/* y [N, out] = x [N, in] W^T (+ bias) (+ LoRA). With several adapters each of
 * the n_seq sequences (rows row_start[s] ..) adds its own adapter's update: the
 * base GEMM is shared, the LoRA products are one per adapter
 * (lora_forward_grouped). */
static void project(seal_model *m, const seal_lora *lora, int l, seal_lora_target t, void *y,
                    const void *x, const void *bias, float *lora_h, int N, int n_seq,
                    const int *row_start, const int *seq_adapter) {
  int out, in;
  void *W = seal_lora_base_weight(m, l, t, &out, &in);
  OPS(m)->matmul(m->be, y, x, W, bias, N, in, out);
  if (!seal_lora_has(lora, l, t)) return;
  if (!seq_adapter) { /* adapter 0 for every row */
    OPS(m)->lora_forward(m->be, y, lora_h, x, seal_lora_A(lora, l, t), seal_lora_B(lora, l, t), N,
                         in, out, lora->r, lora->scale);
    return;
  }
  OPS(m)->lora_forward_grouped(m->be, y, lora_h, x, seal_lora_A(lora, l, t),
                               seal_lora_B(lora, l, t), lora->n_per, seq_adapter, row_start, n_seq,
                               in, out, lora->r, lora->scale);
}

/* project() for target t of layer l with io's LoRA scratch and adapters. */
static void project_io(seal_model *m, const seal_lora *lora, int l, const layer_io *io,
                       seal_lora_target t, void *y, const void *x, const void *bias) {
  project(m, lora, l, t, y, x, bias, io->lora_h[t], io->N, io->n_seq, io->row_start,
          io->seq_adapter);
}

/* x [N, C] -> x_out [N, C]; ln1 must already hold rmsnorm(x). With next_norm,
 * the residual add that ends the layer is fused with the next RMSNorm:
 * next_ln [N, C] = rmsnorm(x_out) * next_norm (next_rstd [N] kept when not
 * NULL), one launch instead of two (the same arithmetic on every backend). */
static void layer_forward(seal_model *m, const seal_lora *lora, int l, const layer_io *io,
                          void *x_out, const void *next_norm, void *next_ln, float *next_rstd) {
  const seal_model_config *cfg = &m->cfg;
  const seal_ops *o = OPS(m);
  const seal_layer *w = &m->layers[l];
  int N = io->N, C = cfg->hidden, D = cfg->head_dim, Hq = cfg->n_heads, Hkv = cfg->n_kv_heads;
  project_io(m, lora, l, io, SEAL_LORA_Q, io->q, io->ln1, w->bq);
  project_io(m, lora, l, io, SEAL_LORA_K, io->k, io->ln1, w->bk);
  project_io(m, lora, l, io, SEAL_LORA_V, io->v, io->ln1, w->bv);
  o->rope(m->be, io->q, io->pos, m->inv_freq, N, Hq, D, +1);
  o->rope(m->be, io->k, io->pos, m->inv_freq, N, Hkv, D, +1);
  if (io->seq_start) { /* training: each packed sequence attends to itself */
    o->attention_varlen(m->be, io->att, io->lse, io->q, io->k, io->v, io->seq_start, io->n_seq,
                        io->max_len, Hq, Hkv, D);
  } else { /* inference: the new keys join the cache, the queries read it */
    o->kv_write(m->be, io->kcache, io->k, io->q_pos, io->n_seq, io->Tq, io->Tk, Hkv * D);
    o->kv_write(m->be, io->vcache, io->v, io->q_pos, io->n_seq, io->Tq, io->Tk, Hkv * D);
    o->attention(m->be, io->att, io->lse, io->q, io->kcache, io->vcache, io->q_pos, io->n_seq,
                 io->Tq, io->Tk, Hq, Hkv, D);
  }
  project_io(m, lora, l, io, SEAL_LORA_O, io->tmp_c, io->att, NULL);
  o->residual_rmsnorm(m->be, io->x2, io->ln2, io->rstd2, io->x, io->tmp_c, w->mlp_norm, N, C,
                      cfg->rms_eps);
  project_io(m, lora, l, io, SEAL_LORA_GATE, io->gate, io->ln2, NULL);
  project_io(m, lora, l, io, SEAL_LORA_UP, io->up, io->ln2, NULL);
  o->swiglu(m->be, io->hmlp, io->gate, io->up, (size_t)N * cfg->intermediate);
  project_io(m, lora, l, io, SEAL_LORA_DOWN, io->tmp_c, io->hmlp, NULL);
  if (next_norm)
    o->residual_rmsnorm(m->be, x_out, next_ln, next_rstd, io->x2, io->tmp_c, next_norm, N, C,
                        cfg->rms_eps);
  else
    o->add(m->be, x_out, io->x2, io->tmp_c, (size_t)N * C);
}

/* ---- training ------------------------------------------------------------ */

/* Target t's x A^T [N, r] in a layer's lora_h [SEAL_LORA_N_TARGETS, N, r_max]. */
static float *lora_h_of(const seal_train_acts *a, const seal_layer_acts *la, int t) {
  return la->lora_h + (size_t)t * a->cap_rows * a->r_max;
}

static layer_io train_io(seal_train_acts *a, int l) {
  seal_layer_acts *la = &a->layers[l];
  layer_io io = {.x = la->x,
                 .ln1 = la->ln1,
                 .q = la->q,
                 .k = la->k,
                 .v = la->v,
                 .att = la->att,
                 .x2 = la->x2,
                 .ln2 = la->ln2,
                 .gate = la->gate,
                 .up = la->up,
                 .hmlp = la->hmlp,
                 .tmp_c = a->tmp_c,
                 .rstd1 = la->rstd1,
                 .rstd2 = la->rstd2,
                 .lse = la->lse,
                 .pos = a->pos,
                 .N = a->N,
                 .n_seq = a->n_seq,
                 .row_start = a->host_seq_start,
                 .seq_adapter = a->seq_adapter,
                 .seq_start = a->seq_start,
                 .max_len = a->max_len};
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) io.lora_h[t] = lora_h_of(a, la, t);
  return io;
}

/* Token ids index the embedding table: one out of range would read past it. */
static void check_ids(const seal_model *m, const int32_t *ids, int N, const char *what) {
  for (int n = 0; n < N; n++)
    SEAL_CHECK(ids[n] >= 0 && ids[n] < m->cfg.vocab_size, "%s id %d at row %d is outside [0, %d)",
               what, ids[n], n, m->cfg.vocab_size);
}

/* The batch's layout into a: its sizes, seq_start (host and backend) and each
 * row's position within its sequence. */
static void upload_layout(seal_model *m, seal_train_acts *a, const int *seq_start, int n_seq) {
  SEAL_CHECK(n_seq > 0 && seq_start[0] == 0, "a training batch of %d sequences from row %d", n_seq,
             n_seq > 0 ? seq_start[0] : 0);
  int N = seq_start[n_seq], longest = 0;
  SEAL_CHECK(N <= a->cap_rows, "a batch of %d rows exceeds the activations' capacity (%d rows)", N,
             a->cap_rows);
  _Static_assert(sizeof(int) == sizeof(int32_t), "host_seq_start goes to the backend as i32");
  int32_t *pos = seal_malloc((size_t)N * sizeof(int32_t)), *starts = (int32_t *)a->host_seq_start;
  for (int s = 0; s < n_seq; s++) {
    int len = seq_start[s + 1] - seq_start[s];
    SEAL_CHECK(len >= 1, "sequence %d of a training batch has %d tokens", s, len);
    if (len > longest) longest = len;
    for (int t = 0; t < len; t++) pos[seq_start[s] + t] = t;
  }
  memcpy(starts, seq_start, ((size_t)n_seq + 1) * sizeof(int));
  a->N = N, a->n_seq = n_seq, a->max_len = longest;
  OPS(m)->to_device_i32(m->be, a->pos, pos, (size_t)N);
  OPS(m)->to_device_i32(m->be, a->seq_start, starts, (size_t)n_seq + 1);
  free(pos);
}

static void upload_batch(seal_model *m, seal_train_acts *a, const int32_t *ids,
                         const int32_t *targets, const float *weights, int N) {
  const seal_ops *o = OPS(m);
  check_ids(m, ids, N, "token");
  if (targets) check_ids(m, targets, N, "target");
  o->to_device_i32(m->be, a->ids, ids, (size_t)N);
  if (targets) {
    o->to_device_i32(m->be, a->targets, targets, (size_t)N);
    o->to_device(m->be, a->weights, SEAL_F32, weights, (size_t)N);
  }
}

/* sum_n weights[n] * CE_n of the last forward, on the host. */
static double weighted_loss(seal_model *m, seal_train_acts *a, const float *weights, int N) {
  float *losses = seal_malloc((size_t)N * sizeof(float));
  OPS(m)->to_host(m->be, losses, a->losses, SEAL_F32, (size_t)N);
  double loss = 0;
  for (int n = 0; n < N; n++) loss += (double)weights[n] * losses[n];
  free(losses);
  return loss;
}

double seal_forward_train_packed(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                                 const int32_t *ids, const int32_t *targets, const float *weights,
                                 const int *seq_start, int n_seq) {
  const seal_model_config *cfg = &m->cfg;
  const seal_ops *o = OPS(m);
  SEAL_CHECK(!lora || lora->r <= a->r_max, "LoRA rank %d exceeds activations' %d", lora->r,
             a->r_max);
  upload_layout(m, a, seq_start, n_seq);
  int N = a->N, C = cfg->hidden;
  upload_batch(m, a, ids, targets, weights, N);
  o->embedding(m->be, a->layers[0].x, a->ids, m->embed, N, C);
  o->rmsnorm(m->be, a->layers[0].ln1, a->layers[0].rstd1, a->layers[0].x, m->layers[0].attn_norm, N,
             C, cfg->rms_eps);
  for (int l = 0; l < cfg->n_layers; l++) {
    layer_io io = train_io(a, l);
    /* each layer ends with the next one's RMSNorm (the final norm after the last) */
    if (l + 1 < cfg->n_layers) {
      seal_layer_acts *next = &a->layers[l + 1];
      layer_forward(m, lora, l, &io, next->x, m->layers[l + 1].attn_norm, next->ln1, next->rstd1);
    } else {
      layer_forward(m, lora, l, &io, a->x_final, m->final_norm, a->ln_final, a->rstd_final);
    }
  }
  o->matmul(m->be, a->logits, a->ln_final, m->lm_head, NULL, N, C, cfg->vocab_size);
  if (!targets) return 0.0;
  /* losses and, in place, dlogits: the backward starts from them */
  o->cross_entropy(m->be, a->losses, a->logits, a->logits, a->targets, a->weights, N,
                   cfg->vocab_size, 1.0f);
  return weighted_loss(m, a, weights, N);
}

double seal_forward_train(seal_model *m, const seal_lora *lora, seal_train_acts *a,
                          const int32_t *ids, const int32_t *targets, const float *weights, int B,
                          int T) {
  SEAL_CHECK(B > 0 && T > 0 && (long)B * T <= a->cap_rows,
             "a batch of %dx%d exceeds the activations' capacity (%d rows)", B, T, a->cap_rows);
  int *seq_start = seal_malloc(((size_t)B + 1) * sizeof(int));
  for (int b = 0; b <= B; b++) seq_start[b] = b * T;
  double loss = seal_forward_train_packed(m, lora, a, ids, targets, weights, seq_start, B);
  free(seq_start);
  return loss;
}

void seal_train_losses_to_host(seal_model *m, seal_train_acts *a, float *out) {
  OPS(m)->to_host(m->be, out, a->losses, SEAL_F32, (size_t)a->N);
}

/* dx [N, in] (+= when accumulate) from dy [N, out] through W and the adapter
 * (or each sequence's adapter, as in project). */
static void project_backward(seal_model *m, seal_lora *lora, seal_train_acts *a, int l,
                             seal_lora_target t, void *dx, const void *dy, const void *x,
                             int accumulate) {
  int out, in, N = a->N;
  float *dh = a->lora_dh, *lora_h = lora_h_of(a, &a->layers[l], t);
  void *W = seal_lora_base_weight(m, l, t, &out, &in);
  OPS(m)->matmul_backward_input(m->be, dx, dy, W, N, in, out, accumulate);
  if (!seal_lora_has(lora, l, t)) return;
  if (!a->seq_adapter) { /* adapter 0 for every row */
    OPS(m)->lora_backward(m->be, dx, seal_lora_dA(lora, l, t), seal_lora_dB(lora, l, t), dh, dy, x,
                          seal_lora_A(lora, l, t), seal_lora_B(lora, l, t), lora_h, N, in, out,
                          lora->r, lora->scale);
    return;
  }
  OPS(m)->lora_backward_grouped(m->be, dx, seal_lora_dA(lora, l, t), seal_lora_dB(lora, l, t), dh,
                                dy, x, seal_lora_A(lora, l, t), seal_lora_B(lora, l, t), lora_h,
                                lora->n_per, a->seq_adapter, a->host_seq_start, a->n_seq, in, out,
                                lora->r, lora->scale);
}

/* a->dres holds d loss / d x_out; leaves d loss / d x (the layer's input). */
static void layer_backward(seal_model *m, seal_lora *lora, seal_train_acts *a, int l) {
  const seal_model_config *cfg = &m->cfg;
  const seal_ops *o = OPS(m);
  const seal_layer_acts *la = &a->layers[l];
  const seal_layer *w = &m->layers[l];
  int N = a->N, C = cfg->hidden, D = cfg->head_dim, Hq = cfg->n_heads, Hkv = cfg->n_kv_heads;
  /* MLP: x_out = x2 + down(swiglu(gate(ln2), up(ln2))) */
  project_backward(m, lora, a, l, SEAL_LORA_DOWN, a->dhmlp, a->dres, la->hmlp, 0);
  o->swiglu_backward(m->be, a->dgate, a->dup, a->dhmlp, la->gate, la->up,
                     (size_t)N * cfg->intermediate);
  project_backward(m, lora, a, l, SEAL_LORA_GATE, a->dln, a->dgate, la->ln2, 0);
  project_backward(m, lora, a, l, SEAL_LORA_UP, a->dln, a->dup, la->ln2, 1);
  o->rmsnorm_backward(m->be, a->dres, a->dln, la->x2, w->mlp_norm, la->rstd2, N, C);
  /* attention: x2 = x + o_proj(attn(rope(q(ln1)), rope(k(ln1)), v(ln1))) */
  project_backward(m, lora, a, l, SEAL_LORA_O, a->datt, a->dres, la->att, 0);
  o->attention_backward(m->be, a->dq, a->dk, a->dv, a->datt, la->att, la->lse, la->q, la->k, la->v,
                        a->seq_start, a->n_seq, a->max_len, Hq, Hkv, D);
  o->rope(m->be, a->dq, a->pos, m->inv_freq, N, Hq, D, -1);
  o->rope(m->be, a->dk, a->pos, m->inv_freq, N, Hkv, D, -1);
  project_backward(m, lora, a, l, SEAL_LORA_Q, a->dln, a->dq, la->ln1, 0);
  project_backward(m, lora, a, l, SEAL_LORA_K, a->dln, a->dk, la->ln1, 1);
  project_backward(m, lora, a, l, SEAL_LORA_V, a->dln, a->dv, la->ln1, 1);
  o->rmsnorm_backward(m->be, a->dres, a->dln, la->x, w->attn_norm, la->rstd1, N, C);
}

void seal_backward_train(seal_model *m, seal_lora *lora, seal_train_acts *a) {
  const seal_model_config *cfg = &m->cfg;
  const seal_ops *o = OPS(m);
  int N = a->N, C = cfg->hidden;
  /* a->logits already holds dlogits (cross_entropy wrote it in place) */
  o->matmul_backward_input(m->be, a->dln, a->logits, m->lm_head, N, C, cfg->vocab_size, 0);
  o->fill(m->be, a->dres, m->be->act, 0.0f, (size_t)N * C);
  o->rmsnorm_backward(m->be, a->dres, a->dln, a->x_final, m->final_norm, a->rstd_final, N, C);
  /* The first layer's input gradient is not needed: embeddings are frozen. */
  for (int l = cfg->n_layers - 1; l >= 0; l--) layer_backward(m, lora, a, l);
}

/* ---- cached inference ---------------------------------------------------- */

static void kv_scratch_grow(seal_kv_cache *kv, const seal_model *m, int rows) {
  if (rows <= kv->max_rows) return;
  seal_decode_graphs_free(kv); /* they address the old scratch */
  kv_scratch_free(kv, m);
  buf_sizes z = sizes_of(m, kv->r_max);
  z.rows = (size_t)rows;
  kv_scratch_alloc(kv, m, z);
  kv->max_rows = rows;
}

void seal_kv_cache_create(seal_kv_cache *kv, const seal_model *m, int slots, int Tmax, int r_max) {
  memset(kv, 0, sizeof *kv);
  kv->slots = slots, kv->Tmax = Tmax, kv->r_max = r_max;
  buf_sizes z = sizes_of(m, r_max);
  z.slots = (size_t)slots, z.Tmax = (size_t)Tmax;
  kv->layers = seal_calloc((size_t)m->cfg.n_layers, sizeof *kv->layers);
  for (int l = 0; l < m->cfg.n_layers; l++) kv_layer_alloc(&kv->layers[l], m, z);
  kv_slots_alloc(kv, m, z);
  kv->row_start = seal_calloc((size_t)slots + 1, sizeof(int));
  kv_scratch_grow(kv, m, slots);
  kv->graphs_on = seal_decode_graphs_wanted(m);
}

void seal_kv_cache_free(seal_kv_cache *kv, const seal_model *m) {
  if (!kv->layers) return;
  seal_decode_graphs_free(kv);
  for (int l = 0; l < m->cfg.n_layers; l++) kv_layer_free(&kv->layers[l], m);
  free(kv->layers);
  kv_slots_free(kv, m);
  kv_scratch_free(kv, m);
  free(kv->row_start);
  memset(kv, 0, sizeof *kv);
}

void seal_kv_cache_copy_slot(seal_model *m, seal_kv_cache *kv, int src, int dst, int n_pos) {
  SEAL_CHECK(
      src >= 0 && src < kv->slots && dst >= 0 && dst < kv->slots && n_pos >= 0 && n_pos <= kv->Tmax,
      "copying %d positions of cache slot %d to %d: the cache holds %d slots of %d", n_pos, src,
      dst, kv->slots, kv->Tmax);
  if (src == dst || n_pos == 0) return;
  const size_t row = (size_t)m->cfg.n_kv_heads * m->cfg.head_dim * seal_act_size(m->be);
  const size_t slot = (size_t)kv->Tmax * row; /* bytes of one slot of k (or v) */
  for (int l = 0; l < m->cfg.n_layers; l++) {
    OPS(m)->copy(m->be, (char *)kv->layers[l].k + (size_t)dst * slot,
                 (const char *)kv->layers[l].k + (size_t)src * slot, (size_t)n_pos * row);
    OPS(m)->copy(m->be, (char *)kv->layers[l].v + (size_t)dst * slot,
                 (const char *)kv->layers[l].v + (size_t)src * slot, (size_t)n_pos * row);
  }
}

/* Refuses a call the cache cannot hold. */
static void check_infer(const seal_kv_cache *kv, const seal_lora *lora, const int32_t *q_pos,
                        int slot0, int B, int Tq) {
  SEAL_CHECK(slot0 >= 0 && slot0 + B <= kv->slots, "cache slots %d..%d out of %d", slot0, slot0 + B,
             kv->slots);
  SEAL_CHECK(!lora || lora->r <= kv->r_max, "LoRA rank %d exceeds the cache's %d", lora->r,
             kv->r_max);
  for (int b = 0; b < B; b++)
    SEAL_CHECK(q_pos[b] >= 0 && q_pos[b] + Tq <= kv->Tmax,
               "sequence %d would reach position %d, the cache holds %d", b, q_pos[b] + Tq,
               kv->Tmax);
}

/* The new tokens' ids and positions ([B*Tq]) and first positions ([B]). */
static void upload_tokens(seal_model *m, seal_kv_cache *kv, const int32_t *ids,
                          const int32_t *q_pos, int B, int Tq) {
  const seal_ops *o = OPS(m);
  int N = B * Tq;
  check_ids(m, ids, N, "token");
  int32_t *pos = seal_malloc((size_t)N * sizeof(int32_t));
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tq; t++) pos[b * Tq + t] = q_pos[b] + t;
  o->to_device_i32(m->be, kv->ids, ids, (size_t)N);
  o->to_device_i32(m->be, kv->pos, pos, (size_t)N);
  o->to_device_i32(m->be, kv->q_pos, q_pos, (size_t)B);
  free(pos);
}

/* Layer l of inference over the scratch, reading and writing the cache rows of
 * slots slot0..slot0+B-1. */
static layer_io infer_io(const seal_model *m, seal_kv_cache *kv, int l, int slot0, int B, int Tq) {
  size_t slot_off =
      (size_t)slot0 * kv->Tmax * m->cfg.n_kv_heads * m->cfg.head_dim * seal_act_size(m->be);
  layer_io io = {.x = kv->x,
                 .ln1 = kv->ln,
                 .q = kv->q,
                 .k = kv->kk,
                 .v = kv->vv,
                 .att = kv->att,
                 .x2 = kv->x,
                 .ln2 = kv->ln,
                 .gate = kv->gate,
                 .up = kv->up,
                 .hmlp = kv->gate,
                 .tmp_c = kv->tmp_c,
                 .rstd1 = NULL,
                 .rstd2 = NULL,
                 .lse = NULL,
                 .pos = kv->pos,
                 .N = B * Tq,
                 .n_seq = B,
                 .row_start = kv->row_start,
                 .seq_adapter = kv->slot_adapter ? kv->slot_adapter + slot0 : NULL,
                 .seq_start = NULL,
                 .q_pos = kv->q_pos,
                 .kcache = (char *)kv->layers[l].k + slot_off,
                 .vcache = (char *)kv->layers[l].v + slot_off,
                 .Tq = Tq,
                 .Tk = kv->Tmax};
  /* Every projection's LoRA shares one h scratch: inference keeps no activations. */
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) io.lora_h[t] = kv->lora_h;
  return io;
}

/* Embedding to LM head over the tokens already uploaded: what a decoding
 * step's CUDA graph holds (model/decode_graphs.h). */
static void infer_body(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, int slot0, int B,
                       int Tq) {
  const seal_model_config *cfg = &m->cfg;
  const seal_ops *o = OPS(m);
  int N = B * Tq, C = cfg->hidden;
  for (int b = 0; b <= B; b++) kv->row_start[b] = b * Tq; /* B <= kv->slots */
  o->embedding(m->be, kv->x, kv->ids, m->embed, N, C);
  o->rmsnorm(m->be, kv->ln, NULL, kv->x, m->layers[0].attn_norm, N, C, cfg->rms_eps);
  for (int l = 0; l < cfg->n_layers; l++) {
    layer_io io = infer_io(m, kv, l, slot0, B, Tq);
    /* the next layer's RMSNorm rides on this one's residual add; the last
     * layer's output is normalised below, for the last rows only */
    int last = l + 1 == cfg->n_layers;
    layer_forward(m, lora, l, &io, kv->x, last ? NULL : m->layers[l + 1].attn_norm, kv->ln, NULL);
  }
  /* Only each sequence's last new token needs logits. */
  size_t row_bytes = (size_t)C * seal_act_size(m->be);
  for (int b = 0; b < B; b++)
    o->copy(m->be, (char *)kv->last + (size_t)b * row_bytes,
            (char *)kv->x + ((size_t)b * Tq + Tq - 1) * row_bytes, row_bytes);
  o->rmsnorm(m->be, kv->ln, NULL, kv->last, m->final_norm, B, C, cfg->rms_eps);
  o->matmul(m->be, kv->logits, kv->ln, m->lm_head, NULL, B, C, cfg->vocab_size);
}

void seal_forward_infer(seal_model *m, const seal_lora *lora, seal_kv_cache *kv, const int32_t *ids,
                        const int32_t *q_pos, int slot0, int B, int Tq) {
  check_infer(kv, lora, q_pos, slot0, B, Tq);
  kv_scratch_grow(kv, m, B * Tq);
  upload_tokens(m, kv, ids, q_pos, B, Tq);
  if (!seal_decode_graph_run(m, lora, kv, slot0, B, Tq, infer_body))
    infer_body(m, lora, kv, slot0, B, Tq);
}
