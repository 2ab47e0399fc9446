/* kernels/cuda/gemm.cu — matrix products.
 *
 * bf16 x bf16 (the base model's linear layers) goes through cuBLASLt: bf16
 * operands, float accumulation and scaling (CUBLAS_COMPUTE_32F), the bias added
 * in the epilogue. cuBLASLt is column-major; a row-major [R, C] matrix is the
 * column-major [C, R] one, so y[N,O] = x[N,I] W[O,I]^T is computed as the
 * column-major y^T[O,N] = W x^T, i.e. op(A) = W (A = W^T stored [I,O],
 * transposed), B = x^T stored [I,N]. Descriptors and the algorithm are chosen
 * once per shape and pointer alignment and kept in a small cache, so a steady
 * training or decode loop makes no heuristic queries.
 *
 * The mixed bf16/f32 products of LoRA use a plain tiled kernel (64x64 tiles,
 * float FMAs), which is also the fallback when cuBLASLt has no algorithm for a
 * shape. */
#include <string.h>

#include "kernels/cuda/common.cuh"

/* ---- tiled GEMM ------------------------------------------------------------- */

#define TILE_M 64
#define TILE_N 64
#define TILE_K 16
#define TILE_THREADS 256 /* 16 x 16, each thread 4 x 4 outputs */

template <typename T>
__device__ __forceinline__ float load_operand(const T *p, long r, long c, long rs, long cs,
                                              long rows, long cols) {
  return (r < rows && c < cols) ? seal_ld(p + r * rs + c * cs) : 0.0f;
}

/* C[M,N] = alpha A[M,K] B[K,N] (+ bias[N]) + beta C. Each operand is read
 * through its strides, so transposes cost only coalescing, not correctness. */
template <typename TA, typename TB, typename TC>
__global__ void __launch_bounds__(TILE_THREADS)
    gemm_tiled_kernel(TC *C, long ldc, const TA *A, long sam, long sak, const TB *B, long sbk,
                      long sbn, const bf16 *bias, int M, int N, int K, float alpha, float beta) {
  __shared__ float As[TILE_K][TILE_M + 4]; /* [k][m] */
  __shared__ float Bs[TILE_K][TILE_N + 4]; /* [k][n] */
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  long m0 = (long)blockIdx.y * TILE_M, n0 = (long)blockIdx.x * TILE_N;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += TILE_K) {
    /* 1024 elements per tile, 4 per thread; walk the contiguous direction
     * fastest when there is one. */
    for (int i = threadIdx.x; i < TILE_M * TILE_K; i += TILE_THREADS) {
      int mm, kk;
      if (sak == 1) {
        mm = i / TILE_K;
        kk = i % TILE_K;
      } else {
        kk = i / TILE_M;
        mm = i % TILE_M;
      }
      As[kk][mm] = load_operand(A, m0 + mm, (long)k0 + kk, sam, sak, M, K);
    }
    for (int i = threadIdx.x; i < TILE_K * TILE_N; i += TILE_THREADS) {
      int kk, nn;
      if (sbn == 1) {
        kk = i / TILE_N;
        nn = i % TILE_N;
      } else {
        nn = i / TILE_K;
        kk = i % TILE_K;
      }
      Bs[kk][nn] = load_operand(B, (long)k0 + kk, n0 + nn, sbk, sbn, K, N);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TILE_K; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    long m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      long n = n0 + tx + 16 * j;
      if (n >= N) continue;
      float v = alpha * acc[i][j];
      if (bias) v += __bfloat162float(bias[n]);
      TC *c = C + m * ldc + n;
      if (beta != 0.0f) v += beta * seal_ld(c); /* beta == 0: C is never read */
      seal_st(c, v);
    }
  }
}

template <typename TA, typename TB, typename TC>
static void launch_tiled(cudaStream_t s, void *C, long ldc, const seal_cuda_operand &A,
                         const seal_cuda_operand &B, const bf16 *bias, int M, int N, int K,
                         float alpha, float beta) {
  dim3 grid((unsigned)((N + TILE_N - 1) / TILE_N), (unsigned)((M + TILE_M - 1) / TILE_M));
  gemm_tiled_kernel<TA, TB, TC><<<grid, TILE_THREADS, 0, s>>>(
      (TC *)C, ldc, (const TA *)A.p, A.row_stride, A.col_stride, (const TB *)B.p, B.row_stride,
      B.col_stride, bias, M, N, K, alpha, beta);
  CUDA_CHECK_LAUNCH("gemm_tiled_kernel");
}

