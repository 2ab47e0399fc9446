/* kernels/cpu/shadow.c — decoding on the float32 "cpu" backend from the
 * blocks a GGUF file stored, when the float32 matrices are exactly their
 * values.
 *
 * Why: decoding is bound by memory; every token step reads every base matrix
 * once, 540 MB of float32 for SmolLM2-135M. When the model came from a Q4_1
 * or Q8_0 GGUF file, each float32 weight seal holds is d * q + m (Q4_1) or
 * d * q (Q8_0) of the file's blocks, so the same products can be had from 20
 * or 34 bytes per 32 weights instead of 128.
 *
 * What: a matrix's "shadow" is those blocks, made the first time the few-rows
 * product (N <= SEAL_CPU_FEW_ROWS) meets the matrix: every block of 32 values
 * is quantised by to_device's own quantiser, widened back by this file's
 * widening, and compared bit for bit with the float32 values; the first block
 * that differs ends the attempt (Q4_1 first, then Q8_0), and the matrix is
 * remembered as having none, so a model from anywhere else pays one block per
 * matrix. Only whole-block rows (I % 32 == 0) are tried.
 *
 * The product: the blocks are widened back to float32 in registers and FMA'd
 * with the float32 inputs in few_rows_f32's own order (few_rows.inc's
 * rows_4x2: one 8-lane FMA chain per output over i, then seal_cpu_sum8), in
 * few_rows_f32's chunks of rows over the threads; rows past the last group of
 * 4 (and every row on a processor without AVX2, FMA and F16C) are widened
 * into a scratch for few_rows_f32's own kernels (matmul.c lends them). The
 * widened values are the matrix's values (the comparison said so), so every
 * output is the float32 path's bits, whatever N and the thread count: a
 * shadow changes the bytes read, never a result. Only the blocking differs
 * (by N: 4 weight rows x 1-2 input rows, 2 x 3-4, 1 x 5-8, so each weight is
 * widened once for up to 8 inputs), which changes no bit. Widening every group into
 * an L1 scratch, tried first, was at most 1.5x float32 (N = 1) and no faster
 * from N = 3 on: the stores and reloads cost what the bytes saved. (d * q is
 * exact in float32 for a half d and q of at most 8 bits, so the AVX2
 * widening's fused d * q + m and the portable d * q + m round alike; the
 * comparison checks the one that runs.)
 *
 * Shadows live in the backend's state, keyed by the matrix's address. Every
 * op that can write memory a matrix lives in drops the shadows it overlaps
 * (seal_cpu_shadows_forget: backend.c's memory ops, lora_merge, adamw); the
 * next product makes them again. SEAL_CPU_SHADOW=0 turns them off. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/lanes.h"
#include "util/q4.h"
#include "util/q8.h"

#define BLOCK 32 /* values per block, Q4_1's and Q8_0's alike */

/* Whether the AVX2 widening and fused kernel may run (a test switch, as
 * lora.c's: the portable route must give the same bits). */
static bool avx2_allowed = true;
void seal_cpu_shadow_allow_avx2(bool allowed) { avx2_allowed = allowed; }
static bool use_avx2(void) { return avx2_allowed && seal_cpu_has_avx2_fma_f16c(); }

void seal_cpu_shadows_init(seal_cpu_shadows *s) {
  memset(s, 0, sizeof *s);
  s->enabled = true;
  const char *v = getenv("SEAL_CPU_SHADOW");
  if (!v || !*v || !strcmp(v, "1")) return;
  if (strcmp(v, "0")) SEAL_DIE("SEAL_CPU_SHADOW=%s: expected 0 (off) or 1 (on, the default)", v);
  s->enabled = false;
}

void seal_cpu_shadows_free(seal_cpu_shadows *s) {
  for (int i = 0; i < s->n; i++) free(s->items[i].blocks);
  free(s->items);
  s->items = NULL, s->n = s->cap = s->shadowed = 0;
}

/* The shadows of a "cpu" backend on float32 matrices; NULL for any other. */
static seal_cpu_shadows *shadows_of(const seal_backend *be) {
  if (!be || be->ops != &seal_cpu_ops || be->weight != SEAL_F32 || !be->ctx) return NULL;
  return &((seal_cpu_state *)be->ctx)->shadows;
}

