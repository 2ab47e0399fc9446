/* kernels/cpu/lanes.h — what the CPU backend's AVX2 kernels share: the sum of
 * a vector's 8 lanes in one fixed order, the same order for a portable path
 * to follow bit for bit, and the processor check those kernels need. One copy
 * here, where few_rows.inc, lora.c, matmul_q8.c and matmul_q4.c each had one. */
#ifndef SEAL_KERNELS_CPU_LANES_H
#define SEAL_KERNELS_CPU_LANES_H

#include <immintrin.h>
#include <stdbool.h>

/* The sum of the 8 lanes: ((0+4) + (2+6)) + ((1+5) + (3+7)). */
__attribute__((target("avx2,fma"))) static inline float seal_cpu_sum8(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* seal_cpu_sum8 of lanes a[8] held as floats, in its order. */
static inline float seal_cpu_sum_lanes(const float a[8]) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* Whether this processor has AVX2, FMA and F16C (the integer kernels' ISA). */
static inline bool seal_cpu_has_avx2_fma_f16c(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
}

#endif