template <typename TA, typename TB>
static void dispatch_c(cudaStream_t s, void *C, seal_dtype c_type, long ldc,
                       const seal_cuda_operand &A, const seal_cuda_operand &B, const bf16 *bias,
                       int M, int N, int K, float alpha, float beta) {
  if (c_type == SEAL_BF16)
    launch_tiled<TA, TB, bf16>(s, C, ldc, A, B, bias, M, N, K, alpha, beta);
  else
    launch_tiled<TA, TB, float>(s, C, ldc, A, B, bias, M, N, K, alpha, beta);
}

static void gemm_tiled_bias(seal_backend *be, void *C, seal_dtype c_type, long ldc,
                            seal_cuda_operand A, seal_cuda_operand B, const bf16 *bias, int M,
                            int N, int K, float alpha, float beta) {
  if (M <= 0 || N <= 0) return;
  SEAL_CHECK(M <= 65535L * TILE_M, "gemm: %d rows exceed the grid", M);
  SEAL_CHECK((c_type == SEAL_BF16 || c_type == SEAL_F32) &&
                 (A.type == SEAL_BF16 || A.type == SEAL_F32) &&
                 (B.type == SEAL_BF16 || B.type == SEAL_F32),
             "gemm: operands must be bf16 or f32");
  cudaStream_t s = seal_cuda_stream_of(be);
  if (A.type == SEAL_BF16 && B.type == SEAL_BF16)
    dispatch_c<bf16, bf16>(s, C, c_type, ldc, A, B, bias, M, N, K, alpha, beta);
  else if (A.type == SEAL_BF16)
    dispatch_c<bf16, float>(s, C, c_type, ldc, A, B, bias, M, N, K, alpha, beta);
  else if (B.type == SEAL_BF16)
    dispatch_c<float, bf16>(s, C, c_type, ldc, A, B, bias, M, N, K, alpha, beta);
  else
    dispatch_c<float, float>(s, C, c_type, ldc, A, B, bias, M, N, K, alpha, beta);
}

void seal_cuda_gemm_tiled(seal_backend *be, void *C, seal_dtype c_type, long ldc,
                          seal_cuda_operand A, seal_cuda_operand B, int M, int N, int K,
                          float alpha, float beta) {
  gemm_tiled_bias(be, C, c_type, ldc, A, B, NULL, M, N, K, alpha, beta);
}

/* ---- cuBLASLt --------------------------------------------------------------- */

struct seal_cuda_gemm_plan {
  /* key */
  cublasOperation_t ta, tb;
  int m, n, k;
  long lda, ldb, ldc;
  cudaDataType_t at, bt, ct; /* CUDA_R_16BF or CUDA_R_32F; A and B alike */
  int bias;
  int align_a, align_b, align_c;
  /* value */
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t a, b, c;
  cublasLtMatmulAlgo_t algo;
  int has_algo; /* 0: cuBLASLt offered nothing; use the tiled kernel */
};

/* The largest power of two (up to 256) dividing the address: cuBLASLt must be
 * told when a pointer is less aligned than the 256 bytes it assumes. */
static int alignment_of(const void *p) {
  uintptr_t a = (uintptr_t)p;
  int al = 256;
  while (al > 1 && a % (uintptr_t)al) al /= 2;
  return al;
}

