/* tests/kernels/test_cpu_ops.c — every forward op of the CPU backend against a
 * naive double-precision reference written here, on random inputs with awkward
 * shapes (odd sizes, 6 query heads over 2 kv heads, batches at different
 * positions, decode with Tq < Tk; attention across the CPU kernel's blocks,
 * and its backward against a double reference); AdamW against its formula;
 * sampling's ties, nucleus and frequencies; LoRA merge against the unmerged
 * forward. */
#include <omp.h>
#include <string.h>

#include "cpu_test_helpers.h"

#define FWD_TOL 1e-5

START_TEST(embedding_copies_rows) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 1);
  enum { V = 13, C = 7, N = 9 };
  float *table = test_randn(&r, V * C, 1); /* [V, C] */
  int32_t ids[N] = {3, 0, 12, 3, 7, 1, 12, 5, 9};
  float out[N * C];
  be->ops->embedding(be, out, ids, table, N, C);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) ck_assert_float_eq(out[n * C + c], table[ids[n] * C + c]);
  free(table);
  seal_backend_destroy(be);
}
END_TEST

/* out = x / sqrt(mean(x^2) + eps) * w in double; rstd_ref may be NULL. */
static void ref_rmsnorm(double *out, double *rstd_ref, const double *x, const float *w, int N,
                        int C, float eps) {
  for (int n = 0; n < N; n++) {
    double ss = 0;
    for (int c = 0; c < C; c++) ss += x[n * C + c] * x[n * C + c];
    double rs = 1.0 / sqrt(ss / C + eps);
    if (rstd_ref) rstd_ref[n] = rs;
    for (int c = 0; c < C; c++) out[n * C + c] = x[n * C + c] * rs * w[c];
  }
}

START_TEST(rmsnorm_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 2);
  enum { N = 5, C = 37 };
  float eps = 1e-5f;
  float *x = test_randn(&r, N * C, 2), *w = test_randn(&r, C, 1);
  float out[N * C], rstd[N];
  double xd[N * C], ref[N * C], rstd_ref[N];
  for (int i = 0; i < N * C; i++) xd[i] = x[i];
  x[2 * C + 5] = 0; /* a row with an exact zero, and a tiny row next */
  xd[2 * C + 5] = 0;
  for (int c = 0; c < C; c++) xd[4 * C + c] = x[4 * C + c] = x[4 * C + c] * 1e-4f;
  ref_rmsnorm(ref, rstd_ref, xd, w, N, C, eps);
  be->ops->rmsnorm(be, out, rstd, x, w, N, C, eps);
  TEST_ASSERT_CLOSE("rmsnorm out", out, ref, N * C, FWD_TOL);
  for (int n = 0; n < N; n++) {
    double d = fabs(rstd[n] - rstd_ref[n]) / rstd_ref[n];
    ck_assert_msg(d < FWD_TOL, "rmsnorm rstd[%d] = %g, expected %g", n, rstd[n], rstd_ref[n]);
  }
  /* rstd is optional at inference */
  float out2[N * C];
  be->ops->rmsnorm(be, out2, NULL, x, w, N, C, eps);
  ck_assert(memcmp(out, out2, sizeof out) == 0);
  free(x), free(w);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(residual_rmsnorm_matches_reference_in_place) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 3);
  enum { N = 6, C = 19 };
  float eps = 1e-6f;
  float *a = test_randn(&r, N * C, 1), *b = test_randn(&r, N * C, 1), *w = test_randn(&r, C, 1);
  double sum[N * C], ref[N * C], rstd_ref[N];
  for (int i = 0; i < N * C; i++) sum[i] = (double)a[i] + b[i];
  ref_rmsnorm(ref, rstd_ref, sum, w, N, C, eps);
  float out[N * C], rstd[N];
  /* residual aliases a, as the model uses it (the residual stream in place) */
  be->ops->residual_rmsnorm(be, a, out, rstd, a, b, w, N, C, eps);
  TEST_ASSERT_CLOSE("residual", a, sum, N * C, FWD_TOL);
  TEST_ASSERT_CLOSE("residual_rmsnorm out", out, ref, N * C, FWD_TOL);
  for (int n = 0; n < N; n++) ck_assert(fabs(rstd[n] - rstd_ref[n]) / rstd_ref[n] < FWD_TOL);
  free(a), free(b), free(w);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(add_in_place) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 4);
  size_t n = 1001;
  float *a = test_randn(&r, n, 1), *b = test_randn(&r, n, 1);
  double *ref = test_zeros_d(n);
  for (size_t i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
  be->ops->add(be, b, a, b, n);
  TEST_ASSERT_CLOSE("add", b, ref, n, FWD_TOL);
  free(a), free(b), free(ref);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(matmul_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 5);
  enum { N = 7, I = 33, O = 19 };
  float *x = test_randn(&r, N * I, 1), *W = test_randn(&r, O * I, 0.3);
  float *bias = test_randn(&r, O, 1);
  float out[N * O];
  double ref[N * O];
  for (int i = 0; i < N * O; i++) out[i] = NAN; /* '=' must overwrite */
  be->ops->matmul(be, out, x, W, NULL, N, I, O);
  test_ref_matmul(ref, x, W, NULL, N, I, O);
  TEST_ASSERT_CLOSE("matmul", out, ref, N * O, FWD_TOL);
  for (int i = 0; i < N * O; i++) out[i] = NAN;
  be->ops->matmul(be, out, x, W, bias, N, I, O);
  test_ref_matmul(ref, x, W, bias, N, I, O);
  TEST_ASSERT_CLOSE("matmul + bias", out, ref, N * O, FWD_TOL);
  free(x), free(W), free(bias);
  seal_backend_destroy(be);
}
END_TEST

/* The few-rows path (N <= 8: decoding) at every row count, with the edges of
 * its blocks (I % 8, O % 4, several chunks of weight rows) and enough work to
 * run in parallel: right, and the same bits whatever the thread count. */
START_TEST(few_rows_matmul_matches_reference_at_every_row_count) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 23);
  enum { MAX_N = 8, I = 603, O = 70 };
  float *x = test_randn(&r, MAX_N * I, 1), *W = test_randn(&r, O * I, 0.3);
  float *bias = test_randn(&r, O, 1);
  float out[MAX_N * O], again[MAX_N * O];
  double ref[MAX_N * O];
  int before = omp_get_max_threads();
  for (int N = 1; N <= MAX_N; N++) {
    omp_set_num_threads(1);
    be->ops->matmul(be, out, x, W, N % 2 ? bias : NULL, N, I, O);
    test_ref_matmul(ref, x, W, N % 2 ? bias : NULL, N, I, O);
    TEST_ASSERT_CLOSE("few-rows matmul", out, ref, N * O, FWD_TOL);
    omp_set_num_threads(3);
    be->ops->matmul(be, again, x, W, N % 2 ? bias : NULL, N, I, O);
    ck_assert_msg(memcmp(out, again, (size_t)N * O * sizeof *out) == 0,
                  "few-rows matmul at N=%d: other bits with 3 threads", N);
  }
  omp_set_num_threads(before);
  free(x), free(W), free(bias);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(matmul_backward_input_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 6);
  enum { N = 5, I = 21, O = 12 };
  float *dout = test_randn(&r, N * O, 1), *W = test_randn(&r, O * I, 1);
  float *prior = test_randn(&r, N * I, 1);
  double ref[N * I], ref_acc[N * I];
  for (int n = 0; n < N; n++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int o = 0; o < O; o++) s += (double)dout[n * O + o] * W[o * I + i];
      ref[n * I + i] = s;
      ref_acc[n * I + i] = s + prior[n * I + i];
    }
  float dinp[N * I];
  for (int i = 0; i < N * I; i++) dinp[i] = NAN;
  be->ops->matmul_backward_input(be, dinp, dout, W, N, I, O, 0);
  TEST_ASSERT_CLOSE("matmul_backward_input =", dinp, ref, N * I, FWD_TOL);
  be->ops->matmul_backward_input(be, prior, dout, W, N, I, O, 1);
  TEST_ASSERT_CLOSE("matmul_backward_input +=", prior, ref_acc, N * I, FWD_TOL);
  free(dout), free(W), free(prior);
  seal_backend_destroy(be);
}
END_TEST

