/* kernels/cuda/common.cuh — shared by the files of the CUDA backend: checked
 * calls, the backend's private state, bf16 helpers and block reductions.
 *
 * Storage: "act" tensors are bf16 (__nv_bfloat16); every kernel loads them into
 * float, computes in float (double where a long sum wants it) and rounds once
 * on store. LoRA parameters, gradients and optimizer state are float.
 *
 * Every op is queued on ctx->stream and returns without waiting, except those
 * the contract says synchronise (to_host, to_host_i32, sum_squares, sample).
 * No op allocates device memory per call: scratch lives in the ctx and grows
 * only when a larger shape than ever before is seen (so a decode step that has
 * run once can be captured into a CUDA graph). */
#ifndef SEAL_KERNELS_CUDA_COMMON_CUH
#define SEAL_KERNELS_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/ops.h"
#include "util/util.h"
}
#include "kernels/cuda/cuda.h"

/* ---- checked calls: a failure names the call and dies ---------------------- */

/* CUDA_CHECK(call) is in kernels/cuda/cuda.h (the kernel lab uses it too). */

/* After every kernel launch: catches bad launch configurations at once (faults
 * inside the kernel surface at the next synchronising call). */
#define CUDA_CHECK_LAUNCH(kernel_name)                                                       \
  do {                                                                                       \
    cudaError_t err_ = cudaGetLastError();                                                   \
    if (err_ != cudaSuccess)                                                                 \
      SEAL_DIE("CUDA kernel launch %s failed: %s (%s)", kernel_name, cudaGetErrorName(err_), \
               cudaGetErrorString(err_));                                                    \
  } while (0)

#define CUBLAS_CHECK(call)                                                            \
  do {                                                                                \
    cublasStatus_t st_ = (call);                                                      \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                 \
      SEAL_DIE("cuBLASLt call %s failed: %s (%s)", #call, cublasLtGetStatusName(st_), \
               cublasLtGetStatusString(st_));                                         \
  } while (0)

typedef __nv_bfloat16 bf16;

/* ---- the backend's private state ------------------------------------------ */

/* One cached cuBLASLt plan: descriptors and the chosen algorithm for one GEMM
 * shape (see gemm.cu). */
struct seal_cuda_gemm_plan;

/* Plans kept, least recently used evicted first: a training run whose
 * sequence lengths vary keeps the plans of every layer's shapes hot. */
#define SEAL_CUDA_GEMM_CACHE 256

/* A contract violation a kernel found in device data (a query past the keys,
 * a negative token id, a cache row out of range, a bad target). Kernels
 * cannot stop the process, so the first one is recorded here (mapped pinned
 * memory: the host reads it without a copy) and the backend dies with the CPU
 * backend's message at its next synchronising call (seal_cuda_sync). */
enum {
  SEAL_FAULT_NONE = 0,
  SEAL_FAULT_ATTENTION_QPOS, /* a = batch, b = q_pos, c = Tq, d = Tk */
  SEAL_FAULT_EMBEDDING_ID,   /* a = id, b = row */
  SEAL_FAULT_KV_WRITE,       /* a = batch, b = q_pos, c = Tq, d = Tmax */
  SEAL_FAULT_TARGET,         /* a = target, b = row, c = V */
  SEAL_FAULT_SEQ_START,      /* a = sequence, b = its first row, c = its end, d = max_len */
  SEAL_FAULT_CLAIMED = -1    /* a kernel is writing the fields */
};
struct seal_cuda_fault {
  int code;
  int a, b, c, d;
};

/* Pinned host staging for small uploads (ids, positions, loss weights): a
 * ring of slots, each reused only after the copy queued from it completed
 * (its event), so an upload never waits for the stream and never goes through
 * pageable memory (which hides a synchronisation and cannot be captured). */
#define SEAL_CUDA_STAGE_SLOTS 8
#define SEAL_CUDA_STAGE_MAX ((size_t)1 << 20) /* larger uploads stay pageable */
struct seal_cuda_stage {
  void *host;
  size_t bytes;
  cudaEvent_t done;
  int pending; /* a copy from this slot was queued and done was recorded */
};

