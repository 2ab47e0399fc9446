/* tests/kernels/test_cpu_vmath.c — the vectorised exp and sigmoid (vmath.h)
 * against double precision over a sweep of every 2039th float (all of
 * -100..100 densely, the huge, the tiny and the denormal-producing ones) and
 * the special values; the same vectors bit for bit against a scalar
 * transcription of their steps on every ISA this machine has (an FMA formed in
 * one clone would break that); SwiGLU, its backward and cross-entropy, which
 * use them, against double references on odd lengths; and rope's table of
 * cosines, which must give today's values bit for bit and notice new
 * positions. */
#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "cpu_test_helpers.h"
#include "kernels/cpu/vmath.h"

/* The bounds vmath.h states. */
#define EXP_ULP 3.0
#define SIGMOID_ULP 3.5
#define EXP_FLUSH 1.7e-38 /* below x = -87: exp8 gives 0, the true value is under this */

/* ck_assert_msg for the loops over millions of values: Check sends every
 * passing assertion's line down a pipe, a system call each. */
#define EXPECT(cond, ...)                   \
  do {                                      \
    if (!(cond)) ck_abort_msg(__VA_ARGS__); \
  } while (0)

static float bits_to_float(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static uint32_t float_to_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* The sweep: every 2039th bit pattern of the positive and negative floats
 * (about 4.2 million, half of them in -100..100), then the special values. */
static float *sweep_inputs(size_t *count) {
  static const float special[] = {
      0.0f,    -0.0f,   INFINITY, -INFINITY,    NAN,           -NAN,      88.37f,  88.38f,  88.72f,
      88.73f,  89.0f,   89.5f,    100.0f,       -87.0f,        -87.0001f, -87.33f, -100.0f, -103.9f,
      -104.0f, FLT_MIN, -FLT_MIN, FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX,   -FLT_MAX};
  size_t n_special = sizeof special / sizeof *special, n = 0, cap = 2 * (0x80000000u / 2039 + 1);
  float *x = seal_malloc((cap + n_special + 8) * sizeof(float));
  for (uint32_t b = 0; b < 0x80000000u; b += 2039) {
    x[n++] = bits_to_float(b);
    x[n++] = bits_to_float(b | 0x80000000u);
  }
  memcpy(x + n, special, n_special * sizeof(float));
  *count = n + n_special;
  return x;
}

/* Distance of got from ref in units of the float spacing at ref. */
static double ulp_error(float got, double ref) {
  float rf = (float)ref;
  if (isinf(rf)) return isinf(got) && (got > 0) == (rf > 0) ? 0 : INFINITY;
  double spacing = (double)nextafterf(fabsf(rf), INFINITY) - fabsf(rf);
  return fabs((double)got - ref) / spacing;
}

/* ---- the vectors, compiled for each ISA ----------------------------------- */

#define APPLY8(name, op, attr)                                \
  attr static void name(float *y, const float *x, size_t n) { \
    for (size_t i = 0; i < n; i += 8) {                       \
      size_t m = n - i < 8 ? n - i : 8;                       \
      f32x8 v = {0};                                          \
      memcpy(&v, x + i, m * sizeof(float));                   \
      op(&v);                                                 \
      memcpy(y + i, &v, m * sizeof(float));                   \
    }                                                         \
  }
APPLY8(exp_default, exp8, )
APPLY8(exp_avx2, exp8, __attribute__((target("avx2"))))
APPLY8(exp_avx512, exp8, __attribute__((target("avx512f"))))
APPLY8(sigmoid_default, sigmoid8, )
APPLY8(sigmoid_avx2, sigmoid8, __attribute__((target("avx2"))))
APPLY8(sigmoid_avx512, sigmoid8, __attribute__((target("avx512f"))))

typedef void (*apply_fn)(float *y, const float *x, size_t n);
typedef struct {
  const char *isa;
  apply_fn exp, sigmoid;
} isa_variant;

/* The variants this CPU can run; returns their count. */
static int isa_variants(isa_variant v[3]) {
  int n = 0;
  v[n++] = (isa_variant){"default", exp_default, sigmoid_default};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) v[n++] = (isa_variant){"avx2", exp_avx2, sigmoid_avx2};
  if (__builtin_cpu_supports("avx512f"))
    v[n++] = (isa_variant){"avx512f", exp_avx512, sigmoid_avx512};
  return n;
}

