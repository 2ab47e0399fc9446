/* kernels/cpu/attention.c — causal attention with grouped-query heads, forward
 * (training, prefill and decode alike) and backward (training form).
 *
 * Blocked through sgemm, FlashAttention-2 style: the work is cut into tiles of
 * (batch, kv head, block of QBLK query positions). A tile stacks the rows of
 * every query head that reads the kv head (Hq / Hkv of them share its K and V)
 * into one matrix of M = positions x group rows, and walks the keys of its
 * causal prefix in blocks of KBLK: scores S = Q K^T by sgemm, a row-wise
 * softmax on them, then P V (forward) or the five products of the gradient
 * (backward) by sgemm again. Scratch is O(M x KBLK) per thread, never T x T.
 *
 * The forward's softmax is online: each row keeps its running maximum and sum
 * and rescales its output accumulator when the maximum moves. The backward
 * recomputes P from the scores and the forward's log-sum-exp.
 *
 * Threads: OpenMP over the tiles; the sgemm inside each runs on its calling
 * thread (the OpenMP build of OpenBLAS that CMakeLists.txt links does so
 * inside a parallel region), so nothing is oversubscribed. With another BLAS
 * the tiles run one after another and the BLAS threads each product. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"

/* Query positions per tile and keys per block (docs/perf.md: measured). */
#ifndef QBLK
#define QBLK 32
#endif
#ifndef KBLK
#define KBLK 128
#endif

/* Query tiles are dealt to this many slots per (batch, kv head) in the
 * backward (tile i to slot i mod SLOTS), each with its own dk/dv partial sums,
 * added up in slot order afterwards: more parallel work than (batch, kv head)
 * alone gives (SmolLM2 has 3 kv heads), and a result that does not depend on
 * how many threads ran it. */
#define SLOTS 4

/* Where things sit: row-major [B, T, H, D] tensors. */
static inline size_t head_offset(int b, int t, int h, int T, int H, int D) {
  return (((size_t)b * T + t) * H + h) * D;
}

/* Eight floats, and eight int32 of the same bits ((f32x8)i reinterprets). */
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

/* exp(x) to about 2 ulp for x <= 88, 0 below -87 (where expf is at most
 * 1.7e-38) and for NaN: 2^n from rounding x log2(e), times a polynomial for
 * exp(r) on |r| <= ln(2)/2. Written with vector types because the compiler
 * does not vectorise a loop of expf calls, which made the softmax cost as
 * much as the products around it. */
static inline void exp8(f32x8 *xp) { /* in place: an f32x8 by value would change the ABI */
  f32x8 x = *xp;
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
  i32x8 keep = x >= -87.0f; /* all ones where kept */
  *xp = (f32x8)((i32x8)(p * (f32x8)two_n) & keep);
}

/* row[j] = exp(row[j] - shift) for j < n; returns their sum. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static float exp_row(float *row, int n,
                                                                                  float shift) {
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

static float row_max(const float *row, int n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
  return m;
}

/* One tile: query positions t0 .. t0+nt-1 of batch b, the query heads of kv
 * head hk. Row r = t * group + g of the stacked matrices is position t0 + t,
 * query head hk * group + g. */
typedef struct {
  int b, hk, t0, nt, group, M;
} tile;

static tile make_tile(int b, int hk, int qblock, int T, int group) {
  tile tl = {b, hk, qblock * QBLK, T - qblock * QBLK, group, 0};
  if (tl.nt > QBLK) tl.nt = QBLK;
  tl.M = tl.nt * group;
  return tl;
}

/* dst[M, D] = the tile's rows of src [B, T, Hq, D] */
static void gather_rows(float *dst, const float *src, tile tl, int T, int Hq, int D) {
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    memcpy(dst + (size_t)r * D, src + head_offset(tl.b, t, h, T, Hq, D), (size_t)D * sizeof(float));
  }
}

/* the tile's rows of dst [B, T, Hq, D] = alpha * src[M, D] */
static void scatter_rows(float *dst, const float *src, float alpha, tile tl, int T, int Hq, int D) {
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    float *o = dst + head_offset(tl.b, t, h, T, Hq, D);
    for (int d = 0; d < D; d++) o[d] = alpha * src[(size_t)r * D + d];
  }
}

