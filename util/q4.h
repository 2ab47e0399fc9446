/* util/q4.h — the 4-bit block format of "cpu:q4" base matrices, for every
 * room.
 *
 * A block holds 32 consecutive values of a row as 4-bit q[i] in 0..15, a
 * scale d and a minimum m, both IEEE halves: value i = d * q[i] + m. It is
 * byte for byte GGUF's block_q4_1 (ggml): byte j of qs holds element j in its
 * low nibble and element j + 16 in its high nibble; 20 bytes a block, 0.625
 * bytes a weight (Q8_0's 34 bytes are 1.7x that). The model files seal runs
 * are themselves Q4_1, and storing a block that was read from one gives the
 * same block back whenever it uses both q = 0 and q = 15 (its least value is
 * then m and its largest 15 d + m, the rule's own min and max).
 *
 * Quantising is Q4_1's reference rule (ggml's quantize_row_q4_1_ref): m is the
 * block's least value and d = (max - min) / 15, each rounded to a half; q is
 * (x - m) / d rounded to nearest (halves up) and clamped to 0..15, computed
 * against the halves actually stored, so that no value is off by more than
 * half a step from what the stored block gives back. */
#ifndef SEAL_UTIL_Q4_H
#define SEAL_UTIL_Q4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/q8.h" /* the half conversions */

#define SEAL_Q4_BLOCK 32           /* values per block */
#if SEAL_Q4_BLOCK != SEAL_Q8_BLOCK /* seal_dtype_is_blocked (kernels/ops.h) counts on one size */
#error "Q4 and Q8 blocks must be the same size"
#endif

typedef struct {
  uint16_t d;                    /* scale, IEEE half */
  uint16_t m;                    /* minimum, IEEE half */
  uint8_t qs[SEAL_Q4_BLOCK / 2]; /* byte j: element j (low nibble), element j + 16 (high) */
} seal_q4_block;

#ifdef __cplusplus /* nvcc compiles the CUDA backend, which includes kernels/ops.h, as C++ */
static_assert(sizeof(seal_q4_block) == 20, "seal_q4_block is GGUF's 20-byte block_q4_1");
#else
_Static_assert(sizeof(seal_q4_block) == 20, "seal_q4_block is GGUF's 20-byte block_q4_1");
#endif

/* Blocks of a row of n values (the last one padded). */
static inline size_t seal_q4_blocks(size_t n) { return (n + SEAL_Q4_BLOCK - 1) / SEAL_Q4_BLOCK; }

/* Element i (0..31) of a block's 4-bit values. */
static inline int seal_q4_get(const seal_q4_block *b, int i) {
  return i < SEAL_Q4_BLOCK / 2 ? b->qs[i] & 0x0f : b->qs[i - SEAL_Q4_BLOCK / 2] >> 4;
}

/* *b = the n (1..32) values of src quantised; past n the 4-bit values are 0
 * (the padding's values are m, and the kernels pair them with zeros). Returns
 * false when the block's scale or minimum is past a half's range. */
static inline bool seal_q4_quantize_block(seal_q4_block *b, const float *src, int n) {
  float lo = src[0], hi = src[0];
  for (int i = 1; i < n; i++) {
    lo = src[i] < lo ? src[i] : lo;
    hi = src[i] > hi ? src[i] : hi;
  }
  b->d = seal_f32_to_f16_bits((hi - lo) / 15.0f);
  b->m = seal_f32_to_f16_bits(lo);
  const float d = seal_f16_bits_to_f32(b->d), m = seal_f16_bits_to_f32(b->m);
  const float id = d > 0 ? 1.0f / d : 0.0f;
  uint8_t q[SEAL_Q4_BLOCK] = {0};
  for (int i = 0; i < n; i++) {
    float v =
        (src[i] - m) * id + 0.5f; /* rounds halves up, as the reference's (int8_t)(x + 0.5f) */
    q[i] = (uint8_t)(v < 1.0f ? 0 : v >= 15.0f ? 15 : (int)v);
  }
  for (int j = 0; j < SEAL_Q4_BLOCK / 2; j++)
    b->qs[j] = (uint8_t)(q[j] | q[j + SEAL_Q4_BLOCK / 2] << 4);
  return d - d == 0 && m - m == 0; /* finite (no isfinite: util/ needs no libm here) */
}

/* dst[n] = the first n (1..32) values of block b. */
static inline void seal_q4_dequantize_block(float *dst, const seal_q4_block *b, int n) {
  const float d = seal_f16_bits_to_f32(b->d), m = seal_f16_bits_to_f32(b->m);
  const int half = SEAL_Q4_BLOCK / 2, lo = n < half ? n : half, hi = n - lo;
  for (int j = 0; j < lo; j++) dst[j] = d * (float)(b->qs[j] & 0x0f) + m;
  for (int j = 0; j < hi; j++) dst[half + j] = d * (float)(b->qs[j] >> 4) + m;
}

#endif
