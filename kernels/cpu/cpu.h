/* kernels/cpu/cpu.h — the CPU reference backend's functions (float32, host
 * memory). Shared between the files of kernels/cpu/ and its tests.
 *
 * There is one function seal_cpu_NAME for every op NAME of SEAL_OPS, with the
 * op's signature and semantics (kernels/ops.h is the contract; read its
 * comments for shapes and '=' versus '+='). The declarations and the table
 * (backend.c) are generated from that list, so an op without a CPU function
 * fails to link. On this backend "act" is float32, "wt" float32, (on
 * "cpu:bf16") bfloat16, (on "cpu:q8") int8 blocks or (on "cpu:q4") 4-bit
 * blocks, and every pointer is
 * ordinary host memory.
 *
 * Files, by concern:
 *   backend.c      memory ops and the ops table
 *   elementwise.c  embedding, add, swiglu (+backward), rope (and its table), kv_write
 *   norm.c         rmsnorm, residual_rmsnorm, rmsnorm_backward
 *   matmul.c       matmul, matmul_backward_input, lora_merge (cblas_sgemm; an AVX2
 *                  kernel for decoding's few rows)
 *   lora.c         LoRA forward/backward for one adapter (kernels of their own for
 *                  ranks up to SEAL_CPU_LORA_MAX_RANK, cblas_sgemm beyond)
 *   lora_grouped.c LoRA forward/backward with an adapter per sequence (one product per adapter)
 *   matmul_bf16.c  the same for bf16 base matrices ("cpu:bf16"), and embedding
 *   matmul_q8.c    the same for int8 base matrices ("cpu:q8"), and their conversions
 *   matmul_q4.c    the same for 4-bit base matrices ("cpu:q4", GGUF's Q4_1)
 *   weight_tiles.c their many-row ops: float32 tiles of the weight through sgemm
 *   attention.c    causal GQA attention forward and backward (blocked sgemm)
 *   loss.c         fused softmax + cross-entropy
 *   optim.c        sum_squares, adamw
 *   sample.c       argmax / temperature / top-p sampling
 *   vmath.h        vectorised exp and sigmoid (attention, swiglu, cross-entropy)
 *   shadow.c       decoding on float32 matrices that are Q4_1 or Q8_0 blocks' values
 *                  exactly (a GGUF file's): the few-rows product reads the blocks
 *   lanes.h        the 8-lane sum in one order and the AVX2/FMA/F16C check the kernels share
 *   blas_info.c    OpenBLAS's kernel family, and the switch to the CPU's own (blas_info.h)
 *   threads.c      how many OpenMP and OpenBLAS threads (threads.h)
 *
 * Sampling's order, used by the inverse CDF (the CUDA backend must agree):
 * descending probability, equal probabilities by ascending token id. The kept
 * set is the shortest such prefix whose probability mass reaches top_p; the
 * token drawn is the first whose cumulative kept mass exceeds uniform[b] times
 * the kept mass. */
#ifndef SEAL_KERNELS_CPU_H
#define SEAL_KERNELS_CPU_H

#include <stdbool.h>

#include "kernels/ops.h"

/* Elements below which an OpenMP parallel region costs more than it saves (and,
 * on a busy machine, waits for a second thread to be scheduled). */
#define SEAL_CPU_PARALLEL_MIN ((size_t)1 << 15)

/* rope's cosines and sines, kept from the call that made them: a forward calls
 * rope twice a layer (q and k), and its backward as often, all with the same
 * positions and inverse frequencies, so the table is made once per step
 * rather than 120 times on a 30-layer model (elementwise.c). */
typedef struct {
  int32_t *pos;    /* [n] the positions it was made for */
  float *inv_freq; /* [half] and the inverse frequencies */
  float *cs;       /* [n, half, 2] cos, sin of pos[r] * inv_freq[j] */
  int n, half;
  size_t cap_n, cap_half; /* rows and frequencies the buffers hold */
} seal_cpu_rope_table;

/* A float32 base matrix's shadow (shadow.c): the Q4_1 or Q8_0 blocks whose
 * values are the matrix's own, bit for bit, which decoding's few-rows product
 * reads instead of the matrix (20 or 34 bytes per 32 weights instead of 128). */
