/* kernels/cuda/attention.cu — causal grouped-query attention, forward (the
 * cached form: prefill and decode; the packed training form, attention_varlen),
 * flash-style: no T x T buffer. The op
 * entry tries the tensor-core and decoding kernels of flash_attention.cu
 * first; the kernel below is the first version, on the CUDA cores, kept as
 * the checked fallback (head dimensions those do not cover, such as 256, and
 * SEAL_CUDA_ATTENTION=reference).
 *
 * A block takes up to 4 consecutive queries of one (sequence, query head), one
 * warp per query (att_seq: where the sequence's rows sit, in either form), and walks the keys its
 * last query may see in tiles of 32, staged in shared memory as float. Per tile and warp: lane j
 * scores key j of the tile (a D-long dot product from shared memory; the key rows are padded by one
 * float so the 32 lanes hit 32 banks), the online softmax rescales the running sum and output (max
 * m, sum l), lane d accumulates sum_j p_j v_j[d] for its dimensions d = lane + 32 i. Query head h
 * reads kv head h / (Hq / Hkv) by indexing. Keys past a query's position get probability exactly 0,
 * and rows past Tk are staged as zeros, so nothing unwritten is ever multiplied in. */
#include <math.h>

#include "kernels/cuda/attention_common.cuh"

__global__ void __launch_bounds__(ATT_WARPS * 32)
    attention_forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                             const int32_t *q_pos, const int32_t *seq_start, int Tq, int Tk,
                             int max_len, int Hq, int Hkv, int D, float scale,
                             seal_cuda_fault *fault) {
  extern __shared__ float smem[];
  float *Ks = smem;                    /* [ATT_TILE][D + 1] */
  float *Vs = Ks + ATT_TILE * (D + 1); /* [ATT_TILE][D] */
  float *Qs = Vs + ATT_TILE * D;       /* [nwarps][D] */
  int nwarps = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
  att_seq sq = att_seq_of(seq_start, q_pos, b, Tq, Tk);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  int t0 = blockIdx.x * nwarps, t = t0 + warp;
  if (t0 >= sq.Tq) return; /* past a shorter packed sequence; block-uniform */
  bool active = t < sq.Tq;
  int base = sq.base;
  int last = active ? base + t : -1;                   /* this warp's last key */
  int block_last = base + min(t0 + nwarps, sq.Tq) - 1; /* the block's */

  float *qw = Qs + warp * D;
  if (active) {
    const bf16 *qrow = q + ((size_t)(sq.q0 + t) * Hq + h) * D;
    for (int d = lane; d < D; d += 32) qw[d] = __bfloat162float(qrow[d]);
  }
  float m = -INFINITY, l = 0.0f;
  float acc[ATT_MAX_D / 32];
#pragma unroll
  for (int i = 0; i < ATT_MAX_D / 32; i++) acc[i] = 0.0f;

  for (int kt = 0; kt <= block_last; kt += ATT_TILE) {
    __syncthreads(); /* the previous tile is consumed (and qw written, first time) */
    stage_rows(Ks, D + 1, k, sq.k0, kt, block_last, Hkv, hk, D);
    stage_rows(Vs, D, v, sq.k0, kt, block_last, Hkv, hk, D);
    __syncthreads();
    if (kt > last) continue; /* warp-uniform: nothing of this tile is visible */
    int key = kt + lane;
    float s = -INFINITY;
    if (key <= last) {
      const float *kr = Ks + lane * (D + 1);
      float dot = 0.0f;
      for (int d = 0; d < D; d++) dot += qw[d] * kr[d];
      s = dot * scale;
    }
    float m_new = fmaxf(m, seal_warp_max(s)); /* finite: key kt <= last is visible */
    float p = key <= last ? expf(s - m_new) : 0.0f;
    float correction = expf(m - m_new); /* 0 on the first tile (m = -inf) */
    l = l * correction + seal_warp_sum(p);
#pragma unroll
    for (int i = 0; i < ATT_MAX_D / 32; i++) acc[i] *= correction;
    for (int j = 0; j < ATT_TILE; j++) {
      float pj = __shfl_sync(0xffffffffu, p, j);
      const float *vr = Vs + j * D;
#pragma unroll
      for (int i = 0; i < ATT_MAX_D / 32; i++) {
        int d = lane + 32 * i;
        if (d < D) acc[i] += pj * vr[d];
      }
    }
    m = m_new;
  }
  if (!active) return;
  float inv = 1.0f / l;
  bf16 *orow = out + ((size_t)(sq.q0 + t) * Hq + h) * D;
#pragma unroll
  for (int i = 0; i < ATT_MAX_D / 32; i++) {
    int d = lane + 32 * i;
    if (d < D) orow[d] = __float2bfloat16(acc[i] * inv);
  }
  if (lse && lane == 0) lse[(size_t)(sq.q0 + t) * Hq + h] = m + logf(l);
}