/* Half-split RoPE in double, the angle formed in float32 as Hugging Face does. */
static void ref_rope(double *out, const float *x, const int32_t *pos, const float *inv_freq, int N,
                     int H, int D, int direction) {
  int half = D / 2;
  for (int n = 0; n < N; n++)
    for (int h = 0; h < H; h++)
      for (int j = 0; j < half; j++) {
        double angle = (double)((float)pos[n] * inv_freq[j]);
        double c = cos(angle), s = sin(angle) * direction;
        const float *xr = x + ((size_t)n * H + h) * D;
        double *o = out + ((size_t)n * H + h) * D;
        o[j] = xr[j] * c - xr[j + half] * s;
        o[j + half] = xr[j + half] * c + xr[j] * s;
      }
}

START_TEST(rope_matches_reference_and_inverts) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 7);
  enum { N = 6, H = 3, D = 10 };
  int32_t pos[N] = {0, 1, 7, 100, 2047, 31999};
  float inv_freq[D / 2];
  for (int j = 0; j < D / 2; j++) inv_freq[j] = (float)pow(10000.0, -2.0 * j / D);
  float *x = test_randn(&r, N * H * D, 1), *orig = test_copy(x, N * H * D);
  double ref[N * H * D], origd[N * H * D];
  for (int i = 0; i < N * H * D; i++) origd[i] = orig[i];
  ref_rope(ref, orig, pos, inv_freq, N, H, D, 1);
  be->ops->rope(be, x, pos, inv_freq, N, H, D, 1);
  TEST_ASSERT_CLOSE("rope +1", x, ref, N * H * D, FWD_TOL);
  /* position 0 is the identity */
  for (int i = 0; i < H * D; i++) ck_assert_float_eq(x[i], orig[i]);
  ref_rope(ref, orig, pos, inv_freq, N, H, D, -1);
  float *y = test_copy(orig, N * H * D);
  be->ops->rope(be, y, pos, inv_freq, N, H, D, -1);
  TEST_ASSERT_CLOSE("rope -1", y, ref, N * H * D, FWD_TOL);
  be->ops->rope(be, x, pos, inv_freq, N, H, D, -1);
  TEST_ASSERT_CLOSE("rope +1 then -1", x, origd, N * H * D, FWD_TOL);
  free(x), free(orig), free(y);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(kv_write_places_rows) {
  seal_backend *be = test_cpu_backend();
  enum { B = 3, Tq = 2, Tmax = 7, W = 5 };
  int32_t q_pos[B] = {0, 3, 5};
  float cache[B * Tmax * W], src[B * Tq * W];
  for (int i = 0; i < B * Tmax * W; i++) cache[i] = -1;
  for (int i = 0; i < B * Tq * W; i++) src[i] = (float)i;
  be->ops->kv_write(be, cache, src, q_pos, B, Tq, Tmax, W);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tmax; t++)
      for (int w = 0; w < W; w++) {
        int rel = t - q_pos[b];
        float want = rel >= 0 && rel < Tq ? src[(b * Tq + rel) * W + w] : -1;
        ck_assert_float_eq(cache[(b * Tmax + t) * W + w], want);
      }
  seal_backend_destroy(be);
}
END_TEST

/* Causal GQA attention in double; lse_ref [B, Tq, Hq]. */
static void ref_attention(double *out, double *lse_ref, const float *q, const float *k,
                          const float *v, const int32_t *q_pos, int B, int Tq, int Tk, int Hq,
                          int Hkv, int D) {
  double scale = 1.0 / sqrt((double)D);
  double *s = seal_malloc((size_t)Tk * sizeof(double));
  for (int b = 0; b < B; b++)
    for (int t = 0; t < Tq; t++)
      for (int h = 0; h < Hq; h++) {
        int hk = h / (Hq / Hkv), p = q_pos[b] + t;
        const float *qr = q + (((size_t)b * Tq + t) * Hq + h) * D;
        double m = -INFINITY;
        for (int j = 0; j <= p; j++) {
          const float *kr = k + (((size_t)b * Tk + j) * Hkv + hk) * D;
          double d = 0;
          for (int c = 0; c < D; c++) d += (double)qr[c] * kr[c];
          s[j] = d * scale;
          if (s[j] > m) m = s[j];
        }
        double z = 0;
        for (int j = 0; j <= p; j++) z += exp(s[j] - m);
        double *o = out + (((size_t)b * Tq + t) * Hq + h) * D;
        for (int c = 0; c < D; c++) {
          double acc = 0;
          for (int j = 0; j <= p; j++)
            acc += exp(s[j] - m) / z * v[(((size_t)b * Tk + j) * Hkv + hk) * D + c];
          o[c] = acc;
        }
        lse_ref[((size_t)b * Tq + t) * Hq + h] = m + log(z);
      }
  free(s);
}

static void check_attention(int B, int Tq, int Tk, int Hq, int Hkv, int D, const int32_t *q_pos,
                            uint64_t seed) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, seed);
  size_t nq = (size_t)B * Tq * Hq * D, nk = (size_t)B * Tk * Hkv * D, nl = (size_t)B * Hq * Tq;
  float *q = test_randn(&r, nq, 1.5), *k = test_randn(&r, nk, 1.5), *v = test_randn(&r, nk, 1);
  /* Keys beyond every query's position are poison: reading them would show. */
  for (int b = 0; b < B; b++)
    for (int j = q_pos[b] + Tq; j < Tk; j++)
      for (int c = 0; c < Hkv * D; c++) {
        k[((size_t)b * Tk + j) * Hkv * D + c] = NAN;
        v[((size_t)b * Tk + j) * Hkv * D + c] = NAN;
      }
  float *out = seal_malloc(nq * sizeof(float)), *lse = seal_malloc(nl * sizeof(float));
  double *ref = test_zeros_d(nq), *lse_ref = test_zeros_d(nl);
  ref_attention(ref, lse_ref, q, k, v, q_pos, B, Tq, Tk, Hq, Hkv, D);
  be->ops->attention(be, out, lse, q, k, v, q_pos, B, Tq, Tk, Hq, Hkv, D);
  TEST_ASSERT_CLOSE("attention out", out, ref, nq, FWD_TOL);
  TEST_ASSERT_CLOSE("attention lse", lse, lse_ref, nl, FWD_TOL);
  /* lse is optional at inference and changes nothing else */
  float *out2 = seal_malloc(nq * sizeof(float));
  be->ops->attention(be, out2, NULL, q, k, v, q_pos, B, Tq, Tk, Hq, Hkv, D);
  ck_assert(memcmp(out, out2, nq * sizeof(float)) == 0);
  free(q), free(k), free(v), free(out), free(out2), free(lse), free(ref), free(lse_ref);
  seal_backend_destroy(be);
}

