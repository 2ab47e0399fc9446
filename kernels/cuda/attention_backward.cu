/* kernels/cuda/attention_backward.cu — causal grouped-query attention,
 * backward (the packed training form: sequence b is rows seq_start[b] ..
 * seq_start[b+1]-1, attending to itself from position 0), flash-style from the
 * forward's log-sum-exp: no T x T buffer, no atomics. With
 *   P_ij = exp(scale q_i.k_j - lse_i),  dP_ij = do_i.v_j,  D_i = do_i.o_i,
 *   dS_ij = P_ij (dP_ij - D_i):
 *   dq_i = scale sum_{j<=i} dS_ij k_j
 *   dk_j = scale sum_{h in group} sum_{i>=j} dS_ij q_i,  dv_j = sum ... P_ij do_i
 * Three launches: D_i per query row; dq with one warp per query walking key
 * tiles (as the forward); dk and dv with one warp per key walking query tiles
 * of every query head of its group, so each dk/dv row is written once (=).
 * The op entry tries flash_attention_backward.cu's tensor-core kernels first;
 * these are the first version, kept as the checked fallback. */
#include <math.h>

#include "kernels/cuda/attention_common.cuh"

/* Dvec[n, h] = sum_d dout * out for the rows n of every packed sequence, one
 * warp per (row, head): blockIdx.y is the sequence, the warps of blockIdx.x
 * its (t, h) pairs in order; warps past its length do nothing. */