static void create_plan(seal_cuda_ctx *ctx, seal_cuda_gemm_plan *p) {
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &p->ta, sizeof p->ta));
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &p->tb, sizeof p->tb));
  if (p->bias) {
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    cudaDataType_t bias_type = CUDA_R_16BF;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                &bias_type, sizeof bias_type));
  }
  /* Stored shapes (column-major): op(A) is m x k, op(B) is k x n. */
  uint64_t a_rows = p->ta == CUBLAS_OP_N ? p->m : p->k, a_cols = p->ta == CUBLAS_OP_N ? p->k : p->m;
  uint64_t b_rows = p->tb == CUBLAS_OP_N ? p->k : p->n, b_cols = p->tb == CUBLAS_OP_N ? p->n : p->k;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, p->at, a_rows, a_cols, p->lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, p->bt, b_rows, b_cols, p->ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, p->ct, p->m, p->n, p->ldc));

  cublasLtMatmulPreference_t pref;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = ctx->workspace_bytes;
  uint32_t al_a = (uint32_t)p->align_a, al_b = (uint32_t)p->align_b, al_c = (uint32_t)p->align_c;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof ws));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
  cublasLtMatmulHeuristicResult_t result;
  memset(&result, 0, sizeof result);
  int returned = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx->lt, p->desc, p->a, p->b, p->c, p->c, pref,
                                                     1, &result, &returned);
  CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  /* No algorithm (NOT_SUPPORTED, or zero results) is an answer, not a
   * failure: the tiled kernel computes the same product, more slowly. Any
   * other status is unexpected and is said out loud, but still falls back. */
  p->has_algo = st == CUBLAS_STATUS_SUCCESS && returned > 0;
  if (p->has_algo) {
    p->algo = result.algo;
  } else if (st == CUBLAS_STATUS_SUCCESS || st == CUBLAS_STATUS_NOT_SUPPORTED) {
    seal_debug("cuda gemm: cuBLASLt has no algorithm for m=%d n=%d k=%d; using the tiled kernel",
               p->m, p->n, p->k);
  } else {
    seal_warn(
        "cuda gemm: cublasLtMatmulAlgoGetHeuristic (m=%d n=%d k=%d) failed: %s; using the "
        "tiled kernel",
        p->m, p->n, p->k, cublasLtGetStatusName(st));
  }
}

static void destroy_plan(seal_cuda_gemm_plan *p) {
  /* Descriptors are host objects, safe to free while queued matmuls run. */
  CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->a));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->b));
  CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->c));
  free(p);
}

static bool same_key(const seal_cuda_gemm_plan *p, const seal_cuda_gemm_plan *key) {
  return p->ta == key->ta && p->tb == key->tb && p->m == key->m && p->n == key->n &&
         p->k == key->k && p->lda == key->lda && p->ldb == key->ldb && p->ldc == key->ldc &&
         p->at == key->at && p->bt == key->bt && p->ct == key->ct && p->bias == key->bias &&
         p->align_a == key->align_a && p->align_b == key->align_b && p->align_c == key->align_c;
}

/* The plan for key, most recently used first (move to front on a hit, so a
 * steady loop finds its shapes within the first few entries); a miss makes a
 * plan and, when the cache is full, evicts the least recently used. */
static seal_cuda_gemm_plan *find_plan(seal_cuda_ctx *ctx, const seal_cuda_gemm_plan *key) {
  seal_cuda_gemm_plan *p = NULL;
  int at = -1;
  for (int i = 0; i < ctx->nplans; i++)
    if (same_key(ctx->plans[i], key)) {
      p = ctx->plans[i];
      at = i;
      break;
    }
  if (!p) {
    p = (seal_cuda_gemm_plan *)seal_calloc(1, sizeof *p);
    *p = *key;
    create_plan(ctx, p);
    if (ctx->nplans == SEAL_CUDA_GEMM_CACHE) destroy_plan(ctx->plans[--ctx->nplans]);
    at = ctx->nplans++;
  }
  memmove(ctx->plans + 1, ctx->plans, (size_t)at * sizeof ctx->plans[0]);
  ctx->plans[0] = p;
  return p;
}

void seal_cuda_gemm_cache_free(seal_cuda_ctx *ctx) {
  for (int i = 0; i < ctx->nplans; i++) destroy_plan(ctx->plans[i]);
  ctx->nplans = 0;
}

/* Column-major D[m,n] = alpha op(A) op(B) + beta C (+ bias[m]), D = C in place,
 * A and B of type ab, C of type c. Returns 0 when cuBLASLt has no algorithm
 * (nothing was queued). */
static int gemm_lt(seal_backend *be, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                   int k, const void *A, long lda, const void *B, long ldb, cudaDataType_t ab,
                   void *C, long ldc, cudaDataType_t c, const void *bias, float alpha, float beta) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  seal_cuda_gemm_plan key;
  memset(&key, 0, sizeof key);
  key.ta = ta;
  key.tb = tb;
  key.m = m;
  key.n = n;
  key.k = k;
  key.lda = lda;
  key.ldb = ldb;
  key.ldc = ldc;
  key.at = key.bt = ab;
  key.ct = c;
  key.bias = bias != NULL;
  key.align_a = alignment_of(A);
  key.align_b = alignment_of(B);
  key.align_c = alignment_of(C);
  if (ctx->gemm_tiled) return 0; /* SEAL_CUDA_GEMM=tiled: the checked fallback, for the lab */
  seal_cuda_gemm_plan *p = find_plan(ctx, &key);
  if (!p->has_algo) return 0;
  if (bias)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                sizeof bias));
  CUBLAS_CHECK(cublasLtMatmul(ctx->lt, p->desc, &alpha, A, p->a, B, p->b, &beta, C, p->c, C, p->c,
                              &p->algo, ctx->workspace, ctx->workspace_bytes, ctx->stream));
  return 1;
}

