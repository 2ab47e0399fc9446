/* kernels/cuda/attention_common.cuh — what attention.cu and
 * attention_backward.cu share: tile sizes and the staging of key/value (or
 * query/gradient) rows into shared memory. */
#ifndef SEAL_KERNELS_CUDA_ATTENTION_COMMON_CUH
#define SEAL_KERNELS_CUDA_ATTENTION_COMMON_CUH

#include "kernels/cuda/common.cuh"

#define ATT_TILE 32   /* keys (or queries) staged per step: one per lane */
#define ATT_WARPS 4   /* warps per block: queries (or keys) per block */
#define ATT_MAX_D 256 /* largest head dimension supported */

/* Where sequence b's rows sit (kernels/ops.h). The cached form (seq_start
 * NULL): its queries are rows b*Tq.. of q and out, its keys rows b*Tk.. of k
 * and v, its first query at position q_pos[b]. The packed form
 * (attention_varlen, attention_backward): rows seq_start[b] ..
 * seq_start[b+1]-1 for queries and keys alike, positions from 0. Either way
 * query t's log-sum-exp is lse[(q0 + t) * Hq + h] ([rows, Hq]). */
struct att_seq {
  int q0, k0; /* rows of the first query and the first key */
  int Tq, Tk; /* queries and keys */
  int base;   /* position of the first query */
};

__device__ __forceinline__ att_seq att_seq_of(const int32_t *seq_start, const int32_t *q_pos, int b,
                                              int Tq, int Tk) {
  if (!seq_start) return att_seq{b * Tq, b * Tk, Tq, Tk, q_pos[b]};
  int s = seq_start[b], n = seq_start[b + 1] - s;
  return att_seq{s, s, n, n, 0};
}

/* Whether sequence b is one the op accepts (ops.h: refused, not clamped);
 * records the fault otherwise. Block-uniform, so a block may return on it. */
__device__ __forceinline__ bool att_seq_ok(const att_seq &sq, const int32_t *seq_start, int b,
                                           int max_len, seal_cuda_fault *fault) {
  bool ok = seq_start ? sq.q0 >= 0 && sq.Tq >= 0 && sq.Tq <= max_len && (b > 0 || sq.q0 == 0)
                      : sq.base >= 0 && sq.base + sq.Tq <= sq.Tk;
  if (!ok && threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.y == 0) {
    if (seq_start)
      seal_fault(fault, SEAL_FAULT_SEQ_START, b, sq.q0, sq.q0 + sq.Tq, max_len);
    else
      seal_fault(fault, SEAL_FAULT_ATTENTION_QPOS, b, sq.base, sq.Tq, sq.Tk);
  }
  return ok;
}

/* dst[j][0..D) (row stride `stride` floats) = src[row0 + t0 + j, head, :] for
 * t0 + j <= last, zeros past it; src is bf16 [rows, H, D]. Called by the whole
 * block. */
__device__ __forceinline__ void stage_rows(float *dst, int stride, const bf16 *src, int row0,
                                           int t0, int last, int H, int head, int D) {
  for (int i = threadIdx.x; i < ATT_TILE * D; i += blockDim.x) {
    int j = i / D, d = i % D, t = t0 + j;
    float x = 0.0f;
    if (t <= last) x = __bfloat162float(src[((size_t)(row0 + t) * H + head) * D + d]);
    dst[j * stride + d] = x;
  }
}

void seal_cuda_attention_backward_init(seal_backend *be);

/* flash_attention.cu: the tensor-core forward and the decoding kernel, for the
 * cached form (seq_start NULL) or the packed one (q_pos NULL, B = n_seq,
 * Tq = Tk = max_len). Returns 0, having queued nothing, when the shape is not
 * theirs (the caller runs the reference kernel). */
int seal_cuda_flash_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                              const void *v, const int32_t *q_pos, const int32_t *seq_start, int B,
                              int Tq, int Tk, int Hq, int Hkv, int D);
void seal_cuda_flash_attention_init(seal_backend *be);
/* flash_attention_backward.cu: the same for the backward (packed form only). */
int seal_cuda_flash_attention_backward(seal_backend *be, void *dq, void *dk, void *dv,
                                       const void *dout, const void *out, const float *lse,
                                       const void *q, const void *k, const void *v,
                                       const int32_t *seq_start, int n_seq, int max_len, int Hq,
                                       int Hkv, int D);
void seal_cuda_flash_attention_backward_init(seal_backend *be);

#endif
