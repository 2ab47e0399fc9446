/* kernels/cuda/mma.cuh — the tensor-core and async-copy primitives of the
 * flash-attention kernels (sm_80+ PTX, which sm_90 runs natively):
 *   cp.async 16-byte copies global -> shared, zero-filling past the source;
 *   ldmatrix (x4, plain and transposed) shared -> mma fragments;
 *   mma.sync m16n8k16 bf16 x bf16 -> f32.
 *
 * Fragment layouts of mma.m16n8k16 (g = lane / 4, q = lane % 4):
 *   A 16x16 (row): a0 = (g, 2q..2q+1), a1 = (g+8, 2q..), a2 = (g, 2q+8..), a3 = (g+8, 2q+8..)
 *   B 16x8 (col):  b0 = (k 2q..2q+1, n g), b1 = (k 2q+8.., n g)
 *   C 16x8:        c0, c1 = (g, 2q..2q+1), c2, c3 = (g+8, 2q..2q+1)
 * so the C fragments of two neighbouring 8-column tiles are, packed to bf16,
 * the A fragment of a 16-wide k step (FlashAttention-2's register reuse of P). */
#ifndef SEAL_KERNELS_CUDA_MMA_CUH
#define SEAL_KERNELS_CUDA_MMA_CUH

#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16 bytes global -> shared; src_bytes < 16 zero-fills the rest (0: all zeros,
 * nothing read). Both addresses 16-byte aligned. */
__device__ __forceinline__ void cp_async_16(void *smem, const void *gmem, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(smem)), "l"(gmem),
               "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(smem)));
}

/* c[4] += a[4] (16x16 bf16) * b[2] (16x8 bf16), float accumulators. */
__device__ __forceinline__ void mma_bf16_16816(float c[4], const uint32_t a[4],
                                               const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* Two floats rounded to a bf16 pair, lo in the low half (the first column). */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

#endif