/* ---- scalar transcriptions of vmath.h's steps ------------------------------ */

static float exp_steps(float x) {
  if (isnan(x)) return x;
  if (x > 89.0f) x = 89.0f;
  if (x < -87.0f) return 0;
  const float round = 12582912.0f;
  float n = (x * 1.44269504f + round) - round;
  float r = x - n * 0.693145751953125f - n * 1.428606765330187e-6f;
  float p = r * (1.0f / 720) + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * bits_to_float((uint32_t)((int32_t)n + 127) << 23);
}

static float sigmoid_steps(float g) {
  float e = exp_steps(-fabsf(g));
  return (g < 0 ? e : 1.0f) / (1.0f + e);
}

/* Whether two results are the same float (any NaN equals any NaN). */
static int same_float(float a, float b) {
  return (isnan(a) && isnan(b)) || float_to_bits(a) == float_to_bits(b);
}

START_TEST(vector_exp_and_sigmoid_are_the_same_on_every_isa) {
  size_t n;
  float *x = sweep_inputs(&n), *y = seal_malloc(n * sizeof(float));
  isa_variant v[3];
  int nv = isa_variants(v);
  for (int k = 0; k < nv; k++) {
    v[k].exp(y, x, n);
    for (size_t i = 0; i < n; i++)
      EXPECT(same_float(y[i], exp_steps(x[i])), "exp8 (%s) of %.9g = %.9g, its steps %.9g",
             v[k].isa, x[i], y[i], exp_steps(x[i]));
    v[k].sigmoid(y, x, n);
    for (size_t i = 0; i < n; i++)
      EXPECT(same_float(y[i], sigmoid_steps(x[i])), "sigmoid8 (%s) of %.9g = %.9g, its steps %.9g",
             v[k].isa, x[i], y[i], sigmoid_steps(x[i]));
  }
  ck_assert_int_ge(nv, 1);
  free(x), free(y);
}
END_TEST

START_TEST(vector_exp_is_within_its_bound) {
  size_t n;
  float *x = sweep_inputs(&n), *y = seal_malloc(n * sizeof(float));
  exp_default(y, x, n);
  double worst = 0;
  float worst_x = 0;
  size_t checked = 0;
  for (size_t i = 0; i < n; i++) {
    float xi = x[i];
    if (isnan(xi)) {
      EXPECT(isnan(y[i]), "exp8(NaN) = %g", y[i]);
    } else if (xi > 88.37f) {
      EXPECT(isinf(y[i]) && y[i] > 0, "exp8(%.9g) = %g, expected +inf", xi, y[i]);
    } else if (xi < -87.0f) {
      EXPECT(y[i] == 0 && exp((double)xi) < EXP_FLUSH, "exp8(%.9g) = %g", xi, y[i]);
    } else {
      double e = ulp_error(y[i], exp((double)xi));
      EXPECT(e <= EXP_ULP, "exp8(%.9g) = %.9g, %.2f ulp from %.9g", xi, y[i], e, exp((double)xi));
      if (e > worst) worst = e, worst_x = xi;
      checked++;
    }
  }
  if (getenv("SEAL_TEST_VERBOSE"))
    fprintf(stderr, "exp8: worst %.3f ulp (at %.9g) over %zu inputs\n", worst, worst_x, checked);
  ck_assert_uint_gt(checked, 1000000); /* the sweep really covers -87..88 */
  free(x), free(y);
}
END_TEST

START_TEST(vector_sigmoid_is_within_its_bound) {
  size_t n;
  float *x = sweep_inputs(&n), *y = seal_malloc(n * sizeof(float));
  sigmoid_default(y, x, n);
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    float g = x[i];
    double ref = 1 / (1 + exp(-(double)g));
    if (isnan(g)) {
      EXPECT(isnan(y[i]), "sigmoid8(NaN) = %g", y[i]);
    } else if (g < -87.0f) {
      EXPECT(y[i] >= 0 && y[i] <= ref + EXP_FLUSH && ref < EXP_FLUSH,
             "sigmoid8(%.9g) = %g, expected %g", g, y[i], ref);
    } else {
      double e = ulp_error(y[i], ref);
      EXPECT(e <= SIGMOID_ULP, "sigmoid8(%.9g) = %.9g, %.2f ulp from %.9g", g, y[i], e, ref);
      if (e > worst) worst = e;
    }
  }
  float ends[4] = {INFINITY, -INFINITY, 0.0f, -0.0f}, s[4];
  sigmoid_default(s, ends, 4);
  ck_assert(s[0] == 1 && s[1] == 0 && s[2] == 0.5f && s[3] == 0.5f);
  if (getenv("SEAL_TEST_VERBOSE")) fprintf(stderr, "sigmoid8: worst %.3f ulp\n", worst);
  free(x), free(y);
}
END_TEST