typedef enum {
  SEAL_CPU_SHADOW_NONE, /* tried: no block format gives these values back */
  SEAL_CPU_SHADOW_Q4,   /* util/q4.h's blocks */
  SEAL_CPU_SHADOW_Q8    /* util/q8.h's blocks */
} seal_cpu_shadow_kind;
typedef struct {
  const float *weight; /* [O, I] the float32 matrix it stands for */
  int O, I;
  seal_cpu_shadow_kind kind;
  void *blocks; /* [O, I / 32] blocks of `kind`; NULL for NONE */
} seal_cpu_shadow;
/* The shadows one backend has made, one per matrix tried, with whether they
 * are made at all (SEAL_CPU_SHADOW). */
typedef struct {
  seal_cpu_shadow *items;
  int n, cap;
  int shadowed; /* items with blocks */
  int logged;   /* `shadowed` when it was last logged */
  bool enabled;
} seal_cpu_shadows;

/* The CPU backend's state (be->ctx). Like the CUDA backend's workspace, it is
 * why one backend's ops run on one thread at a time. */
typedef struct {
  seal_cpu_rope_table rope;
  seal_cpu_shadows shadows;
} seal_cpu_state;

/* Reads SEAL_CPU_SHADOW (unset or 1: on, 0: off; anything else dies). */
void seal_cpu_shadows_init(seal_cpu_shadows *s);
void seal_cpu_shadows_free(seal_cpu_shadows *s);
/* Drops every shadow of a matrix that overlaps the bytes [p, p + bytes),
 * which an op is about to write (or has just freed or allocated). Every op
 * that writes memory a float32 base matrix may live in calls it: to_device,
 * copy, fill, lora_merge, adamw, alloc, free. */
void seal_cpu_shadows_forget(seal_backend *be, const void *p, size_t bytes);
/* out[N, O] = inp[N, I] weight[O, I]^T (+ bias) from weight's shadow, the
 * same bits as few_rows_f32 gives (N <= SEAL_CPU_FEW_ROWS); makes the shadow
 * the first time it sees the matrix. False, having written nothing, when the
 * matrix has none (or shadows are off, or be is not a "cpu" backend on
 * float32 matrices). */
bool seal_cpu_shadow_matmul(seal_backend *be, float *out, const float *inp, const float *weight,
                            const float *bias, int N, int I, int O);
/* Whether shadow.c may use its AVX2 kernels when the processor has them
 * (default true); false widens the blocks portably into a scratch for
 * few_rows_f32's kernel, which the tests check too. Not while a matmul runs. */
void seal_cpu_shadow_allow_avx2(bool allowed);
/* What a backend's shadows are: matrices with Q4 blocks, with Q8 blocks,
 * tried without result, and the blocks' bytes. */
typedef struct {
  int q4, q8, none;
  size_t bytes;
} seal_cpu_shadow_counts;
seal_cpu_shadow_counts seal_cpu_shadows_count(const seal_backend *be);
/* out[N, :nw] (row stride O) = inp[N, I] w[nw, I]^T for nw <= 4 contiguous
 * rows: few_rows_f32's arithmetic for a group of weight rows at a multiple of
 * 4 (nw < 4 only at the matrix's end), so that shadow.c's products are its
 * bits (matmul.c). */
void seal_cpu_few_rows_f32_group(float *out, const float *inp, const float *w, int N, int I, int O,
                                 int nw);
/* *block = the 32 values src[32] quantised as a Q4 (Q4_1) or Q8 (Q8_0)
 * block, by the quantiser to_device uses; false when they are past a half
 * scale's range (block then undefined). */
bool seal_cpu_q4_block_from(void *block, const float *src);
bool seal_cpu_q8_block_from(void *block, const float *src);

void seal_cpu_rope_table_free(seal_cpu_rope_table *t);

/* Rows at most this many take the few-rows matmul (decoding), not sgemm. */
#define SEAL_CPU_FEW_ROWS 8
/* Weight rows per work item of the few-rows matmul's parallel loop. */
#define SEAL_CPU_FEW_ROWS_CHUNK 32

