/* kernels/cpu/attention.c — causal attention with grouped-query heads, forward
 * (training, prefill and decode alike) and backward (training form).
 *
 * One query row at a time: its scores against the keys it may see go into a
 * per-thread scratch of Tk floats, never a T x T buffer. Query head h reads kv
 * head h / (Hq / Hkv) by indexing; nothing is repeated in memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

static inline float dot(const float *a, const float *b, int D) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int d = 0; d < D; d++) s += a[d] * b[d];
  return s;
}

/* y[D] += alpha * x[D] */
static inline void axpy(float *y, float alpha, const float *x, int D) {
#pragma omp simd
  for (int d = 0; d < D; d++) y[d] += alpha * x[d];
}

/* Where things sit: row-major [B, T, H, D] tensors. */
static inline size_t head_offset(int b, int t, int h, int T, int H, int D) {
  return (((size_t)b * T + t) * H + h) * D;
}

/* One query row attending keys 0..last of its kv head:
 *   out[D] = softmax(scale * q . k_j) @ v,  returns the log-sum-exp of the scores.
 * scores[last + 1] is scratch, acc[D] too. */
static float attend_row(float *out, const float *q, const float *k, const float *v, int last,
                        size_t kv_stride, int D, float scale, float *scores, float *acc) {
  float max = -INFINITY;
  for (int j = 0; j <= last; j++) {
    float s = scale * dot(q, k + (size_t)j * kv_stride, D);
    scores[j] = s;
    if (s > max) max = s;
  }
  double sum = 0;
  memset(acc, 0, (size_t)D * sizeof(float));
  for (int j = 0; j <= last; j++) {
    float e = expf(scores[j] - max);
    sum += e;
    axpy(acc, e, v + (size_t)j * kv_stride, D);
  }
  float inv = (float)(1.0 / sum);
  for (int d = 0; d < D; d++) out[d] = acc[d] * inv;
  return max + (float)log(sum);
}

void seal_cpu_attention(seal_backend *be, void *out_, float *lse, const void *q_, const void *k_,
                        const void *v_, const int32_t *q_pos, int B, int Tq, int Tk, int Hq,
                        int Hkv, int D) {
  (void)be;
  SEAL_CHECK(Hkv > 0 && Hq % Hkv == 0, "attention: %d query heads do not group over %d kv heads",
             Hq, Hkv);
  for (int b = 0; b < B; b++)
    SEAL_CHECK(q_pos[b] >= 0 && q_pos[b] + Tq <= Tk,
               "attention: batch %d has queries at positions %d..%d beyond %d keys", b,
               (int)q_pos[b], (int)q_pos[b] + Tq - 1, Tk);
  float *out = out_;            /* [B, Tq, Hq, D] */
  const float *q = q_;          /* [B, Tq, Hq, D] */
  const float *k = k_, *v = v_; /* [B, Tk, Hkv, D] */
  int group = Hq / Hkv;
  float scale = 1.0f / sqrtf((float)D);
  size_t kv_stride = (size_t)Hkv * D; /* from key j to key j + 1 of one head */
  long rows = (long)B * Tq * Hq;
#pragma omp parallel
  {
    float *scores = seal_malloc(((size_t)Tk + D) * sizeof(float)); /* [Tk] then acc [D] */
    float *acc = scores + Tk;
    /* Causal rows differ in length: hand them out dynamically. */
#pragma omp for schedule(dynamic, 4)
    for (long row = 0; row < rows; row++) {
      int h = (int)(row % Hq), t = (int)(row / Hq % Tq), b = (int)(row / Hq / Tq);
      int hk = h / group;
      int last = q_pos[b] + t; /* the query's position: it sees keys 0..last */
      size_t qo = head_offset(b, t, h, Tq, Hq, D);
      size_t ko = head_offset(b, 0, hk, Tk, Hkv, D);
      float l =
          attend_row(out + qo, q + qo, k + ko, v + ko, last, kv_stride, D, scale, scores, acc);
      if (lse) lse[((size_t)b * Hq + h) * Tq + t] = l; /* [B, Hq, Tq] */
    }
    free(scores);
  }
}