/* Keys of block j0 .. j0+n-1 that row r (at position pos) may see. */
static inline int visible(int pos, int j0, int n) {
  int c = pos - j0 + 1;
  return c < 0 ? 0 : c > n ? n : c;
}

/* ---- forward ---------------------------------------------------------------- */

/* Per-thread scratch of the forward, sized for the largest tile. */
typedef struct {
  float *q;   /* [M, D] the tile's queries */
  float *acc; /* [M, D] unnormalised output */
  float *s;   /* [M, KBLK] scores, then probabilities */
  float *max; /* [M] running maximum of each row's scores */
  float *sum; /* [M] running sum of exp(score - max) */
} fwd_scratch;

static fwd_scratch fwd_scratch_alloc(int M, int D) {
  fwd_scratch w;
  w.q = seal_malloc(((size_t)2 * M * D + (size_t)M * KBLK + 2 * (size_t)M) * sizeof(float));
  w.acc = w.q + (size_t)M * D;
  w.s = w.acc + (size_t)M * D;
  w.max = w.s + (size_t)M * KBLK;
  w.sum = w.max + M;
  return w;
}

/* Online softmax over one key block: s[M, n] scores -> probabilities against
 * each row's new maximum (0 where the mask hides a key), with acc, max and sum
 * rescaled to that maximum. p0 is the position of the tile's first query. */
static void softmax_block(fwd_scratch *w, tile tl, int p0, int j0, int n, int D) {
  for (int r = 0; r < tl.M; r++) {
    float *row = w->s + (size_t)r * n;
    int c = visible(p0 + r / tl.group, j0, n);
    if (c == 0) { /* the whole block lies in this row's future */
      memset(row, 0, (size_t)n * sizeof(float));
      continue;
    }
    float bmax = row_max(row, c), m = w->max[r] > bmax ? w->max[r] : bmax;
    if (m > w->max[r]) {
      float shrink = expf(w->max[r] - m); /* 0 on the first block: max was -inf */
      float *a = w->acc + (size_t)r * D;
      for (int d = 0; d < D; d++) a[d] *= shrink;
      w->sum[r] *= shrink;
      w->max[r] = m;
    }
    w->sum[r] += exp_row(row, c, m);
    memset(row + c, 0, (size_t)(n - c) * sizeof(float));
  }
}

/* The tile's rows of out [B, Tq, Hq, D] = acc / sum, and of lse [B, Hq, Tq]
 * (when not NULL) = max + log(sum). */
static void write_outputs(const fwd_scratch *w, tile tl, float *out, float *lse, int Tq, int Hq,
                          int D) {
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    float *o = out + head_offset(tl.b, t, h, Tq, Hq, D), inv = 1.0f / w->sum[r];
    for (int d = 0; d < D; d++) o[d] = w->acc[(size_t)r * D + d] * inv;
    if (lse) lse[((size_t)tl.b * Hq + h) * Tq + t] = w->max[r] + logf(w->sum[r]);
  }
}

/* One tile of the forward: out and lse of its rows.
 *   q, out [B, Tq, Hq, D], k, v [B, Tk, Hkv, D], lse [B, Hq, Tq] or NULL */