START_TEST(attention_training_gqa) {
  int32_t q_pos[2] = {0, 0};
  check_attention(2, 9, 9, 6, 2, 8, q_pos, 8);
}
END_TEST

START_TEST(attention_prefill_at_different_positions) {
  int32_t q_pos[3] = {0, 5, 10};
  check_attention(3, 3, 13, 6, 2, 6, q_pos, 9);
}
END_TEST

START_TEST(attention_decode_one_token) {
  int32_t q_pos[4] = {0, 3, 16, 9};
  check_attention(4, 1, 17, 4, 1, 5, q_pos, 10);
}
END_TEST

/* The blocked kernel's edges (kernels/cpu/attention.c: tiles of 32 query
 * positions, blocks of 128 keys): lengths that are no multiple of either and
 * span several of both, every grouping SmolLM2 and Llama use (1, 3, 7 query
 * heads per kv head), the head sizes of those models. */
START_TEST(attention_training_across_blocks) {
  int32_t q_pos[2] = {0, 0};
  check_attention(2, 133, 133, 3, 3, 48, q_pos, 11); /* 1 query head per kv head */
  check_attention(1, 161, 161, 9, 3, 64, q_pos, 12); /* SmolLM2-135M: 3 */
  check_attention(1, 45, 45, 14, 2, 128, q_pos, 13); /* 7 */
}
END_TEST

/* Few query positions per sequence (decoding, and short prefills after a
 * cache) take attention.c's direct path, not the tiles through sgemm: 1 to 3
 * queries after 1 to 300 keys, across the key blocks of 128, in every
 * grouping and head size above, two sequences at different positions. */
START_TEST(attention_few_queries_across_key_counts) {
  const int heads[3][3] = {{3, 3, 48}, {9, 3, 64}, {14, 2, 128}}; /* Hq, Hkv, D */
  const int keys[] = {1, 2, 9, 64, 127, 128, 129, 255, 300};
  uint64_t seed = 100;
  for (int h = 0; h < 3; h++)
    for (int Tq = 1; Tq <= 3; Tq++)
      for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (keys[i] < Tq) continue;
        int32_t q_pos[2] = {keys[i] - Tq, (keys[i] - Tq) / 2};
        check_attention(2, Tq, keys[i], heads[h][0], heads[h][1], heads[h][2], q_pos, seed++);
      }
}
END_TEST

/* Prefill after a cached prefix: several query tiles at once, each batch at
 * its own position, the causal prefix crossing key blocks. */
START_TEST(attention_prefill_after_a_cached_prefix) {
  int32_t q_pos[3] = {100, 0, 37};
  check_attention(3, 40, 150, 6, 2, 64, q_pos, 14);
  int32_t one[1] = {129};
  check_attention(1, 33, 200, 7, 1, 48, one, 15);
}
END_TEST

/* Packed sequences of the given lengths: q [N, Hq, D], k, v [N, Hkv, D] random,
 * seq_start [n + 1]. */
typedef struct {
  int n, N, max_len, Hq, Hkv, D;
  int32_t *seq_start;
  float *q, *k, *v;
} packed;

static packed packed_random(const int *lens, int n, int Hq, int Hkv, int D, seal_rng *r) {
  packed p = {n, 0, 0, Hq, Hkv, D, seal_malloc(((size_t)n + 1) * sizeof(int32_t)), 0, 0, 0};
  for (int s = 0; s < n; s++) {
    p.seq_start[s] = p.N;
    p.N += lens[s];
    if (lens[s] > p.max_len) p.max_len = lens[s];
  }
  p.seq_start[n] = p.N;
  p.q = test_randn(r, (size_t)p.N * Hq * D, 1.5);
  p.k = test_randn(r, (size_t)p.N * Hkv * D, 1.5);
  p.v = test_randn(r, (size_t)p.N * Hkv * D, 1);
  return p;
}

static void packed_free(packed *p) { free(p->seq_start), free(p->q), free(p->k), free(p->v); }

/* attention_varlen out [N, Hq, D] and lse [N, Hq] of p. */
static void varlen_forward(seal_backend *be, const packed *p, float *out, float *lse) {
  be->ops->attention_varlen(be, out, lse, p->q, p->k, p->v, p->seq_start, p->n, p->max_len, p->Hq,
                            p->Hkv, p->D);
}

/* Each packed sequence against the double reference run on it alone. */
static void check_attention_varlen(const int *lens, int n, int Hq, int Hkv, int D, uint64_t seed) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, seed);
  packed p = packed_random(lens, n, Hq, Hkv, D, &r);
  size_t nq = (size_t)p.N * Hq * D, nl = (size_t)p.N * Hq;
  float *out = seal_malloc(nq * sizeof(float)), *lse = seal_malloc(nl * sizeof(float));
  double *ref = test_zeros_d(nq), *lse_ref = test_zeros_d(nl);
  int32_t zero = 0;
  for (int s = 0; s < n; s++) { /* one batch of one sequence: [1, T, H, D] at its rows */
    size_t row = (size_t)p.seq_start[s];
    ref_attention(ref + row * Hq * D, lse_ref + row * Hq, p.q + row * Hq * D, p.k + row * Hkv * D,
                  p.v + row * Hkv * D, &zero, 1, lens[s], lens[s], Hq, Hkv, D);
  }
  varlen_forward(be, &p, out, lse);
  TEST_ASSERT_CLOSE("attention_varlen out", out, ref, nq, FWD_TOL);
  TEST_ASSERT_CLOSE("attention_varlen lse", lse, lse_ref, nl, FWD_TOL);
  free(out), free(lse), free(ref), free(lse_ref);
  packed_free(&p);
  seal_backend_destroy(be);
}

/* Mixed lengths (a sequence of one token, of two, lengths across the query
 * tiles of 32 and the key blocks of 128), grouped-query heads. */
START_TEST(attention_varlen_matches_reference) {
  const int mixed[4] = {1, 2, 17, 64};
  check_attention_varlen(mixed, 4, 6, 2, 8, 41);
  const int long_and_short[5] = {133, 1, 64, 2, 161};
  check_attention_varlen(long_and_short, 5, 9, 3, 64, 42); /* SmolLM2-135M's grouping */
  const int one[1] = {45};
  check_attention_varlen(one, 1, 14, 2, 128, 43);
}
END_TEST

/* A packed sequence attends only to itself: changing one sequence's keys and
 * values changes its own outputs and leaves every other's bit for bit. */
START_TEST(attention_varlen_sequences_do_not_see_each_other) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 44);
  const int lens[4] = {1, 2, 17, 64};
  packed p = packed_random(lens, 4, 6, 2, 8, &r);
  size_t row_q = (size_t)p.Hq * p.D, row_k = (size_t)p.Hkv * p.D, nq = (size_t)p.N * row_q;
  float *before = seal_malloc(nq * sizeof(float)), *after = seal_malloc(nq * sizeof(float));
  varlen_forward(be, &p, before, NULL);
  for (int s = 0; s < 4; s++) {
    float *k = p.k + (size_t)p.seq_start[s] * row_k, *v = p.v + (size_t)p.seq_start[s] * row_k;
    for (size_t i = 0; i < (size_t)lens[s] * row_k; i++) k[i] += 1.0f, v[i] -= 0.5f;
    varlen_forward(be, &p, after, NULL);
    for (int o = 0; o < 4; o++) {
      size_t at = (size_t)p.seq_start[o] * row_q, bytes = (size_t)lens[o] * row_q * sizeof(float);
      int same = memcmp(before + at, after + at, bytes) == 0;
      ck_assert_msg(o == s ? !same : same, "sequence %d's outputs %s when sequence %d's keys moved",
                    o, same ? "stayed" : "changed", s);
    }
    for (size_t i = 0; i < (size_t)lens[s] * row_k; i++) k[i] -= 1.0f, v[i] += 0.5f;
    varlen_forward(be, &p, before, NULL); /* as restored (the perturbation is not exact) */
  }
  free(before), free(after);
  packed_free(&p);
  seal_backend_destroy(be);
}
END_TEST

