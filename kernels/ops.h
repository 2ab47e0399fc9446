/* kernels/ops.h — the one interface between the model graph and the compute
 * backends. The model (model/) is written once against these function pointers;
 * kernels/cpu/ implements them in C (float32, OpenBLAS GEMM, OpenMP) as the
 * reference, kernels/cuda/ in CUDA (bf16 storage, fp32 accumulation, cuBLASLt).
 *
 * Conventions
 * - Pointers are backend memory (host memory for cpu, device memory for cuda),
 *   allocated with ops->alloc. "act" means the backend's activation/weight dtype
 *   (be->act: F32 on cpu, BF16 on cuda); "f32" means float32 on every backend
 *   (LoRA parameters, their gradients, optimizer state, losses, statistics);
 *   "i32" means int32_t.
 * - N is the number of token rows (B*T). Matrices are row-major. A linear layer's
 *   weight is W[out, in] as in PyTorch, so y = x W^T (+ b).
 * - Unless an argument says "+=", an output is overwritten.
 * - Calls are asynchronous on cuda; to_host and sum_squares synchronise.
 * Kernels include nothing of the project but util/. */
#ifndef SEAL_KERNELS_OPS_H
#define SEAL_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

typedef enum { SEAL_F32 = 0, SEAL_BF16 = 1, SEAL_I32 = 2 } seal_dtype;

static inline size_t seal_dtype_size(seal_dtype t) { return t == SEAL_BF16 ? 2 : 4; }

typedef struct seal_backend seal_backend;
typedef struct seal_ops seal_ops;

struct seal_backend {
  const char *name;    /* "cpu" or "cuda" */
  seal_dtype act;      /* dtype of weights and activations */
  const seal_ops *ops; /* the backend's operations */
  void *ctx;           /* backend-private state (cuBLASLt handle, stream, workspace) */
};

struct seal_ops {
  /* ---- memory ---------------------------------------------------------- */
  void *(*alloc)(seal_backend *be, size_t bytes); /* dies on failure */
  void (*free)(seal_backend *be, void *p);
  /* dst[n] (dtype dst_type) = src[n] (host float32), converting. */
  void (*to_device)(seal_backend *be, void *dst, seal_dtype dst_type, const float *src, size_t n);
  /* dst[n] (host float32) = src[n] (dtype src_type), converting; synchronises. */
  void (*to_host)(seal_backend *be, float *dst, const void *src, seal_dtype src_type, size_t n);
  void (*to_device_i32)(seal_backend *be, int32_t *dst, const int32_t *src, size_t n);
  void (*to_host_i32)(seal_backend *be, int32_t *dst, const int32_t *src, size_t n);
  void (*copy)(seal_backend *be, void *dst, const void *src, size_t bytes);
  /* dst[n] (dtype type) = value */
  void (*fill)(seal_backend *be, void *dst, seal_dtype type, float value, size_t n);
  void (*synchronize)(seal_backend *be);
  /* Frees the backend's private state and the seal_backend itself. */
  void (*destroy)(seal_backend *be);
  /* Makes the calling thread use this backend's device (a thread other than the
   * one that created the backend starts on CUDA device 0); no-op on cpu. */
  void (*bind_thread)(seal_backend *be);

