/* kernels/cuda/flash_attention.cu — causal grouped-query attention forward on
 * the tensor cores, FlashAttention-2 style, and the split-key decoding kernel
 * for one query row per sequence. The op entry (seal_cuda_attention) picks:
 *   Tq == 1, D % 8 == 0, D <= 256, group <= 16  -> decode_attention_kernel
 *   D in {48, 64, 80, 96, 128}                  -> flash_forward_kernel<D>
 *   anything else, or SEAL_CUDA_ATTENTION=reference -> attention.cu's first
 *   (CUDA-core) kernel, kept as the checked fallback.
 *
 * flash_forward_kernel<D>: a block is 64 queries of one (sequence, query head)
 * (the cached form's batch b, or packed sequence b at rows seq_start[b]..: see
 * att_seq), 4
 * warps of 16 rows; it walks the key tiles (64 keys) its last query may see,
 * double-buffered in shared memory by cp.async (the next tile loads while the
 * current one is used). Per tile, per warp: S = Q K^T by mma.sync m16n8k16
 * (Q fragments kept in registers for the whole walk, K by ldmatrix), the causal
 * mask, the online softmax in base 2 (running max m and partial sums l per
 * thread, reduced over the quad only at the end), then O += P V with P taken
 * straight from S's accumulators and V by ldmatrix.trans. Keys past the last
 * one the block may see are zero-filled, never read, so unwritten cache rows
 * (NaN, say) never reach a product. GQA by indexing: head h reads kv head
 * h / (Hq / Hkv). lse = (m + log2 l) ln 2 when asked for.
 *
 * decode_attention_kernel: a block is one (split of the keys, kv head, batch)
 * and covers the whole query group of that kv head, so each key and value row
 * is read once for all its query heads; keys come in tiles of 64 by 16-byte
 * cp.async, scores and P V on the CUDA cores from shared memory. With several
 * splits each block writes its unnormalised (m, l, acc) and a second launch
 * combines them. */
#include <math.h>

#include "kernels/cuda/attention_common.cuh"
#include "kernels/cuda/mma.cuh"

#define FA_BM 64
#define FA_BN 64
#define FA_THREADS 128 /* 4 warps x 16 query rows */
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* Rows row0 + r0 .. row0 + r0+ROWS-1 of head `head` of a [rows, H, D] bf16
 * tensor into dst[ROWS][D + 8] (the 16 bytes of padding per row keep ldmatrix's eight
 * row reads on distinct banks); rows past `last` are zero-filled without a
 * read. Queued by the whole block (cp.async, not waited for). */
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, int row0, int r0, int last,
                                          int H, int head) {
  constexpr int CH = D / 8; /* 16-byte chunks per row */
  for (int i = threadIdx.x; i < ROWS * CH; i += FA_THREADS) {
    int r = i / CH, c = i % CH, t = r0 + r;
    bool ok = t <= last;
    const bf16 *g = src + ((size_t)(row0 + (ok ? t : 0)) * H + head) * D + c * 8;
    cp_async_16(dst + r * (D + 8) + c * 8, g, ok ? 16 : 0);
  }
}