/* B sequences of one length packed are the batched form at q_pos 0: the same
 * bits, lse included (one code path, kernels/cpu/attention.c). */
START_TEST(attention_varlen_of_equal_lengths_is_the_batched_form) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 45);
  const int lens[3] = {40, 40, 40};
  packed p = packed_random(lens, 3, 6, 2, 16, &r);
  size_t nq = (size_t)p.N * p.Hq * p.D, nl = (size_t)p.N * p.Hq;
  float *a = seal_malloc((nq + nl) * sizeof(float)), *b = seal_malloc((nq + nl) * sizeof(float));
  int32_t q_pos[3] = {0, 0, 0};
  varlen_forward(be, &p, a, a + nq);
  be->ops->attention(be, b, b + nq, p.q, p.k, p.v, q_pos, 3, 40, 40, p.Hq, p.Hkv, p.D);
  ck_assert(memcmp(a, b, (nq + nl) * sizeof(float)) == 0);
  free(a), free(b);
  packed_free(&p);
  seal_backend_destroy(be);
}
END_TEST

/* The backward of causal GQA attention in double, from the forward's
 * definition: P = softmax(scale q k^T) under the mask, o = P v,
 *   dv = P^T do,  dP = do v^T,  dS = P * (dP - rowsum(do * o)),
 *   dq = scale dS k,  dk = scale dS^T q,
 * dk, dv summed over each kv head's query group. q, dout [B, T, Hq, D];
 * k, v [B, T, Hkv, D]; dq, dk, dv likewise, zeroed by the caller. */
static void ref_attention_backward(double *dq, double *dk, double *dv, const float *dout,
                                   const float *q, const float *k, const float *v, int B, int T,
                                   int Hq, int Hkv, int D) {
  double scale = 1.0 / sqrt((double)D);
  double *p = seal_malloc((size_t)T * sizeof(double)), *o = seal_malloc((size_t)D * sizeof(double));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < Hq; h++)
      for (int i = 0; i < T; i++) {
        int hk = h / (Hq / Hkv);
        size_t qi = (((size_t)b * T + i) * Hq + h) * D;
        double m = -INFINITY, z = 0, delta = 0;
        for (int j = 0; j <= i; j++) {
          const float *kr = k + (((size_t)b * T + j) * Hkv + hk) * D;
          double d = 0;
          for (int c = 0; c < D; c++) d += (double)q[qi + c] * kr[c];
          p[j] = d * scale;
          if (p[j] > m) m = p[j];
        }
        for (int j = 0; j <= i; j++) z += p[j] = exp(p[j] - m);
        for (int c = 0; c < D; c++) o[c] = 0;
        for (int j = 0; j <= i; j++) {
          p[j] /= z;
          for (int c = 0; c < D; c++) o[c] += p[j] * v[(((size_t)b * T + j) * Hkv + hk) * D + c];
        }
        for (int c = 0; c < D; c++) delta += dout[qi + c] * o[c];
        for (int j = 0; j <= i; j++) {
          size_t kj = (((size_t)b * T + j) * Hkv + hk) * D;
          double dp = 0;
          for (int c = 0; c < D; c++) dp += (double)dout[qi + c] * v[kj + c];
          double ds = p[j] * (dp - delta);
          for (int c = 0; c < D; c++) {
            dv[kj + c] += p[j] * dout[qi + c];
            dq[qi + c] += scale * ds * k[kj + c];
            dk[kj + c] += scale * ds * q[qi + c];
          }
        }
      }
  free(p), free(o);
}

#define BWD_TOL 1e-5

/* attention_backward over packed sequences of the given lengths against the
 * double reference run on each sequence alone. */
static void check_attention_backward(const int *lens, int n, int Hq, int Hkv, int D,
                                     uint64_t seed) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, seed);
  packed p = packed_random(lens, n, Hq, Hkv, D, &r);
  size_t nq = (size_t)p.N * Hq * D, nk = (size_t)p.N * Hkv * D;
  float *dout = test_randn(&r, nq, 1), *out = seal_malloc(nq * sizeof(float));
  float *lse = seal_malloc((size_t)p.N * Hq * sizeof(float));
  varlen_forward(be, &p, out, lse);
  /* outputs are '=': poison them first */
  float *dq = test_randn(&r, nq, 1e3), *dk = test_randn(&r, nk, 1e3), *dv = test_randn(&r, nk, 1e3);
  be->ops->attention_backward(be, dq, dk, dv, dout, out, lse, p.q, p.k, p.v, p.seq_start, n,
                              p.max_len, Hq, Hkv, D);
  double *rq = test_zeros_d(nq), *rk = test_zeros_d(nk), *rv = test_zeros_d(nk);
  for (int s = 0; s < n; s++) {
    size_t qo = (size_t)p.seq_start[s] * Hq * D, ko = (size_t)p.seq_start[s] * Hkv * D;
    ref_attention_backward(rq + qo, rk + ko, rv + ko, dout + qo, p.q + qo, p.k + ko, p.v + ko, 1,
                           lens[s], Hq, Hkv, D);
  }
  TEST_ASSERT_CLOSE("attention_backward dq", dq, rq, nq, BWD_TOL);
  TEST_ASSERT_CLOSE("attention_backward dk", dk, rk, nk, BWD_TOL);
  TEST_ASSERT_CLOSE("attention_backward dv", dv, rv, nk, BWD_TOL);
  free(dout), free(out), free(lse);
  free(dq), free(dk), free(dv), free(rq), free(rk), free(rv);
  packed_free(&p);
  seal_backend_destroy(be);
}

/* The same edges as the forward's: several query tiles per slot, several key
 * blocks, groupings 1, 3 and 7, head sizes 48, 64 and 128; and packed
 * sequences of mixed lengths, one of a single token. */
START_TEST(attention_backward_matches_reference) {
  const int two[2] = {133, 133}, one[1] = {161}, short_one[1] = {45};
  check_attention_backward(two, 2, 3, 3, 48, 21);
  check_attention_backward(one, 1, 9, 3, 64, 22);
  check_attention_backward(short_one, 1, 14, 2, 128, 23);
  const int mixed[4] = {1, 2, 17, 64}, long_and_short[4] = {161, 1, 40, 2};
  check_attention_backward(mixed, 4, 6, 2, 8, 25);
  check_attention_backward(long_and_short, 4, 9, 3, 64, 26);
}
END_TEST

/* dk and dv are sums over query tiles: added in a fixed order, they give the
 * same bits whatever the number of threads (as sum_squares below). */
