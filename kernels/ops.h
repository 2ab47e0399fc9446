/* kernels/ops.h — the one interface between the model graph and the compute
 * backends, and the one list of its operations. The model (model/) is written
 * once against the seal_ops function pointers; kernels/cpu/ implements them in
 * C (float32, OpenBLAS GEMM, OpenMP) as the reference, kernels/cuda/ in CUDA
 * (bf16 storage, fp32 accumulation, cuBLASLt), and kernels/profile.c wraps
 * either to time every call.
 *
 * Conventions
 * - Pointers are backend memory (host memory for cpu, device memory for cuda),
 *   allocated with ops->alloc. "act" means the backend's activation dtype
 *   (be->act: F32 on cpu, BF16 on cuda; norm weights and biases too); "wt" is
 *   the dtype of the frozen base's matrices (embedding, linear layers, LM head),
 *   be->weight: act, except on "cpu:bf16" (BF16 matrices, F32 activations:
 *   half the bytes a decoded token reads) and "cpu:q8" (Q8 matrices: each row
 *   [I] is ceil(I/32) blocks of 32 int8 values and a half scale, util/q8.h,
 *   the last block zero-padded; 34 bytes per 32 weights, 27% of F32's) and
 *   "cpu:q4" (Q4 matrices: each row ceil(I/32) blocks of 32 4-bit values, a
 *   half scale and a half minimum, util/q4.h, GGUF's Q4_1; 20 bytes per 32
 *   weights, 16% of F32's). A wt matrix [rows, cols] takes
 *   seal_matrix_bytes(type, rows, cols); to_device, to_host and fill of n Q8
 *   or Q4 values treat the n as one such row, so a matrix whose cols are a
 *   multiple of 32 moves in one call, any other row by row.
 *   "f32" means float32 on every backend
 *   (LoRA parameters, their gradients, optimizer state, losses, statistics);
 *   "i32" means int32_t.
 * - N is the number of token rows (B*T, or the sum of packed lengths). Matrices
 *   are row-major. A linear layer's weight is W[out, in] as in PyTorch, so y = x W^T (+ b).
 * - Unless an argument says "+=", an output is overwritten.
 * - Calls are asynchronous on cuda; to_host, to_host_i32, sum_squares and
 *   sample synchronise.
 * Kernels include nothing of the project but util/.
 *
 * Adding an op (docs/architecture.md, "How to add an op"): one line in
 * SEAL_OPS below, with its contract comment; then seal_cpu_NAME and
 * seal_cuda_NAME (the backends' tables are generated from this list, so a
 * missing implementation fails to link), a CPU test registered with TEST_OP
 * (tests/kernels: the coverage test fails without one) and a kernel-lab case
 * lab_NAME (tests/cuda/kernel_lab.c: fails to compile without one). */
#ifndef SEAL_KERNELS_OPS_H
#define SEAL_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "util/q4.h"
#include "util/q8.h"
#include "util/util.h"

typedef enum { SEAL_F32 = 0, SEAL_BF16 = 1, SEAL_I32 = 2, SEAL_Q8 = 3, SEAL_Q4 = 4 } seal_dtype;

/* Whether t is stored in blocks of 32 values (Q8, Q4): a row is whole blocks. */
static inline int seal_dtype_is_blocked(seal_dtype t) { return t == SEAL_Q8 || t == SEAL_Q4; }

/* Bytes of one element of an element-wise dtype (F32, BF16, I32). Q8 and Q4
 * have no element size: their values come in blocks; use seal_matrix_bytes. */
static inline size_t seal_dtype_size(seal_dtype t) {
  SEAL_CHECK(!seal_dtype_is_blocked(t),
             "seal_dtype_size: Q8 and Q4 are stored in blocks (use seal_matrix_bytes)");
  return t == SEAL_BF16 ? 2 : 4;
}

/* Bytes of a [rows, cols] buffer of dtype t (a vector of n is [1, n]): the one
 * size of every wt buffer, since a Q8 or Q4 row is whole blocks. */
