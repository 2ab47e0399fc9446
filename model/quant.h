/* model/quant.h — scalar conversions and ggml block dequantisation: half and
 * bfloat16 to float, and the GGUF tensor types seal reads (F32, F16, BF16,
 * Q4_0, Q4_1, Q8_0, Q6_K). Block layouts follow ggml (ggml-common.h) exactly. */
#ifndef SEAL_MODEL_QUANT_H
#define SEAL_MODEL_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bf16.h"

/* ggml_type values as stored in GGUF tensor infos. */
typedef enum {
  SEAL_GGML_F32 = 0,
  SEAL_GGML_F16 = 1,
  SEAL_GGML_Q4_0 = 2,
  SEAL_GGML_Q4_1 = 3,
  SEAL_GGML_Q8_0 = 8,
  SEAL_GGML_Q6_K = 14,
  SEAL_GGML_BF16 = 30,
} seal_ggml_type;

float seal_f16_to_f32(uint16_t h);
/* seal_bf16_to_f32 and seal_f32_to_bf16: util/bf16.h */

/* True for the types seal_dequantize handles. */
bool seal_ggml_type_supported(uint32_t type);
/* "Q4_1", ... or "type 17" style names for messages (static storage for known
 * types; unknown types give "unknown"). */
const char *seal_ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for unsupported types. */
int seal_ggml_block_size(uint32_t type);
size_t seal_ggml_block_bytes(uint32_t type);

/* Dequantises n elements (a multiple of the block size) of a supported type from
 * src (little-endian bytes, any alignment) into dst [n]. */
void seal_dequantize(uint32_t type, const void *src, int64_t n, float *dst);

#endif