template <int D>
__global__ void __launch_bounds__(FA_THREADS)
    flash_forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                         const int32_t *q_pos, const int32_t *seq_start, int Tq, int Tk,
                         int max_len, int Hq, int Hkv, float scale_log2, seal_cuda_fault *fault) {
  constexpr int LD = D + 8, KS = D / 16, DT = D / 8;
  extern __shared__ __align__(16) unsigned char fa_smem[];
  bf16 *Qs = (bf16 *)fa_smem;     /* [FA_BM][LD] */
  bf16 *Ks = Qs + FA_BM * LD;     /* [2][FA_BN][LD] */
  bf16 *Vs = Ks + 2 * FA_BN * LD; /* [2][FA_BN][LD] */
  int b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv), q0 = blockIdx.x * FA_BM;
  att_seq sq = att_seq_of(seq_start, q_pos, b, Tq, Tk);
  if (!att_seq_ok(sq, seq_start, b, max_len, fault)) return;
  if (q0 >= sq.Tq) return; /* past a shorter packed sequence; block-uniform */
  Tq = sq.Tq;
  int base = sq.base;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, qd = lane % 4;
  int kv_last = base + min(q0 + FA_BM, Tq) - 1; /* the last key any row of the block sees */
  int ntiles = kv_last / FA_BN + 1;
  load_tile<D, FA_BM>(Qs, q, sq.q0, q0, Tq - 1, Hq, h);
  load_tile<D, FA_BN>(Ks, k, sq.k0, 0, kv_last, Hkv, hk);
  load_tile<D, FA_BN>(Vs, v, sq.k0, 0, kv_last, Hkv, hk);
  cp_async_commit();

  int row0 = warp * 16 + g; /* this thread's rows: row0 and row0 + 8 of the block */
  int pos0 = base + q0 + row0, pos1 = pos0 + 8;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  uint32_t qf[KS][4];

  for (int j = 0; j < ntiles; j++) {
    int st = j & 1;
    if (j + 1 < ntiles) { /* the next tile loads while this one is used */
      load_tile<D, FA_BN>(Ks + (st ^ 1) * FA_BN * LD, k, sq.k0, (j + 1) * FA_BN, kv_last, Hkv, hk);
      load_tile<D, FA_BN>(Vs + (st ^ 1) * FA_BN * LD, v, sq.k0, (j + 1) * FA_BN, kv_last, Hkv, hk);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int ks = 0; ks < KS; ks++)
        ldmatrix_x4(qf[ks], Qs + (warp * 16 + lane % 16) * LD + ks * 16 + (lane / 16) * 8);
    }
    const bf16 *Kt = Ks + st * FA_BN * LD, *Vt = Vs + st * FA_BN * LD;

    /* S = Q K^T: 16 rows x 64 keys per warp, 8 tiles of 8 keys */
    float s[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < KS; ks++)
#pragma unroll
      for (int np = 0; np < 4; np++) {
        uint32_t kb[4];
        ldmatrix_x4(
            kb, Kt + (np * 16 + lane % 8 + (lane / 16) * 8) * LD + ks * 16 + ((lane / 8) % 2) * 8);
        uint32_t b0[2] = {kb[0], kb[1]}, b1[2] = {kb[2], kb[3]};
        mma_bf16_16816(s[2 * np], qf[ks], b0);
        mma_bf16_16816(s[2 * np + 1], qf[ks], b1);
      }

    /* mask, then the online softmax in base 2. Key 0 is visible to every
     * row, so after the first tile m is finite and exp2(m - new) is safe. */
    int kbase = j * FA_BN;
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int nt = 0; nt < 8; nt++)
#pragma unroll
      for (int e = 0; e < 2; e++) {
        int key = kbase + nt * 8 + qd * 2 + e;
        float x0 = key <= pos0 ? s[nt][e] * scale_log2 : -INFINITY;
        float x1 = key <= pos1 ? s[nt][2 + e] * scale_log2 : -INFINITY;
        s[nt][e] = x0, s[nt][2 + e] = x1;
        mx0 = fmaxf(mx0, x0), mx1 = fmaxf(mx1, x1);
      }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    float c0 = exp2f(m0 - mx0), c1 = exp2f(m1 - mx1); /* 0 on the first tile */
    m0 = mx0, m1 = mx1;
    float rs0 = 0.0f, rs1 = 0.0f;
#pragma unroll
    for (int nt = 0; nt < 8; nt++) {
      s[nt][0] = exp2f(s[nt][0] - m0), s[nt][1] = exp2f(s[nt][1] - m0);
      s[nt][2] = exp2f(s[nt][2] - m1), s[nt][3] = exp2f(s[nt][3] - m1);
      rs0 += s[nt][0] + s[nt][1], rs1 += s[nt][2] + s[nt][3];
    }
    l0 = l0 * c0 + rs0, l1 = l1 * c1 + rs1;
#pragma unroll
    for (int i = 0; i < DT; i++) o[i][0] *= c0, o[i][1] *= c0, o[i][2] *= c1, o[i][3] *= c1;

      /* O += P V: P's accumulators are the A fragments, V by ldmatrix.trans */
