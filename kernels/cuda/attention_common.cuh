/* kernels/cuda/attention_common.cuh — what attention.cu and
 * attention_backward.cu share: tile sizes and the staging of key/value (or
 * query/gradient) rows into shared memory. */
#ifndef SEAL_KERNELS_CUDA_ATTENTION_COMMON_CUH
#define SEAL_KERNELS_CUDA_ATTENTION_COMMON_CUH

#include "kernels/cuda/common.cuh"

#define ATT_TILE 32   /* keys (or queries) staged per step: one per lane */
#define ATT_WARPS 4   /* warps per block: queries (or keys) per block */
#define ATT_MAX_D 256 /* largest head dimension supported */

/* dst[j][0..D) (row stride `stride` floats) = src[b, t0 + j, head, :] for
 * t0 + j <= last, zeros past it; src is bf16 [B, T, H, D]. Called by the whole
 * block. */
__device__ __forceinline__ void stage_rows(float *dst, int stride, const bf16 *src, int b, int t0,
                                           int last, int T, int H, int head, int D) {
  for (int i = threadIdx.x; i < ATT_TILE * D; i += blockDim.x) {
    int j = i / D, d = i % D, t = t0 + j;
    float x = 0.0f;
    if (t <= last) x = __bfloat162float(src[(((size_t)b * T + t) * H + head) * D + d]);
    dst[j * stride + d] = x;
  }
}

void seal_cuda_attention_backward_init(seal_backend *be);

/* flash_attention.cu: the tensor-core forward and the decoding kernel. Returns
 * 0, having queued nothing, when the shape is not theirs (the caller runs the
 * reference kernel). */
int seal_cuda_flash_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                              const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq,
                              int Hkv, int D);
void seal_cuda_flash_attention_init(seal_backend *be);
/* flash_attention_backward.cu: the same for the backward. */
int seal_cuda_flash_attention_backward(seal_backend *be, void *dq, void *dk, void *dv,
                                       const void *dout, const void *out, const float *lse,
                                       const void *q, const void *k, const void *v, int B, int T,
                                       int Hq, int Hkv, int D);
void seal_cuda_flash_attention_backward_init(seal_backend *be);

#endif