static size_t block_bytes(seal_cpu_shadow_kind kind) {
  return kind == SEAL_CPU_SHADOW_Q4 ? sizeof(seal_q4_block) : sizeof(seal_q8_block);
}

static void drop(seal_cpu_shadows *s, int i) {
  s->shadowed -= s->items[i].kind != SEAL_CPU_SHADOW_NONE;
  free(s->items[i].blocks);
  s->items[i] = s->items[--s->n];
}

void seal_cpu_shadows_forget(seal_backend *be, const void *p, size_t bytes) {
  seal_cpu_shadows *s = shadows_of(be);
  if (!s || !p || !bytes) return;
  const uintptr_t lo = (uintptr_t)p, hi = lo + bytes;
  for (int i = 0; i < s->n;) {
    const seal_cpu_shadow *sh = &s->items[i];
    uintptr_t a = (uintptr_t)sh->weight, b = a + (size_t)sh->O * sh->I * sizeof(float);
    if (a < hi && lo < b)
      drop(s, i);
    else
      i++;
  }
}

seal_cpu_shadow_counts seal_cpu_shadows_count(const seal_backend *be) {
  seal_cpu_shadow_counts c = {0};
  const seal_cpu_shadows *s = shadows_of(be);
  for (int i = 0; s && i < s->n; i++) {
    const seal_cpu_shadow *sh = &s->items[i];
    if (sh->kind == SEAL_CPU_SHADOW_NONE) {
      c.none++;
      continue;
    }
    sh->kind == SEAL_CPU_SHADOW_Q4 ? c.q4++ : c.q8++;
    c.bytes += (size_t)sh->O * (sh->I / BLOCK) * block_bytes(sh->kind);
  }
  return c;
}

/* ---- widening blocks back to float32 ------------------------------------------ */

/* dst[32] = block b's values, as util/q4.h and util/q8.h define them. */
static void widen_q4_portable(float *dst, const seal_q4_block *b) {
  const float d = seal_f16_bits_to_f32(b->d), m = seal_f16_bits_to_f32(b->m);
  for (int j = 0; j < BLOCK / 2; j++) {
    dst[j] = d * (float)(b->qs[j] & 0x0f) + m;
    dst[j + BLOCK / 2] = d * (float)(b->qs[j] >> 4) + m;
  }
}

static void widen_q8_portable(float *dst, const seal_q8_block *b) {
  const float d = seal_f16_bits_to_f32(b->d);
  for (int j = 0; j < BLOCK; j++) dst[j] = d * (float)b->q[j];
}

#define WIDEN_TARGET __attribute__((target("avx2,fma,f16c")))

/* The same, 8 values at a time: element j of a Q4 block is byte j's low
 * nibble (j < 16) or byte j - 16's high one. */
WIDEN_TARGET static inline void widen_q4_avx2(float *dst, const seal_q4_block *b) {
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), m = _mm256_set1_ps(_cvtsh_ss(b->m));
  const __m128i packed = _mm_loadu_si128((const __m128i *)b->qs), low4 = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(packed, low4);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
  const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; k++) {
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[k]));
    _mm256_storeu_ps(dst + 8 * k, _mm256_fmadd_ps(q, d, m));
  }
}

WIDEN_TARGET static inline void widen_q8_avx2(float *dst, const seal_q8_block *b) {
  const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
  for (int k = 0; k < 4; k++) {
    __m128i q8 = _mm_loadl_epi64((const __m128i *)(b->q + 8 * k));
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
    _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(q, d));
  }
}

WIDEN_TARGET static void widen_avx2(float *dst, const void *blocks, seal_cpu_shadow_kind kind,
                                    size_t n_blocks) {
  if (kind == SEAL_CPU_SHADOW_Q4)
    for (size_t b = 0; b < n_blocks; b++)
      widen_q4_avx2(dst + b * BLOCK, (const seal_q4_block *)blocks + b);
  else
    for (size_t b = 0; b < n_blocks; b++)
      widen_q8_avx2(dst + b * BLOCK, (const seal_q8_block *)blocks + b);
}