__global__ void attention_rowdot_kernel(float *Dvec, const bf16 *dout, const bf16 *out,
                                        const int32_t *seq_start, int Hq, int D) {
  long pair = (long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; /* t * Hq + h */
  int lane = threadIdx.x % 32, s = blockIdx.y;
  int row0 = seq_start[s], T = seq_start[s + 1] - row0;
  if (pair >= (long)T * Hq) return;
  long row = (long)row0 * Hq + pair; /* (n, h) order */
  const bf16 *a = dout + row * D, *o = out + row * D;
  float sum = 0.0f;
  for (int d = lane; d < D; d += 32) sum += __bfloat162float(a[d]) * __bfloat162float(o[d]);
  sum = seal_warp_sum(sum);
  if (lane == 0) Dvec[row] = sum;
}

/* dq: block = up to ATT_WARPS queries of one (sequence, h); warp = query i. */
__global__ void __launch_bounds__(ATT_WARPS * 32)
    attention_dq_kernel(bf16 *dq, const bf16 *dout, const float *lse, const float *Dvec,
                        const bf16 *q, const bf16 *k, const bf16 *v, const int32_t *seq_start,
                        int max_len, int Hq, int Hkv, int D, float scale, seal_cuda_fault *fault) {
  extern __shared__ float smem[];
  float *Ks = smem;                    /* [ATT_TILE][D + 1] */
  float *Vs = Ks + ATT_TILE * (D + 1); /* [ATT_TILE][D + 1] */
  float *Qs = Vs + ATT_TILE * (D + 1); /* [ATT_WARPS][D] */
  float *Os = Qs + ATT_WARPS * D;      /* [ATT_WARPS][D]: dout rows */
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  att_seq sq = att_seq_of(seq_start, NULL, b, 0, 0);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  int T = sq.Tq, row0 = sq.q0;
  int i0 = blockIdx.x * nwarps, i = i0 + warp;
  if (i0 >= T) return; /* block-uniform */
  bool active = i < T;
  int last = active ? i : -1;
  int block_last = min(i0 + nwarps, T) - 1;
  float *qw = Qs + warp * D, *ow = Os + warp * D;
  float l_i = 0.0f, D_i = 0.0f;
  if (active) {
    size_t off = ((size_t)(row0 + i) * Hq + h) * D;
    for (int d = lane; d < D; d += 32) {
      qw[d] = __bfloat162float(q[off + d]);
      ow[d] = __bfloat162float(dout[off + d]);
    }
    l_i = lse[(size_t)(row0 + i) * Hq + h];
    D_i = Dvec[(size_t)(row0 + i) * Hq + h];
  }
  float acc[ATT_MAX_D / 32];
#pragma unroll
  for (int c = 0; c < ATT_MAX_D / 32; c++) acc[c] = 0.0f;

  for (int kt = 0; kt <= block_last; kt += ATT_TILE) {
    __syncthreads();
    stage_rows(Ks, D + 1, k, row0, kt, block_last, Hkv, hk, D);
    stage_rows(Vs, D + 1, v, row0, kt, block_last, Hkv, hk, D);
    __syncthreads();
    if (kt > last) continue;
    int key = kt + lane;
    float ds = 0.0f;
    if (key <= last) {
      const float *kr = Ks + lane * (D + 1), *vr = Vs + lane * (D + 1);
      float s = 0.0f, dp = 0.0f;
      for (int d = 0; d < D; d++) {
        s += qw[d] * kr[d];
        dp += ow[d] * vr[d];
      }
      float p = expf(s * scale - l_i);
      ds = p * (dp - D_i);
    }
    for (int j = 0; j < ATT_TILE; j++) {
      float dsj = __shfl_sync(0xffffffffu, ds, j);
      const float *kr = Ks + j * (D + 1);
#pragma unroll
      for (int c = 0; c < ATT_MAX_D / 32; c++) {
        int d = lane + 32 * c;
        if (d < D) acc[c] += dsj * kr[d];
      }
    }
  }
  if (!active) return;
  bf16 *row = dq + ((size_t)(row0 + i) * Hq + h) * D;
#pragma unroll
  for (int c = 0; c < ATT_MAX_D / 32; c++) {
    int d = lane + 32 * c;
    if (d < D) row[d] = __float2bfloat16(acc[c] * scale);
  }
}

/* dk, dv: block = up to ATT_WARPS keys of one (sequence, kv head); warp = key j. */
__global__ void __launch_bounds__(ATT_WARPS * 32)
    attention_dkdv_kernel(bf16 *dk, bf16 *dv, const bf16 *dout, const float *lse, const float *Dvec,
                          const bf16 *q, const bf16 *k, const bf16 *v, const int32_t *seq_start,
                          int max_len, int Hq, int Hkv, int D, float scale,
                          seal_cuda_fault *fault) {
  extern __shared__ float smem[];
  float *Qs = smem;                    /* [ATT_TILE][D + 1] query rows */
  float *Os = Qs + ATT_TILE * (D + 1); /* [ATT_TILE][D + 1] dout rows */
  float *Kw = Os + ATT_TILE * (D + 1); /* [ATT_WARPS][D] */
  float *Vw = Kw + ATT_WARPS * D;      /* [ATT_WARPS][D] */
  float *Ls = Vw + ATT_WARPS * D;      /* [ATT_TILE] lse of the staged queries */
  float *Ds = Ls + ATT_TILE;           /* [ATT_TILE] D_i of the staged queries */
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  int b = blockIdx.z, hk = blockIdx.y, group = Hq / Hkv;
  att_seq sq = att_seq_of(seq_start, NULL, b, 0, 0);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  int T = sq.Tq, row0 = sq.q0;
  int j0 = blockIdx.x * nwarps, j = j0 + warp;
  if (j0 >= T) return; /* block-uniform */
  bool active = j < T;
  float *kw = Kw + warp * D, *vw = Vw + warp * D;
  if (active) {
    size_t off = ((size_t)(row0 + j) * Hkv + hk) * D;
    for (int d = lane; d < D; d += 32) {
      kw[d] = __bfloat162float(k[off + d]);
      vw[d] = __bfloat162float(v[off + d]);
    }
  }
  float dk_acc[ATT_MAX_D / 32], dv_acc[ATT_MAX_D / 32];
#pragma unroll
  for (int c = 0; c < ATT_MAX_D / 32; c++) dk_acc[c] = dv_acc[c] = 0.0f;

  int first_tile = (j0 / ATT_TILE) * ATT_TILE; /* queries before j0 see none of these keys */
  for (int h = hk * group; h < (hk + 1) * group; h++) {
    for (int it = first_tile; it < T; it += ATT_TILE) {
      __syncthreads();
      stage_rows(Qs, D + 1, q, row0, it, T - 1, Hq, h, D);
      stage_rows(Os, D + 1, dout, row0, it, T - 1, Hq, h, D);
      for (int x = threadIdx.x; x < ATT_TILE; x += blockDim.x) {
        int qi = it + x;
        Ls[x] = qi < T ? lse[(size_t)(row0 + qi) * Hq + h] : 0.0f;
        Ds[x] = qi < T ? Dvec[(size_t)(row0 + qi) * Hq + h] : 0.0f;
      }
      __syncthreads();
      if (!active || it + ATT_TILE - 1 < j) continue; /* warp-uniform: no query sees key j */
      int qi = it + lane;
      float p = 0.0f, ds = 0.0f;
      if (qi >= j && qi < T) {
        const float *qr = Qs + lane * (D + 1), *orow = Os + lane * (D + 1);
        float s = 0.0f, dp = 0.0f;
        for (int d = 0; d < D; d++) {
          s += qr[d] * kw[d];
          dp += orow[d] * vw[d];
        }
        p = expf(s * scale - Ls[lane]);
        ds = p * (dp - Ds[lane]);
      }
      for (int x = 0; x < ATT_TILE; x++) {
        float px = __shfl_sync(0xffffffffu, p, x), dsx = __shfl_sync(0xffffffffu, ds, x);
        const float *qr = Qs + x * (D + 1), *orow = Os + x * (D + 1);
#pragma unroll
        for (int c = 0; c < ATT_MAX_D / 32; c++) {
          int d = lane + 32 * c;
          if (d < D) {
            dv_acc[c] += px * orow[d];
            dk_acc[c] += dsx * qr[d];
          }
        }
      }
    }
  }
  if (!active) return;
  size_t off = ((size_t)(row0 + j) * Hkv + hk) * D;
#pragma unroll
  for (int c = 0; c < ATT_MAX_D / 32; c++) {
    int d = lane + 32 * c;
    if (d < D) {
      dk[off + d] = __float2bfloat16(dk_acc[c] * scale);
      dv[off + d] = __float2bfloat16(dv_acc[c]);
    }
  }
}

static size_t dq_smem(int D) {
  return sizeof(float) * (2 * (size_t)ATT_TILE * (D + 1) + 2 * (size_t)ATT_WARPS * D);
}
static size_t dkdv_smem(int D) {
  return sizeof(float) *
         (2 * (size_t)ATT_TILE * (D + 1) + 2 * (size_t)ATT_WARPS * D + 2 * (size_t)ATT_TILE);
}

void seal_cuda_attention_backward(seal_backend *be, void *dq, void *dk, void *dv, const void *dout,
                                  const void *out, const float *lse, const void *q, const void *k,
                                  const void *v, const int32_t *seq_start, int n_seq, int max_len,
                                  int Hq, int Hkv, int D) {
  SEAL_CHECK(Hkv > 0 && Hq % Hkv == 0,
             "attention_backward: %d query heads do not group over %d kv heads", Hq, Hkv);
  SEAL_CHECK(D > 0 && D <= ATT_MAX_D, "attention_backward: head dimension %d is outside 1..%d", D,
             ATT_MAX_D);
  SEAL_CHECK(Hq <= 65535 && n_seq <= 65535,
             "attention_backward: %d heads x %d sequences exceed the grid", Hq, n_seq);
  if (n_seq <= 0 || max_len <= 0) return;
  if (seal_cuda_flash_attention_backward(be, dq, dk, dv, dout, out, lse, q, k, v, seq_start, n_seq,
                                         max_len, Hq, Hkv, D))
    return;
  cudaStream_t s = seal_cuda_stream_of(be);
  float scale = 1.0f / sqrtf((float)D);
  /* [N, Hq]; N (on the device) is at most n_seq * max_len */
  float *Dvec = (float *)seal_cuda_scratch(be, (size_t)n_seq * max_len * Hq * sizeof(float));

  long pairs = (long)max_len * Hq;
  attention_rowdot_kernel<<<dim3((unsigned)((pairs + 7) / 8), (unsigned)n_seq), 256, 0, s>>>(
      Dvec, (const bf16 *)dout, (const bf16 *)out, seq_start, Hq, D);
  CUDA_CHECK_LAUNCH("attention_rowdot_kernel");

  int nwarps = max_len < ATT_WARPS ? max_len : ATT_WARPS;
  dim3 grid_q((unsigned)((max_len + nwarps - 1) / nwarps), (unsigned)Hq, (unsigned)n_seq);
  attention_dq_kernel<<<grid_q, nwarps * 32, dq_smem(D), s>>>(
      (bf16 *)dq, (const bf16 *)dout, lse, Dvec, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v,
      seq_start, max_len, Hq, Hkv, D, scale, seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("attention_dq_kernel");

  dim3 grid_kv((unsigned)((max_len + nwarps - 1) / nwarps), (unsigned)Hkv, (unsigned)n_seq);
  attention_dkdv_kernel<<<grid_kv, nwarps * 32, dkdv_smem(D), s>>>(
      (bf16 *)dk, (bf16 *)dv, (const bf16 *)dout, lse, Dvec, (const bf16 *)q, (const bf16 *)k,
      (const bf16 *)v, seq_start, max_len, Hq, Hkv, D, scale, seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("attention_dkdv_kernel");
}

void seal_cuda_attention_backward_init(seal_backend *be) {
  size_t optin = seal_cuda_ctx_of(be)->smem_optin;
  size_t need_q = dq_smem(ATT_MAX_D), need_kv = dkdv_smem(ATT_MAX_D);
  SEAL_CHECK(need_q <= optin && need_kv <= optin,
             "attention_backward: needs %zu bytes of shared memory per block, the device allows "
             "%zu",
             need_kv > need_q ? need_kv : need_q, optin);
  CUDA_CHECK(cudaFuncSetAttribute(attention_dq_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  (int)need_q));
  CUDA_CHECK(cudaFuncSetAttribute(attention_dkdv_kernel,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need_kv));
  seal_cuda_flash_attention_backward_init(be);
}
