/* tests/kernels/test_cpu_grad.c — finite-difference checks of every backward op
 * of the CPU backend. Each test takes a scalar loss L = sum(out * R) with a
 * random R (summed in double), differentiates it by central differences of the
 * float32 forward, and compares with the op's analytic gradient:
 * rmsnorm, the residual path, attention (dq, dk, dv), swiglu, rope (direction
 * -1 is its backward), matmul_backward_input, lora_backward (dx, dA, dB) and
 * cross_entropy (dlogits). */
#include <string.h>

#include "cpu_test_helpers.h"

#define FD_TOL 1e-3
#define FD_STEP 1e-2f

/* Compares an analytic gradient g[n] with finite differences of loss over x[n]. */
static void check_grad(const char *what, const float *g, test_loss_fn loss, void *ctx, float *x,
                       size_t n) {
  double *fd = test_zeros_d(n);
  test_finite_diff(fd, loss, ctx, x, n, FD_STEP);
  TEST_ASSERT_CLOSE(what, g, fd, n, FD_TOL);
  free(fd);
}

/* ---- rmsnorm ------------------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *x, *w, *R, *out; /* x, out, R [N, C]; w [C] */
  int N, C;
} rmsnorm_ctx;

static double rmsnorm_loss(void *p) {
  rmsnorm_ctx *c = p;
  c->be->ops->rmsnorm(c->be, c->out, NULL, c->x, c->w, c->N, c->C, 1e-5f);
  return test_dot(c->out, c->R, (size_t)c->N * c->C);
}

START_TEST(rmsnorm_backward_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 101);
  enum { N = 3, C = 11 };
  rmsnorm_ctx c = {be,
                   test_randn(&r, N * C, 1),
                   test_randn(&r, C, 1),
                   test_randn(&r, N * C, 1),
                   test_randn(&r, N * C, 1),
                   N,
                   C};
  float rstd[N];
  be->ops->rmsnorm(be, c.out, rstd, c.x, c.w, N, C, 1e-5f);
  /* dinp starts non-zero: the op must add, not overwrite */
  float *prior = test_randn(&r, N * C, 1), *dx = test_copy(prior, N * C);
  be->ops->rmsnorm_backward(be, dx, c.R, c.x, c.w, rstd, N, C);
  for (int i = 0; i < N * C; i++) dx[i] -= prior[i];
  check_grad("rmsnorm dx", dx, rmsnorm_loss, &c, c.x, N * C);
  free(c.x), free(c.w), free(c.R), free(c.out), free(prior), free(dx);
  seal_backend_destroy(be);
}
END_TEST

/* ---- residual + rmsnorm ---------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *a, *b, *w, *R1, *R2, *res, *out; /* [N, C] except w [C] */
  int N, C;
} residual_ctx;

/* L = sum(out * R1) + sum(residual * R2): the residual stream is both
 * normalised and carried on. */
static double residual_loss(void *p) {
  residual_ctx *c = p;
  size_t n = (size_t)c->N * c->C;
  c->be->ops->residual_rmsnorm(c->be, c->res, c->out, NULL, c->a, c->b, c->w, c->N, c->C, 1e-5f);
  return test_dot(c->out, c->R1, n) + test_dot(c->res, c->R2, n);
}

START_TEST(residual_path_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 102);
  enum { N = 4, C = 9 };
  size_t n = N * C;
  residual_ctx c = {be,
                    test_randn(&r, n, 1),
                    test_randn(&r, n, 1),
                    test_randn(&r, C, 1),
                    test_randn(&r, n, 1),
                    test_randn(&r, n, 1),
                    test_randn(&r, n, 1),
                    test_randn(&r, n, 1),
                    N,
                    C};
  float rstd[N];
  be->ops->residual_rmsnorm(be, c.res, c.out, rstd, c.a, c.b, c.w, N, C, 1e-5f);
  /* the model's backward: d residual = R2 (the stream), += the norm's gradient */
  float *d = test_copy(c.R2, n);
  be->ops->rmsnorm_backward(be, d, c.R1, c.res, c.w, rstd, N, C);
  check_grad("residual da", d, residual_loss, &c, c.a, n);
  check_grad("residual db", d, residual_loss, &c, c.b, n);
  free(c.a), free(c.b), free(c.w), free(c.R1), free(c.R2), free(c.res), free(c.out), free(d);
  seal_backend_destroy(be);
}
END_TEST