#pragma unroll
    for (int kk = 0; kk < 4; kk++) {
      uint32_t a[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                       pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                       pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < DT / 2; dp++) {
        uint32_t vb[4];
        ldmatrix_x4_trans(
            vb, Vt + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * LD + dp * 16 + (lane / 16) * 8);
        uint32_t b0[2] = {vb[0], vb[1]}, b1[2] = {vb[2], vb[3]};
        mma_bf16_16816(o[2 * dp], a, b0);
        mma_bf16_16816(o[2 * dp + 1], a, b1);
      }
    }
    __syncthreads(); /* every warp is done with this stage before it is refilled */
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  int t0 = q0 + row0, t1 = t0 + 8;
  float inv0 = 1.0f / l0, inv1 = 1.0f / l1;
  bf16 *o0 = out + ((size_t)(sq.q0 + t0) * Hq + h) * D + qd * 2;
  bf16 *o1 = out + ((size_t)(sq.q0 + t1) * Hq + h) * D + qd * 2;
#pragma unroll
  for (int i = 0; i < DT; i++) {
    if (t0 < Tq)
      *reinterpret_cast<__nv_bfloat162 *>(o0 + i * 8) =
          __floats2bfloat162_rn(o[i][0] * inv0, o[i][1] * inv0);
    if (t1 < Tq)
      *reinterpret_cast<__nv_bfloat162 *>(o1 + i * 8) =
          __floats2bfloat162_rn(o[i][2] * inv1, o[i][3] * inv1);
  }
  if (lse && qd == 0) {
    if (t0 < Tq) lse[(size_t)(sq.q0 + t0) * Hq + h] = (m0 + log2f(l0)) * LN2;
    if (t1 < Tq) lse[(size_t)(sq.q0 + t1) * Hq + h] = (m1 + log2f(l1)) * LN2;
  }
}

static size_t flash_smem(int D) { return (size_t)(FA_BM + 4 * FA_BN) * (D + 8) * sizeof(bf16); }

/* ---- decoding: one query row per sequence ---------------------------------------- */

#define DEC_THREADS 128
#define DEC_BN 64
#define DEC_MAXG 16 /* query heads per kv head */
#define DEC_GPT 4   /* query heads one thread accumulates (G <= DEC_GPT * threads per chunk) */

/* shared memory, in order: qs [G][D] f32, Ks, Vs [DEC_BN][D + 8] bf16,
 * ps, half [G][DEC_BN] f32, m, l, corr [G] f32 */
static size_t decode_smem(int G, int D) {
  return (size_t)G * D * 4 + 2 * (size_t)DEC_BN * (D + 8) * 2 + 2 * (size_t)G * DEC_BN * 4 +
         3 * (size_t)G * 4;
}

__device__ __forceinline__ void bf16x8_to_float(float f[8], uint4 u) {
  const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    float2 x = __bfloat1622float2(h[i]);
    f[2 * i] = x.x, f[2 * i + 1] = x.y;
  }
}