/* LoRA ranks up to this take lora.c's own kernels; higher ones cblas_sgemm. */
#define SEAL_CPU_LORA_MAX_RANK 64
/* Rows from which LoRA's products go back to cblas_sgemm: lora.c's kernels
 * take decoding's few rows (a third of sgemm's time at N = 1), sgemm the
 * rest. On one thread the two were even up to 128 rows, but on two threads
 * the demo's 32-row step took 1.24x longer on lora.c's kernels than on
 * sgemm (median of 3 on the idle machine, docs/perf.md "LoRA's products"). */
#define SEAL_CPU_LORA_SGEMM_ROWS (SEAL_CPU_FEW_ROWS + 1)
/* N * r * (I + O), a LoRA forward's multiply-adds, from which a LoRA op runs
 * as one parallel region. Below it (decoding, and every projection of the
 * demo's inner loop on SmolLM2-135M up to r = 32) the op runs on one thread
 * and never waits for a second one to be scheduled: on a machine busier than
 * its cores each such wait cost more than the whole op (docs/perf.md,
 * "LoRA's products"). A build may set it (-DSEAL_CPU_LORA_PARALLEL_MIN=N) to
 * measure another. */
#ifndef SEAL_CPU_LORA_PARALLEL_MIN
#define SEAL_CPU_LORA_PARALLEL_MIN ((size_t)1 << 22)
#endif

/* Whether lora.c may use its AVX2+FMA kernels when the processor has them
 * (default true); false runs the plain ones, which the tests check too. Not
 * for use while a LoRA op runs. */
void seal_cpu_lora_allow_avx2(bool allowed);

/* C[M,N] = alpha * op(A) @ op(B) + beta * C, row-major, K the inner size,
 * op = transpose when trans_* is non-zero (K = 0 scales C): oneDNN's or
 * OpenBLAS's sgemm (sgemm.c; seal_cpu_gemm_library says which). */
void seal_cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* A compact base-matrix dtype (bf16, Q8, Q4) as the tiled many-row ops see it
 * (weight_tiles.c): how a tile is expanded to float32 and stored back. */
typedef struct {
  const char *dtype; /* "bf16", "q8", "q4": names the weights in messages */
  size_t tile_bytes; /* float32 scratch one tile may take */
  /* tile[nr, nc] f32 = W[r0:r0+nr, c0:c0+nc], W's rows I values long (c0 a
   * multiple of 64) */
  void (*load)(float *tile, const void *W, int I, int r0, int nr, int c0, int nc);
  /* W[r0:r0+nr, :] = rows[nr, I] f32, rounded to the dtype (lora_merge) */
  void (*store)(void *W, const float *rows, int I, int r0, int nr);
} seal_cpu_compact;
/* matmul (many rows), matmul_backward_input and lora_merge, by tiles of w. */
void seal_cpu_compact_matmul(const seal_cpu_compact *w, float *out, const float *inp,
                             const void *weight, const float *bias, int N, int I, int O);
void seal_cpu_compact_backward_input(const seal_cpu_compact *w, float *dinp, const float *dout,
                                     const void *weight, int N, int I, int O, int accumulate);
void seal_cpu_compact_lora_merge(const seal_cpu_compact *w, void *W, const float *A, const float *B,
                                 int O, int I, int r, float scale);
/* embedding from a table [V, C] of w's dtype: row ids[n] expanded, one tile of
 * one row each. */
void seal_cpu_compact_embedding(const seal_cpu_compact *w, float *out, const int32_t *ids,
                                const void *table, int N, int C);

/* The "cpu:bf16" forms of the ops that read base matrices (matmul_bf16.c):
 * the same contracts with the matrix (weight, W, table) in bfloat16. */
void seal_cpu_matmul_bf16(float *out, const float *inp, const void *weight, const float *bias,
                          int N, int I, int O);
void seal_cpu_matmul_backward_input_bf16(float *dinp, const float *dout, const void *weight, int N,
                                         int I, int O, int accumulate);
void seal_cpu_lora_merge_bf16(void *W, const float *A, const float *B, int O, int I, int r,
                              float scale);
void seal_cpu_embedding_bf16(float *out, const int32_t *ids, const void *table, int N, int C);
/* dst[n] f32 = src[n] bf16 (exact). */
void seal_cpu_bf16_to_f32(float *dst, const void *src, size_t n);