static inline size_t seal_matrix_bytes(seal_dtype t, size_t rows, size_t cols) {
  if (t == SEAL_Q8) return rows * seal_q8_blocks(cols) * sizeof(seal_q8_block);
  if (t == SEAL_Q4) return rows * seal_q4_blocks(cols) * sizeof(seal_q4_block);
  return rows * cols * seal_dtype_size(t);
}

typedef struct seal_backend seal_backend;
typedef struct seal_ops seal_ops;

struct seal_backend {
  const char *name;    /* "cpu" or "cuda" */
  seal_dtype act;      /* dtype of activations, norm weights and biases */
  seal_dtype weight;   /* dtype of the frozen base's matrices ("wt" below): act, but bf16
                        * on "cpu:bf16", Q8 on "cpu:q8" and Q4 on "cpu:q4", which keep f32
                        * activations */
  const seal_ops *ops; /* the backend's operations */
  void *ctx;           /* backend-private state (cuBLASLt handle, stream, workspace) */
};

/* ---- the operations --------------------------------------------------------
 * One entry per op: X(return type, name, (parameters), (arguments)). The
 * arguments are the parameter names in order, for wrappers that pass a call on
 * (kernels/profile.c). Every op takes the backend first. */
/* clang-format off */
#define SEAL_OPS(X)                                                                                \
  /* ---- memory ---------------------------------------------------------- */                     \
  /* bytes of backend memory; dies on failure */                                                   \
  X(void *, alloc, (seal_backend *be, size_t bytes), (be, bytes))                                  \
  X(void, free, (seal_backend *be, void *p), (be, p))                                              \
  /* dst[n] (dtype dst_type) = src[n] (host float32), converting; src may be                     \
   * reused or freed once it returns */                                                            \
  X(void, to_device, (seal_backend *be, void *dst, seal_dtype dst_type, const float *src,          \
                      size_t n), (be, dst, dst_type, src, n))                                      \
  /* dst[n] (host float32) = src[n] (dtype src_type), converting; synchronises */                  \
  X(void, to_host, (seal_backend *be, float *dst, const void *src, seal_dtype src_type,            \
                    size_t n), (be, dst, src, src_type, n))                                        \
  /* dst[n] i32 (backend) = src[n] (host) */                                                       \
  X(void, to_device_i32, (seal_backend *be, int32_t *dst, const int32_t *src, size_t n),           \
    (be, dst, src, n))                                                                             \
  /* dst[n] i32 (host) = src[n] (backend); synchronises */                                         \
  X(void, to_host_i32, (seal_backend *be, int32_t *dst, const int32_t *src, size_t n),             \
    (be, dst, src, n))                                                                             \
  /* bytes from src to dst, both backend memory (they may overlap on cpu) */                       \
  X(void, copy, (seal_backend *be, void *dst, const void *src, size_t bytes),                      \
    (be, dst, src, bytes))                                                                         \
  /* dst[n] (dtype type) = value */                                                                \
  X(void, fill, (seal_backend *be, void *dst, seal_dtype type, float value, size_t n),             \
    (be, dst, type, value, n))                                                                     \
  /* waits until every queued op has finished */                                                   \
  X(void, synchronize, (seal_backend *be), (be))                                                   \
  /* frees the backend's private state and the seal_backend itself */                              \
  X(void, destroy, (seal_backend *be), (be))                                                       \
  /* makes the calling thread use this backend's device (a thread other than the                   \
   * one that created the backend starts on CUDA device 0); no-op on cpu */                        \
  X(void, bind_thread, (seal_backend *be), (be))                                                   \
                                                                                                   \
  /* ---- transformer forward -------------------------------------------- */                      \
  /* out[N,C] act = table[ids[n], :], ids i32 [N], table wt [V,C] */                              \
  X(void, embedding, (seal_backend *be, void *out, const int32_t *ids, const void *table, int N,   \
                      int C), (be, out, ids, table, N, C))                                         \
  /* out[N,C] act = inp * rsqrt(mean(inp^2) + eps) * weight[C];                                    \
   * rstd[N] f32 (may be NULL at inference) keeps the reciprocal RMS for backward */               \
  X(void, rmsnorm, (seal_backend *be, void *out, float *rstd, const void *inp, const void *weight, \
                    int N, int C, float eps), (be, out, rstd, inp, weight, N, C, eps))             \
  /* fused residual add + RMSNorm: residual[N,C] act = a + b (residual may alias a),               \
   * then out = rmsnorm(residual) as above */                                                      \
  X(void, residual_rmsnorm, (seal_backend *be, void *residual, void *out, float *rstd,             \
                             const void *a, const void *b, const void *weight, int N, int C,       \
                             float eps), (be, residual, out, rstd, a, b, weight, N, C, eps))       \
  /* out[n] act = a + b (out may alias a or b) */                                                  \
  X(void, add, (seal_backend *be, void *out, const void *a, const void *b, size_t n),              \
    (be, out, a, b, n))                                                                            \
  /* out[N,O] act = inp[N,I] act @ weight[O,I]^T wt (+ bias[O] act when not NULL);                \
   * with I = 0 the empty product is 0, so every row is the bias (or 0). A backend may            \
   * keep what it derived from weight between calls (cpu: kernels/cpu/shadow.c), so weight        \
   * memory is written through this table's ops only (to_device, copy, fill, lora_merge) */      \
  X(void, matmul, (seal_backend *be, void *out, const void *inp, const void *weight,               \
                   const void *bias, int N, int I, int O), (be, out, inp, weight, bias, N, I, O))  \
  /* x[N, H*D] act rotated in place, RoPE half-split convention (as HF: pairs                      \
   * (j, j+D/2)), angle = pos[n] * inv_freq[j]; pos i32 [N], inv_freq f32 [D/2]                    \
   * (llama3 scaling already folded in). direction = +1 forward, -1 inverse                        \
   * rotation (which is the backward of the forward) */                                            \
  X(void, rope, (seal_backend *be, void *x, const int32_t *pos, const float *inv_freq, int N,      \
                 int H, int D, int direction), (be, x, pos, inv_freq, N, H, D, direction))         \
  /* writes new keys or values into a cache: cache[b, q_pos[b] + t, :] = src[b, t, :]              \
   * for t < Tq; cache act [B, Tmax, W], src act [B, Tq, W], q_pos i32 [B] */                      \
  X(void, kv_write, (seal_backend *be, void *cache, const void *src, const int32_t *q_pos, int B,  \
                     int Tq, int Tmax, int W), (be, cache, src, q_pos, B, Tq, Tmax, W))            \
  /* causal attention with grouped-query heads (query head h reads kv head                         \
   * h / (Hq/Hkv)), scale 1/sqrt(D), no T x T buffer required; the cached                          \
   * (inference) form.                                                                             \
   *   q   act [B, Tq, Hq, D]     query t of batch b sits at position q_pos[b] + t                 \
   *   k,v act [B, Tk, Hkv, D]    keys at positions 0..Tk-1 (Tk = cache capacity)                  \
   *   out act [B, Tq, Hq, D]                                                                      \
   *   lse f32 [B, Tq, Hq]        log-sum-exp of each query's scores (NULL at inference)           \
   * query at position p attends keys 0..p. Every batch must have                                  \
   * 0 <= q_pos[b] and q_pos[b] + Tq <= Tk; a batch outside that is refused                        \
   * (the process dies naming it; on cuda, q_pos is device memory, so at the                       \
   * backend's next synchronising call) */                                                         \
  X(void, attention, (seal_backend *be, void *out, float *lse, const void *q, const void *k,       \
                      const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq,          \
                      int Hkv, int D), (be, out, lse, q, k, v, q_pos, B, Tq, Tk, Hq, Hkv, D))      \
  /* the training form of attention over packed variable-length sequences (as                      \
   * FlashAttention's varlen API): n_seq sequences laid end to end in N rows,                      \
   * sequence s in rows seq_start[s] .. seq_start[s+1]-1 (seq_start i32                            \
   * [n_seq+1], backend memory, seq_start[0] = 0, N = seq_start[n_seq]), each at                   \
   * positions 0.. and attending only to itself, causally.                                         \
   *   q, out act [N, Hq, D]   k, v act [N, Hkv, D]   lse f32 [N, Hq] (may be NULL)                \
   * max_len (host) bounds every length: the grid on cuda. A decreasing seq_start                  \
   * or a sequence longer than max_len is refused (dies; on cuda at the next                       \
   * synchronising call). B sequences of one length T are seq_start = b*T */                       \
  X(void, attention_varlen, (seal_backend *be, void *out, float *lse, const void *q,               \
                             const void *k, const void *v, const int32_t *seq_start, int n_seq,    \
                             int max_len, int Hq, int Hkv, int D),                                 \
    (be, out, lse, q, k, v, seq_start, n_seq, max_len, Hq, Hkv, D))                                \
  /* out[n] act = silu(gate[n]) * up[n] (out may alias gate or up) */                              \
  X(void, swiglu, (seal_backend *be, void *out, const void *gate, const void *up, size_t n),       \
    (be, out, gate, up, n))                                                                        \
                                                                                                   \
  /* ---- loss ------------------------------------------------------------ */                     \
  /* fused softmax + cross-entropy over logits[N,V] act with targets i32 [N] and                   \
   * per-row weights f32 [N] (0 = row ignored, e.g. prompt tokens):                                \
   *   losses[n] f32 = -log softmax(logits[n])[targets[n]]   (0 where weight is 0)                 \
   *   when dlogits is not NULL: dlogits[N,V] act = (softmax - onehot) * weight[n] * scale         \
   * dlogits may alias logits. Never materialises a separate probability buffer */                 \
  X(void, cross_entropy, (seal_backend *be, float *losses, void *dlogits, const void *logits,      \
                          const int32_t *targets, const float *weights, int N, int V,              \
                          float scale), (be, losses, dlogits, logits, targets, weights, N, V,      \
                                         scale))                                                   \
                                                                                                   \
  /* ---- transformer backward (base weights frozen) ---------------------- */                     \
  /* dinp[N,I] act (+= when accumulate, else =) dout[N,O] act @ weight[O,I] wt */                 \
  X(void, matmul_backward_input, (seal_backend *be, void *dinp, const void *dout,                  \
                                  const void *weight, int N, int I, int O, int accumulate),        \
    (be, dinp, dout, weight, N, I, O, accumulate))                                                 \
  /* dinp[N,C] act += d rmsnorm(inp)/d inp applied to dout[N,C]; weight act [C],                   \
   * rstd f32 [N] from the forward. (+= so that the residual stream's gradient                     \
   * flows through unchanged.) */                                                                  \
  X(void, rmsnorm_backward, (seal_backend *be, void *dinp, const void *dout, const void *inp,      \
                             const void *weight, const float *rstd, int N, int C),                 \
    (be, dinp, dout, inp, weight, rstd, N, C))                                                     \
  /* backward of attention_varlen over its layout: dq act [N,Hq,D], dk, dv act                    \
   * [N,Hkv,D] (=, summed over each kv head's query group) from dout act [N,Hq,D]                  \
   * and the forward's out, lse [N, Hq], q, k, v; seq_start, n_seq, max_len as                     \
   * there */                                                                                      \
  X(void, attention_backward, (seal_backend *be, void *dq, void *dk, void *dv, const void *dout,   \
                               const void *out, const float *lse, const void *q, const void *k,    \
                               const void *v, const int32_t *seq_start, int n_seq, int max_len,    \
                               int Hq, int Hkv, int D),                                            \
    (be, dq, dk, dv, dout, out, lse, q, k, v, seq_start, n_seq, max_len, Hq, Hkv, D))              \
  /* dgate[n], dup[n] act (=) from dout[n] act, gate[n], up[n] act */                              \
  X(void, swiglu_backward, (seal_backend *be, void *dgate, void *dup, const void *dout,            \
                            const void *gate, const void *up, size_t n),                           \
    (be, dgate, dup, dout, gate, up, n))                                                           \
                                                                                                   \
  /* ---- LoRA (parameters f32) ------------------------------------------ */                      \
  /* h[N,r] f32 = x[N,I] act @ A[r,I]^T;  out[N,O] act += scale * h @ B[O,r]^T */                  \
  X(void, lora_forward, (seal_backend *be, void *out, float *h, const void *x, const float *A,     \
                         const float *B, int N, int I, int O, int r, float scale),                 \
    (be, out, h, x, A, B, N, I, O, r, scale))                                                      \
  /* with dh[N,r] f32 as scratch:                                                                  \
   *   dB[O,r] += scale * dout^T @ h        dh = scale * dout @ B                                  \
   *   dA[r,I] += dh^T @ x                  dx[N,I] act += dh @ A  (skipped if dx NULL) */         \
  X(void, lora_backward, (seal_backend *be, void *dx, float *dA, float *dB, float *dh,             \
                          const void *dout, const void *x, const float *A, const float *B,         \
                          const float *h, int N, int I, int O, int r, float scale),                \
    (be, dx, dA, dB, dh, dout, x, A, B, h, N, I, O, r, scale))                                     \
  /* Several adapters in one batch (each sequence its own, as when the inner                      \
   * loops of several self-edits share the base GEMMs). n_seq sequences packed                     \
   * as attention_varlen's rows: sequence s is rows seq_start[s] ..                                \
   * seq_start[s+1]-1 (host int [n_seq+1], nondecreasing from 0) and uses adapter                  \
   * g = seq_group[s] (host int [n_seq], any order, g < 0: no adapter, its rows                    \
   * of out and h are left alone), whose A[r,I], B[O,r] f32 are at                                 \
   * A + g*group_stride, B + g*group_stride (floats: the layout of a                               \
   * multi-adapter's parameter buffer). Per row n of sequence s:                                   \
   * h[n,:] f32 = x[n,:] act @ A_g^T; out[n,:] act += scale * h[n,:] @ B_g^T.                      \
   * The rows of one adapter run as one product. */                                                \
  X(void, lora_forward_grouped, (seal_backend *be, void *out, float *h, const void *x,             \
                                 const float *A, const float *B, size_t group_stride,              \
                                 const int *seq_group, const int *seq_start, int n_seq, int I,     \
                                 int O, int r, float scale),                                       \
    (be, out, h, x, A, B, group_stride, seq_group, seq_start, n_seq, I, O, r, scale))              \
  /* lora_backward per adapter over the rows of lora_forward_grouped's layout:                     \
   * adapter g's gradients dA_g, dB_g (+=) at dA + g*group_stride, dB + g*group_stride             \
   * from its sequences' rows only; dh[N,r] f32 scratch; dx[N,I] act += (NULL:                     \
   * skipped); rows of sequences with g < 0 are left alone. */                                     \
  X(void, lora_backward_grouped, (seal_backend *be, void *dx, float *dA, float *dB, float *dh,     \
                                  const void *dout, const void *x, const float *A, const float *B, \
                                  const float *h, size_t group_stride, const int *seq_group,       \
                                  const int *seq_start, int n_seq, int I, int O, int r,            \
                                  float scale),                                                    \
    (be, dx, dA, dB, dh, dout, x, A, B, h, group_stride, seq_group, seq_start, n_seq, I, O, r,     \
     scale))                                                                                       \
  /* W[O,I] wt += scale * B[O,r] @ A[r,I] */                                                      \
  X(void, lora_merge, (seal_backend *be, void *W, const float *A, const float *B, int O, int I,    \
                       int r, float scale), (be, W, A, B, O, I, r, scale))                         \
                                                                                                   \
  /* ---- optimizer -------------------------------------------------------- */                    \
  /* sum(x[i]^2) over x f32 [n] as a double on the host; synchronises */                           \
  X(double, sum_squares, (seal_backend *be, const float *x, size_t n), (be, x, n))                 \
  /* one AdamW step (PyTorch semantics, bias-corrected, decoupled decay) on                        \
   * param/grad/m/v f32 [n]; the gradient is multiplied by grad_scale first                        \
   * (grad-norm clipping); step is 1-based */                                                      \
  X(void, adamw, (seal_backend *be, float *param, const float *grad, float *m, float *v, size_t n, \
                  float lr, float beta1, float beta2, float eps, float weight_decay, int step,     \
                  float grad_scale), (be, param, grad, m, v, n, lr, beta1, beta2, eps,             \
                                      weight_decay, step, grad_scale))                             \
                                                                                                   \
  /* ---- sampling --------------------------------------------------------- */                    \
  /* for each row b of logits[B,V] act: temperature <= 0 picks the argmax                          \
   * (lowest index on ties; NaN is never picked while the row holds a number,                      \
   * and a row of only NaN gives 0); otherwise samples from                                        \
   * softmax(logits/temperature) restricted to the smallest set of most probable                   \
   * tokens whose mass reaches top_p, using uniform[b] in [0,1) (host array) as                    \
   * the one random draw, by inverse CDF over tokens in descending probability; a                  \
   * row whose softmax is not finite (NaN or infinite logits) takes the argmax                     \
   * instead. ids i32 [B] is host memory; synchronises */                                          \
  X(void, sample, (seal_backend *be, int32_t *ids, const void *logits, int B, int V,               \
                   float temperature, float top_p, const float *uniform),                          \
    (be, ids, logits, B, V, temperature, top_p, uniform))