/* The gradients of one query row i of head h against keys 0..i:
 *   P_ij = exp(scale q_i.k_j - lse_i),  dP_ij = do_i.v_j,  D_i = do_i.o_i,
 *   dS_ij = P_ij (dP_ij - D_i),
 *   dq_i = scale sum_j dS_ij k_j,  dk_j += scale dS_ij q_i,  dv_j += P_ij do_i.
 * k, v rows are kv_stride apart; dk, dv rows grad_stride apart. */
static void backward_row(float *dq, float *dk, float *dv, const float *dout, const float *out,
                         float lse, const float *q, const float *k, const float *v, int last,
                         size_t kv_stride, size_t grad_stride, int D, float scale) {
  float Di = dot(dout, out, D);
  memset(dq, 0, (size_t)D * sizeof(float));
  for (int j = 0; j <= last; j++) {
    size_t o = (size_t)j * kv_stride, g = (size_t)j * grad_stride;
    float p = expf(scale * dot(q, k + o, D) - lse);
    float ds = p * (dot(dout, v + o, D) - Di);
    axpy(dv + g, p, dout, D);
    axpy(dk + g, scale * ds, q, D);
    axpy(dq, scale * ds, k + o, D);
  }
}

/* Query rows are dealt to this many slots (row i to slot i mod SLOTS), each
 * with its own dk/dv partial sums, added up in slot order afterwards: more
 * parallel work than (batch, kv head) alone gives (SmolLM2 has 3 kv heads),
 * balanced under the causal mask, and a result that does not depend on how
 * many threads ran it. */
#define SLOTS 4

void seal_cpu_attention_backward(seal_backend *be, void *dq_, void *dk_, void *dv_,
                                 const void *dout_, const void *out_, const float *lse,
                                 const void *q_, const void *k_, const void *v_, int B, int T,
                                 int Hq, int Hkv, int D) {
  (void)be;
  SEAL_CHECK(Hkv > 0 && Hq % Hkv == 0,
             "attention_backward: %d query heads do not group over %d kv heads", Hq, Hkv);
  float *dq = dq_;                                 /* [B, T, Hq, D] */
  float *dk = dk_, *dv = dv_;                      /* [B, T, Hkv, D] */
  const float *dout = dout_, *out = out_, *q = q_; /* [B, T, Hq, D] */
  const float *k = k_, *v = v_;                    /* [B, T, Hkv, D] */
  int group = Hq / Hkv;
  float scale = 1.0f / sqrtf((float)D);
  size_t kv_stride = (size_t)Hkv * D, part = (size_t)T * D;
  /* [B, Hkv, SLOTS] partial dk then dv, each [T, D] */
  float *parts = seal_calloc((size_t)B * Hkv * SLOTS * 2 * part, sizeof(float));
#pragma omp parallel for collapse(3) schedule(dynamic, 1)
  for (int b = 0; b < B; b++)
    for (int hk = 0; hk < Hkv; hk++)
      for (int slot = 0; slot < SLOTS; slot++) {
        float *pdk = parts + (((size_t)b * Hkv + hk) * SLOTS + slot) * 2 * part, *pdv = pdk + part;
        size_t ko = head_offset(b, 0, hk, T, Hkv, D);
        for (int h = hk * group; h < (hk + 1) * group; h++)
          for (int i = slot; i < T; i += SLOTS) {
            size_t qo = head_offset(b, i, h, T, Hq, D);
            float l = lse[((size_t)b * Hq + h) * T + i];
            backward_row(dq + qo, pdk, pdv, dout + qo, out + qo, l, q + qo, k + ko, v + ko, i,
                         kv_stride, (size_t)D, D, scale);
          }
      }
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int hk = 0; hk < Hkv; hk++) {
      const float *base = parts + ((size_t)b * Hkv + hk) * SLOTS * 2 * part;
      for (int j = 0; j < T; j++) {
        float *gk = dk + head_offset(b, j, hk, T, Hkv, D),
              *gv = dv + head_offset(b, j, hk, T, Hkv, D);
        for (int d = 0; d < D; d++) {
          float sk = 0, sv = 0;
          for (int slot = 0; slot < SLOTS; slot++) {
            sk += base[slot * 2 * part + (size_t)j * D + d];
            sv += base[slot * 2 * part + part + (size_t)j * D + d];
          }
          gk[d] = sk, gv[d] = sv;
        }
      }
    }
  free(parts);
}
