/* kernels/cpu/elementwise.c — the CPU backend's row-local ops: embedding lookup,
 * add, SwiGLU and its backward, rotary embedding, and the KV-cache write. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

void seal_cpu_embedding(seal_backend *be, void *out_, const int32_t *ids, const void *table_, int N,
                        int C) {
  if (be->weight == SEAL_BF16) {
    seal_cpu_embedding_bf16(out_, ids, table_, N, C);
    return;
  }
  if (be->weight == SEAL_Q8) {
    seal_cpu_embedding_q8(out_, ids, table_, N, C);
    return;
  }
  float *out = out_;           /* [N, C] */
  const float *table = table_; /* [V, C] */
#pragma omp parallel for schedule(static) if ((size_t)N * C >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    SEAL_CHECK(ids[n] >= 0, "embedding: token id %d at row %d is negative", (int)ids[n], n);
    memcpy(out + (size_t)n * C, table + (size_t)ids[n] * C, (size_t)C * sizeof(float));
  }
}

void seal_cpu_add(seal_backend *be, void *out_, const void *a_, const void *b_, size_t n) {
  (void)be;
  float *out = out_; /* [n], may alias a or b: each element is read before it is written */
  const float *a = a_, *b = b_;
#pragma omp parallel for simd schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void seal_cpu_swiglu(seal_backend *be, void *out_, const void *gate_, const void *up_, size_t n) {
  (void)be;
  float *out = out_; /* [n] */
  const float *gate = gate_, *up = up_;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g * sigmoidf(g) * up[i];
  }
}

/* d silu(g)/dg = s + g s (1 - s) with s = sigmoid(g). Each element's inputs are
 * read into registers first, so dgate/dup may alias dout, gate or up. */
void seal_cpu_swiglu_backward(seal_backend *be, void *dgate_, void *dup_, const void *dout_,
                              const void *gate_, const void *up_, size_t n) {
  (void)be;
  float *dgate = dgate_, *dup = dup_; /* [n] */
  const float *dout = dout_, *gate = gate_, *up = up_;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i = 0; i < n; i++) {
    float g = gate[i], u = up[i], d = dout[i];
    float s = sigmoidf(g);
    dgate[i] = d * u * s * (1.0f + g * (1.0f - s));
    dup[i] = d * g * s;
  }
}

/* Half-split rotary embedding: pairs (j, j + D/2) of every head are rotated by
 * pos * inv_freq[j]. The angle is formed in float32 as Hugging Face does, so
 * positions far out round the same way; its cosine and sine are taken once per
 * (row, j) and applied to all H heads. */
void seal_cpu_rope(seal_backend *be, void *x_, const int32_t *pos, const float *inv_freq, int N,
                   int H, int D, int direction) {
  (void)be;
  SEAL_CHECK(D % 2 == 0, "rope: head dimension %d is odd", D);
  SEAL_CHECK(direction == 1 || direction == -1, "rope: direction %d is not +1 or -1", direction);
  float *x = x_; /* [N, H, D] */
  int half = D / 2;
#pragma omp parallel for schedule(static) if ((size_t)N * H * D >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    float *row = x + (size_t)n * H * D;
    for (int j = 0; j < half; j++) {
      float angle = (float)pos[n] * inv_freq[j];
      float c = (float)cos((double)angle);
      float s = (float)sin((double)angle) * (float)direction;
      for (int h = 0; h < H; h++) {
        float *x1 = row + (size_t)h * D + j, *x2 = x1 + half;
        float a = *x1, b = *x2;
        *x1 = a * c - b * s;
        *x2 = b * c + a * s;
      }
    }
  }
}

void seal_cpu_kv_write(seal_backend *be, void *cache_, const void *src_, const int32_t *q_pos,
                       int B, int Tq, int Tmax, int W) {
  (void)be;
  float *cache = cache_;   /* [B, Tmax, W] */
  const float *src = src_; /* [B, Tq, W] */
  for (int b = 0; b < B; b++) {
    SEAL_CHECK(q_pos[b] >= 0 && q_pos[b] + Tq <= Tmax,
               "kv_write: batch %d writes positions %d..%d outside the cache of %d", b,
               (int)q_pos[b], (int)q_pos[b] + Tq - 1, Tmax);
    /* The Tq rows are contiguous in both source and cache: one copy per batch row. */
    memcpy(cache + ((size_t)b * Tmax + q_pos[b]) * W, src + (size_t)b * Tq * W,
           (size_t)Tq * W * sizeof(float));
  }
}
