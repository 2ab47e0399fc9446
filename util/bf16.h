/* util/bf16.h — bfloat16 <-> float32, the one definition for every room.
 * bfloat16 is the top half of a float32: widening is exact (a shift), and
 * narrowing rounds to nearest even as PyTorch, ggml and the CUDA intrinsics
 * do, keeping NaN a (quiet) NaN. Inline so that kernel loops vectorise. */
#ifndef SEAL_UTIL_BF16_H
#define SEAL_UTIL_BF16_H

#include <stdint.h>
#include <string.h>

static inline float seal_bf16_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint16_t seal_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

#endif
