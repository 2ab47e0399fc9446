/* kernels/cpu/attention.c — causal attention with grouped-query heads, forward
 * (the cached form: prefill and decode; and the packed training form,
 * attention_varlen) and backward (the packed training form).
 *
 * Blocked through sgemm, FlashAttention-2 style: the work is cut into tiles of
 * (sequence, kv head, block of QBLK query positions). A tile stacks the rows of
 * every query head that reads the kv head (Hq / Hkv of them share its K and V)
 * into one matrix of M = positions x group rows, and walks the keys of its
 * causal prefix in blocks of KBLK: scores S = Q K^T by sgemm, a row-wise
 * softmax on them, then P V (forward) or the five products of the gradient
 * (backward) by sgemm again. Scratch is O(M x KBLK) per thread, never T x T.
 * A tile knows only where its sequence's first query and first key rows sit,
 * so the batched [B, T, H, D] form (sequence b at row b*T) and the packed
 * form (sequence s at row seq_start[s]) are the same code, and a packed
 * sequence never reaches its neighbours' keys.
 *
 * Decoding's tiles (at most DIRECT_MAX_T query positions) skip sgemm: their
 * two products run as vector loops over stack scratch (forward_tile_direct).
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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/vmath.h"

/* Query positions per tile and keys per block (docs/perf.md: measured). */
#ifndef QBLK
#define QBLK 32
#endif
#ifndef KBLK
#define KBLK 128
#endif

/* Query tiles are dealt to this many slots per (sequence, kv head) in the
 * backward (tile i to slot i mod SLOTS), each with its own dk/dv partial sums,
 * added up in slot order afterwards: more parallel work than (sequence, kv
 * head) alone gives (SmolLM2 has 3 kv heads), and a result that does not
 * depend on how many threads ran it. */
#define SLOTS 4

/* Where things sit: row-major [rows, H, D] tensors. */
static inline size_t head_offset(int row, int h, int H, int D) { return ((size_t)row * H + h) * D; }

static float row_max(const float *row, int n) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
  return m;
}

/* One tile: query positions t0 .. t0+nt-1 of one sequence, the query heads of
 * kv head hk. The sequence's query t sits at row qrow + t of q, out and lse,
 * its key j at row krow + j of k and v, and its query t0 at position p0 (t0 in
 * training, q_pos + t0 in the cached form). Row r = t * group + g of the
 * stacked matrices is position t0 + t, query head hk * group + g. */
typedef struct {
  int qrow, krow, hk, t0, nt, p0, group, M;
} tile;

/* Query block qblock of a sequence of T queries at rows qrow, keys at krow,
 * whose first query sits at position q_first. */
static tile make_tile(int qrow, int krow, int q_first, int hk, int qblock, int T, int group) {
  tile tl = {qrow, krow, hk, qblock * QBLK, T - qblock * QBLK, 0, group, 0};
  if (tl.nt > QBLK) tl.nt = QBLK;
  tl.p0 = q_first + tl.t0;
  tl.M = tl.nt * group;
  return tl;
}

/* dst[M, D] = the tile's rows of src [rows, Hq, D] */
static void gather_rows(float *dst, const float *src, tile tl, int Hq, int D) {
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    memcpy(dst + (size_t)r * D, src + head_offset(tl.qrow + t, h, Hq, D),
           (size_t)D * sizeof(float));
  }
}