/* part: [B, Hq, splits, D + 2] f32 (m in base 2, l, acc[D]) when splits > 1. */
__global__ void __launch_bounds__(DEC_THREADS)
    decode_attention_kernel(bf16 *out, float *lse, float *part, const bf16 *q, const bf16 *k,
                            const bf16 *v, const int32_t *q_pos, int Tk, int Hq, int Hkv, int D,
                            int chunk, float scale_log2, seal_cuda_fault *fault) {
  extern __shared__ __align__(16) unsigned char dec_smem[];
  int G = Hq / Hkv, LD = D + 8, CH = D / 8;
  float *qs = (float *)dec_smem;           /* [G][D] */
  bf16 *Ks = (bf16 *)(qs + G * D);         /* [DEC_BN][LD] */
  bf16 *Vs = Ks + DEC_BN * LD;             /* [DEC_BN][LD] */
  float *ps = (float *)(Vs + DEC_BN * LD); /* [G][DEC_BN] scores, then P */
  float *half = ps + G * DEC_BN;           /* [G][DEC_BN] second half of each dot */
  float *ms = half + G * DEC_BN, *ls = ms + G, *corr = ls + G; /* [G] each */
  int split = blockIdx.x, hk = blockIdx.y, b = blockIdx.z, splits = gridDim.x;
  int pos = q_pos[b];
  if (pos < 0 || pos + 1 > Tk) { /* refused (ops.h); block-uniform */
    if (threadIdx.x == 0 && split == 0 && hk == 0)
      seal_fault(fault, SEAL_FAULT_ATTENTION_QPOS, b, pos, 1, Tk);
    return;
  }
  int k_begin = split * chunk, k_end = min(k_begin + chunk, pos + 1);
  const bf16 *qrow = q + ((size_t)b * Hq + (size_t)hk * G) * D; /* the group's G rows */
  for (int i = threadIdx.x; i < G * D; i += DEC_THREADS) qs[i] = __bfloat162float(qrow[i]);
  if (threadIdx.x < G) ms[threadIdx.x] = -INFINITY, ls[threadIdx.x] = 0.0f;
  /* P V mapping: thread = (chunk c of 8 dims, sub); heads g = sub + i * tpc */
  int tpc = DEC_THREADS / CH, c = threadIdx.x % CH, sub = threadIdx.x / CH;
  bool pv = sub < tpc;
  float acc[DEC_GPT][8];
#pragma unroll
  for (int i = 0; i < DEC_GPT; i++)
#pragma unroll
    for (int e = 0; e < 8; e++) acc[i][e] = 0.0f;
  /* score mapping: thread = (key j, half of the chunks) */
  int j = threadIdx.x % DEC_BN, hf = threadIdx.x / DEC_BN;
  int c_lo = hf ? CH / 2 : 0, c_hi = hf ? CH : CH / 2;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int kt = k_begin; kt < k_end; kt += DEC_BN) {
    int last = k_end - 1;
    for (int i = threadIdx.x; i < DEC_BN * CH; i += DEC_THREADS) {
      int r = i / CH, cc = i % CH, t = kt + r;
      bool ok = t <= last;
      size_t off = (((size_t)b * Tk + (ok ? t : 0)) * Hkv + hk) * D + cc * 8;
      cp_async_16(Ks + r * LD + cc * 8, k + off, ok ? 16 : 0);
      cp_async_16(Vs + r * LD + cc * 8, v + off, ok ? 16 : 0);
    }
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads(); /* also publishes qs, ms, ls the first time */

    float dot[DEC_MAXG];
#pragma unroll
    for (int g = 0; g < DEC_MAXG; g++) dot[g] = 0.0f;
    for (int cc = c_lo; cc < c_hi; cc++) {
      float kf[8];
      bf16x8_to_float(kf, *reinterpret_cast<const uint4 *>(Ks + j * LD + cc * 8));
#pragma unroll
      for (int g = 0; g < DEC_MAXG; g++) {
        if (g >= G) break;
        const float *qg = qs + g * D + cc * 8;
#pragma unroll
        for (int e = 0; e < 8; e++) dot[g] += qg[e] * kf[e];
      }
    }
    if (hf)
#pragma unroll
      for (int g = 0; g < DEC_MAXG; g++)
        if (g < G) half[g * DEC_BN + j] = dot[g];
    __syncthreads();
    if (!hf)
#pragma unroll
      for (int g = 0; g < DEC_MAXG; g++)
        if (g < G)
          ps[g * DEC_BN + j] =
              kt + j <= last ? (dot[g] + half[g * DEC_BN + j]) * scale_log2 : -INFINITY;
    __syncthreads();

    /* online softmax per head, one warp per head; key kt is visible, so the
     * new max is finite */
    for (int g = warp; g < G; g += DEC_THREADS / 32) {
      float x0 = ps[g * DEC_BN + lane], x1 = ps[g * DEC_BN + lane + 32];
      float mnew = fmaxf(ms[g], seal_warp_max(fmaxf(x0, x1)));
      float p0 = exp2f(x0 - mnew), p1 = exp2f(x1 - mnew);
      ps[g * DEC_BN + lane] = p0, ps[g * DEC_BN + lane + 32] = p1;
      float sum = seal_warp_sum(p0 + p1);
      if (lane == 0) {
        float cr = exp2f(ms[g] - mnew);
        corr[g] = cr;
        ls[g] = ls[g] * cr + sum;
        ms[g] = mnew;
      }
    }
    __syncthreads();

    if (pv) {
#pragma unroll
      for (int i = 0; i < DEC_GPT; i++) {
        int g = sub + i * tpc;
        if (g >= G) break;
        float cr = corr[g];
#pragma unroll
        for (int e = 0; e < 8; e++) acc[i][e] *= cr;
      }
      int nk = min(DEC_BN, k_end - kt);
      for (int jj = 0; jj < nk; jj++) {
        float vf[8];
        bf16x8_to_float(vf, *reinterpret_cast<const uint4 *>(Vs + jj * LD + c * 8));
#pragma unroll
        for (int i = 0; i < DEC_GPT; i++) {
          int g = sub + i * tpc;
          if (g >= G) break;
          float p = ps[g * DEC_BN + jj];
#pragma unroll
          for (int e = 0; e < 8; e++) acc[i][e] += p * vf[e];
        }
      }
    }
    __syncthreads(); /* the tile and ps are consumed before the next tile */
  }

  __syncthreads(); /* ms, ls of a split past the keys were set above, by other threads */
  if (!pv) return;