/* dst[n_blocks * 32] = the values of n_blocks consecutive blocks of `kind`. */
static void widen(float *dst, const void *blocks, seal_cpu_shadow_kind kind, size_t n_blocks,
                  bool avx2) {
  if (avx2) {
    widen_avx2(dst, blocks, kind, n_blocks);
    return;
  }
  for (size_t b = 0; b < n_blocks; b++)
    if (kind == SEAL_CPU_SHADOW_Q4)
      widen_q4_portable(dst + b * BLOCK, (const seal_q4_block *)blocks + b);
    else
      widen_q8_portable(dst + b * BLOCK, (const seal_q8_block *)blocks + b);
}

/* ---- the fused kernel: blocks widened in registers ------------------------------ */

/* w[k] = values 8k..8k+7 of the block at `block`, as widen_*_avx2 gives them. */
WIDEN_TARGET static inline __attribute__((always_inline)) void widen_regs(
    __m256 w[4], const void *block, seal_cpu_shadow_kind kind) {
  if (kind == SEAL_CPU_SHADOW_Q4) {
    const seal_q4_block *b = block;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d)), m = _mm256_set1_ps(_cvtsh_ss(b->m));
    const __m128i packed = _mm_loadu_si128((const __m128i *)b->qs), low4 = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(packed, low4);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low4);
    w[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), d, m);
    w[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), d, m);
    w[2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), d, m);
    w[3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), d, m);
  } else {
    const seal_q8_block *b = block;
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(b->d));
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
      __m128i q8 = _mm_loadl_epi64((const __m128i *)(b->q + 8 * k));
      w[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
    }
  }
}

/* out[n0 + r, o_out + j] for j < R weight rows and r < N input rows, from
 * the R block rows at `blocks` (row_blocks blocks each): rows_4x2's
 * arithmetic (few_rows.inc) for each output, one 8-lane FMA chain over i in
 * order and then seal_cpu_sum8, on weights widened in registers rather than
 * loaded. Only the blocking differs (R x N outputs at a time, so that each
 * weight is widened once for up to 8 input rows), and it changes no bit.
 * With R = 4, `next` (the next 4 rows' blocks, or these again at the end) is
 * fetched meanwhile, as matmul_q4.c's block_4xm does for its 4 row streams. */
WIDEN_TARGET static inline __attribute__((always_inline)) void fused_block(
    float *out, const float *inp, const char *blocks, const char *next, size_t row_blocks,
    seal_cpu_shadow_kind kind, const int R, const int N, int n0, int I, int O, int o_out) {
  const size_t bytes = block_bytes(kind), row_bytes = row_blocks * bytes;
  const float *x = inp + (size_t)n0 * I;
  __m256 acc[4][8];
#pragma GCC unroll 4
  for (int j = 0; j < R; j++)
#pragma GCC unroll 8
    for (int r = 0; r < N; r++) acc[j][r] = _mm256_setzero_ps();
  for (size_t b = 0; b < row_blocks; b++) {
    if (R == 4)
      for (size_t line = 0; line < 4 * bytes; line += 64)
        _mm_prefetch(next + b * 4 * bytes + line, _MM_HINT_T0);
#pragma GCC unroll 4
    for (int j = 0; j < R; j++) {
      __m256 w[4];
      widen_regs(w, blocks + j * row_bytes + b * bytes, kind);
#pragma GCC unroll 4
      for (int k = 0; k < 4; k++)
#pragma GCC unroll 8
        for (int r = 0; r < N; r++)
          acc[j][r] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (size_t)r * I + b * BLOCK + 8 * k), w[k],
                                      acc[j][r]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < R; j++)
#pragma GCC unroll 8
    for (int r = 0; r < N; r++) out[(size_t)(n0 + r) * O + o_out + j] = seal_cpu_sum8(acc[j][r]);
}

/* The 4 weight rows at `blocks` against the N input rows: 4 weight rows by 2
 * input rows at a time for N <= 2 (8 FMA chains at N = 2), 2 by N for N <= 4,
 * 1 by N up to 8, so that a weight is widened once per call where it can be
 * (and never more than twice) with at least 4 chains in flight (N >= 3). */