/* ---- the ops that use them ------------------------------------------------- */

/* Gates of every size that matters: normal, +-100 (where exp(-g) overflows
 * in float), around the flush at -87, and exact zeros. */
static float *test_gates(seal_rng *r, size_t n) {
  float *g = test_randn(r, n, 6);
  static const float edge[] = {100, -100, 90, -90, -87, -88, 0, -0.0f, 20, -20, 1e-30f, -1.278f};
  for (size_t i = 0; i < n && i < sizeof edge / sizeof *edge; i++) g[i * 7 % n] = edge[i];
  return g;
}

/* What sigmoid's flush to 0 below -87 may cost an output s * factor (and
 * 1e-37 for denormal outputs' rounding). */
static double flush_error(float g, double factor) {
  return 1e-37 + (g < -87.0f ? fabs(factor) * EXP_FLUSH : 0);
}

static const size_t odd_lengths[] = {1, 7, 9, 49152 + 3};

START_TEST(swiglu_matches_double_on_odd_lengths) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 201);
  for (size_t k = 0; k < sizeof odd_lengths / sizeof *odd_lengths; k++) {
    size_t n = odd_lengths[k];
    float *g = test_gates(&r, n), *u = test_randn(&r, n, 1), *out = test_randn(&r, n + 1, 1);
    float guard = out[n];
    be->ops->swiglu(be, out, g, u, n);
    for (size_t i = 0; i < n; i++) {
      double ref = (double)g[i] / (1 + exp(-(double)g[i])) * u[i];
      EXPECT(fabs(out[i] - ref) <= 1e-6 * fabs(ref) + flush_error(g[i], g[i] * u[i]),
             "n=%zu: swiglu(%g, %g) = %.9g, expected %.9g", n, g[i], u[i], out[i], ref);
    }
    ck_assert_float_eq(out[n], guard); /* nothing written past the end */
    free(g), free(u), free(out);
  }
  seal_backend_destroy(be);
}
END_TEST

START_TEST(swiglu_backward_matches_double_on_odd_lengths) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 202);
  for (size_t k = 0; k < sizeof odd_lengths / sizeof *odd_lengths; k++) {
    size_t n = odd_lengths[k];
    float *g = test_gates(&r, n), *u = test_randn(&r, n, 1), *d = test_randn(&r, n, 1);
    float *dg = test_randn(&r, n + 1, 1), *du = test_randn(&r, n + 1, 1);
    float guard_g = dg[n], guard_u = du[n];
    be->ops->swiglu_backward(be, dg, du, d, g, u, n);
    for (size_t i = 0; i < n; i++) {
      double gi = g[i], s = 1 / (1 + exp(-gi)), du_ref = d[i] * gi * s;
      double dg_ref = (double)d[i] * u[i] * s * (1 + gi * (1 - s));
      /* 1 + g (1 - s) cancels near g = -1.28: judged against its terms' size */
      double dg_scale = fabs((double)d[i] * u[i] * s) * (1 + fabs(gi * (1 - s)));
      EXPECT(
          fabs(dg[i] - dg_ref) <= 1e-6 * dg_scale + flush_error(g[i], d[i] * u[i] * (1 + fabs(gi))),
          "n=%zu: dgate at g=%g = %.9g, expected %.9g", n, g[i], dg[i], dg_ref);
      EXPECT(fabs(du[i] - du_ref) <= 1e-6 * fabs(du_ref) + flush_error(g[i], d[i] * g[i]),
             "n=%zu: dup at g=%g = %.9g, expected %.9g", n, g[i], du[i], du_ref);
    }
    ck_assert_float_eq(dg[n], guard_g);
    ck_assert_float_eq(du[n], guard_u);
    /* in place over its inputs, as the model calls it */
    float *dg2 = test_copy(d, n), *du2 = test_copy(g, n);
    be->ops->swiglu_backward(be, dg2, du2, dg2, du2, u, n);
    ck_assert(memcmp(dg2, dg, n * sizeof(float)) == 0 && memcmp(du2, du, n * sizeof(float)) == 0);
    free(g), free(u), free(d), free(dg), free(du), free(dg2), free(du2);
  }
  seal_backend_destroy(be);
}
END_TEST