static void forward_tile(fwd_scratch *w, tile tl, float *out, float *lse, const float *q,
                         const float *k, const float *v, int p0, int Tq, int Tk, int Hq, int Hkv,
                         int D) {
  size_t kv_stride = (size_t)Hkv * D, ko = head_offset(tl.b, 0, tl.hk, Tk, Hkv, D);
  int keys = p0 + tl.nt; /* the causal prefix of the tile's last query */
  float scale = 1.0f / sqrtf((float)D);
  gather_rows(w->q, q, tl, Tq, Hq, D);
  memset(w->acc, 0, (size_t)tl.M * D * sizeof(float));
  for (int r = 0; r < tl.M; r++) w->max[r] = -INFINITY, w->sum[r] = 0;
  for (int j0 = 0; j0 < keys; j0 += KBLK) {
    int n = keys - j0 < KBLK ? keys - j0 : KBLK;
    const float *kb = k + ko + (size_t)j0 * kv_stride, *vb = v + ko + (size_t)j0 * kv_stride;
    /* s[M, n] = scale * q[M, D] @ kb[n, D]^T */
    seal_cpu_sgemm(0, 1, tl.M, n, D, scale, w->q, D, kb, (int)kv_stride, 0, w->s, n);
    softmax_block(w, tl, p0, j0, n, D);
    /* acc[M, D] += p[M, n] @ vb[n, D] */
    seal_cpu_sgemm(0, 0, tl.M, D, n, 1, w->s, n, vb, (int)kv_stride, 1, w->acc, D);
  }
  write_outputs(w, tl, out, lse, Tq, Hq, D);
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
  int group = Hq / Hkv, qblocks = (Tq + QBLK - 1) / QBLK;
  long tiles = (long)B * Hkv * qblocks;
#pragma omp parallel if (tiles > 1 && seal_cpu_blas_uses_openmp())
  {
    fwd_scratch w = fwd_scratch_alloc(QBLK * group, D);
    /* Later query blocks see more keys: hand them out first, dynamically. */
#pragma omp for schedule(dynamic, 1)
    for (long i = 0; i < tiles; i++) {
      int qb = qblocks - 1 - (int)(i % qblocks), hk = (int)(i / qblocks % Hkv),
          b = (int)(i / qblocks / Hkv);
      tile tl = make_tile(b, hk, qb, Tq, group);
      forward_tile(&w, tl, out, lse, q, k, v, q_pos[b] + tl.t0, Tq, Tk, Hq, Hkv, D);
    }
    free(w.q);
  }
}

/* ---- backward --------------------------------------------------------------- */

/* Per-thread scratch of the backward, sized for the largest tile. */
typedef struct {
  float *q, *dout, *dq; /* [M, D] the tile's queries, output gradients, dq (unscaled) */
  float *p, *ds;        /* [M, KBLK] probabilities; dP, then dS */
  float *lse, *delta;   /* [M] the forward's log-sum-exp; rowsum(dout * out) */
} bwd_scratch;

static bwd_scratch bwd_scratch_alloc(int M, int D) {
  bwd_scratch w;
  w.q = seal_malloc(((size_t)3 * M * D + (size_t)2 * M * KBLK + 2 * (size_t)M) * sizeof(float));
  w.dout = w.q + (size_t)M * D;
  w.dq = w.dout + (size_t)M * D;
  w.p = w.dq + (size_t)M * D;
  w.ds = w.p + (size_t)M * KBLK;
  w.lse = w.ds + (size_t)M * KBLK;
  w.delta = w.lse + M;
  return w;
}

/* The tile's rows of q and dout, its lse, and delta_r = dout_r . out_r.
 *   dout, out, q [B, T, Hq, D], lse [B, Hq, T] */
static void load_backward_rows(bwd_scratch *w, tile tl, const float *dout, const float *out,
                               const float *lse, const float *q, int T, int Hq, int D) {
  gather_rows(w->q, q, tl, T, Hq, D);
  gather_rows(w->dout, dout, tl, T, Hq, D);
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    const float *o = out + head_offset(tl.b, t, h, T, Hq, D), *g = w->dout + (size_t)r * D;
    float dot = 0;
    for (int d = 0; d < D; d++) dot += g[d] * o[d];
    w->delta[r] = dot;
    w->lse[r] = lse[((size_t)tl.b * Hq + h) * T + t];
  }
}

/* p[M, n] = exp(scores - lse) in place (0 where masked), then
 * ds[M, n] = p * (dP - delta) in place of dP. */
static void softmax_grad_block(bwd_scratch *w, tile tl, int j0, int n) {
  for (int r = 0; r < tl.M; r++) {
    float *p = w->p + (size_t)r * n, *ds = w->ds + (size_t)r * n;
    int c = visible(tl.t0 + r / tl.group, j0, n);
    exp_row(p, c, w->lse[r]);
    for (int j = 0; j < c; j++) ds[j] = p[j] * (ds[j] - w->delta[r]);
    memset(p + c, 0, (size_t)(n - c) * sizeof(float));
    memset(ds + c, 0, (size_t)(n - c) * sizeof(float));
  }
}