WIDEN_TARGET static inline __attribute__((always_inline)) void fused_group(
    float *out, const float *inp, const char *blocks, const char *next, size_t row_blocks,
    seal_cpu_shadow_kind kind, int N, int I, int O, int o) {
  const size_t rb = row_blocks * block_bytes(kind); /* one weight row's bytes */
  if (N <= 2) {
    if (N == 1)
      fused_block(out, inp, blocks, next, row_blocks, kind, 4, 1, 0, I, O, o);
    else
      fused_block(out, inp, blocks, next, row_blocks, kind, 4, 2, 0, I, O, o);
    return;
  }
  if (N <= 4) {
    for (int j = 0; j < 4; j += 2)
      if (N == 3)
        fused_block(out, inp, blocks + j * rb, next, row_blocks, kind, 2, 3, 0, I, O, o + j);
      else
        fused_block(out, inp, blocks + j * rb, next, row_blocks, kind, 2, 4, 0, I, O, o + j);
    return;
  }
  for (int j = 0; j < 4; j++) {
    const char *row = blocks + j * rb;
    switch (N) {
      case 5:
        fused_block(out, inp, row, next, row_blocks, kind, 1, 5, 0, I, O, o + j);
        break;
      case 6:
        fused_block(out, inp, row, next, row_blocks, kind, 1, 6, 0, I, O, o + j);
        break;
      case 7:
        fused_block(out, inp, row, next, row_blocks, kind, 1, 7, 0, I, O, o + j);
        break;
      default:
        fused_block(out, inp, row, next, row_blocks, kind, 1, 8, 0, I, O, o + j);
        break;
    }
  }
}

WIDEN_TARGET static void fused_q4(float *out, const float *inp, const char *blocks,
                                  const char *next, size_t row_blocks, int N, int I, int O, int o) {
  fused_group(out, inp, blocks, next, row_blocks, SEAL_CPU_SHADOW_Q4, N, I, O, o);
}

WIDEN_TARGET static void fused_q8(float *out, const float *inp, const char *blocks,
                                  const char *next, size_t row_blocks, int N, int I, int O, int o) {
  fused_group(out, inp, blocks, next, row_blocks, SEAL_CPU_SHADOW_Q8, N, I, O, o);
}

/* ---- making a shadow ----------------------------------------------------------- */

/* blocks[O, I / 32] = W[O, I] quantised as `kind`; whether widening them gives
 * W back bit for bit (false at the first block that does not). */
static bool quantize_exactly(void *blocks, seal_cpu_shadow_kind kind, const float *W, int O, int I,
                             bool avx2) {
  const size_t n = (size_t)O * (I / BLOCK), bytes = block_bytes(kind);
  float back[BLOCK];
  for (size_t b = 0; b < n; b++) {
    const float *src = W + b * BLOCK; /* rows are whole blocks: block b is values 32b.. */
    void *blk = (char *)blocks + b * bytes;
    bool ok = kind == SEAL_CPU_SHADOW_Q4 ? seal_cpu_q4_block_from(blk, src)
                                         : seal_cpu_q8_block_from(blk, src);
    if (!ok) return false;
    widen(back, blk, kind, 1, avx2);
    if (memcmp(back, src, sizeof back)) return false;
  }
  return true;
}

/* The shadow of weight[O, I], made now: Q4 blocks if they hold its values,
 * else Q8 blocks if they do, else none. */
static seal_cpu_shadow *make(seal_cpu_shadows *s, const float *weight, int O, int I) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->items = seal_realloc(s->items, (size_t)s->cap * sizeof *s->items);
  }
  seal_cpu_shadow *sh = &s->items[s->n++];
  *sh = (seal_cpu_shadow){.weight = weight, .O = O, .I = I, .kind = SEAL_CPU_SHADOW_NONE};
  if (I % BLOCK) return sh;
  const bool avx2 = use_avx2();
  const seal_cpu_shadow_kind kinds[2] = {SEAL_CPU_SHADOW_Q4, SEAL_CPU_SHADOW_Q8};
  for (int k = 0; k < 2; k++) {
    void *blocks = malloc((size_t)O * (I / BLOCK) * block_bytes(kinds[k]));
    if (!blocks) return sh; /* no memory for it: the float32 path, as without */
    if (quantize_exactly(blocks, kinds[k], weight, O, I, avx2)) {
      sh->kind = kinds[k], sh->blocks = blocks;
      s->shadowed++;
      return sh;
    }
    free(blocks);
  }
  return sh;
}

/* Says what the shadows hold at a product on a matrix seen before (every
 * matrix of a token step has been tried by the second step), whenever the
 * matrices with shadows have doubled since it last said: a line or two a run
 * (a first product may read the LM head alone, a later step every matrix),
 * not one per rebuild after a write. */
