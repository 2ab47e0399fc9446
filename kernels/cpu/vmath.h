/* kernels/cpu/vmath.h — vectorised exp and sigmoid for the CPU backend's row
 * ops (attention's softmax, SwiGLU, cross-entropy), written with GCC vector
 * types because the compiler does not vectorise a loop of expf calls, which
 * made each of those ops cost as much as the products around it.
 *
 * Same result on every ISA: the callers compile these into target_clones
 * functions (avx512f, avx2, default), and an f32x8 expression means the same
 * eight float operations in each clone. The one way clones could differ is
 * contraction of a * b + c into an FMA. With GCC none is formed: its avx512f
 * and avx2 targets do not enable FMA, and the build is ISO C11
 * (CMAKE_C_EXTENSIONS OFF), whose default is -ffp-contract=off anyway. Clang
 * (the fuzz build) would contract in its avx512f clone, which implies FMA
 * there. tests/kernels/test_cpu_vmath.c checks the vectors compiled for each
 * ISA against a scalar transcription of their steps bit for bit, which fails
 * if one contracted. */
#ifndef SEAL_KERNELS_CPU_VMATH_H
#define SEAL_KERNELS_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Eight floats, and eight int32 of the same bits ((f32x8)i reinterprets). */
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

/* exp(x), in place (an f32x8 passed by value would change the ABI between
 * clones): 2^n from rounding x log2(e), times a degree-6 polynomial for exp(r)
 * on |r| <= ln(2)/2. Within 3 ulp of exp for -87 <= x <= 88.37 (the sweep in
 * test_cpu_vmath.c: at most 2.82); 0 below -87 (where expf is below 1.7e-38,
 * so the absolute error is under that) and for -inf; +inf above 88.37 (where
 * 2^n overflows: expf overflows from 88.73) and for +inf; NaN for NaN. */
__attribute__((always_inline)) static inline void exp8(f32x8 *xp) {
  f32x8 x = *xp;
  /* Clamped so that n stays at most 128 (2^n = inf) rather than wrapping the
   * exponent field; NaN compares false and passes through. */
  i32x8 big = x > 89.0f;
  x = (f32x8)(((i32x8)x & ~big) | ((i32x8)(f32x8){89, 89, 89, 89, 89, 89, 89, 89} & big));
  const float round = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  f32x8 n = (x * 1.44269504f + round) - round;
  f32x8 r = x - n * 0.693145751953125f - n * 1.428606765330187e-6f;
  f32x8 p = r * (1.0f / 720) + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  i32x8 two_n = (__builtin_convertvector(n, i32x8) + 127) << 23;
  i32x8 tiny = x < -87.0f; /* all ones where flushed to 0; false for NaN */
  *xp = (f32x8)((i32x8)(p * (f32x8)two_n) & ~tiny);
}

/* sigmoid(g) = 1 / (1 + exp(-g)), in place, through e = exp(-|g|) <= 1 so that
 * nothing overflows: 1 / (1 + e) for g >= 0, e / (1 + e) below. Within 3.5
 * ulp where sigmoid is at least 1.7e-38 (g >= -87; the sweep: at most 3.25);
 * 0 below, where the true value is smaller than that; 1 at +inf, 0 at -inf,
 * NaN for NaN. */
__attribute__((always_inline)) static inline void sigmoid8(f32x8 *gp) {
  f32x8 g = *gp;
  i32x8 neg = g < 0;
  f32x8 e = (f32x8)((i32x8)g | (i32x8)(f32x8){-0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f, -0.0f,
                                              -0.0f}); /* -|g| */
  exp8(&e);
  f32x8 num = (f32x8)(((i32x8)e & neg) | ((i32x8)(f32x8){1, 1, 1, 1, 1, 1, 1, 1} & ~neg));
  *gp = num / (1.0f + e);
}

/* row[j] = exp(row[j] - shift) for j < n; returns their sum (lanes in order). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static inline float exp_row(
    float *row, int n, float shift) {
  f32x8 sum = {0};
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    f32x8 x;
    memcpy(&x, row + j, sizeof x);
    x -= shift;
    exp8(&x);
    memcpy(row + j, &x, sizeof x);
    sum += x;
  }
  if (j < n) { /* the tail, padded with -inf (whose exp is 0) */
    f32x8 x;
    for (int i = 0; i < 8; i++) x[i] = j + i < n ? row[j + i] - shift : -INFINITY;
    exp8(&x);
    memcpy(row + j, &x, (size_t)(n - j) * sizeof(float));
    sum += x;
  }
  float total = 0;
  for (int i = 0; i < 8; i++) total += sum[i];
  return total;
}

#endif