struct seal_cuda_ctx {
  int device;
  int sm_count;
  size_t smem_optin; /* the most dynamic shared memory one block may ask for */
  cudaStream_t stream;
  cublasLtHandle_t lt;
  void *workspace; /* cuBLASLt workspace, workspace_bytes */
  size_t workspace_bytes;
  void *scratch; /* device scratch, grown on demand (seal_cuda_scratch) */
  size_t scratch_bytes;
  void *rows; /* gathered rows of grouped LoRA (seal_cuda_rows_scratch) */
  size_t rows_bytes;
  unsigned scratch_generation; /* counts reallocations of scratch and rows */
  void *pinned;                /* pinned host memory for small results (sums, sampled ids) */
  size_t pinned_bytes;
  struct seal_cuda_gemm_plan *plans[SEAL_CUDA_GEMM_CACHE]; /* most recently used first */
  int nplans;
  seal_cuda_fault *fault;     /* mapped pinned host memory */
  seal_cuda_fault *fault_dev; /* the same, as kernels address it */
  seal_cuda_stage stage[SEAL_CUDA_STAGE_SLOTS];
  int stage_next;
  int attention_reference; /* SEAL_CUDA_ATTENTION=reference: the first (CUDA-core) kernels */
  int lora_tiled;          /* SEAL_CUDA_LORA=tiled: LoRA on the float tiled GEMM */
  int gemm_tiled;          /* SEAL_CUDA_GEMM=tiled: every GEMM on the tiled kernel */
};

static inline seal_cuda_ctx *seal_cuda_ctx_of(seal_backend *be) { return (seal_cuda_ctx *)be->ctx; }
static inline cudaStream_t seal_cuda_stream_of(seal_backend *be) {
  return seal_cuda_ctx_of(be)->stream;
}

/* Device scratch of at least `bytes` (256-byte aligned), valid until the next
 * call of this function. Growing waits for the stream (the old buffer may be in
 * use by queued work) and reallocates; steady-state calls cost nothing. */
void *seal_cuda_scratch(seal_backend *be, size_t bytes);
/* A second device scratch with the same rule, for ops that hold rows in it
 * across calls of ops that use seal_cuda_scratch (grouped LoRA). */
void *seal_cuda_rows_scratch(seal_backend *be, size_t bytes);
/* Pinned host memory of at least `bytes`; same growth rule. */
void *seal_cuda_pinned(seal_backend *be, size_t bytes);
/* dst (device) = src[bytes] (host, any memory), queued on the stream; the
 * caller may reuse src at once. Small copies go through the pinned ring. */
void seal_cuda_upload(seal_backend *be, void *dst, const void *src, size_t bytes);
/* Waits for the stream, then dies if a kernel recorded a fault. Every call
 * that the contract says synchronises ends with this. */
void seal_cuda_sync(seal_backend *be);
static inline seal_cuda_fault *seal_cuda_fault_of(seal_backend *be) {
  return ((seal_cuda_ctx *)be->ctx)->fault_dev;
}

/* Blocks for a 1-D grid over n items with `threads` per block, capped so that
 * grid-stride loops cover the rest. */
static inline unsigned seal_cuda_blocks(size_t n, int threads) {
  size_t b = (n + (size_t)threads - 1) / (size_t)threads;
  if (b < 1) b = 1;
  if (b > 65535u * 16u) b = 65535u * 16u;
  return (unsigned)b;
}

/* ---- the ops ---------------------------------------------------------------
 *
 * One function seal_cuda_NAME for every op NAME of SEAL_OPS (kernels/ops.h),
 * declared here from that list; backend.cu fills the table from it, so an op
 * without a CUDA function fails to link. By file:
 *   backend.cu                          memory ops (fill: elementwise.cu)
 *   elementwise.cu                      embedding, add, swiglu (+backward), rope, kv_write
 *   norm.cu                             rmsnorm, residual_rmsnorm, rmsnorm_backward
 *   gemm.cu                             matmul, matmul_backward_input (cuBLASLt)
 *   lora.cu                             lora_forward, lora_backward, lora_merge
 *   attention.cu, attention_backward.cu attention, attention_backward (with
 *   flash_attention*.cu)
 *   loss.cu                             cross_entropy
 *   optim.cu                            sum_squares, adamw
 *   sample.cu                           sample */