/* The "cpu:q8" forms (matmul_q8.c): the same contracts with the matrix in Q8
 * blocks (util/q8.h; each row whole blocks, kernels/ops.h "wt"). */
void seal_cpu_matmul_q8(float *out, const float *inp, const void *weight, const float *bias, int N,
                        int I, int O);
void seal_cpu_matmul_backward_input_q8(float *dinp, const float *dout, const void *weight, int N,
                                       int I, int O, int accumulate);
void seal_cpu_lora_merge_q8(void *W, const float *A, const float *B, int O, int I, int r,
                            float scale);
void seal_cpu_embedding_q8(float *out, const int32_t *ids, const void *table, int N, int C);
/* The ways matmul_q8 can compute a product: the integer kernels (each input
 * row quantised per block), portable or AVX2 (the same bits), or dequantised
 * weight tiles through sgemm. seal_cpu_matmul_q8 takes AVX2 (portable without
 * it) for few rows and the tiles for more; tests and benchmarks pick one. */
typedef enum {
  SEAL_CPU_Q8_INT8_PORTABLE,
  SEAL_CPU_Q8_INT8_AVX2, /* dies on a processor without AVX2, FMA and F16C */
  SEAL_CPU_Q8_DEQUANT_SGEMM
} seal_cpu_q8_path;
void seal_cpu_matmul_q8_by(seal_cpu_q8_path path, float *out, const float *inp, const void *weight,
                           const float *bias, int N, int I, int O);
/* dst = src[n] quantised as one row of blocks; dst[n] = the n values of src's
 * blocks; dst = n values `value`, quantised. */
void seal_cpu_q8_quantize(void *dst, const float *src, size_t n);
void seal_cpu_q8_dequantize(float *dst, const void *src, size_t n);
void seal_cpu_q8_fill(void *dst, float value, size_t n);

/* The "cpu:q4" forms (matmul_q4.c): the same contracts with the matrix in Q4
 * blocks (util/q4.h; each row whole blocks, kernels/ops.h "wt"). */
void seal_cpu_matmul_q4(float *out, const float *inp, const void *weight, const float *bias, int N,
                        int I, int O);
void seal_cpu_matmul_backward_input_q4(float *dinp, const float *dout, const void *weight, int N,
                                       int I, int O, int accumulate);
void seal_cpu_lora_merge_q4(void *W, const float *A, const float *B, int O, int I, int r,
                            float scale);
void seal_cpu_embedding_q4(float *out, const int32_t *ids, const void *table, int N, int C);
/* The ways matmul_q4 can compute a product: the integer kernels (each input
 * row quantised per block to int8 with its sum, ggml's Q8_1), portable or
 * AVX2 (the same bits), or dequantised weight tiles through sgemm.
 * seal_cpu_matmul_q4 takes AVX2 (portable without it) for few rows and the
 * tiles for more; tests and benchmarks pick one. */
typedef enum {
  SEAL_CPU_Q4_INT_PORTABLE,
  SEAL_CPU_Q4_INT_AVX2, /* dies on a processor without AVX2, FMA and F16C */
  SEAL_CPU_Q4_DEQUANT_SGEMM
} seal_cpu_q4_path;
void seal_cpu_matmul_q4_by(seal_cpu_q4_path path, float *out, const float *inp, const void *weight,
                           const float *bias, int N, int I, int O);
/* dst = src[n] quantised as one row of Q4 blocks; dst[n] = the n values of
 * src's blocks; dst = n values `value`, quantised. */
void seal_cpu_q4_quantize(void *dst, const float *src, size_t n);
void seal_cpu_q4_dequantize(float *dst, const void *src, size_t n);
void seal_cpu_q4_fill(void *dst, float value, size_t n);

/* The table of CPU operations, filled in kernels/cpu/backend.c. */
extern const seal_ops seal_cpu_ops;

#define SEAL_CPU_DECLARE_(ret, name, params, args) ret seal_cpu_##name params;
SEAL_OPS(SEAL_CPU_DECLARE_)
#undef SEAL_CPU_DECLARE_

#endif