/* One cross-entropy case: N rows of V logits, row n's weight w[n % 3]. */
static void check_cross_entropy(seal_backend *be, int N, int V, seal_rng *r) {
  static const float w[3] = {1, 0.5f, 2};
  float scale = 0.37f;
  float *logits = test_randn(r, (size_t)N * V, 4), *dl = test_randn(r, (size_t)N * V, 1);
  int32_t *t = seal_malloc((size_t)N * sizeof *t);
  float *weights = seal_malloc((size_t)N * sizeof *weights), *loss = seal_malloc(N * sizeof *loss);
  for (int n = 0; n < N; n++) {
    t[n] = (int32_t)((n * 7919 + 3) % V);
    weights[n] = w[n % 3];
  }
  for (int i = 0; i < V; i++) logits[i] += 1000; /* row 0: huge logits */
  be->ops->cross_entropy(be, loss, dl, logits, t, weights, N, V, scale);
  for (int n = 0; n < N; n++) {
    const float *x = logits + (size_t)n * V;
    double m = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) m = fmax(m, x[i]);
    for (int i = 0; i < V; i++) z += exp(x[i] - m);
    double lse = m + log(z), ws = (double)weights[n] * scale;
    double loss_ref = lse - x[t[n]];
    EXPECT(fabs(loss[n] - loss_ref) <= 2e-6 * fmax(1, fabs(loss_ref)),
           "V=%d row %d: loss %.9g, expected %.9g", V, n, loss[n], loss_ref);
    for (int i = 0; i < V; i++) {
      double p = exp(x[i] - lse), ref = (p - (i == t[n])) * ws;
      float got = dl[(size_t)n * V + i];
      /* x - max is rounded to float (as it was with expf): exp's relative
       * error grows with |x - max| by that rounding */
      double rel = 1e-6 + fabs(x[i] - m) * 0x1p-24;
      EXPECT(fabs(got - ref) <= rel * (p + (i == t[n])) * ws + 1e-40,
             "V=%d row %d: dlogits[%d] = %.9g, expected %.9g", V, n, i, got, ref);
    }
  }
  free(logits), free(dl), free(t), free(weights), free(loss);
}

START_TEST(cross_entropy_matches_double_on_odd_lengths) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 203);
  for (size_t k = 0; k < sizeof odd_lengths / sizeof *odd_lengths; k++)
    check_cross_entropy(be, 4, (int)odd_lengths[k], &r);
  check_cross_entropy(be, 2, 511, &r); /* across the float-sum chunks' edges */
  check_cross_entropy(be, 2, 513, &r);
  seal_backend_destroy(be);
}
END_TEST

START_TEST(cross_entropy_does_not_depend_on_the_thread_count) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 204);
  enum { N = 5, V = 49152 + 3 };
  float *logits = test_randn(&r, (size_t)N * V, 4);
  int32_t t[N] = {0, 17, V - 1, 4096, 333};
  float weights[N] = {1, 1, 0.5f, 2, 1}, loss1[N], loss2[N];
  float *d1 = seal_malloc((size_t)N * V * sizeof(float)), *d2 = seal_malloc((size_t)N * V * 4);
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  be->ops->cross_entropy(be, loss1, d1, logits, t, weights, N, V, 1.0f);
  omp_set_num_threads(3);
  be->ops->cross_entropy(be, loss2, d2, logits, t, weights, N, V, 1.0f);
  omp_set_num_threads(threads);
  ck_assert(memcmp(loss1, loss2, sizeof loss1) == 0);
  ck_assert(memcmp(d1, d2, (size_t)N * V * sizeof(float)) == 0);
  /* a NaN logit reaches the loss (the vector exp keeps it) */
  logits[(size_t)1 * V + 77] = NAN;
  be->ops->cross_entropy(be, loss2, NULL, logits, t, weights, N, V, 1.0f);
  EXPECT(isnan(loss2[1]) && !isnan(loss2[0]), "loss %g %g", loss2[0], loss2[1]);
  free(logits), free(d1), free(d2);
  seal_backend_destroy(be);
}
END_TEST