#pragma unroll
  for (int i = 0; i < DEC_GPT; i++) {
    int g = sub + i * tpc;
    if (g >= G) break;
    int h = hk * G + g;
    float m = ms[g], l = ls[g]; /* -inf and 0 for a split past the keys */
    if (splits == 1) {
      float inv = 1.0f / l;
      bf16 *o = out + ((size_t)b * Hq + h) * D + c * 8;
#pragma unroll
      for (int e = 0; e < 8; e++) o[e] = __float2bfloat16(acc[i][e] * inv);
      if (lse && c == 0) lse[(size_t)b * Hq + h] = (m + log2f(l)) * LN2;
    } else {
      float *pr = part + (((size_t)b * Hq + h) * splits + split) * (D + 2);
      if (c == 0) pr[0] = m, pr[1] = l;
#pragma unroll
      for (int e = 0; e < 8; e++) pr[2 + c * 8 + e] = acc[i][e];
    }
  }
}

/* out[b, h, :] and lse from the splits' (m, l, acc): one block per (h, b). */
__global__ void decode_combine_kernel(bf16 *out, float *lse, const float *part, int Hq, int D,
                                      int splits) {
  int h = blockIdx.x, b = blockIdx.y;
  const float *pr = part + ((size_t)b * Hq + h) * splits * (D + 2);
  float M = -INFINITY;
  for (int s = 0; s < splits; s++) M = fmaxf(M, pr[(size_t)s * (D + 2)]);
  float L = 0.0f;
  for (int s = 0; s < splits; s++) {
    float m = pr[(size_t)s * (D + 2)];
    if (m > -INFINITY) L += pr[(size_t)s * (D + 2) + 1] * exp2f(m - M);
  }
  float inv = 1.0f / L;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < splits; s++) {
      float m = pr[(size_t)s * (D + 2)];
      if (m > -INFINITY) acc += pr[(size_t)s * (D + 2) + 2 + d] * exp2f(m - M);
    }
    out[((size_t)b * Hq + h) * D + d] = __float2bfloat16(acc * inv);
  }
  if (lse && threadIdx.x == 0) lse[(size_t)b * Hq + h] = (M + log2f(L)) * LN2;
}

static void decode_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                             const void *v, const int32_t *q_pos, int B, int Tk, int Hq, int Hkv,
                             int D) {
  seal_cuda_ctx *ctx = seal_cuda_ctx_of(be);
  cudaStream_t s = ctx->stream;
  /* enough blocks to fill the GPU twice over, each at least one tile */
  int tiles = (Tk + DEC_BN - 1) / DEC_BN;
  int want = (2 * ctx->sm_count + Hkv * B - 1) / (Hkv * B);
  int splits = want < 1 ? 1 : (want > tiles ? tiles : want);
  int chunk = ((Tk + splits - 1) / splits + DEC_BN - 1) / DEC_BN * DEC_BN;
  splits = (Tk + chunk - 1) / chunk;
  float *part = NULL;
  if (splits > 1)
    part = (float *)seal_cuda_scratch(be, (size_t)B * Hq * splits * (D + 2) * sizeof(float));
  dim3 grid((unsigned)splits, (unsigned)Hkv, (unsigned)B);
  decode_attention_kernel<<<grid, DEC_THREADS, decode_smem(Hq / Hkv, D), s>>>(
      (bf16 *)out, lse, part, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, q_pos, Tk, Hq, Hkv,
      D, chunk, LOG2E / sqrtf((float)D), ctx->fault_dev);
  CUDA_CHECK_LAUNCH("decode_attention_kernel");
  if (splits == 1) return;
  decode_combine_kernel<<<dim3((unsigned)Hq, (unsigned)B), 128, 0, s>>>((bf16 *)out, lse, part, Hq,
                                                                        D, splits);
  CUDA_CHECK_LAUNCH("decode_combine_kernel");
}

