/* kernels/cpu/cpu.h — the CPU reference backend's functions (float32, host
 * memory). Shared between the files of kernels/cpu/ and its tests.
 *
 * Every function below has the signature and the semantics of the seal_ops
 * member of the same name (kernels/ops.h is the contract; read its comments for
 * shapes and '=' versus '+='). On this backend "act" is float32 and every
 * pointer is ordinary host memory.
 *
 * Files, by concern:
 *   backend.c      memory half and the ops table
 *   elementwise.c  embedding, add, swiglu (+backward), rope, kv_write
 *   norm.c         rmsnorm, residual_rmsnorm, rmsnorm_backward
 *   matmul.c       matmul, matmul_backward_input, LoRA forward/backward/merge (cblas_sgemm)
 *   attention.c    causal GQA attention forward and backward
 *   loss.c         fused softmax + cross-entropy
 *   optim.c        sum_squares, adamw
 *   sample.c       argmax / temperature / top-p sampling */
#ifndef SEAL_KERNELS_CPU_H
#define SEAL_KERNELS_CPU_H

#include "kernels/ops.h"

/* Elements below which an OpenMP parallel region costs more than it saves (and,
 * on a busy machine, waits for a second thread to be scheduled). */
#define SEAL_CPU_PARALLEL_MIN ((size_t)1 << 15)

/* The table of CPU operations, filled in kernels/cpu/backend.c. */
extern const seal_ops seal_cpu_ops;

/* ---- elementwise.c ------------------------------------------------------- */
void seal_cpu_embedding(seal_backend *be, void *out, const int32_t *ids, const void *table, int N,
                        int C);
void seal_cpu_add(seal_backend *be, void *out, const void *a, const void *b, size_t n);
void seal_cpu_swiglu(seal_backend *be, void *out, const void *gate, const void *up, size_t n);
void seal_cpu_swiglu_backward(seal_backend *be, void *dgate, void *dup, const void *dout,
                              const void *gate, const void *up, size_t n);
void seal_cpu_rope(seal_backend *be, void *x, const int32_t *pos, const float *inv_freq, int N,
                   int H, int D, int direction);
void seal_cpu_kv_write(seal_backend *be, void *cache, const void *src, const int32_t *q_pos, int B,
                       int Tq, int Tmax, int W);

/* ---- norm.c -------------------------------------------------------------- */
void seal_cpu_rmsnorm(seal_backend *be, void *out, float *rstd, const void *inp, const void *weight,
                      int N, int C, float eps);
void seal_cpu_residual_rmsnorm(seal_backend *be, void *residual, void *out, float *rstd,
                               const void *a, const void *b, const void *weight, int N, int C,
                               float eps);
void seal_cpu_rmsnorm_backward(seal_backend *be, void *dinp, const void *dout, const void *inp,
                               const void *weight, const float *rstd, int N, int C);

/* ---- matmul.c ------------------------------------------------------------ */
void seal_cpu_matmul(seal_backend *be, void *out, const void *inp, const void *weight,
                     const void *bias, int N, int I, int O);
void seal_cpu_matmul_backward_input(seal_backend *be, void *dinp, const void *dout,
                                    const void *weight, int N, int I, int O, int accumulate);
void seal_cpu_lora_forward(seal_backend *be, void *out, float *h, const void *x, const float *A,
                           const float *B, int N, int I, int O, int r, float scale);
void seal_cpu_lora_backward(seal_backend *be, void *dx, float *dA, float *dB, float *dh,
                            const void *dout, const void *x, const float *A, const float *B,
                            const float *h, int N, int I, int O, int r, float scale);
void seal_cpu_lora_merge(seal_backend *be, void *W, const float *A, const float *B, int O, int I,
                         int r, float scale);

/* ---- attention.c --------------------------------------------------------- */
void seal_cpu_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                        const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq, int Hkv,
                        int D);
void seal_cpu_attention_backward(seal_backend *be, void *dq, void *dk, void *dv, const void *dout,
                                 const void *out, const float *lse, const void *q, const void *k,
                                 const void *v, int B, int T, int Hq, int Hkv, int D);

/* ---- loss.c -------------------------------------------------------------- */
void seal_cpu_cross_entropy(seal_backend *be, float *losses, void *dlogits, const void *logits,
                            const int32_t *targets, const float *weights, int N, int V,
                            float scale);

/* ---- optim.c ------------------------------------------------------------- */
double seal_cpu_sum_squares(seal_backend *be, const float *x, size_t n);
void seal_cpu_adamw(seal_backend *be, float *param, const float *grad, float *m, float *v, size_t n,
                    float lr, float beta1, float beta2, float eps, float weight_decay, int step,
                    float grad_scale);

/* ---- sample.c ------------------------------------------------------------ */
/* Ordering used by the inverse CDF: descending probability, equal
 * probabilities by ascending token id (the CUDA backend must agree). The kept
 * set is the shortest such prefix whose probability mass reaches top_p; the
 * token drawn is the first whose cumulative kept mass exceeds uniform[b] times
 * the kept mass. */
void seal_cpu_sample(seal_backend *be, int32_t *ids, const void *logits, int B, int V,
                     float temperature, float top_p, const float *uniform);

#endif