/* ---- attention ------------------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *q, *k, *v, *R, *out; /* q, out, R [N, Hq, D]; k, v [N, Hkv, D] */
  const int32_t *seq_start;   /* [n_seq + 1] packed sequences of mixed lengths */
  int n_seq, max_len, N, Hq, Hkv, D;
} attention_ctx;

static double attention_loss(void *p) {
  attention_ctx *c = p;
  c->be->ops->attention_varlen(c->be, c->out, NULL, c->q, c->k, c->v, c->seq_start, c->n_seq,
                               c->max_len, c->Hq, c->Hkv, c->D);
  return test_dot(c->out, c->R, (size_t)c->N * c->Hq * c->D);
}

START_TEST(attention_backward_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 103);
  /* three packed sequences of 5, 1 and 4 tokens */
  enum { n_seq = 3, max_len = 5, N = 10, Hq = 6, Hkv = 2, D = 4 };
  const int32_t seq_start[n_seq + 1] = {0, 5, 6, 10};
  size_t nq = N * Hq * D, nk = N * Hkv * D;
  attention_ctx c = {be,
                     test_randn(&r, nq, 1),
                     test_randn(&r, nk, 1),
                     test_randn(&r, nk, 1),
                     test_randn(&r, nq, 1),
                     test_randn(&r, nq, 1),
                     seq_start,
                     n_seq,
                     max_len,
                     N,
                     Hq,
                     Hkv,
                     D};
  float lse[N * Hq];
  be->ops->attention_varlen(be, c.out, lse, c.q, c.k, c.v, seq_start, n_seq, max_len, Hq, Hkv, D);
  /* outputs are '=': poison them first */
  float *dq = test_randn(&r, nq, 1e3), *dk = test_randn(&r, nk, 1e3), *dv = test_randn(&r, nk, 1e3);
  be->ops->attention_backward(be, dq, dk, dv, c.R, c.out, lse, c.q, c.k, c.v, seq_start, n_seq,
                              max_len, Hq, Hkv, D);
  check_grad("attention dq", dq, attention_loss, &c, c.q, nq);
  check_grad("attention dk", dk, attention_loss, &c, c.k, nk);
  check_grad("attention dv", dv, attention_loss, &c, c.v, nk);
  free(c.q), free(c.k), free(c.v), free(c.R), free(c.out), free(dq), free(dk), free(dv);
  seal_backend_destroy(be);
}
END_TEST

/* ---- swiglu ---------------------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *gate, *up, *R, *out; /* [n] */
  size_t n;
} swiglu_ctx;

static double swiglu_loss(void *p) {
  swiglu_ctx *c = p;
  c->be->ops->swiglu(c->be, c->out, c->gate, c->up, c->n);
  return test_dot(c->out, c->R, c->n);
}

START_TEST(swiglu_backward_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 104);
  size_t n = 57;
  swiglu_ctx c = {
      be, test_randn(&r, n, 2), test_randn(&r, n, 1), test_randn(&r, n, 1), test_randn(&r, n, 1),
      n};
  float *dgate = test_randn(&r, n, 1e3), *dup = test_randn(&r, n, 1e3);
  be->ops->swiglu_backward(be, dgate, dup, c.R, c.gate, c.up, n);
  check_grad("swiglu dgate", dgate, swiglu_loss, &c, c.gate, n);
  check_grad("swiglu dup", dup, swiglu_loss, &c, c.up, n);
  free(c.gate), free(c.up), free(c.R), free(c.out), free(dgate), free(dup);
  seal_backend_destroy(be);
}
END_TEST

/* ---- rope ------------------------------------------------------------------ */

typedef struct {
  seal_backend *be;
  float *x, *R, *out;    /* [N, H, D] */
  const int32_t *pos;    /* [N] */
  const float *inv_freq; /* [D/2] */
  int N, H, D;
} rope_ctx;

static double rope_loss(void *p) {
  rope_ctx *c = p;
  size_t n = (size_t)c->N * c->H * c->D;
  memcpy(c->out, c->x, n * sizeof(float));
  c->be->ops->rope(c->be, c->out, c->pos, c->inv_freq, c->N, c->H, c->D, 1);
  return test_dot(c->out, c->R, n);
}

