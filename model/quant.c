/* model/quant.c — half/bfloat16 conversion and ggml block dequantisation.
 * Layouts and arithmetic order follow ggml's dequantize_row_* in ggml-quants.c,
 * so results match ggml (and gguf-py's quants.py) bit for bit. */
#include "model/quant.h"

#include <string.h>

#include "util/util.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "seal reads little-endian files on little-endian hosts");

#define QK4_0 32
#define QK4_1 32
#define QK8_0 32
#define QK_K 256

static float bits_to_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

float seal_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (mant << 13)); /* inf, NaN */
  if (exp != 0) return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_to_f32(sign); /* signed zero */
  /* Subnormal half: mant * 2^-24, exact in float. */
  float v = (float)mant * (1.0f / 16777216.0f);
  return sign ? -v : v;
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

bool seal_ggml_type_supported(uint32_t type) { return seal_ggml_block_size(type) > 0; }

const char *seal_ggml_type_name(uint32_t type) {
  switch (type) {
    case SEAL_GGML_F32:
      return "F32";
    case SEAL_GGML_F16:
      return "F16";
    case SEAL_GGML_Q4_0:
      return "Q4_0";
    case SEAL_GGML_Q4_1:
      return "Q4_1";
    case 6:
      return "Q5_0";
    case 7:
      return "Q5_1";
    case SEAL_GGML_Q8_0:
      return "Q8_0";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case SEAL_GGML_Q6_K:
      return "Q6_K";
    case 15:
      return "Q8_K";
    case SEAL_GGML_BF16:
      return "BF16";
    default:
      return "unknown";
  }
}

int seal_ggml_block_size(uint32_t type) {
  switch (type) {
    case SEAL_GGML_F32:
    case SEAL_GGML_F16:
    case SEAL_GGML_BF16:
      return 1;
    case SEAL_GGML_Q4_0:
      return QK4_0;
    case SEAL_GGML_Q4_1:
      return QK4_1;
    case SEAL_GGML_Q8_0:
      return QK8_0;
    case SEAL_GGML_Q6_K:
      return QK_K;
    default:
      return 0;
  }
}

size_t seal_ggml_block_bytes(uint32_t type) {
  switch (type) {
    case SEAL_GGML_F32:
      return 4;
    case SEAL_GGML_F16:
    case SEAL_GGML_BF16:
      return 2;
    case SEAL_GGML_Q4_0:
      return 2 + QK4_0 / 2; /* d, qs[16] */
    case SEAL_GGML_Q4_1:
      return 2 + 2 + QK4_1 / 2; /* d, m, qs[16] */
    case SEAL_GGML_Q8_0:
      return 2 + QK8_0; /* d, qs[32] */
    case SEAL_GGML_Q6_K:
      return QK_K / 2 + QK_K / 4 + QK_K / 16 + 2; /* ql, qh, scales, d */
    default:
      return 0;
  }
}

/* block_q4_0 { half d; uint8 qs[16]; }: low nibbles are elements 0..15, high
 * nibbles 16..31, each (q - 8) * d. */
static void dequant_q4_0(const uint8_t *b, int64_t nb, float *y) {
  for (int64_t i = 0; i < nb; i++, b += 2 + QK4_0 / 2, y += QK4_0) {
    const float d = seal_f16_to_f32(load_u16(b));
    const uint8_t *qs = b + 2;
    for (int j = 0; j < QK4_0 / 2; j++) {
      const int x0 = (qs[j] & 0x0F) - 8;
      const int x1 = (qs[j] >> 4) - 8;
      y[j] = x0 * d;
      y[j + QK4_0 / 2] = x1 * d;
    }
  }
}

/* block_q4_1 { half d; half m; uint8 qs[16]; }: q * d + m. */
static void dequant_q4_1(const uint8_t *b, int64_t nb, float *y) {
  for (int64_t i = 0; i < nb; i++, b += 4 + QK4_1 / 2, y += QK4_1) {
    const float d = seal_f16_to_f32(load_u16(b));
    const float m = seal_f16_to_f32(load_u16(b + 2));
    const uint8_t *qs = b + 4;
    for (int j = 0; j < QK4_1 / 2; j++) {
      const int x0 = qs[j] & 0x0F;
      const int x1 = qs[j] >> 4;
      y[j] = x0 * d + m;
      y[j + QK4_1 / 2] = x1 * d + m;
    }
  }
}

/* block_q8_0 { half d; int8 qs[32]; }: q * d. */
static void dequant_q8_0(const uint8_t *b, int64_t nb, float *y) {
  for (int64_t i = 0; i < nb; i++, b += 2 + QK8_0, y += QK8_0) {
    const float d = seal_f16_to_f32(load_u16(b));
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < QK8_0; j++) y[j] = qs[j] * d;
  }
}

/* block_q6_K { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d; }: 6-bit
 * quants (4 low bits in ql, 2 high bits in qh) minus 32, times d * scale of
 * their group of 16. Two halves of 128 elements, each four runs of 32. */
static void dequant_q6_k(const uint8_t *b, int64_t nb, float *y) {
  const size_t block_bytes = seal_ggml_block_bytes(SEAL_GGML_Q6_K);
  for (int64_t i = 0; i < nb; i++, b += block_bytes) {
    const float d = seal_f16_to_f32(load_u16(b + QK_K / 2 + QK_K / 4 + QK_K / 16));
    const uint8_t *ql = b;
    const uint8_t *qh = b + QK_K / 2;
    const int8_t *sc = (const int8_t *)(b + QK_K / 2 + QK_K / 4);
    for (int n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; l++) {
        const int is = l / 16;
        const int q1 = (int)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = (int)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void seal_dequantize(uint32_t type, const void *src, int64_t n, float *dst) {
  const uint8_t *b = src;
  switch (type) {
    case SEAL_GGML_F32:
      memcpy(dst, src, (size_t)n * sizeof(float));
      return;
    case SEAL_GGML_F16:
      for (int64_t i = 0; i < n; i++) dst[i] = seal_f16_to_f32(load_u16(b + 2 * i));
      return;
    case SEAL_GGML_BF16:
      for (int64_t i = 0; i < n; i++) dst[i] = seal_bf16_to_f32(load_u16(b + 2 * i));
      return;
    case SEAL_GGML_Q4_0:
      dequant_q4_0(b, n / QK4_0, dst);
      return;
    case SEAL_GGML_Q4_1:
      dequant_q4_1(b, n / QK4_1, dst);
      return;
    case SEAL_GGML_Q8_0:
      dequant_q8_0(b, n / QK8_0, dst);
      return;
    case SEAL_GGML_Q6_K:
      dequant_q6_k(b, n / QK_K, dst);
      return;
    default:
      SEAL_DIE("seal_dequantize: unsupported ggml type %u", type);
  }
}