START_TEST(attention_backward_does_not_depend_on_the_thread_count) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 24);
  const int lens[3] = {150, 3, 70};
  packed p = packed_random(lens, 3, 6, 2, 32, &r);
  size_t nq = (size_t)p.N * p.Hq * p.D, nk = (size_t)p.N * p.Hkv * p.D, nl = (size_t)p.N * p.Hq;
  float *dout = test_randn(&r, nq, 1), *out = seal_malloc(nq * sizeof(float));
  float *lse = seal_malloc(nl * sizeof(float)), *grads[3];
  int before = omp_get_max_threads();
  for (int t = 0; t < 3; t++) {
    omp_set_num_threads(t + 1);
    float *g = grads[t] = seal_malloc((nq + 2 * nk) * sizeof(float)); /* dq, dk, dv */
    varlen_forward(be, &p, out, lse);
    be->ops->attention_backward(be, g, g + nq, g + nq + nk, dout, out, lse, p.q, p.k, p.v,
                                p.seq_start, p.n, p.max_len, p.Hq, p.Hkv, p.D);
  }
  omp_set_num_threads(before);
  for (int t = 1; t < 3; t++)
    ck_assert_msg(memcmp(grads[t], grads[0], (nq + 2 * nk) * sizeof(float)) == 0,
                  "attention gradients with %d threads differ from those with 1", t + 1);
  free(dout), free(out), free(lse);
  for (int t = 0; t < 3; t++) free(grads[t]);
  packed_free(&p);
  seal_backend_destroy(be);
}
END_TEST

/* The empty product (I = 0) is 0: every row is the bias, or 0 without one,
 * on the few-rows path and on the GEMM path alike (ops.h). */
START_TEST(matmul_with_no_inputs_gives_the_bias) {
  seal_backend *be = test_cpu_backend();
  float bias[3] = {1.5f, -2.0f, 0.25f}, dummy = 0;
  for (int N = 3; N <= 11; N += 8) { /* 3 rows: few-rows path; 11 rows: sgemm */
    float out[11 * 3];
    for (int i = 0; i < N * 3; i++) out[i] = NAN;
    be->ops->matmul(be, out, &dummy, &dummy, bias, N, 0, 3);
    for (int i = 0; i < N * 3; i++) ck_assert_float_eq(out[i], bias[i % 3]);
    for (int i = 0; i < N * 3; i++) out[i] = NAN;
    be->ops->matmul(be, out, &dummy, &dummy, NULL, N, 0, 3);
    for (int i = 0; i < N * 3; i++) ck_assert_float_eq(out[i], 0.0f);
  }
  seal_backend_destroy(be);
}
END_TEST

/* A query past the keys is refused, not clamped (ops.h): the process dies. */
START_TEST(attention_refuses_queries_past_the_keys) {
  seal_backend *be = test_cpu_backend();
  enum { D = 4, Tk = 5 };
  float q[2 * D] = {0}, k[Tk * D] = {0}, v[Tk * D] = {0}, out[2 * D];
  int32_t q_pos[1] = {4}; /* two queries at 4 and 5: position 5 has no key */
  be->ops->attention(be, out, NULL, q, k, v, q_pos, 1, 2, Tk, 1, 1, D);
  seal_backend_destroy(be); /* not reached */
}
END_TEST

/* A query before position 0 is refused as well. */
START_TEST(attention_refuses_a_negative_position) {
  seal_backend *be = test_cpu_backend();
  enum { D = 4, Tk = 5 };
  float q[2 * D] = {0}, k[Tk * D] = {0}, v[Tk * D] = {0}, out[2 * D];
  int32_t q_pos[2] = {0, -1}; /* batch 1 starts before the first key */
  be->ops->attention(be, out, NULL, q, k, v, q_pos, 2, 1, Tk, 1, 1, D);
  seal_backend_destroy(be); /* not reached */
}
END_TEST

/* Query heads that do not divide among the kv heads are refused, forward and
 * backward. */
START_TEST(attention_refuses_heads_that_do_not_group) {
  seal_backend *be = test_cpu_backend();
  enum { D = 4, T = 3 };
  float q[T * 5 * D] = {0}, k[T * 2 * D] = {0}, v[T * 2 * D] = {0}, out[T * 5 * D];
  int32_t q_pos[1] = {0};
  be->ops->attention(be, out, NULL, q, k, v, q_pos, 1, T, T, 5, 2, D); /* 5 over 2 */
  seal_backend_destroy(be);                                            /* not reached */
}
END_TEST

START_TEST(attention_backward_refuses_heads_that_do_not_group) {
  seal_backend *be = test_cpu_backend();
  enum { D = 4, T = 3 };
  float q[T * 5 * D] = {0}, k[T * 2 * D] = {0}, g[T * 5 * D], lse[5 * T] = {0};
  const int32_t seq_start[2] = {0, T};
  be->ops->attention_backward(be, g, g, g, q, q, lse, q, k, k, seq_start, 1, T, 5, 2, D);
  seal_backend_destroy(be); /* not reached */
}
END_TEST

/* A packed sequence longer than max_len is refused (on cuda it would fall
 * outside the grid). */
START_TEST(attention_varlen_refuses_a_sequence_longer_than_max_len) {
  seal_backend *be = test_cpu_backend();
  enum { D = 4, N = 5 };
  float q[N * D] = {0}, k[N * D] = {0}, out[N * D];
  const int32_t seq_start[3] = {0, 2, 5}; /* lengths 2 and 3 */
  be->ops->attention_varlen(be, out, NULL, q, k, k, seq_start, 2, 2, 1, 1, D);
  seal_backend_destroy(be); /* not reached */
}
END_TEST

START_TEST(swiglu_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 11);
  size_t n = 999;
  float *g = test_randn(&r, n, 3), *u = test_randn(&r, n, 1), *out = test_randn(&r, n, 1);
  double *ref = test_zeros_d(n);
  for (size_t i = 0; i < n; i++) ref[i] = g[i] / (1 + exp(-(double)g[i])) * u[i];
  be->ops->swiglu(be, out, g, u, n);
  TEST_ASSERT_CLOSE("swiglu", out, ref, n, FWD_TOL);
  free(g), free(u), free(out), free(ref);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(cross_entropy_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 12);
  enum { N = 6, V = 53 };
  float scale = 0.37f;
  float *logits = test_randn(&r, N * V, 3);
  for (int i = 0; i < V; i++) logits[3 * V + i] += 1000; /* stability: huge logits */
  int32_t targets[N] = {0, 52, -100, 17, 8, 30};         /* row 2 ignored */
  float weights[N] = {1, 0.5f, 0, 1, 2, 0};
  double loss_ref[N], dref[N * V];
  for (int n = 0; n < N; n++) {
    const float *x = logits + n * V;
    double m = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) m = fmax(m, x[i]);
    for (int i = 0; i < V; i++) z += exp(x[i] - m);
    double lse = m + log(z);
    loss_ref[n] = weights[n] == 0 ? 0 : lse - x[targets[n]];
    for (int i = 0; i < V; i++)
      dref[n * V + i] =
          weights[n] == 0 ? 0 : (exp(x[i] - lse) - (i == targets[n])) * weights[n] * scale;
  }
  float losses[N], dlogits[N * V];
  for (int i = 0; i < N * V; i++) dlogits[i] = NAN;
  be->ops->cross_entropy(be, losses, dlogits, logits, targets, weights, N, V, scale);
  for (int n = 0; n < N; n++)
    ck_assert_msg(fabs(losses[n] - loss_ref[n]) <= FWD_TOL * fmax(1, fabs(loss_ref[n])),
                  "loss[%d] = %g, expected %g", n, losses[n], loss_ref[n]);
  ck_assert_float_eq(losses[2], 0);
  ck_assert_float_eq(losses[5], 0);
  TEST_ASSERT_CLOSE("dlogits", dlogits, dref, N * V, FWD_TOL);
  for (int i = 0; i < V; i++) ck_assert_float_eq(dlogits[5 * V + i], 0);
  /* without a gradient, and with the gradient written over the logits */
  float losses2[N];
  be->ops->cross_entropy(be, losses2, NULL, logits, targets, weights, N, V, scale);
  ck_assert(memcmp(losses, losses2, sizeof losses) == 0);
  be->ops->cross_entropy(be, losses2, logits, logits, targets, weights, N, V, scale);
  ck_assert(memcmp(losses, losses2, sizeof losses) == 0);
  ck_assert(memcmp(dlogits, logits, sizeof dlogits) == 0);
  free(logits);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(lora_forward_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 13);
  enum { N = 5, I = 23, O = 17, R = 3 };
  float scale = 2.0f;
  float *x = test_randn(&r, N * I, 1), *A = test_randn(&r, R * I, 0.5);
  float *B = test_randn(&r, O * R, 0.5), *out = test_randn(&r, N * O, 1);
  double h_ref[N * R], out_ref[N * O];
  for (int n = 0; n < N; n++)
    for (int k = 0; k < R; k++) {
      double s = 0;
      for (int i = 0; i < I; i++) s += (double)x[n * I + i] * A[k * I + i];
      h_ref[n * R + k] = s;
    }
  for (int n = 0; n < N; n++)
    for (int o = 0; o < O; o++) {
      double s = 0;
      for (int k = 0; k < R; k++) s += h_ref[n * R + k] * B[o * R + k];
      out_ref[n * O + o] = out[n * O + o] + scale * s; /* += */
    }
  float h[N * R];
  be->ops->lora_forward(be, out, h, x, A, B, N, I, O, R, scale);
  TEST_ASSERT_CLOSE("lora h", h, h_ref, N * R, FWD_TOL);
  TEST_ASSERT_CLOSE("lora out", out, out_ref, N * O, FWD_TOL);
  free(x), free(A), free(B), free(out);
  seal_backend_destroy(be);
}
END_TEST