/* the tile's rows of dst [rows, Hq, D] = alpha * src[M, D] */
static void scatter_rows(float *dst, const float *src, float alpha, tile tl, int Hq, int D) {
  for (int r = 0; r < tl.M; r++) {
    int t = tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    float *o = dst + head_offset(tl.qrow + t, h, Hq, D);
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
 * rescaled to that maximum. */
static void softmax_block(fwd_scratch *w, tile tl, int j0, int n, int D) {
  for (int r = 0; r < tl.M; r++) {
    float *row = w->s + (size_t)r * n;
    int c = visible(tl.p0 + r / tl.group, j0, n);
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

/* The tile's rows of out [rows, Hq, D] = acc / sum, and of lse [rows, Hq]
 * (when not NULL) = max + log(sum). */
static void write_outputs(const fwd_scratch *w, tile tl, float *out, float *lse, int Hq, int D) {
  for (int r = 0; r < tl.M; r++) {
    int row = tl.qrow + tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    float *o = out + head_offset(row, h, Hq, D), inv = 1.0f / w->sum[r];
    for (int d = 0; d < D; d++) o[d] = w->acc[(size_t)r * D + d] * inv;
    if (lse) lse[(size_t)row * Hq + h] = w->max[r] + logf(w->sum[r]);
  }
}

/* The tensors of one attention call. */
typedef struct {
  float *out, *lse;       /* [rows, Hq, D], [rows, Hq] or NULL */
  const float *q, *k, *v; /* [rows, Hq, D], [krows, Hkv, D] twice */
  int Hq, Hkv, D;
} att_tensors;

/* One tile of the forward: out and lse of its rows. */
static void forward_tile(fwd_scratch *w, tile tl, const att_tensors *a) {
  int Hkv = a->Hkv, D = a->D;
  size_t kv_stride = (size_t)Hkv * D, ko = head_offset(tl.krow, tl.hk, Hkv, D);
  int keys = tl.p0 + tl.nt; /* the causal prefix of the tile's last query */
  float scale = 1.0f / sqrtf((float)D);
  gather_rows(w->q, a->q, tl, a->Hq, D);
  memset(w->acc, 0, (size_t)tl.M * D * sizeof(float));
  for (int r = 0; r < tl.M; r++) w->max[r] = -INFINITY, w->sum[r] = 0;
  for (int j0 = 0; j0 < keys; j0 += KBLK) {
    int n = keys - j0 < KBLK ? keys - j0 : KBLK;
    const float *kb = a->k + ko + (size_t)j0 * kv_stride, *vb = a->v + ko + (size_t)j0 * kv_stride;
    /* s[M, n] = scale * q[M, D] @ kb[n, D]^T */
    seal_cpu_sgemm(0, 1, tl.M, n, D, scale, w->q, D, kb, (int)kv_stride, 0, w->s, n);
    softmax_block(w, tl, j0, n, D);
    /* acc[M, D] += p[M, n] @ vb[n, D] */
    seal_cpu_sgemm(0, 0, tl.M, D, n, 1, w->s, n, vb, (int)kv_stride, 1, w->acc, D);
  }
  write_outputs(w, tl, a->out, a->lse, a->Hq, D);
}

/* Every tile of tiles[n] through the forward; the list holds the longest
 * (latest) query blocks first, which the dynamic schedule hands out first. */
static void forward_tiles(const tile *tiles, long n, const att_tensors *a) {
  int group = a->Hq / a->Hkv;
#pragma omp parallel if (n > 1 && seal_cpu_blas_uses_openmp())
  {
    fwd_scratch w = fwd_scratch_alloc(QBLK * group, a->D);
#pragma omp for schedule(dynamic, 1)
    for (long i = 0; i < n; i++) forward_tile(&w, tiles[i], a);
    free(w.q);
  }
}

/* ---- forward, few query rows: direct products ------------------------------ */

/* Decoding asks for one query position per sequence: a tile of M = group rows
 * (3 for SmolLM2) against its keys, ~150 KFLOP at a few hundred keys, where two
 * sgemm calls per key block, a malloc per thread and an OpenMP region cost more
 * than the arithmetic (docs/perf.md, "decode B1": 50 us a call, 3 GFLOP/s).
 * Tiles of at most DIRECT_MAX_T positions take their two products in vector
 * loops instead, over scratch on the stack, with the same online softmax
 * between them; K and V of the kv head are read once for the whole group. */
#define DIRECT_MAX_T 4     /* query positions per sequence */
#define DIRECT_MAX_ROWS 32 /* rows of a tile (positions x group) */
#define DIRECT_MAX_D 128   /* head size */
/* Multiply-adds of a call below which one thread does every tile. SmolLM2's
 * decode has 3 tiles, which 2 threads share 2:1 at best; measured on the
 * 2-core machine, one call at 64 keys (74K) took 7 us on one thread and 6-9 on
 * two, at 192 keys (222K) 19-23 and 16-20: below ~256K a second thread gains
 * little, and a region costs a wake-up, far more at load. */
#define DIRECT_PARALLEL_MIN ((size_t)1 << 18)

/* The helpers below are inlined into forward_tile_direct's clones, so that
 * they run with the clone's instructions (a call would run the baseline's) */
#define DIRECT_INLINE __attribute__((always_inline))

static bool direct_fits(int Tq, int group, int D) {
  return Tq <= DIRECT_MAX_T && Tq * group <= DIRECT_MAX_ROWS && D <= DIRECT_MAX_D;
}

/* a[D] . b[D], two chains of 8 lanes (a dependent chain of FMAs waits out
 * their latency) */
static inline DIRECT_INLINE float dot_row(const float *a, const float *b, int D) {
  f32x8 s0 = {0}, s1 = {0};
  int d = 0;
  for (; d + 16 <= D; d += 16) {
    f32x8 x0, y0, x1, y1;
    memcpy(&x0, a + d, sizeof x0), memcpy(&y0, b + d, sizeof y0);
    memcpy(&x1, a + d + 8, sizeof x1), memcpy(&y1, b + d + 8, sizeof y1);
    s0 += x0 * y0, s1 += x1 * y1;
  }
  for (; d + 8 <= D; d += 8) {
    f32x8 x, y;
    memcpy(&x, a + d, sizeof x), memcpy(&y, b + d, sizeof y);
    s0 += x * y;
  }
  s0 += s1;
  float t = ((s0[0] + s0[4]) + (s0[2] + s0[6])) + ((s0[1] + s0[5]) + (s0[3] + s0[7]));
  for (; d < D; d++) t += a[d] * b[d];
  return t;
}

/* *out = the lane sums of v[0..7]: lane i = the sum of v[i]'s lanes, by three
 * rounds of pairing lanes (14 shuffles where eight separate horizontal sums
 * take 56). Through a pointer: an f32x8 returned by value would change the
 * ABI. */
static inline DIRECT_INLINE void sum_lanes8(f32x8 *out, const f32x8 v[8]) {
  const i32x8 lo1 = {0, 8, 2, 10, 4, 12, 6, 14}, hi1 = {1, 9, 3, 11, 5, 13, 7, 15};
  const i32x8 lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
  const i32x8 lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
  f32x8 a[4], b[2];
  for (int i = 0; i < 4; i++)
    a[i] = __builtin_shuffle(v[2 * i], v[2 * i + 1], lo1) +
           __builtin_shuffle(v[2 * i], v[2 * i + 1], hi1);
  for (int i = 0; i < 2; i++)
    b[i] = __builtin_shuffle(a[2 * i], a[2 * i + 1], lo2) +
           __builtin_shuffle(a[2 * i], a[2 * i + 1], hi2);
  *out = __builtin_shuffle(b[0], b[1], lo4) + __builtin_shuffle(b[0], b[1], hi4);
}

/* s[8] = scale * (q[D] . k_j[D]) for the 8 key rows k_j = k + j * ld, D a
 * multiple of 8: 8 independent chains, one lane reduction for all 8. */
static inline DIRECT_INLINE void dot_8_keys(float *s, const float *q, const float *k, size_t ld,
                                            int D, float scale) {
  f32x8 acc[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) acc[i] = (f32x8){0};
  for (int d = 0; d < D; d += 8) {
    f32x8 x;
    memcpy(&x, q + d, sizeof x);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
      f32x8 y;
      memcpy(&y, k + i * ld + d, sizeof y);
      acc[i] += x * y;
    }
  }
  f32x8 r;
  sum_lanes8(&r, acc);
  r *= scale;
  memcpy(s, &r, sizeof r);
}

/* s[M, n] = scale * q[M, D] @ kb[n, D]^T (key row j at kb + j * ld) */
static inline DIRECT_INLINE void scores_direct(float *s, const float *q, int M, const float *kb,
                                               size_t ld, int n, int D, float scale) {
  for (int r = 0; r < M; r++) {
    const float *qr = q + (size_t)r * D;
    float *sr = s + (size_t)r * n;
    int j = 0;
    if (D % 8 == 0)
      for (; j + 8 <= n; j += 8) dot_8_keys(sr + j, qr, kb + j * ld, ld, D, scale);
    for (; j < n; j++) sr[j] = scale * dot_row(qr, kb + j * ld, D);
  }
}

/* acc[M, D] += p[M, n] @ vb[n, D] (value row j at vb + j * ld): for each row
 * and 32 columns, four accumulators held in registers across the keys. */
static inline DIRECT_INLINE void values_direct(float *acc, const float *p, int M, const float *vb,
                                               size_t ld, int n, int D) {
  for (int r = 0; r < M; r++) {
    const float *pr = p + (size_t)r * n;
    float *ar = acc + (size_t)r * D;
    int d = 0;
    for (; d + 32 <= D; d += 32) { /* each vector on its own: arrays of them go through memory */
      f32x8 a0, a1, a2, a3;
      memcpy(&a0, ar + d, sizeof a0), memcpy(&a1, ar + d + 8, sizeof a1);
      memcpy(&a2, ar + d + 16, sizeof a2), memcpy(&a3, ar + d + 24, sizeof a3);
      for (int j = 0; j < n; j++) {
        const float *v = vb + j * ld + d, pj = pr[j];
        f32x8 y0, y1, y2, y3;
        memcpy(&y0, v, sizeof y0), memcpy(&y1, v + 8, sizeof y1);
        memcpy(&y2, v + 16, sizeof y2), memcpy(&y3, v + 24, sizeof y3);
        a0 += pj * y0, a1 += pj * y1, a2 += pj * y2, a3 += pj * y3;
      }
      memcpy(ar + d, &a0, sizeof a0), memcpy(ar + d + 8, &a1, sizeof a1);
      memcpy(ar + d + 16, &a2, sizeof a2), memcpy(ar + d + 24, &a3, sizeof a3);
    }
    for (; d + 8 <= D; d += 8) {
      f32x8 a;
      memcpy(&a, ar + d, sizeof a);
      for (int j = 0; j < n; j++) {
        f32x8 y;
        memcpy(&y, vb + j * ld + d, sizeof y);
        a += pr[j] * y;
      }
      memcpy(ar + d, &a, sizeof a);
    }
    for (; d < D; d++)
      for (int j = 0; j < n; j++) ar[d] += pr[j] * vb[j * ld + d];
  }
}

/* One tile of the forward with the products written out: the tile's rows of
 * out and lse, as forward_tile computes them. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void forward_tile_direct(
    tile tl, const att_tensors *a) {
  float q[DIRECT_MAX_ROWS * DIRECT_MAX_D], acc[DIRECT_MAX_ROWS * DIRECT_MAX_D]; /* [M, D] */
  float s[DIRECT_MAX_ROWS * KBLK], max[DIRECT_MAX_ROWS], sum[DIRECT_MAX_ROWS];  /* [M, KBLK], [M] */
  fwd_scratch w = {q, acc, s, max, sum};
  int Hkv = a->Hkv, D = a->D, M = tl.M;
  size_t kv_stride = (size_t)Hkv * D, ko = head_offset(tl.krow, tl.hk, Hkv, D);
  int keys = tl.p0 + tl.nt; /* the causal prefix of the tile's last query */
  float scale = 1.0f / sqrtf((float)D);
  gather_rows(q, a->q, tl, a->Hq, D);
  memset(acc, 0, (size_t)M * D * sizeof(float));
  for (int r = 0; r < M; r++) max[r] = -INFINITY, sum[r] = 0;
  for (int j0 = 0; j0 < keys; j0 += KBLK) {
    int n = keys - j0 < KBLK ? keys - j0 : KBLK;
    const float *kb = a->k + ko + (size_t)j0 * kv_stride, *vb = a->v + ko + (size_t)j0 * kv_stride;
    /* s[M, n] = scale * q[M, D] @ kb[n, D]^T */
    scores_direct(s, q, M, kb, kv_stride, n, D, scale);
    softmax_block(&w, tl, j0, n, D);
    /* acc[M, D] += p[M, n] @ vb[n, D] */
    values_direct(acc, s, M, vb, kv_stride, n, D);
  }
  write_outputs(&w, tl, a->out, a->lse, a->Hq, D);
}

/* Every tile of tiles[n] (each of at most DIRECT_MAX_ROWS rows) through
 * forward_tile_direct; on one thread when the call's work is small. */
static void forward_tiles_direct(const tile *tiles, long n, const att_tensors *a) {
  size_t work = 0; /* multiply-adds of the two products */
  for (long i = 0; i < n; i++) work += (size_t)2 * tiles[i].M * (tiles[i].p0 + tiles[i].nt) * a->D;
#pragma omp parallel for schedule(dynamic, 1) if (n > 1 && work >= DIRECT_PARALLEL_MIN)
  for (long i = 0; i < n; i++) forward_tile_direct(tiles[i], a);
}

static void check_group(const char *op, int Hq, int Hkv) {
  SEAL_CHECK(Hkv > 0 && Hq % Hkv == 0, "%s: %d query heads do not group over %d kv heads", op, Hq,
             Hkv);
}

static int query_blocks(int T) { return (T + QBLK - 1) / QBLK; }

void seal_cpu_attention(seal_backend *be, void *out, float *lse, const void *q, const void *k,
                        const void *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq, int Hkv,
                        int D) {
  (void)be;
  check_group("attention", Hq, Hkv);
  for (int b = 0; b < B; b++)
    SEAL_CHECK(q_pos[b] >= 0 && q_pos[b] + Tq <= Tk,
               "attention: batch %d has queries at positions %d..%d beyond %d keys", b,
               (int)q_pos[b], (int)q_pos[b] + Tq - 1, Tk);
  int group = Hq / Hkv, qblocks = query_blocks(Tq);
  long n = (long)B * Hkv * qblocks, i = 0;
  tile *tiles = seal_malloc((size_t)(n ? n : 1) * sizeof *tiles);
  for (int qb = qblocks - 1; qb >= 0; qb--)
    for (int b = 0; b < B; b++)
      for (int hk = 0; hk < Hkv; hk++)
        tiles[i++] = make_tile(b * Tq, b * Tk, q_pos[b], hk, qb, Tq, group);
  att_tensors a = {out, lse, q, k, v, Hq, Hkv, D};
  if (direct_fits(Tq, group, D))
    forward_tiles_direct(tiles, n, &a);
  else
    forward_tiles(tiles, n, &a);
  free(tiles);
}

/* Refuses a seq_start that is not a packing of n_seq sequences of at most
 * max_len rows each. */
static void check_seq_start(const char *op, const int32_t *seq_start, int n_seq, int max_len) {
  SEAL_CHECK(n_seq >= 0 && (n_seq == 0 || seq_start[0] == 0),
             "%s: seq_start must begin at row 0 (got %d for %d sequences)", op,
             n_seq > 0 ? (int)seq_start[0] : 0, n_seq);
  for (int s = 0; s < n_seq; s++) {
    int len = seq_start[s + 1] - seq_start[s];
    SEAL_CHECK(len >= 0 && len <= max_len,
               "%s: sequence %d has %d rows (seq_start %d..%d), expected 0..%d (max_len)", op, s,
               len, (int)seq_start[s], (int)seq_start[s + 1], max_len);
  }
}

void seal_cpu_attention_varlen(seal_backend *be, void *out, float *lse, const void *q,
                               const void *k, const void *v, const int32_t *seq_start, int n_seq,
                               int max_len, int Hq, int Hkv, int D) {
  (void)be;
  check_group("attention_varlen", Hq, Hkv);
  check_seq_start("attention_varlen", seq_start, n_seq, max_len);
  int group = Hq / Hkv, qblocks = query_blocks(max_len);
  long n = 0, i = 0;
  for (int s = 0; s < n_seq; s++) n += (long)Hkv * query_blocks(seq_start[s + 1] - seq_start[s]);
  tile *tiles = seal_malloc((size_t)(n ? n : 1) * sizeof *tiles);
  for (int qb = qblocks - 1; qb >= 0; qb--)
    for (int s = 0; s < n_seq; s++) {
      int row = seq_start[s], T = seq_start[s + 1] - row;
      if (qb >= query_blocks(T)) continue;
      for (int hk = 0; hk < Hkv; hk++) tiles[i++] = make_tile(row, row, 0, hk, qb, T, group);
    }
  att_tensors a = {out, lse, q, k, v, Hq, Hkv, D};
  forward_tiles(tiles, n, &a);
  free(tiles);
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

/* The tensors of one backward call (packed rows). */
typedef struct {
  float *dq; /* [N, Hq, D] */
  const float *dout, *out, *lse, *q, *k,
      *v; /* [N, Hq, D] x2, [N, Hq], [N, Hq, D], [N, Hkv, D] x2 */
  int Hq, Hkv, D;
} bwd_tensors;

/* The tile's rows of q and dout, its lse, and delta_r = dout_r . out_r. */
static void load_backward_rows(bwd_scratch *w, tile tl, const bwd_tensors *a) {
  int Hq = a->Hq, D = a->D;
  gather_rows(w->q, a->q, tl, Hq, D);
  gather_rows(w->dout, a->dout, tl, Hq, D);
  for (int r = 0; r < tl.M; r++) {
    int row = tl.qrow + tl.t0 + r / tl.group, h = tl.hk * tl.group + r % tl.group;
    const float *o = a->out + head_offset(row, h, Hq, D), *g = w->dout + (size_t)r * D;
    float dot = 0;
    for (int d = 0; d < D; d++) dot += g[d] * o[d];
    w->delta[r] = dot;
    w->lse[r] = a->lse[(size_t)row * Hq + h];
  }
}

/* p[M, n] = exp(scores - lse) in place (0 where masked), then
 * ds[M, n] = p * (dP - delta) in place of dP. */
static void softmax_grad_block(bwd_scratch *w, tile tl, int j0, int n) {
  for (int r = 0; r < tl.M; r++) {
    float *p = w->p + (size_t)r * n, *ds = w->ds + (size_t)r * n;
    int c = visible(tl.p0 + r / tl.group, j0, n);
    exp_row(p, c, w->lse[r]);
    for (int j = 0; j < c; j++) ds[j] = p[j] * (ds[j] - w->delta[r]);
    memset(p + c, 0, (size_t)(n - c) * sizeof(float));
    memset(ds + c, 0, (size_t)(n - c) * sizeof(float));
  }
}

/* One tile of the backward: its rows of dq, and its share of dk, dv added into
 * the slot's partial sums pdk, pdv [T, D] (T the sequence's length). */
static void backward_tile(bwd_scratch *w, tile tl, float *pdk, float *pdv, const bwd_tensors *a) {
  int D = a->D;
  size_t kv_stride = (size_t)a->Hkv * D, ko = head_offset(tl.krow, tl.hk, a->Hkv, D);
  int ld = (int)kv_stride, keys = tl.t0 + tl.nt, M = tl.M;
  float scale = 1.0f / sqrtf((float)D);
  load_backward_rows(w, tl, a);
  memset(w->dq, 0, (size_t)M * D * sizeof(float));
  for (int j0 = 0; j0 < keys; j0 += KBLK) {
    int n = keys - j0 < KBLK ? keys - j0 : KBLK;
    const float *kb = a->k + ko + (size_t)j0 * kv_stride, *vb = a->v + ko + (size_t)j0 * kv_stride;
    float *gk = pdk + (size_t)j0 * D, *gv = pdv + (size_t)j0 * D;      /* [n, D] */
    seal_cpu_sgemm(0, 1, M, n, D, scale, w->q, D, kb, ld, 0, w->p, n); /* S = scale q kb^T */
    seal_cpu_sgemm(0, 1, M, n, D, 1, w->dout, D, vb, ld, 0, w->ds, n); /* dP = dout vb^T */
    softmax_grad_block(w, tl, j0, n);
    seal_cpu_sgemm(1, 0, n, D, M, 1, w->p, n, w->dout, D, 1, gv, D);   /* dv += P^T dout */
    seal_cpu_sgemm(0, 0, M, D, n, 1, w->ds, n, kb, ld, 1, w->dq, D);   /* dq += dS kb */
    seal_cpu_sgemm(1, 0, n, D, M, scale, w->ds, n, w->q, D, 1, gk, D); /* dk += scale dS^T q */
  }
  scatter_rows(a->dq, w->dq, scale, tl, a->Hq, D);
}

/* Partial sums of sequence s start at row seq_start[s] of parts: per kv head
 * SLOTS pairs (dk, dv) of [T, D], i.e. [Hkv, SLOTS, 2, T, D] in the rows'
 * share [T * Hkv * SLOTS * 2, D] of parts [N * Hkv * SLOTS * 2, D]. */
static float *slot_part(float *parts, const int32_t *seq_start, int s, int hk, int slot, int Hkv,
                        int D) {
  size_t T = (size_t)(seq_start[s + 1] - seq_start[s]);
  return parts + ((size_t)seq_start[s] * Hkv * SLOTS * 2 + ((size_t)hk * SLOTS + slot) * 2 * T) * D;
}

/* dk, dv [N, Hkv, D] = the sum over slots of the partial sums, in slot order. */
static void sum_slots(float *dk, float *dv, const float *parts, const int32_t *seq_start, int n_seq,
                      int Hkv, int D) {
  long n = (long)n_seq * Hkv;
  size_t N = n_seq > 0 ? (size_t)seq_start[n_seq] : 0;
#pragma omp parallel for schedule(static) if (N * Hkv * D >= SEAL_CPU_PARALLEL_MIN)
  for (long i = 0; i < n; i++) {
    int s = (int)(i / Hkv), hk = (int)(i % Hkv), row = seq_start[s], T = seq_start[s + 1] - row;
    size_t part = (size_t)T * D;
    const float *base = slot_part((float *)parts, seq_start, s, hk, 0, Hkv, D);
    for (int j = 0; j < T; j++) {
      float *gk = dk + head_offset(row + j, hk, Hkv, D),
            *gv = dv + head_offset(row + j, hk, Hkv, D);
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

/* One backward task: the query blocks slot, slot + SLOTS, ... of sequence s
 * and kv head hk. */
typedef struct {
  int s, hk, slot;
} bwd_task;

/* The tasks of every sequence, the longest sequences' highest slots first
 * (they hold the latest, longest query blocks): the dynamic schedule hands
 * them out first. */
static bwd_task *backward_tasks(const int32_t *seq_start, int n_seq, int Hkv, long *n) {
  int *order = seal_malloc((size_t)(n_seq ? n_seq : 1) * sizeof(int));
  for (int s = 0; s < n_seq; s++) order[s] = s;
  for (int i = 1; i < n_seq; i++) { /* insertion sort by length, longest first; stable */
    int s = order[i], len = seq_start[s + 1] - seq_start[s], j = i;
    for (; j > 0 && seq_start[order[j - 1] + 1] - seq_start[order[j - 1]] < len; j--)
      order[j] = order[j - 1];
    order[j] = s;
  }
  bwd_task *tasks = seal_malloc((size_t)(n_seq ? n_seq : 1) * Hkv * SLOTS * sizeof *tasks);
  *n = 0;
  for (int i = 0; i < n_seq; i++)
    for (int slot = SLOTS - 1; slot >= 0; slot--)
      for (int hk = 0; hk < Hkv; hk++)
        if (slot < query_blocks(seq_start[order[i] + 1] - seq_start[order[i]]))
          tasks[(*n)++] = (bwd_task){order[i], hk, slot};
  free(order);
  return tasks;
}

void seal_cpu_attention_backward(seal_backend *be, void *dq, void *dk, void *dv, const void *dout,
                                 const void *out, const float *lse, const void *q, const void *k,
                                 const void *v, const int32_t *seq_start, int n_seq, int max_len,
                                 int Hq, int Hkv, int D) {
  (void)be;
  check_group("attention_backward", Hq, Hkv);
  check_seq_start("attention_backward", seq_start, n_seq, max_len);
  int group = Hq / Hkv;
  size_t N = n_seq > 0 ? (size_t)seq_start[n_seq] : 0;
  bwd_tensors a = {dq, dout, out, lse, q, k, v, Hq, Hkv, D};
  float *parts = seal_calloc((N ? N : 1) * Hkv * SLOTS * 2 * D, sizeof(float));
  long n;
  bwd_task *tasks = backward_tasks(seq_start, n_seq, Hkv, &n);
#pragma omp parallel if (n > 1 && seal_cpu_blas_uses_openmp())
  {
    bwd_scratch w = bwd_scratch_alloc(QBLK * group, D);
#pragma omp for schedule(dynamic, 1)
    for (long i = 0; i < n; i++) {
      bwd_task t = tasks[i];
      int row = seq_start[t.s], T = seq_start[t.s + 1] - row;
      float *pdk = slot_part(parts, seq_start, t.s, t.hk, t.slot, Hkv, D),
            *pdv = pdk + (size_t)T * D;
      for (int qb = t.slot; qb < query_blocks(T); qb += SLOTS)
        backward_tile(&w, make_tile(row, row, 0, t.hk, qb, T, group), pdk, pdv, &a);
    }
    free(w.q);
  }
  sum_slots(dk, dv, parts, seq_start, n_seq, Hkv, D);
  free(tasks);
  free(parts);
}