START_TEST(rope_inverse_is_its_backward) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 105);
  enum { N = 4, H = 3, D = 8 };
  size_t n = N * H * D;
  int32_t pos[N] = {0, 3, 50, 777};
  float inv_freq[D / 2];
  for (int j = 0; j < D / 2; j++) inv_freq[j] = (float)pow(500000.0, -2.0 * j / D);
  rope_ctx c = {
      be, test_randn(&r, n, 1), test_randn(&r, n, 1), test_randn(&r, n, 1), pos, inv_freq, N, H, D};
  float *dx = test_copy(c.R, n);
  be->ops->rope(be, dx, pos, inv_freq, N, H, D, -1);
  check_grad("rope dx", dx, rope_loss, &c, c.x, n);
  free(c.x), free(c.R), free(c.out), free(dx);
  seal_backend_destroy(be);
}
END_TEST

/* ---- matmul ---------------------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *x, *W, *bias, *R, *out; /* x [N, I], W [O, I], bias [O], R, out [N, O] */
  int N, I, O;
} matmul_ctx;

static double matmul_loss(void *p) {
  matmul_ctx *c = p;
  c->be->ops->matmul(c->be, c->out, c->x, c->W, c->bias, c->N, c->I, c->O);
  return test_dot(c->out, c->R, (size_t)c->N * c->O);
}

START_TEST(matmul_backward_input_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 106);
  enum { N = 4, I = 9, O = 6 };
  matmul_ctx c = {be,
                  test_randn(&r, N * I, 1),
                  test_randn(&r, O * I, 1),
                  test_randn(&r, O, 1),
                  test_randn(&r, N * O, 1),
                  test_randn(&r, N * O, 1),
                  N,
                  I,
                  O};
  float *dx = test_randn(&r, N * I, 1e3);
  be->ops->matmul_backward_input(be, dx, c.R, c.W, N, I, O, 0);
  check_grad("matmul dx (=)", dx, matmul_loss, &c, c.x, N * I);
  /* accumulate: adding the same gradient again doubles it */
  be->ops->matmul_backward_input(be, dx, c.R, c.W, N, I, O, 1);
  for (int i = 0; i < N * I; i++) dx[i] *= 0.5f;
  check_grad("matmul dx (+=)", dx, matmul_loss, &c, c.x, N * I);
  free(c.x), free(c.W), free(c.bias), free(c.R), free(c.out), free(dx);
  seal_backend_destroy(be);
}
END_TEST

/* ---- LoRA ------------------------------------------------------------------ */

typedef struct {
  seal_backend *be;
  float *x, *W, *A, *B, *R, *out,
      *h; /* x [N,I], W [O,I], A [r,I], B [O,r], R, out [N,O], h [N,r] */
  int N, I, O, r;
  float scale;
} lora_ctx;

/* out = x W^T + scale (x A^T) B^T, the adapted linear layer */
static double lora_loss(void *p) {
  lora_ctx *c = p;
  c->be->ops->matmul(c->be, c->out, c->x, c->W, NULL, c->N, c->I, c->O);
  c->be->ops->lora_forward(c->be, c->out, c->h, c->x, c->A, c->B, c->N, c->I, c->O, c->r, c->scale);
  return test_dot(c->out, c->R, (size_t)c->N * c->O);
}