/* clang-format on */

/* SEAL_OP_alloc, SEAL_OP_free, ...: the ops by number, in the list's order. */
typedef enum {
#define SEAL_OP_ENUM_(ret, name, params, args) SEAL_OP_##name,
  SEAL_OPS(SEAL_OP_ENUM_)
#undef SEAL_OP_ENUM_
      SEAL_OP_COUNT
} seal_op;

/* The table a backend fills: one function pointer per op. */
struct seal_ops {
#define SEAL_OP_MEMBER_(ret, name, params, args) ret(*name) params;
  SEAL_OPS(SEAL_OP_MEMBER_)
#undef SEAL_OP_MEMBER_
};

/* "alloc", "free", ...: seal_op_names[op] is the op's name. */
extern const char *const seal_op_names[SEAL_OP_COUNT];
/* The op of that name, or -1. */
int seal_op_find(const char *name);
/* The first op whose slot in the table is NULL, or SEAL_OP_COUNT when the
 * table is complete. */
seal_op seal_ops_missing(const seal_ops *ops);

/* Creates a backend by name ("cpu", "cpu:bf16" (the CPU with bf16 base
 * matrices), "cpu:q8" (int8 base matrices), "cpu:q4" (4-bit base matrices),
 * "cuda" = "cuda:0", "cuda:N" for
 * GPU N, "auto"); NULL with a message in e when the name is unknown or the
 * backend is unavailable (not built, no GPU). */