/* ---- entry -------------------------------------------------------------------------- */

template <int D>
static void flash_forward(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                          const void *v, const int32_t *q_pos, const int32_t *seq_start, int B,
                          int Tq, int Tk, int Hq, int Hkv) {
  dim3 grid((unsigned)((Tq + FA_BM - 1) / FA_BM), (unsigned)Hq, (unsigned)B);
  flash_forward_kernel<D><<<grid, FA_THREADS, flash_smem(D), seal_cuda_stream_of(be)>>>(
      (bf16 *)out, lse, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v, q_pos, seq_start, Tq, Tk,
      Tq, Hq, Hkv, LOG2E / sqrtf((float)D), seal_cuda_fault_of(be));
  CUDA_CHECK_LAUNCH("flash_forward_kernel");
}

static bool decode_fits(int Tq, int Hq, int Hkv, int D) {
  int G = Hq / Hkv, CH = D / 8;
  return Tq == 1 && D % 8 == 0 && D <= 256 && G <= DEC_MAXG && G <= DEC_GPT * (DEC_THREADS / CH);
}

int seal_cuda_flash_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                              const void *v, const int32_t *q_pos, const int32_t *seq_start, int B,
                              int Tq, int Tk, int Hq, int Hkv, int D) {
  if (seal_cuda_ctx_of(be)->attention_reference) return 0;
  if (!seq_start && decode_fits(Tq, Hq, Hkv, D)) { /* decoding reads q_pos: cached form only */
    decode_attention(be, out, lse, q, k, v, q_pos, B, Tk, Hq, Hkv, D);
    return 1;
  }
  switch (D) {
    case 48:
      flash_forward<48>(be, out, lse, q, k, v, q_pos, seq_start, B, Tq, Tk, Hq, Hkv);
      return 1;
    case 64:
      flash_forward<64>(be, out, lse, q, k, v, q_pos, seq_start, B, Tq, Tk, Hq, Hkv);
      return 1;
    case 80:
      flash_forward<80>(be, out, lse, q, k, v, q_pos, seq_start, B, Tq, Tk, Hq, Hkv);
      return 1;
    case 96:
      flash_forward<96>(be, out, lse, q, k, v, q_pos, seq_start, B, Tq, Tk, Hq, Hkv);
      return 1;
    case 128:
      flash_forward<128>(be, out, lse, q, k, v, q_pos, seq_start, B, Tq, Tk, Hq, Hkv);
      return 1;
    default:
      return 0;
  }
}

template <int D>
static void raise_flash_smem(size_t optin) {
  size_t need = flash_smem(D);
  SEAL_CHECK(need <= optin, "attention: needs %zu bytes of shared memory per block, %zu allowed",
             need, optin);
  CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<D>,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
}

void seal_cuda_flash_attention_init(seal_backend *be) {
  size_t optin = seal_cuda_ctx_of(be)->smem_optin;
  raise_flash_smem<48>(optin);
  raise_flash_smem<64>(optin);
  raise_flash_smem<80>(optin);
  raise_flash_smem<96>(optin);
  raise_flash_smem<128>(optin);
  size_t need = decode_smem(DEC_MAXG, 256);
  SEAL_CHECK(need <= optin, "attention: decoding needs %zu bytes of shared memory, %zu allowed",
             need, optin);
  CUDA_CHECK(cudaFuncSetAttribute(decode_attention_kernel,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize, (int)need));
}