/* The grouped LoRA tests' batch: 7 packed sequences of mixed lengths over 3
 * adapters, in an order that spreads adapters 0 and 2, keeps adapter 1's two
 * sequences together and leaves one sequence without an adapter. */
enum { GS = 7, GN = 15, GI = 13, GO = 9, GR = 3, GG = 3, GSTRIDE = GR * GI + GO * GR + 5 };
static const int group_of_seq[GS] = {2, 0, -1, 2, 1, 1, 0};
static const int grouped_start[GS + 1] = {0, 2, 3, 6, 8, 12, 13, 15}; /* lengths 2 1 3 2 4 1 2 */

/* The adapter of row n of the grouped batch. */
static int group_of_row(int n) {
  int s = 0;
  while (grouped_start[s + 1] <= n) s++;
  return group_of_seq[s];
}

/* h_ref [N, R] = x A_g^T and d_ref [N, O] = out + scale h B_g^T per row, in double. */
static void grouped_forward_ref(const float *x, const float *P, const float *out, float scale,
                                double *h_ref, double *out_ref) {
  for (int n = 0; n < GN; n++) {
    int g = group_of_row(n);
    const float *A = P + g * GSTRIDE, *B = A + GR * GI;
    for (int k = 0; k < GR; k++) {
      double s = 0;
      for (int i = 0; i < GI && g >= 0; i++) s += (double)x[n * GI + i] * A[k * GI + i];
      h_ref[n * GR + k] = s;
    }
    for (int o = 0; o < GO; o++) {
      double s = 0;
      for (int k = 0; k < GR && g >= 0; k++) s += h_ref[n * GR + k] * B[o * GR + k];
      out_ref[n * GO + o] = out[n * GO + o] + scale * s;
    }
  }
}

START_TEST(lora_forward_grouped_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 31);
  enum { N = GN };
  float scale = 1.5f;
  float *x = test_randn(&r, N * GI, 1), *P = test_randn(&r, GG * GSTRIDE, 0.5);
  float *out = test_randn(&r, N * GO, 1);
  double h_ref[N * GR], out_ref[N * GO];
  grouped_forward_ref(x, P, out, scale, h_ref, out_ref);
  float h[N * GR];
  for (int i = 0; i < N * GR; i++) h[i] = 7.0f; /* the adapter-less rows must keep it */
  for (int n = grouped_start[2]; n < grouped_start[3]; n++)
    for (int k = 0; k < GR; k++) h_ref[n * GR + k] = 7.0;
  be->ops->lora_forward_grouped(be, out, h, x, P, P + GR * GI, GSTRIDE, group_of_seq, grouped_start,
                                GS, GI, GO, GR, scale);
  TEST_ASSERT_CLOSE("grouped lora h", h, h_ref, N * GR, FWD_TOL);
  TEST_ASSERT_CLOSE("grouped lora out", out, out_ref, N * GO, FWD_TOL);
  free(x), free(P), free(out);
  seal_backend_destroy(be);
}
END_TEST

/* Adapter g's rows' dA, dB (+= onto dP) and dx (+= onto dx_ref) in double. */
static void grouped_backward_ref(const float *dout, const float *x, const float *P, const float *h,
                                 float scale, double *dP_ref, double *dx_ref) {
  for (int n = 0; n < GN; n++) {
    int g = group_of_row(n);
    if (g < 0) continue;
    const float *A = P + g * GSTRIDE, *B = A + GR * GI;
    double *dA = dP_ref + g * GSTRIDE, *dB = dA + GR * GI;
    for (int k = 0; k < GR; k++) {
      double dh = 0;
      for (int o = 0; o < GO; o++) {
        dB[o * GR + k] += scale * (double)dout[n * GO + o] * h[n * GR + k];
        dh += scale * (double)dout[n * GO + o] * B[o * GR + k];
      }
      for (int i = 0; i < GI; i++) {
        dA[k * GI + i] += dh * x[n * GI + i];
        dx_ref[n * GI + i] += dh * A[k * GI + i];
      }
    }
  }
}