static void log_growth(seal_cpu_shadows *s, const seal_backend *be) {
  if (s->shadowed == 0 || s->shadowed < 2 * s->logged) return;
  s->logged = s->shadowed;
  seal_cpu_shadow_counts c = seal_cpu_shadows_count(be);
  seal_info(
      "cpu backend: decoding reads Q4_1/Q8_0 blocks of %d of %d matrices (%d Q4_1, %d Q8_0), "
      "%.1f MB, in place of their float32 values (the same results; SEAL_CPU_SHADOW=0 "
      "turns this off)",
      c.q4 + c.q8, c.q4 + c.q8 + c.none, c.q4, c.q8, (double)c.bytes / 1e6);
}

/* ---- the product ------------------------------------------------------------- */

/* out[N, O] = inp[N, I] W^T (+ bias) from sh's blocks: weight rows in
 * few_rows_f32's chunks over the threads, each group of 4 by the fused
 * kernel, or widened into a scratch (rows[4, I]) for few_rows_f32's kernels
 * (the matrix's last rows past a multiple of 4; no AVX2). */
static void shadow_product(const seal_cpu_shadow *sh, float *out, const float *inp,
                           const float *bias, int N) {
  const int I = sh->I, O = sh->O,
            chunks = (O + SEAL_CPU_FEW_ROWS_CHUNK - 1) / SEAL_CPU_FEW_ROWS_CHUNK;
  const size_t row_blocks = (size_t)(I / BLOCK), bytes = block_bytes(sh->kind);
  const bool avx2 = use_avx2();
#pragma omp parallel if ((size_t)O * I >= SEAL_CPU_PARALLEL_MIN)
  {
    float *rows = NULL; /* the scratch, made when a thread first needs it */
#pragma omp for schedule(static)
    for (int c = 0; c < chunks; c++) {
      const int o0 = c * SEAL_CPU_FEW_ROWS_CHUNK;
      const int nw = O - o0 < SEAL_CPU_FEW_ROWS_CHUNK ? O - o0 : SEAL_CPU_FEW_ROWS_CHUNK;
      for (int o = o0; o < o0 + nw; o += 4) {
        const int k = o0 + nw - o < 4 ? o0 + nw - o : 4;
        const char *blocks = (const char *)sh->blocks + (size_t)o * row_blocks * bytes;
        if (k == 4 && avx2) {
          const char *next = o + 8 <= O ? blocks + 4 * row_blocks * bytes : blocks;
          (sh->kind == SEAL_CPU_SHADOW_Q4 ? fused_q4 : fused_q8)(out, inp, blocks, next, row_blocks,
                                                                 N, I, O, o);
          continue;
        }
        if (!rows) rows = aligned_alloc(64, (size_t)4 * I * sizeof(float)); /* 4 I: 64 B whole */
        SEAL_CHECK(rows, "matmul: out of memory for 4 rows of %d values", I);
        widen(rows, blocks, sh->kind, (size_t)k * row_blocks, avx2);
        seal_cpu_few_rows_f32_group(out + o, inp, rows, N, I, O, k);
      }
      if (bias)
        for (int n = 0; n < N; n++)
          for (int o = o0; o < o0 + nw; o++) out[(size_t)n * O + o] += bias[o];
    }
    free(rows);
  }
}

bool seal_cpu_shadow_matmul(seal_backend *be, float *out, const float *inp, const float *weight,
                            const float *bias, int N, int I, int O) {
  seal_cpu_shadows *s = shadows_of(be);
  if (!s || !s->enabled || N < 1 || N > SEAL_CPU_FEW_ROWS || I <= 0 || O <= 0) return false;
  seal_cpu_shadow *sh = NULL;
  for (int i = 0; i < s->n && !sh; i++)
    if (s->items[i].weight == weight) {
      if (s->items[i].O == O && s->items[i].I == I)
        sh = &s->items[i];
      else
        drop(s, i); /* the same address read as another shape: start again */
    }
  if (sh) log_growth(s, be);
  if (!sh) sh = make(s, weight, O, I);
  if (sh->kind == SEAL_CPU_SHADOW_NONE) return false;
  shadow_product(sh, out, inp, bias, N);
  return true;
}
