/* kernels/cuda/flash_attention_backward.cu — causal grouped-query attention
 * backward on the tensor cores (the packed training form: sequence b is rows
 * seq_start[b] .. seq_start[b+1]-1, attending to itself from position 0), for
 * D in {48, 64, 80, 96, 128}; attention_backward.cu's CUDA-core kernels are
 * the checked fallback (other D, SEAL_CUDA_ATTENTION=reference).
 *
 * With P_ij = exp(scale q_i.k_j - lse_i), dP_ij = do_i.v_j, D_i = do_i.o_i and
 * dS_ij = P_ij (dP_ij - D_i):
 *   dq_i = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i,  dv_j = sum_i P_ij do_i.
 * Three launches and no atomics, so the result does not depend on scheduling:
 *   rowdot: D_i, 16-byte loads, one warp per row;
 *   dkdv<D>: a block is 64 keys of one (sequence, kv head), 4 warps of 16 keys,
 *     walking query tiles (double-buffered cp.async) of every query head of the
 *     group from the first that sees its keys: S^T = K Q^T, P^T, dP^T = V dO^T,
 *     dS^T, then dV += P^T dO and dK += dS^T Q, each row written once (=);
 *   dq<D>: a block is 64 queries of one (sequence, query head), walking key tiles
 *     as the forward does: S = Q K^T, P, dP = dO V^T, dS, dQ += dS K.
 * S and dP are computed twice (once per kernel), FlashAttention-2 avoids that
 * with atomics on dq; determinism is worth the 1.4x in these FLOPs here.
 * Every product is mma.sync m16n8k16 bf16 -> f32 with operands by ldmatrix;
 * P^T and dS^T are rounded to bf16 as the A operands of the second products,
 * as FlashAttention-2 does. */
#include <math.h>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/mma.cuh"

#define FB_THREADS 128 /* 4 warps x 16 rows */
#define FB_ROWS 64     /* keys (dkdv) or queries (dq) per block */
#define FB_BN 64       /* keys per tile in dq */
#define LOG2E 1.4426950408889634f

/* Query tile of dkdv: the accumulators of dK and dV for D = 128 leave room for
 * 32 queries at a time, smaller D for 64. */
template <int D>
struct fb_tiles {
  static constexpr int BQ = D > 64 ? 32 : 64;
};

/* Rows row0 + r0 .. row0 + r0+ROWS-1 of head `head` of a [rows, H, D] tensor
 * into dst[ROWS][D + 8], rows past `last` zero-filled (cp.async, not waited
 * for). */
template <int D, int ROWS>
__device__ __forceinline__ void fb_load(bf16 *dst, const bf16 *src, int row0, int r0, int last,
                                        int H, int head) {
  constexpr int CH = D / 8;
  for (int i = threadIdx.x; i < ROWS * CH; i += FB_THREADS) {
    int r = i / CH, c = i % CH, t = r0 + r;
    bool ok = t <= last;
    const bf16 *g = src + ((size_t)(row0 + (ok ? t : 0)) * H + head) * D + c * 8;
    cp_async_16(dst + r * (D + 8) + c * 8, g, ok ? 16 : 0);
  }
}

/* acc[NT][4] (16 rows x 8*NT columns) = A (16 rows of `a`, k = D) x B^T where
 * B's rows are `brows` (each of D): S = Q K^T shape, both from shared memory. */
