/* util/q8.h — the int8 block format of "cpu:q8" base matrices, and the IEEE
 * half precision conversions its scales need, for every room.
 *
 * A block holds 32 consecutive values of a row as int8 q[i] in [-127, 127]
 * and one scale d: value i = d * q[i]. It is byte for byte GGUF's block_q8_0
 * (ggml), so a Q8_0 file could later be loaded without requantising. The
 * scale is a half (f16) rather than a float32: 34 bytes a block instead of 36,
 * and decoding is bound by the bytes of weights read; a half has 11
 * significant bits, far below the int8 values' own 1/254 resolution.
 * Conversions round to nearest even, as F16C's vcvtps2ph does, so software and
 * hardware conversions agree. */
#ifndef SEAL_UTIL_Q8_H
#define SEAL_UTIL_Q8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SEAL_Q8_BLOCK 32 /* values per block */

typedef struct {
  uint16_t d;              /* scale, IEEE half */
  int8_t q[SEAL_Q8_BLOCK]; /* values / d, rounded, in [-127, 127] */
} seal_q8_block;

#ifdef __cplusplus /* nvcc compiles the CUDA backend, which includes kernels/ops.h, as C++ */
static_assert(sizeof(seal_q8_block) == 34, "seal_q8_block is GGUF's 34-byte block_q8_0");
#else
_Static_assert(sizeof(seal_q8_block) == 34, "seal_q8_block is GGUF's 34-byte block_q8_0");
#endif

/* Blocks of a row of n values (the last one zero-padded). */
static inline size_t seal_q8_blocks(size_t n) { return (n + SEAL_Q8_BLOCK - 1) / SEAL_Q8_BLOCK; }

static inline float seal_f16_bits_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
  if (e == 0x1f) {
    u = sign | 0x7f800000u | (m << 13); /* inf, NaN */
  } else if (e == 0) {
    float f = (float)m * 0x1p-24f; /* zero, subnormal: exact */
    return sign ? -f : f;
  } else {
    u = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t seal_f32_to_f16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, sizeof x);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;  /* NaN stays a (quiet) NaN */
  if (ax >= 0x477ff000u) return sign | 0x7c00u; /* from 65520 up: infinity */
  if (ax < 0x38800000u) {                       /* below 2^-14: a subnormal half */
    if (ax < 0x33000000u) return sign;          /* at most 2^-25: rounds to zero */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return sign | (uint16_t)r;
  }
  uint32_t u = ax - 0x38000000u; /* rebias the exponent from 127 to 15 */
  u += 0xfffu + ((u >> 13) & 1u);
  return sign | (uint16_t)(u >> 13);
}

#endif