/* One tile of the backward: its rows of dq, and its share of dk, dv added into
 * the slot's partial sums pdk, pdv [T, D].
 *   dq, dout, out, q [B, T, Hq, D], k, v [B, T, Hkv, D], lse [B, Hq, T] */
static void backward_tile(bwd_scratch *w, tile tl, float *dq, float *pdk, float *pdv,
                          const float *dout, const float *out, const float *lse, const float *q,
                          const float *k, const float *v, int T, int Hq, int Hkv, int D) {
  size_t kv_stride = (size_t)Hkv * D, ko = head_offset(tl.b, 0, tl.hk, T, Hkv, D);
  int ld = (int)kv_stride, keys = tl.t0 + tl.nt, M = tl.M;
  float scale = 1.0f / sqrtf((float)D);
  load_backward_rows(w, tl, dout, out, lse, q, T, Hq, D);
  memset(w->dq, 0, (size_t)M * D * sizeof(float));
  for (int j0 = 0; j0 < keys; j0 += KBLK) {
    int n = keys - j0 < KBLK ? keys - j0 : KBLK;
    const float *kb = k + ko + (size_t)j0 * kv_stride, *vb = v + ko + (size_t)j0 * kv_stride;
    float *gk = pdk + (size_t)j0 * D, *gv = pdv + (size_t)j0 * D;      /* [n, D] */
    seal_cpu_sgemm(0, 1, M, n, D, scale, w->q, D, kb, ld, 0, w->p, n); /* S = scale q kb^T */
    seal_cpu_sgemm(0, 1, M, n, D, 1, w->dout, D, vb, ld, 0, w->ds, n); /* dP = dout vb^T */
    softmax_grad_block(w, tl, j0, n);
    seal_cpu_sgemm(1, 0, n, D, M, 1, w->p, n, w->dout, D, 1, gv, D);   /* dv += P^T dout */
    seal_cpu_sgemm(0, 0, M, D, n, 1, w->ds, n, kb, ld, 1, w->dq, D);   /* dq += dS kb */
    seal_cpu_sgemm(1, 0, n, D, M, scale, w->ds, n, w->q, D, 1, gk, D); /* dk += scale dS^T q */
  }
  scatter_rows(dq, w->dq, scale, tl, T, Hq, D);
}

/* dk, dv [B, T, Hkv, D] = the sum over slots of parts [B, Hkv, SLOTS, 2, T, D],
 * in slot order. */
static void sum_slots(float *dk, float *dv, const float *parts, int B, int T, int Hkv, int D) {
  size_t part = (size_t)T * D;
#pragma omp parallel for collapse(2) schedule(static) if (part * B * Hkv >= SEAL_CPU_PARALLEL_MIN)
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
}

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
  int group = Hq / Hkv, qblocks = (T + QBLK - 1) / QBLK;
  size_t part = (size_t)T * D;
  /* [B, Hkv, SLOTS] partial dk then dv, each [T, D] */
  float *parts = seal_calloc((size_t)B * Hkv * SLOTS * 2 * part, sizeof(float));
  long tasks = (long)B * Hkv * SLOTS;
#pragma omp parallel if (tasks > 1 && seal_cpu_blas_uses_openmp())
  {
    bwd_scratch w = bwd_scratch_alloc(QBLK * group, D);
    /* Higher slots hold later (longer) query blocks: hand them out first. */
#pragma omp for schedule(dynamic, 1)
    for (long i = 0; i < tasks; i++) {
      int slot = SLOTS - 1 - (int)(i % SLOTS), hk = (int)(i / SLOTS % Hkv),
          b = (int)(i / SLOTS / Hkv);
      float *pdk = parts + (((size_t)b * Hkv + hk) * SLOTS + slot) * 2 * part, *pdv = pdk + part;
      for (int qb = slot; qb < qblocks; qb += SLOTS)
        backward_tile(&w, make_tile(b, hk, qb, T, group), dq, pdk, pdv, dout, out, lse, q, k, v, T,
                      Hq, Hkv, D);
    }
    free(w.q);
  }
  sum_slots(dk, dv, parts, B, T, Hkv, D);
  free(parts);
}