  /* ---- transformer forward -------------------------------------------- */
  /* out[N,C] act = table[ids[n], :], ids i32 [N], table act [V,C] */
  void (*embedding)(seal_backend *be, void *out, const int32_t *ids, const void *table, int N,
                    int C);
  /* out[N,C] act = inp * rsqrt(mean(inp^2) + eps) * weight[C];
   * rstd[N] f32 (may be NULL at inference) keeps the reciprocal RMS for backward. */
  void (*rmsnorm)(seal_backend *be, void *out, float *rstd, const void *inp, const void *weight,
                  int N, int C, float eps);
  /* Fused residual add + RMSNorm: residual[N,C] act = a + b (residual may alias a),
   * then out = rmsnorm(residual) as above. */
  void (*residual_rmsnorm)(seal_backend *be, void *residual, void *out, float *rstd, const void *a,
                           const void *b, const void *weight, int N, int C, float eps);
  /* out[N,C] act = a + b (out may alias a or b) */
  void (*add)(seal_backend *be, void *out, const void *a, const void *b, size_t n);
  /* out[N,O] act = inp[N,I] act @ weight[O,I]^T act (+ bias[O] act when not NULL);
   * with I = 0 the empty product is 0, so every row is the bias (or 0). */
  void (*matmul)(seal_backend *be, void *out, const void *inp, const void *weight, const void *bias,
                 int N, int I, int O);
  /* x[N, H*D] act rotated in place, RoPE half-split convention (as HF: pairs
   * (j, j+D/2)), angle = pos[n] * inv_freq[j]; pos i32 [N], inv_freq f32 [D/2]
   * (llama3 scaling already folded in). direction = +1 forward, -1 inverse
   * rotation (which is the backward of the forward). */
  void (*rope)(seal_backend *be, void *x, const int32_t *pos, const float *inv_freq, int N, int H,
               int D, int direction);
  /* Writes new keys or values into a cache: cache[b, q_pos[b] + t, :] = src[b, t, :]
   * for t < Tq; cache act [B, Tmax, W], src act [B, Tq, W], q_pos i32 [B]. */
  void (*kv_write)(seal_backend *be, void *cache, const void *src, const int32_t *q_pos, int B,
                   int Tq, int Tmax, int W);
  /* Causal attention with grouped-query heads (query head h reads kv head
   * h / (Hq/Hkv)), scale 1/sqrt(D), no T x T buffer required.
   *   q   act [B, Tq, Hq, D]     query t of batch b sits at position q_pos[b] + t
   *   k,v act [B, Tk, Hkv, D]    keys at positions 0..Tk-1 (Tk = cache capacity)
   *   out act [B, Tq, Hq, D]
   *   lse f32 [B, Hq, Tq]        log-sum-exp of each query's scores (NULL at inference)
   * Query at position p attends keys 0..p. Every batch must have
   * 0 <= q_pos[b] and q_pos[b] + Tq <= Tk; a batch outside that is refused
   * (the process dies naming it; on cuda, q_pos is device memory, so at the
   * backend's next synchronising call). */
  void (*attention)(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                    const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq, int Hkv,
                    int D);
  /* out[n] act = silu(gate[n]) * up[n] (out may alias gate or up) */
  void (*swiglu)(seal_backend *be, void *out, const void *gate, const void *up, size_t n);

  /* ---- loss ------------------------------------------------------------ */
  /* Fused softmax + cross-entropy over logits[N,V] act with targets i32 [N] and
   * per-row weights f32 [N] (0 = row ignored, e.g. prompt tokens):
   *   losses[n] f32 = -log softmax(logits[n])[targets[n]]   (0 where weight is 0)
   *   when dlogits is not NULL: dlogits[N,V] act = (softmax - onehot) * weight[n] * scale
   * dlogits may alias logits. Never materialises a separate probability buffer. */
  void (*cross_entropy)(seal_backend *be, float *losses, void *dlogits, const void *logits,
                        const int32_t *targets, const float *weights, int N, int V, float scale);