#define SEAL_CUDA_DECLARE_(ret, name, params, args) ret seal_cuda_##name params;
SEAL_OPS(SEAL_CUDA_DECLARE_)
#undef SEAL_CUDA_DECLARE_

/* ---- helpers shared between the files ------------------------------------ */

/* elementwise.cu: f32 <-> bf16 on the device (to_device and to_host stage through these) */
void seal_cuda_f32_to_bf16(seal_backend *be, bf16 *dst, const float *src, size_t n);
void seal_cuda_bf16_to_f32(seal_backend *be, float *dst, const bf16 *src, size_t n);

/* gemm.cu: cuBLASLt for bf16 x bf16, and a plain tiled kernel for the mixed
 * bf16/f32 GEMMs of LoRA (and as the fallback when cuBLASLt offers no
 * algorithm). */
void seal_cuda_gemm_cache_free(seal_cuda_ctx *ctx);

/* Operand of the tiled GEMM: element (row, col) of a logical matrix sits at
 * p[row * row_stride + col * col_stride]; bf16 or f32. */
struct seal_cuda_operand {
  const void *p;
  seal_dtype type; /* SEAL_BF16 or SEAL_F32 */
  long row_stride, col_stride;
};
/* C[M,N] (row-major, leading dimension ldc, type c_type) =
 *   alpha * A[M,K] @ B[K,N] + beta * C, in float; C is not read when beta == 0. */
void seal_cuda_gemm_tiled(seal_backend *be, void *C, seal_dtype c_type, long ldc,
                          seal_cuda_operand A, seal_cuda_operand B, int M, int N, int K,
                          float alpha, float beta);

/* Row-major C[M,N] = alpha opA(A) opB(B) + beta C on cuBLASLt (gemm.cu); A and
 * B of type ab (bf16 or f32), C bf16 or f32; opX transposes the stored matrix
 * when transX. Returns 0, having queued nothing, when cuBLASLt offers no
 * algorithm (the caller falls back to seal_cuda_gemm_tiled). */
int seal_cuda_gemm_rm(seal_backend *be, int M, int N, int K, const void *A, long lda, int transA,
                      const void *B, long ldb, int transB, seal_dtype ab, void *C, long ldc,
                      seal_dtype c, float alpha, float beta);

/* attention.cu: raises the dynamic shared-memory limit of the attention
 * kernels (once, at backend creation). */
void seal_cuda_attention_init(seal_backend *be);

/* ---- device helpers -------------------------------------------------------- */
#ifdef __CUDACC__

/* Records the first fault of the process's run (later ones are dropped). */
__device__ __forceinline__ void seal_fault(seal_cuda_fault *f, int code, int a, int b, int c,
                                           int d) {
  if (atomicCAS(&f->code, SEAL_FAULT_NONE, SEAL_FAULT_CLAIMED) != SEAL_FAULT_NONE) return;
  f->a = a, f->b = b, f->c = c, f->d = d;
  __threadfence_system();
  atomicExch(&f->code, code);
}

__device__ __forceinline__ float seal_ld(const float *p) { return *p; }
__device__ __forceinline__ float seal_ld(const bf16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void seal_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void seal_st(bf16 *p, float v) { *p = __float2bfloat16(v); }

template <typename T>
__device__ __forceinline__ T seal_warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float seal_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Sum over the block, returned to every thread. blockDim.x must be a multiple
 * of 32 (at most 1024) and every thread of the block must call it. */
template <typename T>
__device__ T seal_block_sum(T v) {
  __shared__ T partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = seal_warp_sum(v);
  __syncthreads(); /* an earlier call's readers are done with partial[] */
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  T r = lane < nwarps ? partial[lane] : T(0);
  return seal_warp_sum(r);
}

/* Maximum over the block, returned to every thread (same rules). */
__device__ __forceinline__ float seal_block_max(float v) {
  __shared__ float partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = seal_warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float r = lane < nwarps ? partial[lane] : -INFINITY;
  return seal_warp_max(r);
}

#endif /* __CUDACC__ */

#endif