START_TEST(lora_backward_grouped_matches_reference) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 32);
  enum { N = GN };
  float scale = 0.5f;
  float *x = test_randn(&r, N * GI, 1), *P = test_randn(&r, GG * GSTRIDE, 0.5);
  float *dout = test_randn(&r, N * GO, 1), *h = test_randn(&r, N * GR, 1);
  float *dP = test_randn(&r, GG * GSTRIDE, 0.1), *dx = test_randn(&r, N * GI, 1);
  double dP_ref[GG * GSTRIDE], dx_ref[N * GI];
  for (int i = 0; i < GG * GSTRIDE; i++) dP_ref[i] = dP[i];
  for (int i = 0; i < N * GI; i++) dx_ref[i] = dx[i];
  grouped_backward_ref(dout, x, P, h, scale, dP_ref, dx_ref);
  float dh[N * GR];
  be->ops->lora_backward_grouped(be, dx, dP, dP + GR * GI, dh, dout, x, P, P + GR * GI, h, GSTRIDE,
                                 group_of_seq, grouped_start, GS, GI, GO, GR, scale);
  TEST_ASSERT_CLOSE("grouped lora dA, dB", dP, dP_ref, GG * GSTRIDE, FWD_TOL);
  TEST_ASSERT_CLOSE("grouped lora dx", dx, dx_ref, N * GI, FWD_TOL);
  free(x), free(P), free(dout), free(h), free(dP), free(dx);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(lora_merge_equals_unmerged_forward) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 14);
  enum { N = 4, I = 29, O = 11, R = 5 };
  float scale = 0.75f;
  float *x = test_randn(&r, N * I, 1), *W = test_randn(&r, O * I, 0.3);
  float *A = test_randn(&r, R * I, 0.5), *B = test_randn(&r, O * R, 0.5);
  float unmerged[N * O], h[N * R], merged[N * O];
  be->ops->matmul(be, unmerged, x, W, NULL, N, I, O);
  be->ops->lora_forward(be, unmerged, h, x, A, B, N, I, O, R, scale);
  be->ops->lora_merge(be, W, A, B, O, I, R, scale);
  be->ops->matmul(be, merged, x, W, NULL, N, I, O);
  double want[N * O];
  for (int i = 0; i < N * O; i++) want[i] = unmerged[i];
  TEST_ASSERT_CLOSE("merged forward", merged, want, N * O, FWD_TOL);
  free(x), free(W), free(A), free(B);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(sum_squares_in_double) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 15);
  size_t n = 100003;
  float *x = test_randn(&r, n, 1);
  x[17] = 3e3f; /* one large entry among many small ones */
  double ref = 0;
  for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
  double got = be->ops->sum_squares(be, x, n);
  ck_assert_msg(fabs(got - ref) <= 1e-12 * ref, "sum_squares %.17g, expected %.17g", got, ref);
  ck_assert(be->ops->sum_squares(be, x, 0) == 0);
  free(x);
  seal_backend_destroy(be);
}
END_TEST

/* The squared norm behind gradient clipping gives the same bits whatever the
 * number of OpenMP threads (issue 11: an OpenMP reduction adds per-thread
 * partial sums, so a work item's losses differed in the 9th digit between
 * ranks that ran it with other thread counts). OpenBLAS's GEMMs do depend on
 * the thread count; cmd_share_cores makes every rank use the same one. */