  /* ---- transformer backward (base weights frozen) ---------------------- */
  /* dinp[N,I] act (+= when accumulate, else =) dout[N,O] act @ weight[O,I] act */
  void (*matmul_backward_input)(seal_backend *be, void *dinp, const void *dout, const void *weight,
                                int N, int I, int O, int accumulate);
  /* dinp[N,C] act += d rmsnorm(inp)/d inp applied to dout[N,C]; weight act [C],
   * rstd f32 [N] from the forward. (+= so that the residual stream's gradient
   * flows through unchanged.) */
  void (*rmsnorm_backward)(seal_backend *be, void *dinp, const void *dout, const void *inp,
                           const void *weight, const float *rstd, int N, int C);
  /* dq act [B,T,Hq,D], dk, dv act [B,T,Hkv,D] (=, summed over each kv head's
   * query group) from dout act [B,T,Hq,D] and the forward's out, lse, q, k, v.
   * Training form only: q_pos = 0 for every row, Tq = Tk = T. */
  void (*attention_backward)(seal_backend *be, void *dq, void *dk, void *dv, const void *dout,
                             const void *out, const float *lse, const void *q, const void *k,
                             const void *v, int B, int T, int Hq, int Hkv, int D);
  /* dgate[n], dup[n] act (=) from dout[n] act, gate[n], up[n] act */
  void (*swiglu_backward)(seal_backend *be, void *dgate, void *dup, const void *dout,
                          const void *gate, const void *up, size_t n);

  /* ---- LoRA (parameters f32) ------------------------------------------ */
  /* h[N,r] f32 = x[N,I] act @ A[r,I]^T;  out[N,O] act += scale * h @ B[O,r]^T */
  void (*lora_forward)(seal_backend *be, void *out, float *h, const void *x, const float *A,
                       const float *B, int N, int I, int O, int r, float scale);
  /* With dh[N,r] f32 as scratch:
   *   dB[O,r] += scale * dout^T @ h        dh = scale * dout @ B
   *   dA[r,I] += dh^T @ x                  dx[N,I] act += dh @ A  (skipped if dx NULL) */
  void (*lora_backward)(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                        const void *dout, const void *x, const float *A, const float *B,
                        const float *h, int N, int I, int O, int r, float scale);
  /* W[O,I] act += scale * B[O,r] @ A[r,I] */
  void (*lora_merge)(seal_backend *be, void *W, const float *A, const float *B, int O, int I, int r,
                     float scale);

  /* ---- optimizer -------------------------------------------------------- */
  /* Returns sum(x[i]^2) over x f32 [n] as a double on the host; synchronises. */
  double (*sum_squares)(seal_backend *be, const float *x, size_t n);
  /* One AdamW step (PyTorch semantics, bias-corrected, decoupled decay) on
   * param/grad/m/v f32 [n]; the gradient is multiplied by grad_scale first
   * (grad-norm clipping); step is 1-based. */
  void (*adamw)(seal_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                float grad_scale);

  /* ---- sampling --------------------------------------------------------- */
  /* For each row b of logits[B,V] act: temperature <= 0 picks the argmax
   * (lowest index on ties; NaN is never picked while the row holds a number,
   * and a row of only NaN gives 0); otherwise samples from softmax(logits/temperature)
   * restricted to the smallest set of most probable tokens whose mass reaches
   * top_p, using uniform[b] in [0,1) (host array) as the one random draw, by
   * inverse CDF over tokens in descending probability; a row whose softmax is
   * not finite (NaN or infinite logits) takes the argmax instead. ids i32 [B]
   * is host memory. */
  void (*sample)(seal_backend *be, int32_t *ids, const void *logits, int B, int V,
                 float temperature, float top_p, const float *uniform);
};

/* Creates a backend by name ("cpu", "cuda" = "cuda:0", "cuda:N" for GPU N,
 * "auto"); NULL with a message in e when the name is unknown or the backend is
 * unavailable (not built, no GPU). */
seal_backend *seal_backend_create(const char *name, seal_error *e);
void seal_backend_destroy(seal_backend *be);
/* "cuda" when built with CUDA and a GPU is visible, else "cpu". */
const char *seal_backend_default_name(void);

/* Each backend's constructor (kernels/cpu/, kernels/cuda/). */
seal_backend *seal_cpu_backend_create(seal_error *e);
#ifdef SEAL_HAVE_CUDA
seal_backend *seal_cuda_backend_create(int device, seal_error *e);
int seal_cuda_device_count(void);
#endif

/* Element size of the backend's activations. */
static inline size_t seal_act_size(const seal_backend *be) { return seal_dtype_size(be->act); }

#endif