static cudaDataType_t lt_type(seal_dtype t) { return t == SEAL_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

/* Row-major C[M,N] = alpha opA(A) opB(B) + beta C on cuBLASLt, where opX(X) is X
 * or, with transX, X^T of the stored row-major matrix (leading dimension
 * ldX). A and B share one type (bf16 or f32), C is bf16 or f32. As column-major
 * this is C^T[N,M] = opB(B)^T opA(A)^T, so the operands swap sides and a
 * row-major "no transpose" is a column-major "no transpose" of the stored
 * transpose. Returns 0 (nothing queued) when cuBLASLt has no algorithm. */
int seal_cuda_gemm_rm(seal_backend *be, int M, int N, int K, const void *A, long lda, int transA,
                      const void *B, long ldb, int transB, seal_dtype ab, void *C, long ldc,
                      seal_dtype c, float alpha, float beta) {
  if (M <= 0 || N <= 0) return 1;
  SEAL_CHECK(K > 0, "gemm: empty inner dimension");
  return gemm_lt(be, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                 K, B, ldb, A, lda, lt_type(ab), C, ldc, lt_type(c), NULL, alpha, beta);
}

/* out[n, :] = bias (or 0): the product over an empty inner dimension. */
__global__ void broadcast_rows_kernel(bf16 *out, const bf16 *bias, int O, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    out[i] = bias[i % O];
}

/* ---- the two base-model products -------------------------------------------- */

void seal_cuda_matmul(seal_backend *be, void *out, const void *inp, const void *weight,
                      const void *bias, int N, int I, int O) {
  if (N <= 0 || O <= 0) return;
  if (I <= 0) { /* the empty product is 0: every row is the bias (ops.h), as on the CPU */
    size_t n = (size_t)N * O;
    if (!bias) {
      seal_cuda_fill(be, out, SEAL_BF16, 0.0f, n);
      return;
    }
    broadcast_rows_kernel<<<seal_cuda_blocks(n, 256), 256, 0, seal_cuda_stream_of(be)>>>(
        (bf16 *)out, (const bf16 *)bias, O, n);
    CUDA_CHECK_LAUNCH("broadcast_rows_kernel");
    return;
  }
  /* column-major out^T[O,N] = W[O,I] x^T[I,N]: A = W^T stored [I,O], transposed. */
  if (gemm_lt(be, CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, weight, I, inp, I, CUDA_R_16BF, out, O,
              CUDA_R_16BF, bias, 1.0f, 0.0f))
    return;
  /* row-major out[N,O] = x[N,I] W^T: B(k=i, n=o) = W[o*I + i]. */
  seal_cuda_operand A = {inp, SEAL_BF16, I, 1};
  seal_cuda_operand B = {weight, SEAL_BF16, 1, I};
  gemm_tiled_bias(be, out, SEAL_BF16, O, A, B, (const bf16 *)bias, N, O, I, 1.0f, 0.0f);
}

void seal_cuda_matmul_backward_input(seal_backend *be, void *dinp, const void *dout,
                                     const void *weight, int N, int I, int O, int accumulate) {
  if (N <= 0 || I <= 0) return;
  float beta = accumulate ? 1.0f : 0.0f;
  if (O <= 0) {
    if (!accumulate) seal_cuda_fill(be, dinp, SEAL_BF16, 0.0f, (size_t)N * I);
    return;
  }
  /* column-major dinp^T[I,N] = W^T[I,O] dout^T[O,N]: A = W^T stored [I,O]. */
  if (gemm_lt(be, CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, weight, I, dout, O, CUDA_R_16BF, dinp, I,
              CUDA_R_16BF, NULL, 1.0f, beta))
    return;
  seal_cuda_operand A = {dout, SEAL_BF16, O, 1};
  seal_cuda_operand B = {weight, SEAL_BF16, I, 1};
  gemm_tiled_bias(be, dinp, SEAL_BF16, I, A, B, NULL, N, I, O, 1.0f, beta);
}