/* ---- rope's table ------------------------------------------------------------ */

/* x[N, H, D] rotated exactly as rope computed it before its table: cos and sin
 * of the float angle in double, rounded to float, per (row, j). */
static void rope_today(float *x, const int32_t *pos, const float *inv_freq, int N, int H, int D,
                       int direction) {
  int half = D / 2;
  for (int n = 0; n < N; n++)
    for (int j = 0; j < half; j++) {
      float angle = (float)pos[n] * inv_freq[j];
      float c = (float)cos((double)angle), s = (float)sin((double)angle) * (float)direction;
      for (int h = 0; h < H; h++) {
        float *x1 = x + ((size_t)n * H + h) * D + j, *x2 = x1 + half;
        float a = *x1, b = *x2;
        *x1 = a * c - b * s;
        *x2 = b * c + a * s;
      }
    }
}

/* rope on a copy of x0 against rope_today, bit for bit. */
static void check_rope_bits(seal_backend *be, const char *what, const float *x0, const int32_t *pos,
                            const float *inv_freq, int N, int H, int D, int direction) {
  size_t n = (size_t)N * H * D;
  float *got = test_copy(x0, n), *want = test_copy(x0, n);
  be->ops->rope(be, got, pos, inv_freq, N, H, D, direction);
  rope_today(want, pos, inv_freq, N, H, D, direction);
  EXPECT(memcmp(got, want, n * sizeof(float)) == 0, "rope, %s: not today's values", what);
  free(got), free(want);
}

START_TEST(rope_table_gives_todays_values_and_notices_new_positions) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 205);
  enum { N = 300, H = 3, D = 64, D2 = 80 };
  int32_t pos[N];
  float inv_freq[D2 / 2];
  for (int i = 0; i < N; i++) pos[i] = (i * 37) % 2048;
  for (int j = 0; j < D2 / 2; j++) inv_freq[j] = (float)pow(100000.0, -2.0 * j / D);
  float *x = test_randn(&r, (size_t)N * H * D2, 1);
  check_rope_bits(be, "first call", x, pos, inv_freq, N, H, D, 1);
  check_rope_bits(be, "same positions again", x, pos, inv_freq, N, H, D, 1);
  check_rope_bits(be, "the other direction", x, pos, inv_freq, N, H, D, -1);
  pos[N / 2] += 1; /* the same buffer, one new position */
  check_rope_bits(be, "one position changed", x, pos, inv_freq, N, H, D, 1);
  inv_freq[3] *= 1.5f;
  check_rope_bits(be, "one frequency changed", x, pos, inv_freq, N, H, D, 1);
  check_rope_bits(be, "fewer rows", x, pos, inv_freq, N / 3, H, D, 1);
  check_rope_bits(be, "more rows again", x, pos, inv_freq, N, H, D, -1);
  check_rope_bits(be, "a wider head", x, pos, inv_freq, N, H, D2, 1);
  check_rope_bits(be, "the narrower one", x, pos, inv_freq, N, 1, D, 1);
  free(x);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_vmath_suite(void) {
  Suite *s = suite_create("cpu_vmath");
  TCase *tc = tcase_create("vmath");
  tcase_add_test(tc, vector_exp_and_sigmoid_are_the_same_on_every_isa);
  tcase_add_test(tc, vector_exp_is_within_its_bound);
  tcase_add_test(tc, vector_sigmoid_is_within_its_bound);
  TEST_OP(tc, swiglu, swiglu_matches_double_on_odd_lengths);
  TEST_OP(tc, swiglu_backward, swiglu_backward_matches_double_on_odd_lengths);
  TEST_OP(tc, cross_entropy, cross_entropy_matches_double_on_odd_lengths);
  TEST_OP(tc, cross_entropy, cross_entropy_does_not_depend_on_the_thread_count);
  TEST_OP(tc, rope, rope_table_gives_todays_values_and_notices_new_positions);
  suite_add_tcase(s, tc);
  return s;
}