seal_backend *seal_backend_create(const char *name, seal_error *e);
void seal_backend_destroy(seal_backend *be);
/* "cuda" when built with CUDA and a GPU is visible, else "cpu". */
const char *seal_backend_default_name(void);

/* Each backend's constructor (kernels/cpu/, kernels/cuda/). */
/* weight: SEAL_F32 (the reference), SEAL_BF16, SEAL_Q8 or SEAL_Q4 for the base matrices. */
seal_backend *seal_cpu_backend_create(seal_dtype weight, seal_error *e);
#ifdef SEAL_HAVE_CUDA
seal_backend *seal_cuda_backend_create(int device, seal_error *e);
int seal_cuda_device_count(void);
#endif

/* The backend that runs be's ops: be itself, or the one a wrapper such as the
 * profiler (kernels/profile.h) passes its calls to. For code that reaches into
 * a backend's private state (seal_cuda_stream). */
seal_backend *seal_backend_base(seal_backend *be);

/* Element size of the backend's activations. */
static inline size_t seal_act_size(const seal_backend *be) { return seal_dtype_size(be->act); }
/* Bytes of a [rows, cols] base matrix (be->weight) on this backend. */
static inline size_t seal_weight_bytes(const seal_backend *be, size_t rows, size_t cols) {
  return seal_matrix_bytes(be->weight, rows, cols);
}

#endif