template <int D, int NT>
__device__ __forceinline__ void rows_times_rows(float acc[NT][4], const bf16 *a, const bf16 *brows,
                                                int lane) {
  constexpr int LD = D + 8;
#pragma unroll
  for (int i = 0; i < NT; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
#pragma unroll
  for (int ks = 0; ks < D / 16; ks++) {
    uint32_t af[4];
    ldmatrix_x4(af, a + (lane % 16) * LD + ks * 16 + (lane / 16) * 8);
#pragma unroll
    for (int np = 0; np < NT / 2; np++) {
      uint32_t bb[4];
      ldmatrix_x4(
          bb, brows + (np * 16 + lane % 8 + (lane / 16) * 8) * LD + ks * 16 + ((lane / 8) % 2) * 8);
      uint32_t b0[2] = {bb[0], bb[1]}, b1[2] = {bb[2], bb[3]};
      mma_bf16_16816(acc[2 * np], af, b0);
      mma_bf16_16816(acc[2 * np + 1], af, b1);
    }
  }
}

/* out[D/8][4] (16 rows x D) += P (16 x 16*KT, as C fragments p[2*KT][4]) x
 * M where M's rows (k) are `mrows` [16*KT][D] in shared memory. */
template <int D, int KT>
__device__ __forceinline__ void frags_times_rows(float out[D / 8][4], const float p[2 * KT][4],
                                                 const bf16 *mrows, int lane) {
  constexpr int LD = D + 8;
#pragma unroll
  for (int kk = 0; kk < KT; kk++) {
    uint32_t a[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                     pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                     pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; dp++) {
      uint32_t vb[4];
      ldmatrix_x4_trans(
          vb, mrows + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dp * 16 + (lane / 16) * 8);
      uint32_t b0[2] = {vb[0], vb[1]}, b1[2] = {vb[2], vb[3]};
      mma_bf16_16816(out[2 * dp], a, b0);
      mma_bf16_16816(out[2 * dp + 1], a, b1);
    }
  }
}

/* dst rows row0 + t0 and row0 + t0 + 8 (t0 this thread's first of its warp's
 * 16) of a [rows, H, D] tensor from accumulators acc[D/8][4] times `mul`, rows
 * t < T only. */
template <int D>
__device__ __forceinline__ void store_rows(bf16 *dst, const float acc[D / 8][4], float mul,
                                           int row0, int t0, int T, int H, int head, int qd) {
  bf16 *r0 = dst + ((size_t)(row0 + t0) * H + head) * D + qd * 2;
  bf16 *r1 = dst + ((size_t)(row0 + t0 + 8) * H + head) * D + qd * 2;
#pragma unroll
  for (int i = 0; i < D / 8; i++) {
    if (t0 < T)
      *reinterpret_cast<__nv_bfloat162 *>(r0 + i * 8) =
          __floats2bfloat162_rn(acc[i][0] * mul, acc[i][1] * mul);
    if (t0 + 8 < T)
      *reinterpret_cast<__nv_bfloat162 *>(r1 + i * 8) =
          __floats2bfloat162_rn(acc[i][2] * mul, acc[i][3] * mul);
  }
}

/* ---- D_i ---------------------------------------------------------------------------- */

/* Dvec[n, h] = dout . out over D (D % 8 == 0), one warp per (row, head) of
 * packed sequence blockIdx.y; warps past its length do nothing. */
__global__ void flash_rowdot_kernel(float *Dvec, const bf16 *dout, const bf16 *out,
                                    const int32_t *seq_start, int Hq, int D) {
  long pair = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; /* t * Hq + h */
  int lane = threadIdx.x % 32, sq = blockIdx.y;
  int row0 = seq_start[sq], T = seq_start[sq + 1] - row0;
  if (pair >= (long)T * Hq) return;
  long row = (long)row0 * Hq + pair; /* (n, h) order */
  const uint4 *a = reinterpret_cast<const uint4 *>(dout + row * D);
  const uint4 *o = reinterpret_cast<const uint4 *>(out + row * D);
  float s = 0.0f;
  for (int c = lane; c < D / 8; c += 32) {
    uint4 x = a[c], y = o[c];
    const __nv_bfloat162 *xa = reinterpret_cast<const __nv_bfloat162 *>(&x);
    const __nv_bfloat162 *ya = reinterpret_cast<const __nv_bfloat162 *>(&y);
#pragma unroll
    for (int i = 0; i < 4; i++) {
      float2 u = __bfloat1622float2(xa[i]), w = __bfloat1622float2(ya[i]);
      s += u.x * w.x + u.y * w.y;
    }
  }
  s = seal_warp_sum(s);
  if (lane == 0) Dvec[row] = s;
}

/* ---- dK, dV ------------------------------------------------------------------------- */

template <int D>
__global__ void __launch_bounds__(FB_THREADS)
    flash_dkdv_kernel(bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *Dvec,
                      const bf16 *q, const bf16 *k, const bf16 *v, const int32_t *seq_start,
                      int max_len, int Hq, int Hkv, float scale, float scale_log2,
                      seal_cuda_fault *fault) {
  constexpr int LD = D + 8, BQ = fb_tiles<D>::BQ, NT = BQ / 8, DT = D / 8;
  extern __shared__ __align__(16) unsigned char fb_smem[];
  bf16 *Ks = (bf16 *)fb_smem;              /* [FB_ROWS][LD] */
  bf16 *Vs = Ks + FB_ROWS * LD;            /* [FB_ROWS][LD] */
  bf16 *Qs = Vs + FB_ROWS * LD;            /* [2][BQ][LD] */
  bf16 *Os = Qs + 2 * BQ * LD;             /* [2][BQ][LD] dout rows */
  float *Ls = (float *)(Os + 2 * BQ * LD); /* [2][BQ] lse * log2 e */
  float *Ds = Ls + 2 * BQ;                 /* [2][BQ] D_i */
  int b = blockIdx.z, hk = blockIdx.y, group = Hq / Hkv, j0 = blockIdx.x * FB_ROWS;
  att_seq sq = att_seq_of(seq_start, NULL, b, 0, 0);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  int T = sq.Tq, row0 = sq.q0;
  if (j0 >= T) return; /* past a shorter sequence; block-uniform */
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, qd = lane % 4;
  fb_load<D, FB_ROWS>(Ks, k, row0, j0, T - 1, Hkv, hk);
  fb_load<D, FB_ROWS>(Vs, v, row0, j0, T - 1, Hkv, hk);
  int first = (j0 / BQ) * BQ; /* queries before j0 see none of these keys */
  int per_head = (T - first + BQ - 1) / BQ, steps = per_head * group;
  /* step s: head hk * group + s / per_head, query tile first + (s % per_head) * BQ */
  auto load_step = [&](int s, int st) {
    int h = hk * group + s / per_head, i0 = first + (s % per_head) * BQ;
    fb_load<D, BQ>(Qs + st * BQ * LD, q, row0, i0, T - 1, Hq, h);
    fb_load<D, BQ>(Os + st * BQ * LD, dout, row0, i0, T - 1, Hq, h);
    for (int x = threadIdx.x; x < BQ; x += FB_THREADS) {
      int i = i0 + x;
      size_t at = (size_t)(row0 + i) * Hq + h;
      Ls[st * BQ + x] = i < T ? lse[at] * LOG2E : 0.0f;
      Ds[st * BQ + x] = i < T ? Dvec[at] : 0.0f;
    }
  };
  load_step(0, 0);
  cp_async_commit();

  int key0 = j0 + warp * 16 + g, key1 = key0 + 8; /* this thread's two key rows */
  float dK[DT][4], dV[DT][4];
#pragma unroll
  for (int i = 0; i < DT; i++)
#pragma unroll
    for (int e = 0; e < 4; e++) dK[i][e] = dV[i][e] = 0.0f;
  const bf16 *Kw = Ks + warp * 16 * LD, *Vw = Vs + warp * 16 * LD;

  for (int s = 0; s < steps; s++) {
    int st = s & 1;
    if (s + 1 < steps) {
      load_step(s + 1, st ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads(); /* also publishes Ls, Ds (plain stores) */
    int i0 = first + (s % per_head) * BQ;
    const bf16 *Qt = Qs + st * BQ * LD, *Ot = Os + st * BQ * LD;
    const float *Lt = Ls + st * BQ, *Dt = Ds + st * BQ;
    /* P^T = exp2(scale_log2 K Q^T - lse log2 e), causal: query i sees key j iff j <= i */
    float p[NT][4], dp[NT][4];
    rows_times_rows<D, NT>(p, Kw, Qt, lane);
    rows_times_rows<D, NT>(dp, Vw, Ot, lane);
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        int c = nt * 8 + qd * 2 + e, i = i0 + c;
        float l = Lt[c], d = Dt[c];
        bool ok = i < T;
        float p0 = ok && key0 <= i ? exp2f(p[nt][e] * scale_log2 - l) : 0.0f;
        float p1 = ok && key1 <= i ? exp2f(p[nt][2 + e] * scale_log2 - l) : 0.0f;
        p[nt][e] = p0, p[nt][2 + e] = p1;
        dp[nt][e] = p0 * (dp[nt][e] - d), dp[nt][2 + e] = p1 * (dp[nt][2 + e] - d); /* dS^T */
      }
    frags_times_rows<D, NT / 2>(dV, p, Ot, lane);
    frags_times_rows<D, NT / 2>(dK, dp, Qt, lane);
    __syncthreads(); /* this stage is consumed before it is refilled */
  }
  store_rows<D>(dk, dK, scale, row0, key0, T, Hkv, hk, qd);
  store_rows<D>(dv, dV, 1.0f, row0, key0, T, Hkv, hk, qd);
}

/* ---- dQ ----------------------------------------------------------------------------- */

template <int D>
__global__ void __launch_bounds__(FB_THREADS)
    flash_dq_kernel(bf16 *dq, const bf16 *dout, const float *lse, const float *Dvec, const bf16 *q,
                    const bf16 *k, const bf16 *v, const int32_t *seq_start, int max_len, int Hq,
                    int Hkv, float scale, float scale_log2, seal_cuda_fault *fault) {
  constexpr int LD = D + 8, DT = D / 8;
  extern __shared__ __align__(16) unsigned char fb_smem[];
  bf16 *Qs = (bf16 *)fb_smem;     /* [FB_ROWS][LD] */
  bf16 *Os = Qs + FB_ROWS * LD;   /* [FB_ROWS][LD] dout rows */
  bf16 *Ks = Os + FB_ROWS * LD;   /* [2][FB_BN][LD] */
  bf16 *Vs = Ks + 2 * FB_BN * LD; /* [2][FB_BN][LD] */
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv), i0 = blockIdx.x * FB_ROWS;
  att_seq sq = att_seq_of(seq_start, NULL, b, 0, 0);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  int T = sq.Tq, row0 = sq.q0;
  if (i0 >= T) return; /* past a shorter sequence; block-uniform */
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, qd = lane % 4;
  int kv_last = min(i0 + FB_ROWS, T) - 1, ntiles = kv_last / FB_BN + 1;
  fb_load<D, FB_ROWS>(Qs, q, row0, i0, T - 1, Hq, h);
  fb_load<D, FB_ROWS>(Os, dout, row0, i0, T - 1, Hq, h);
  fb_load<D, FB_BN>(Ks, k, row0, 0, kv_last, Hkv, hk);
  fb_load<D, FB_BN>(Vs, v, row0, 0, kv_last, Hkv, hk);
  cp_async_commit();
  int r0 = i0 + warp * 16 + g, r1 = r0 + 8; /* this thread's query rows */
  size_t at0 = (size_t)(row0 + r0) * Hq + h, at1 = at0 + 8 * (size_t)Hq;
  float l0 = r0 < T ? lse[at0] * LOG2E : 0.0f, l1 = r1 < T ? lse[at1] * LOG2E : 0.0f;
  float d0 = r0 < T ? Dvec[at0] : 0.0f, d1 = r1 < T ? Dvec[at1] : 0.0f;
  float dQ[DT][4];
#pragma unroll
  for (int i = 0; i < DT; i++) dQ[i][0] = dQ[i][1] = dQ[i][2] = dQ[i][3] = 0.0f;
  const bf16 *Qw = Qs + warp * 16 * LD, *Ow = Os + warp * 16 * LD;

  for (int j = 0; j < ntiles; j++) {
    int st = j & 1;
    if (j + 1 < ntiles) {
      fb_load<D, FB_BN>(Ks + (st ^ 1) * FB_BN * LD, k, row0, (j + 1) * FB_BN, kv_last, Hkv, hk);
      fb_load<D, FB_BN>(Vs + (st ^ 1) * FB_BN * LD, v, row0, (j + 1) * FB_BN, kv_last, Hkv, hk);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16 *Kt = Ks + st * FB_BN * LD, *Vt = Vs + st * FB_BN * LD;
    float p[8][4], dp[8][4];
    rows_times_rows<D, 8>(p, Qw, Kt, lane);
    rows_times_rows<D, 8>(dp, Ow, Vt, lane);
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        int key = j * FB_BN + nt * 8 + qd * 2 + e;
        float p0 = r0 < T && key <= r0 ? exp2f(p[nt][e] * scale_log2 - l0) : 0.0f;
        float p1 = r1 < T && key <= r1 ? exp2f(p[nt][2 + e] * scale_log2 - l1) : 0.0f;
        dp[nt][e] = p0 * (dp[nt][e] - d0), dp[nt][2 + e] = p1 * (dp[nt][2 + e] - d1); /* dS */
      }
    frags_times_rows<D, 4>(dQ, dp, Kt, lane);
    __syncthreads();
  }
  store_rows<D>(dq, dQ, scale, row0, r0, T, Hq, h, qd);
}

/* ---- entry -------------------------------------------------------------------------- */

template <int D>
static size_t dkdv_smem() {
  constexpr int BQ = fb_tiles<D>::BQ;
  return (size_t)(2 * FB_ROWS + 4 * BQ) * (D + 8) * sizeof(bf16) + 4 * (size_t)BQ * sizeof(float);
}
template <int D>
static size_t dq_smem() {
  return (size_t)(2 * FB_ROWS + 4 * FB_BN) * (D + 8) * sizeof(bf16);
}

template <int D>
static void flash_backward(seal_backend *be, void *dq, void *dk, void *dv, const void *dout,
                           const float *lse, const float *Dvec, const void *q, const void *k,
                           const void *v, const int32_t *seq_start, int n_seq, int max_len, int Hq,
                           int Hkv) {
  cudaStream_t s = seal_cuda_stream_of(be);
  seal_cuda_fault *fault = seal_cuda_fault_of(be);
  float scale = 1.0f / sqrtf((float)D);
  unsigned blocks = (unsigned)((max_len + FB_ROWS - 1) / FB_ROWS);
  flash_dkdv_kernel<D>
      <<<dim3(blocks, (unsigned)Hkv, (unsigned)n_seq), FB_THREADS, dkdv_smem<D>(), s>>>(
          (bf16 *)dk, (bf16 *)dv, (const bf16 *)dout, lse, Dvec, (const bf16 *)q, (const bf16 *)k,
          (const bf16 *)v, seq_start, max_len, Hq, Hkv, scale, scale * LOG2E, fault);
  CUDA_CHECK_LAUNCH("flash_dkdv_kernel");
  flash_dq_kernel<D><<<dim3(blocks, (unsigned)Hq, (unsigned)n_seq), FB_THREADS, dq_smem<D>(), s>>>(
      (bf16 *)dq, (const bf16 *)dout, lse, Dvec, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v,
      seq_start, max_len, Hq, Hkv, scale, scale * LOG2E, fault);
  CUDA_CHECK_LAUNCH("flash_dq_kernel");
}

int seal_cuda_flash_attention_backward(seal_backend *be, void *dq, void *dk, void *dv,
                                       const void *dout, const void *out, const float *lse,
                                       const void *q, const void *k, const void *v,
                                       const int32_t *seq_start, int n_seq, int max_len, int Hq,
                                       int Hkv, int D) {
  if (seal_cuda_ctx_of(be)->attention_reference) return 0;
  if (D != 48 && D != 64 && D != 80 && D != 96 && D != 128) return 0;
  /* [N, Hq]; N (on the device) is at most n_seq * max_len */
  float *Dvec = (float *)seal_cuda_scratch(be, (size_t)n_seq * max_len * Hq * sizeof(float));
  long pairs = (long)max_len * Hq;
  flash_rowdot_kernel<<<dim3((unsigned)((pairs + 7) / 8), (unsigned)n_seq), 256, 0,
                        seal_cuda_stream_of(be)>>>(Dvec, (const bf16 *)dout, (const bf16 *)out,
                                                   seq_start, Hq, D);
  CUDA_CHECK_LAUNCH("flash_rowdot_kernel");
  switch (D) {
    case 48:
      flash_backward<48>(be, dq, dk, dv, dout, lse, Dvec, q, k, v, seq_start, n_seq, max_len, Hq,
                         Hkv);
      break;
    case 64:
      flash_backward<64>(be, dq, dk, dv, dout, lse, Dvec, q, k, v, seq_start, n_seq, max_len, Hq,
                         Hkv);
      break;
    case 80:
      flash_backward<80>(be, dq, dk, dv, dout, lse, Dvec, q, k, v, seq_start, n_seq, max_len, Hq,
                         Hkv);
      break;
    case 96:
      flash_backward<96>(be, dq, dk, dv, dout, lse, Dvec, q, k, v, seq_start, n_seq, max_len, Hq,
                         Hkv);
      break;
    default:
      flash_backward<128>(be, dq, dk, dv, dout, lse, Dvec, q, k, v, seq_start, n_seq, max_len, Hq,
                          Hkv);
      break;
  }
  return 1;
}

template <int D>
static void raise_backward_smem(size_t optin) {
  size_t a = dkdv_smem<D>(), b = dq_smem<D>();
  SEAL_CHECK(a <= optin && b <= optin,
             "attention_backward: needs %zu bytes of shared memory per block, %zu allowed",
             a > b ? a : b, optin);
  CUDA_CHECK(cudaFuncSetAttribute(flash_dkdv_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)a));
  CUDA_CHECK(cudaFuncSetAttribute(flash_dq_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)b));
}

void seal_cuda_flash_attention_backward_init(seal_backend *be) {
  size_t optin = seal_cuda_ctx_of(be)->smem_optin;
  raise_backward_smem<48>(optin);
  raise_backward_smem<64>(optin);
  raise_backward_smem<80>(optin);
  raise_backward_smem<96>(optin);
  raise_backward_smem<128>(optin);
}