START_TEST(sum_squares_does_not_depend_on_the_thread_count) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 16);
  size_t n = ((size_t)1 << 20) + 37;
  float *x = test_randn(&r, n, 1);
  int before = omp_get_max_threads();
  double sums[4];
  for (int t = 0; t < 4; t++) {
    omp_set_num_threads(t + 1);
    sums[t] = be->ops->sum_squares(be, x, n);
  }
  omp_set_num_threads(before);
  for (int t = 1; t < 4; t++)
    ck_assert_msg(memcmp(&sums[t], &sums[0], sizeof sums[0]) == 0,
                  "sum_squares with %d threads %.17g, with 1 %.17g", t + 1, sums[t], sums[0]);
  free(x);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(adamw_follows_pytorch_formula) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 16);
  enum { N = 77 };
  float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
  float *p = test_randn(&r, N, 1), m[N] = {0}, v[N] = {0};
  double pd[N], md[N] = {0}, vd[N] = {0};
  for (int i = 0; i < N; i++) pd[i] = p[i];
  for (int step = 1; step <= 3; step++) {
    float *g = test_randn(&r, N, 1);
    if (step == 2) g[0] = 0; /* a zero gradient still decays and moves by momentum */
    be->ops->adamw(be, p, g, m, v, N, lr, b1, b2, eps, wd, step, gs);
    for (int i = 0; i < N; i++) {
      double gi = (double)g[i] * gs;
      pd[i] -= (double)lr * wd * pd[i];
      md[i] = b1 * md[i] + (1 - (double)b1) * gi;
      vd[i] = b2 * vd[i] + (1 - (double)b2) * gi * gi;
      double mhat = md[i] / (1 - pow(b1, step)), vhat = vd[i] / (1 - pow(b2, step));
      pd[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
    TEST_ASSERT_CLOSE("adamw m", m, md, N, FWD_TOL);
    TEST_ASSERT_CLOSE("adamw v", v, vd, N, FWD_TOL);
    TEST_ASSERT_CLOSE("adamw param", p, pd, N, FWD_TOL);
    free(g);
  }
  free(p);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(sample_argmax_takes_lowest_index_on_ties) {
  seal_backend *be = test_cpu_backend();
  enum { B = 3, V = 6 };
  float logits[B * V] = {1,  5,  2,  5,  0,  5,  /* tie at 1, 3, 5 */
                         -3, -2, -9, -2, -2, -7, /* all negative, tie at 1 */
                         7,  7,  7,  7,  7,  7}; /* all equal */
  int32_t ids[B] = {-1, -1, -1};
  be->ops->sample(be, ids, logits, B, V, 0.0f, 0.9f, NULL);
  ck_assert_int_eq(ids[0], 1);
  ck_assert_int_eq(ids[1], 1);
  ck_assert_int_eq(ids[2], 0);
  /* top_p tiny keeps only the most probable token, whatever the draw */
  float u[B] = {0.999f, 0.5f, 0.0f};
  be->ops->sample(be, ids, logits, B, V, 1.0f, 1e-6f, u);
  ck_assert_int_eq(ids[0], 1);
  ck_assert_int_eq(ids[1], 1);
  ck_assert_int_eq(ids[2], 0);
  seal_backend_destroy(be);
}
END_TEST

/* NaN is never the argmax while the row holds a number, wherever it sits; a
 * row of only NaN gives 0; a NaN row sampled with a temperature takes the
 * argmax rule too (ops.h; the CUDA backend follows the same rule). */
START_TEST(sample_argmax_skips_nan) {
  seal_backend *be = test_cpu_backend();
  enum { B = 4, V = 4 };
  float logits[B * V] = {NAN, 1,         3,         2,   /* NaN first */
                         1,   NAN,       5,         NAN, /* NaN between */
                         NAN, NAN,       NAN,       NAN, /* only NaN */
                         NAN, -INFINITY, -INFINITY, -1};
  int32_t ids[B] = {-1, -1, -1, -1};
  be->ops->sample(be, ids, logits, B, V, 0.0f, 1.0f, NULL);
  ck_assert_int_eq(ids[0], 2);
  ck_assert_int_eq(ids[1], 2);
  ck_assert_int_eq(ids[2], 0);
  ck_assert_int_eq(ids[3], 3);
  float u[B] = {0.5f, 0.5f, 0.5f, 0.5f};
  for (int b = 0; b < B; b++) ids[b] = -1;
  be->ops->sample(be, ids, logits, B, V, 1.0f, 0.9f, u);
  ck_assert_int_eq(ids[0], 2);
  ck_assert_int_eq(ids[1], 2);
  ck_assert_int_eq(ids[2], 0);
  ck_assert_int_eq(ids[3], 3);
  seal_backend_destroy(be);
}
END_TEST

/* The nucleus distribution in double: probs[V] of the kept tokens, renormalised
 * (0 elsewhere), in descending order with ascending ids among equals. */
static void ref_nucleus(double *probs, const float *x, int V, double T, double top_p) {
  double m = -INFINITY, z = 0;
  for (int i = 0; i < V; i++) m = fmax(m, x[i]);
  for (int i = 0; i < V; i++) z += exp((x[i] - m) / T);
  int *order = seal_malloc((size_t)V * sizeof(int));
  for (int i = 0; i < V; i++) order[i] = i;
  for (int i = 1; i < V; i++) /* insertion sort, stable: equal logits keep id order */
    for (int j = i; j > 0 && x[order[j]] > x[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  double cum = 0;
  int kept = V;
  for (int i = 0; i < V; i++) {
    cum += exp((x[order[i]] - m) / T) / z;
    if (cum >= top_p) {
      kept = i + 1;
      break;
    }
  }
  double mass = 0;
  for (int i = 0; i < V; i++) probs[i] = 0;
  for (int i = 0; i < kept; i++) mass += exp((x[order[i]] - m) / T);
  for (int i = 0; i < kept; i++) probs[order[i]] = exp((x[order[i]] - m) / T) / mass;
  free(order);
}

START_TEST(sample_frequencies_match_nucleus) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 17);
  enum { V = 9, B = 10000, ROUNDS = 10 };
  float row[V] = {1.0f, 2.5f, -1.0f, 2.0f, 0.3f, 2.5f, -4.0f, 1.7f, 0.0f};
  float *logits = seal_malloc((size_t)B * V * sizeof(float));
  for (int b = 0; b < B; b++) memcpy(logits + b * V, row, sizeof row);
  float uniform[B];
  int32_t ids[B];
  struct {
    float T, top_p;
  } cases[] = {{0.7f, 0.8f}, {1.0f, 1.0f}, {1.6f, 0.5f}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    double probs[V];
    ref_nucleus(probs, row, V, cases[c].T, cases[c].top_p);
    long count[V] = {0};
    for (int k = 0; k < ROUNDS; k++) {
      for (int b = 0; b < B; b++) uniform[b] = (float)seal_rng_uniform(&r);
      be->ops->sample(be, ids, logits, B, V, cases[c].T, cases[c].top_p, uniform);
      for (int b = 0; b < B; b++) {
        ck_assert(ids[b] >= 0 && ids[b] < V);
        count[ids[b]]++;
      }
    }
    double total = (double)B * ROUNDS;
    for (int i = 0; i < V; i++) {
      double f = count[i] / total, sigma = sqrt(probs[i] * (1 - probs[i]) / total);
      if (probs[i] == 0)
        ck_assert_msg(count[i] == 0, "T=%g top_p=%g: token %d outside the nucleus drawn %ld times",
                      cases[c].T, cases[c].top_p, i, count[i]);
      else
        ck_assert_msg(fabs(f - probs[i]) < 5 * sigma + 1e-4,
                      "T=%g top_p=%g: token %d drawn with frequency %.4f, expected %.4f",
                      cases[c].T, cases[c].top_p, i, f, probs[i]);
    }
  }
  free(logits);
  seal_backend_destroy(be);
}
END_TEST

/* The inverse CDF itself: a given uniform picks the token whose cumulative
 * interval (descending order) contains it. Draws within 1e-5 of an interval
 * boundary are skipped (float and double may round either way there). */
START_TEST(sample_inverse_cdf_is_exact) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 18);
  enum { V = 301 };
  float *x = test_randn(&r, V, 2.0);
  x[10] = x[20]; /* a tie in probability */
  double probs[V];
  float T = 0.9f, top_p = 0.9f;
  ref_nucleus(probs, x, V, T, top_p);
  int *order = seal_malloc(V * sizeof(int)), kept = 0;
  for (int i = 0; i < V; i++) /* descending probs, ascending id on ties */
    if (probs[i] > 0) order[kept++] = i;
  for (int i = 1; i < kept; i++)
    for (int j = i; j > 0 && probs[order[j]] > probs[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  int checked = 0;
  for (int k = 0; k < 2000; k++) {
    float u = (float)seal_rng_uniform(&r);
    double cum = 0;
    int want = order[kept - 1];
    bool near_edge = false;
    for (int i = 0; i < kept; i++) {
      cum += probs[order[i]];
      if (fabs(cum - u) < 1e-5) near_edge = true;
      if (cum > u) {
        want = order[i];
        break;
      }
    }
    if (near_edge) continue;
    int32_t id;
    be->ops->sample(be, &id, x, 1, V, T, top_p, &u);
    ck_assert_msg(id == want, "u=%.7f drew token %d, expected %d", u, id, want);
    checked++;
  }
  ck_assert_int_gt(checked, 1900);
  free(x), free(order);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_ops_suite(void) {
  Suite *s = suite_create("cpu_ops");
  TCase *tc = tcase_create("forward");
  TEST_OP(tc, embedding, embedding_copies_rows);
  TEST_OP(tc, rmsnorm, rmsnorm_matches_reference);
  TEST_OP(tc, residual_rmsnorm, residual_rmsnorm_matches_reference_in_place);
  TEST_OP(tc, add, add_in_place);
  TEST_OP(tc, matmul, matmul_matches_reference);
  TEST_OP(tc, matmul, few_rows_matmul_matches_reference_at_every_row_count);
  TEST_OP(tc, matmul_backward_input, matmul_backward_input_matches_reference);
  TEST_OP(tc, rope, rope_matches_reference_and_inverts);
  TEST_OP(tc, kv_write, kv_write_places_rows);
  TEST_OP(tc, attention, attention_training_gqa);
  TEST_OP(tc, attention, attention_prefill_at_different_positions);
  TEST_OP(tc, attention, attention_decode_one_token);
  TEST_OP(tc, attention, attention_training_across_blocks);
  TEST_OP(tc, attention, attention_prefill_after_a_cached_prefix);
  TEST_OP(tc, attention, attention_few_queries_across_key_counts);
  TEST_OP(tc, attention_varlen, attention_varlen_matches_reference);
  TEST_OP(tc, attention_varlen, attention_varlen_sequences_do_not_see_each_other);
  TEST_OP(tc, attention_varlen, attention_varlen_of_equal_lengths_is_the_batched_form);
  TEST_OP(tc, attention_backward, attention_backward_matches_reference);
  TEST_OP(tc, attention_backward, attention_backward_does_not_depend_on_the_thread_count);
  TEST_OP(tc, matmul, matmul_with_no_inputs_gives_the_bias);
  /* a test that must end the process cannot have its calls counted: not an op test */
  tcase_add_exit_test(tc, attention_refuses_queries_past_the_keys, 1);
  tcase_add_exit_test(tc, attention_refuses_a_negative_position, 1);
  tcase_add_exit_test(tc, attention_refuses_heads_that_do_not_group, 1);
  tcase_add_exit_test(tc, attention_backward_refuses_heads_that_do_not_group, 1);
  tcase_add_exit_test(tc, attention_varlen_refuses_a_sequence_longer_than_max_len, 1);
  TEST_OP(tc, swiglu, swiglu_matches_reference);
  TEST_OP(tc, cross_entropy, cross_entropy_matches_reference);
  TEST_OP(tc, lora_forward, lora_forward_matches_reference);
  TEST_OP(tc, lora_merge, lora_merge_equals_unmerged_forward);
  TEST_OP(tc, lora_forward_grouped, lora_forward_grouped_matches_reference);
  TEST_OP(tc, lora_backward_grouped, lora_backward_grouped_matches_reference);
  suite_add_tcase(s, tc);
  TCase *opt = tcase_create("optimizer_and_sampling");
  TEST_OP(opt, sum_squares, sum_squares_in_double);
  TEST_OP(opt, sum_squares, sum_squares_does_not_depend_on_the_thread_count);
  TEST_OP(opt, adamw, adamw_follows_pytorch_formula);
  TEST_OP(opt, sample, sample_argmax_takes_lowest_index_on_ties);
  TEST_OP(opt, sample, sample_argmax_skips_nan);
  TEST_OP(opt, sample, sample_frequencies_match_nucleus);
  TEST_OP(opt, sample, sample_inverse_cdf_is_exact);
  suite_add_tcase(s, opt);
  return s;
}
