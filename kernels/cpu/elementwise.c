/* kernels/cpu/elementwise.c — the CPU backend's row-local ops: embedding lookup,
 * add, SwiGLU and its backward, rotary embedding, and the KV-cache write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vmath.h"

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
  if (be->weight == SEAL_Q4) {
    seal_cpu_embedding_q4(out_, ids, table_, N, C);
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

/* Elements per OpenMP work item of the SwiGLU loops: whole vectors, and
 * enough of them that a call's overhead is small. */
#define SWIGLU_SPAN 4096

/* *v = p[0..m) and 0 beyond, m <= 8: a tail as one vector (through a pointer:
 * an f32x8 returned by value would change the ABI between clones). */
__attribute__((always_inline)) static inline void load8(f32x8 *v, const float *p, size_t m) {
  *v = (f32x8){0};
  memcpy(v, p, m * sizeof(float));
}

/* out[m] = silu(gate) * up for m <= 8 elements. */
__attribute__((always_inline)) static inline void swiglu8(float *out, const float *gate,
                                                          const float *up, size_t m) {
  f32x8 g, u, s;
  load8(&g, gate, m);
  load8(&u, up, m);
  s = g;
  sigmoid8(&s);
  f32x8 o = g * s * u;
  memcpy(out, &o, m * sizeof(float));
}

/* out[n] = silu(gate) * up, eight at a time (the tail padded with zeros). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void swiglu_span(
    float *out, const float *gate, const float *up, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) swiglu8(out + i, gate + i, up + i, 8);
  if (i < n) swiglu8(out + i, gate + i, up + i, n - i);
}

void seal_cpu_swiglu(seal_backend *be, void *out_, const void *gate_, const void *up_, size_t n) {
  (void)be;
  float *out = out_; /* [n] */
  const float *gate = gate_, *up = up_;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i0 = 0; i0 < n; i0 += SWIGLU_SPAN)
    swiglu_span(out + i0, gate + i0, up + i0, n - i0 < SWIGLU_SPAN ? n - i0 : SWIGLU_SPAN);
}

/* d silu(g)/dg = s + g s (1 - s) with s = sigmoid(g), for m <= 8 elements.
 * Their inputs are loaded before their outputs are stored, so dgate/dup may
 * alias dout, gate or up. */
__attribute__((always_inline)) static inline void swiglu_backward8(float *dgate, float *dup,
                                                                   const float *dout,
                                                                   const float *gate,
                                                                   const float *up, size_t m) {
  f32x8 g, u, d, s;
  load8(&g, gate, m);
  load8(&u, up, m);
  load8(&d, dout, m);
  s = g;
  sigmoid8(&s);
  f32x8 dg = d * u * s * (1.0f + g * (1.0f - s)), du = d * g * s;
  memcpy(dgate, &dg, m * sizeof(float));
  memcpy(dup, &du, m * sizeof(float));
}

__attribute__((target_clones("avx512f", "avx2", "default"))) static void swiglu_backward_span(
    float *dgate, float *dup, const float *dout, const float *gate, const float *up, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) swiglu_backward8(dgate + i, dup + i, dout + i, gate + i, up + i, 8);
  if (i < n) swiglu_backward8(dgate + i, dup + i, dout + i, gate + i, up + i, n - i);
}

void seal_cpu_swiglu_backward(seal_backend *be, void *dgate_, void *dup_, const void *dout_,
                              const void *gate_, const void *up_, size_t n) {
  (void)be;
  float *dgate = dgate_, *dup = dup_; /* [n] */
  const float *dout = dout_, *gate = gate_, *up = up_;
#pragma omp parallel for schedule(static) if (n >= SEAL_CPU_PARALLEL_MIN)
  for (size_t i0 = 0; i0 < n; i0 += SWIGLU_SPAN)
    swiglu_backward_span(dgate + i0, dup + i0, dout + i0, gate + i0, up + i0,
                         n - i0 < SWIGLU_SPAN ? n - i0 : SWIGLU_SPAN);
}

void seal_cpu_rope_table_free(seal_cpu_rope_table *t) {
  free(t->pos);
  free(t->inv_freq);
  free(t->cs);
  memset(t, 0, sizeof *t);
}

/* Whether t was made for these positions and inverse frequencies (compared
 * by value: the callers reuse their buffers for new positions). */
static int rope_table_matches(const seal_cpu_rope_table *t, const int32_t *pos,
                              const float *inv_freq, int N, int half) {
  return t->cs && t->n == N && t->half == half &&
         memcmp(t->pos, pos, (size_t)N * sizeof *pos) == 0 &&
         memcmp(t->inv_freq, inv_freq, (size_t)half * sizeof *inv_freq) == 0;
}

/* Remakes t for pos[N] and inv_freq[half]. The angle is formed in float32 as
 * Hugging Face does, so positions far out round the same way; its cosine and
 * sine are taken in double and rounded once. */
static void rope_table_make(seal_cpu_rope_table *t, const int32_t *pos, const float *inv_freq,
                            int N, int half) {
  if ((size_t)N > t->cap_n || (size_t)half > t->cap_half) {
    size_t cap_n = (size_t)N > t->cap_n ? (size_t)N : t->cap_n;
    size_t cap_half = (size_t)half > t->cap_half ? (size_t)half : t->cap_half;
    seal_cpu_rope_table_free(t);
    t->pos = seal_malloc(cap_n * sizeof *t->pos);
    t->inv_freq = seal_malloc(cap_half * sizeof *t->inv_freq);
    t->cs = seal_malloc(cap_n * cap_half * 2 * sizeof *t->cs);
    t->cap_n = cap_n, t->cap_half = cap_half;
  }
  t->n = N, t->half = half;
  memcpy(t->pos, pos, (size_t)N * sizeof *pos);
  memcpy(t->inv_freq, inv_freq, (size_t)half * sizeof *inv_freq);
#pragma omp parallel for schedule(static) if ((size_t)N * half >= SEAL_CPU_PARALLEL_MIN / 8)
  for (int n = 0; n < N; n++)
    for (int j = 0; j < half; j++) {
      float angle = (float)pos[n] * inv_freq[j];
      float *cs = t->cs + ((size_t)n * half + j) * 2;
      cs[0] = (float)cos((double)angle);
      cs[1] = (float)sin((double)angle);
    }
}

/* Half-split rotary embedding: pairs (j, j + D/2) of every head are rotated by
 * pos * inv_freq[j], the cosine and sine of each (row, j) read from the
 * backend's table (made here when the positions changed) and applied to all H
 * heads. */
void seal_cpu_rope(seal_backend *be, void *x_, const int32_t *pos, const float *inv_freq, int N,
                   int H, int D, int direction) {
  SEAL_CHECK(D % 2 == 0, "rope: head dimension %d is odd", D);
  SEAL_CHECK(direction == 1 || direction == -1, "rope: direction %d is not +1 or -1", direction);
  float *x = x_; /* [N, H, D] */
  int half = D / 2;
  seal_cpu_rope_table *t = &((seal_cpu_state *)be->ctx)->rope;
  if (!rope_table_matches(t, pos, inv_freq, N, half)) rope_table_make(t, pos, inv_freq, N, half);
  const float *table = t->cs; /* [N, half, 2] */
#pragma omp parallel for schedule(static) if ((size_t)N * H * D >= SEAL_CPU_PARALLEL_MIN)
  for (int n = 0; n < N; n++) {
    float *row = x + (size_t)n * H * D;
    for (int j = 0; j < half; j++) {
      float c = table[((size_t)n * half + j) * 2];
      float s = table[((size_t)n * half + j) * 2 + 1] * (float)direction;
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