static size_t forward_smem(int D, int nwarps) {
  return sizeof(float) * ((size_t)ATT_TILE * (D + 1) + (size_t)ATT_TILE * D + (size_t)nwarps * D);
}

/* Refuses what no kernel here runs. */
static void check_shape(const char *op, int B, int Hq, int Hkv, int D) {
  SEAL_CHECK(Hkv > 0 && Hq % Hkv == 0, "%s: %d query heads do not group over %d kv heads", op, Hq,
             Hkv);
  SEAL_CHECK(D > 0 && D <= ATT_MAX_D, "%s: head dimension %d is outside 1..%d", op, D, ATT_MAX_D);
  SEAL_CHECK(Hq <= 65535 && B <= 65535, "%s: %d heads x %d sequences exceed the grid", op, Hq, B);
}

/* The reference kernel over B sequences of at most Tq queries (the cached
 * form, or packed with q_pos NULL and Tq = Tk = max_len). */
static void reference_forward(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                              const void *v, const int32_t *q_pos, const int32_t *seq_start, int B,
                              int Tq, int Tk, int Hq, int Hkv, int D) {
  int nwarps = Tq < ATT_WARPS ? Tq : ATT_WARPS; /* decode (Tq = 1) uses one warp */
  dim3 grid((unsigned)((Tq + nwarps - 1) / nwarps), (unsigned)Hq, (unsigned)B);
  attention_forward_kernel<<<grid, nwarps * 32, forward_smem(D, nwarps), seal_cuda_stream_of(be)>>>(
      (bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, q_pos, seq_start, Tq, Tk,
      Tq, Hq, Hkv, D, 1.0f / sqrtf((float)D), seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("attention_forward_kernel");
}

void seal_cuda_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                         const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq,
                         int Hkv, int D) {
  check_shape("attention", B, Hq, Hkv, D);
  if (B <= 0 || Tq <= 0) return;
  SEAL_CHECK(Tk > 0, "attention: no keys (Tk = %d)", Tk);
  if (seal_cuda_flash_attention(be, out, lse, q, k, v, q_pos, NULL, B, Tq, Tk, Hq, Hkv, D)) return;
  reference_forward(be, out, lse, q, k, v, q_pos, NULL, B, Tq, Tk, Hq, Hkv, D);
}

/* A block per (sequence, query head, query tile), the sequence's rows from
 * seq_start on the device; tiles past a shorter sequence's end return at once. */
void seal_cuda_attention_varlen(seal_backend *be, void *out, float *lse, const void *q,
                                const void *k, const void *v, const int32_t *seq_start, int n_seq,
                                int max_len, int Hq, int Hkv, int D) {
  check_shape("attention_varlen", n_seq, Hq, Hkv, D);
  if (n_seq <= 0 || max_len <= 0) return;
  if (seal_cuda_flash_attention(be, out, lse, q, k, v, NULL, seq_start, n_seq, max_len, max_len, Hq,
                                Hkv, D))
    return;
  reference_forward(be, out, lse, q, k, v, NULL, seq_start, n_seq, max_len, max_len, Hq, Hkv, D);
}

void seal_cuda_attention_init(seal_backend *be) {
  size_t need = forward_smem(ATT_MAX_D, ATT_WARPS);
  SEAL_CHECK(need <= seal_cuda_ctx_of(be)->smem_optin,
             "attention: needs %zu bytes of shared memory per block, the device allows %zu", need,
             seal_cuda_ctx_of(be)->smem_optin);
  CUDA_CHECK(cudaFuncSetAttribute(attention_forward_kernel,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
  seal_cuda_attention_backward_init(be);
  seal_cuda_flash_attention_init(be);
}