START_TEST(lora_backward_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 107);
  enum { N = 4, I = 9, O = 7, RK = 3 };
  lora_ctx c = {be,
                test_randn(&r, N * I, 1),
                test_randn(&r, O * I, 0.5),
                test_randn(&r, RK * I, 0.5),
                test_randn(&r, O * RK, 0.5),
                test_randn(&r, N * O, 1),
                test_randn(&r, N * O, 1),
                test_randn(&r, N * RK, 1),
                N,
                I,
                O,
                RK,
                1.5f};
  lora_loss(&c); /* fills h */
  /* dA and dB accumulate (+=) onto what is there; dx too, after the base
   * layer's input gradient; dh is scratch. */
  float *dA0 = test_randn(&r, RK * I, 1), *dB0 = test_randn(&r, O * RK, 1);
  float *dA = test_copy(dA0, RK * I), *dB = test_copy(dB0, O * RK);
  float *dx = test_randn(&r, N * I, 1e3), *dh = test_randn(&r, N * RK, 1e3);
  be->ops->matmul_backward_input(be, dx, c.R, c.W, N, I, O, 0);
  be->ops->lora_backward(be, dx, dA, dB, dh, c.R, c.x, c.A, c.B, c.h, N, I, O, RK, c.scale);
  for (int i = 0; i < RK * I; i++) dA[i] -= dA0[i];
  for (int i = 0; i < O * RK; i++) dB[i] -= dB0[i];
  check_grad("lora dx", dx, lora_loss, &c, c.x, N * I);
  check_grad("lora dA", dA, lora_loss, &c, c.A, RK * I);
  check_grad("lora dB", dB, lora_loss, &c, c.B, O * RK);
  /* dx NULL (the first layer's input needs no gradient) leaves dA, dB the same */
  float *dA2 = test_copy(dA0, RK * I), *dB2 = test_copy(dB0, O * RK);
  lora_loss(&c);
  be->ops->lora_backward(be, NULL, dA2, dB2, dh, c.R, c.x, c.A, c.B, c.h, N, I, O, RK, c.scale);
  for (int i = 0; i < RK * I; i++) ck_assert_float_eq_tol(dA2[i] - dA0[i], dA[i], 1e-5);
  for (int i = 0; i < O * RK; i++) ck_assert_float_eq_tol(dB2[i] - dB0[i], dB[i], 1e-5);
  free(c.x), free(c.W), free(c.A), free(c.B), free(c.R), free(c.out), free(c.h);
  free(dA0), free(dB0), free(dA), free(dB), free(dx), free(dh), free(dA2), free(dB2);
  seal_backend_destroy(be);
}
END_TEST

/* ---- cross-entropy ----------------------------------------------------------- */

typedef struct {
  seal_backend *be;
  float *logits, *losses; /* [N, V], [N] */
  const int32_t *targets; /* [N] */
  const float *weights;   /* [N] */
  int N, V;
  float scale;
} ce_ctx;

/* L = scale * sum_n weight[n] * loss[n], whose gradient dlogits is */
static double ce_loss(void *p) {
  ce_ctx *c = p;
  c->be->ops->cross_entropy(c->be, c->losses, NULL, c->logits, c->targets, c->weights, c->N, c->V,
                            c->scale);
  double L = 0;
  for (int n = 0; n < c->N; n++) L += (double)c->scale * c->weights[n] * c->losses[n];
  return L;
}

START_TEST(cross_entropy_gradient_matches_finite_differences) {
  seal_backend *be = test_cpu_backend();
  seal_rng r;
  seal_rng_seed(&r, 108);
  enum { N = 4, V = 13 };
  int32_t targets[N] = {3, 12, 0, 7};
  float weights[N] = {1, 0, 0.5f, 2};
  float losses[N];
  ce_ctx c = {be, test_randn(&r, N * V, 2), losses, targets, weights, N, V, 0.25f};
  float *dlogits = test_randn(&r, N * V, 1e3);
  be->ops->cross_entropy(be, losses, dlogits, c.logits, targets, weights, N, V, c.scale);
  check_grad("cross_entropy dlogits", dlogits, ce_loss, &c, c.logits, N * V);
  free(c.logits), free(dlogits);
  seal_backend_destroy(be);
}
END_TEST

Suite *cpu_grad_suite(void) {
  Suite *s = suite_create("cpu_grad");
  TCase *tc = tcase_create("finite_differences");
  TEST_OP(tc, rmsnorm_backward, rmsnorm_backward_matches_finite_differences);
  TEST_OP(tc, rmsnorm_backward, residual_path_matches_finite_differences);
  TEST_OP(tc, attention_backward, attention_backward_matches_finite_differences);
  TEST_OP(tc, swiglu_backward, swiglu_backward_matches_finite_differences);
  TEST_OP(tc, rope, rope_inverse_is_its_backward);
  TEST_OP(tc, matmul_backward_input, matmul_backward_input_matches_finite_differences);
  TEST_OP(tc, lora_backward, lora_backward_matches_finite_differences);
  TEST_OP(tc, cross_entropy, cross_entropy_gradient_matches_finite_differences);
  suite_add_tcase(s, tc);
  return s;
}
