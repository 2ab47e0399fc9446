/* tests/cuda/kernel_lab.c — every op of the CUDA backend against the CPU
 * reference backend, on fresh random inputs, with timings.
 *
 *   cuda_kernel_lab [--small] [--reps N] [--seed S]
 *
 * For each case: random inputs are drawn on the host (act tensors rounded to
 * bf16 first, so both backends see the same numbers), uploaded to both
 * backends, the op runs on the CPU and on the GPU, the GPU's '=' outputs having
 * been poisoned with NaN first (an element the kernel forgets stays NaN and
 * fails). Each output is compared by ||gpu - cpu|| / ||cpu||. Then the GPU op
 * is timed with CUDA events on the backend's stream (3 warm-ups, median of
 * --reps). One line per output: op, shape, output, rel err, tolerance,
 * pass/FAIL, median time. Exit status 1 when anything failed.
 *
 * --small shrinks every shape (for compute-sanitizer runs, which are slow).
 * Not a ctest test: CI has no GPU. scripts/gpu-check.sh runs it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"
#include "kernels/ops.h"

/* ---- the lab ---------------------------------------------------------------- */

typedef struct {
  seal_backend *cpu, *gpu;
  cudaStream_t stream;
  cudaEvent_t start, stop;
  seal_rng rng;
  int small, reps, failures, cases;
} lab;

#define CU(call)                                                                                   \
  do {                                                                                             \
    cudaError_t err_ = (call);                                                                     \
    if (err_ != cudaSuccess) SEAL_DIE("CUDA call %s failed: %s", #call, cudaGetErrorString(err_)); \
  } while (0)

/* A tensor that lives on both backends. kind: 'a' act, 'f' f32, 'i' i32. */
typedef struct {
  char kind;
  size_t n;
  float *host;  /* [n] the values uploaded (f32, bf16-representable for 'a') */
  int32_t *ids; /* [n] for 'i' */
  void *c, *g;  /* cpu and gpu memory */
} tensor;

static float round_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x; /* inf, nan */
  u += 0x7fffu + ((u >> 16) & 1u);                /* round to nearest even */
  u &= 0xffff0000u;
  memcpy(&x, &u, 4);
  return x;
}

static seal_dtype gpu_type(char kind) {
  return kind == 'a' ? SEAL_BF16 : kind == 'f' ? SEAL_F32 : SEAL_I32;
}

static void upload(lab *L, tensor *t) {
  if (t->kind == 'i') {
    L->cpu->ops->to_device_i32(L->cpu, t->c, t->ids, t->n);
    L->gpu->ops->to_device_i32(L->gpu, t->g, t->ids, t->n);
  } else {
    L->cpu->ops->to_device(L->cpu, t->c, SEAL_F32, t->host, t->n);
    L->gpu->ops->to_device(L->gpu, t->g, gpu_type(t->kind), t->host, t->n);
  }
}

/* A tensor of n values drawn as normal * scale (act values rounded to bf16). */
static tensor make(lab *L, char kind, size_t n, float scale) {
  tensor t = {kind, n, NULL, NULL, NULL, NULL};
  size_t esz = kind == 'a' ? 2 : 4;
  t.c = L->cpu->ops->alloc(L->cpu, (n ? n : 1) * 4);
  t.g = L->gpu->ops->alloc(L->gpu, (n ? n : 1) * esz);
  if (kind == 'i') {
    t.ids = seal_calloc(n ? n : 1, sizeof(int32_t));
  } else {
    t.host = seal_calloc(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++) {
      float x = (float)seal_rng_normal(&L->rng) * scale;
      t.host[i] = kind == 'a' ? round_bf16(x) : x;
    }
    upload(L, &t);
  }
  return t;
}

/* An i32 tensor with values uniform in [lo, hi]. */
static tensor make_ids(lab *L, size_t n, int lo, int hi) {
  tensor t = make(L, 'i', n, 0);
  for (size_t i = 0; i < n; i++)
    t.ids[i] = lo + (int)(seal_rng_uniform(&L->rng) * (double)(hi - lo + 1));
  upload(L, &t);
  return t;
}

static void release(lab *L, tensor *t) {
  L->cpu->ops->free(L->cpu, t->c);
  L->gpu->ops->free(L->gpu, t->g);
  free(t->host);
  free(t->ids);
  memset(t, 0, sizeof *t);
}

static void poison(lab *L, tensor *t) {
  L->gpu->ops->fill(L->gpu, t->g, gpu_type(t->kind), NAN, t->n);
}

/* ||gpu - cpu|| / ||cpu|| (absolute when the reference is all zeros); NaN or
 * inf anywhere in the GPU's result gives +inf. */
static double rel_err(lab *L, const tensor *t) {
  float *c = seal_malloc((t->n ? t->n : 1) * sizeof(float));
  float *g = seal_malloc((t->n ? t->n : 1) * sizeof(float));
  L->cpu->ops->to_host(L->cpu, c, t->c, SEAL_F32, t->n);
  L->gpu->ops->to_host(L->gpu, g, t->g, gpu_type(t->kind), t->n);
  double num = 0, den = 0;
  int bad = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (!isfinite(g[i]) && isfinite(c[i])) bad = 1;
    double d = (double)g[i] - c[i];
    num += d * d;
    den += (double)c[i] * c[i];
  }
  free(c);
  free(g);
  if (bad || isnan(num)) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef void (*run_fn)(seal_backend *be, int gpu, void *args);

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Median milliseconds of the op on the GPU. */
static float time_gpu(lab *L, run_fn run, void *args) {
  for (int i = 0; i < 3; i++) run(L->gpu, 1, args);
  L->gpu->ops->synchronize(L->gpu);
  float *ms = seal_calloc((size_t)L->reps, sizeof(float));
  for (int i = 0; i < L->reps; i++) {
    CU(cudaEventRecord(L->start, L->stream));
    run(L->gpu, 1, args);
    CU(cudaEventRecord(L->stop, L->stream));
    CU(cudaEventSynchronize(L->stop));
    CU(cudaEventElapsedTime(&ms[i], L->start, L->stop));
  }
  qsort(ms, (size_t)L->reps, sizeof(float), cmp_float);
  float med = ms[L->reps / 2];
  free(ms);
  return med;
}

static void report(lab *L, const char *op, const char *shape, const char *out, double err,
                   double tol, float ms) {
  int ok = err <= tol;
  L->cases++;
  if (!ok) L->failures++;
  char t[32] = "";
  if (ms >= 0) snprintf(t, sizeof t, "%10.4f ms", ms);
  printf("%-22s %-30s %-8s %10.3e %8.0e  %-4s %s\n", op, shape, out, err, tol, ok ? "pass" : "FAIL",
         t);
  fflush(stdout);
}

/* Runs one case: cpu, poison the '=' outputs, gpu, compare every output, time.
 * outs[i] is compared with tols[i]; poison[i] says whether it is an '=' output. */
static void run_case(lab *L, const char *op, const char *shape, run_fn run, void *args,
                     tensor **outs, const char **names, const double *tols, const int *poisoned,
                     int nouts) {
  run(L->cpu, 0, args);
  for (int i = 0; i < nouts; i++)
    if (poisoned[i]) poison(L, outs[i]);
  run(L->gpu, 1, args);
  L->gpu->ops->synchronize(L->gpu);
  double errs[8];
  for (int i = 0; i < nouts; i++) errs[i] = rel_err(L, outs[i]);
  float ms = time_gpu(L, run, args);
  for (int i = 0; i < nouts; i++)
    report(L, op, shape, names[i], errs[i], tols[i], i == 0 ? ms : -1);
}

#define P(t) (gpu ? (t)->g : (t)->c)
#define PF(t) ((float *)P(t))
#define PI(t) ((int32_t *)P(t))
#define SHAPE(...) (snprintf(shape, sizeof shape, __VA_ARGS__), shape)

/* Tolerances (METHOD.md): bf16 outputs and bf16 operands 1e-2; float results
 * from identical bf16 inputs (statistics, LoRA's float side) much tighter. */
#define TOL_ACT 1e-2
#define TOL_F32 1e-4

/* ---- cases ------------------------------------------------------------------ */

typedef struct {
  tensor *t[10];
  int i[8];
  float f[8];
} args_t;

static void run_embedding(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->embedding(be, P(a->t[0]), PI(a->t[1]), P(a->t[2]), a->i[0], a->i[1]);
}
static void case_embedding(lab *L, int N, int C, int V) {
  char shape[64];
  tensor out = make(L, 'a', (size_t)N * C, 1), ids = make_ids(L, N, 0, V - 1),
         table = make(L, 'a', (size_t)V * C, 1);
  args_t a = {{&out, &ids, &table}, {N, C}, {0}};
  tensor *outs[] = {&out};
  const char *names[] = {"out"};
  double tols[] = {0};
  int pois[] = {1};
  run_case(L, "embedding", SHAPE("N%d C%d V%d", N, C, V), run_embedding, &a, outs, names, tols,
           pois, 1);
  release(L, &out), release(L, &ids), release(L, &table);
}

static void run_rmsnorm(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->rmsnorm(be, P(a->t[0]), PF(a->t[1]), P(a->t[2]), P(a->t[3]), a->i[0], a->i[1], a->f[0]);
}
static void case_rmsnorm(lab *L, int N, int C) {
  char shape[64];
  tensor out = make(L, 'a', (size_t)N * C, 1), rstd = make(L, 'f', N, 1),
         inp = make(L, 'a', (size_t)N * C, 2), w = make(L, 'a', C, 1);
  args_t a = {{&out, &rstd, &inp, &w}, {N, C}, {1e-5f}};
  tensor *outs[] = {&out, &rstd};
  const char *names[] = {"out", "rstd"};
  double tols[] = {TOL_ACT, 1e-5};
  int pois[] = {1, 1};
  run_case(L, "rmsnorm", SHAPE("N%d C%d", N, C), run_rmsnorm, &a, outs, names, tols, pois, 2);
  release(L, &out), release(L, &rstd), release(L, &inp), release(L, &w);
}

/* residual aliases a, as the model uses it; a is re-uploaded before each run
 * so that the CPU and the GPU start from the same residual. */
static void run_residual_rmsnorm(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->residual_rmsnorm(be, P(a->t[0]), P(a->t[1]), PF(a->t[2]), P(a->t[0]), P(a->t[3]),
                            P(a->t[4]), a->i[0], a->i[1], a->f[0]);
}
static void case_residual_rmsnorm(lab *L, int N, int C) {
  char shape[64];
  tensor res = make(L, 'a', (size_t)N * C, 1), out = make(L, 'a', (size_t)N * C, 1),
         rstd = make(L, 'f', N, 1), b = make(L, 'a', (size_t)N * C, 1), w = make(L, 'a', C, 1);
  args_t a = {{&res, &out, &rstd, &b, &w}, {N, C}, {1e-6f}};
  tensor *outs[] = {&res, &out, &rstd};
  const char *names[] = {"residual", "out", "rstd"};
  double tols[] = {TOL_ACT, TOL_ACT, 1e-3}; /* the GPU normalises the bf16-rounded residual */
  int pois[] = {0, 1, 1};
  run_case(L, "residual_rmsnorm", SHAPE("N%d C%d (res=a)", N, C), run_residual_rmsnorm, &a, outs,
           names, tols, pois, 3);
  release(L, &res), release(L, &out), release(L, &rstd), release(L, &b), release(L, &w);
}

static void run_add(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->add(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), (size_t)a->i[0]);
}
static void case_add(lab *L, int n) {
  char shape[64];
  tensor out = make(L, 'a', n, 1), x = make(L, 'a', n, 1), y = make(L, 'a', n, 1);
  args_t a = {{&out, &x, &y}, {n}, {0}};
  tensor *outs[] = {&out};
  const char *names[] = {"out"};
  double tols[] = {TOL_ACT};
  int pois[] = {1};
  run_case(L, "add", SHAPE("n%d", n), run_add, &a, outs, names, tols, pois, 1);
  release(L, &out), release(L, &x), release(L, &y);
}

static void run_matmul(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->matmul(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), a->t[3] ? P(a->t[3]) : NULL, a->i[0],
                  a->i[1], a->i[2]);
}
static void case_matmul(lab *L, int N, int I, int O, int bias) {
  char shape[64];
  tensor out = make(L, 'a', (size_t)N * O, 1), x = make(L, 'a', (size_t)N * I, 1),
         w = make(L, 'a', (size_t)O * I, 0.05f), b = make(L, 'a', O, 1);
  args_t a = {{&out, &x, &w, bias ? &b : NULL}, {N, I, O}, {0}};
  tensor *outs[] = {&out};
  const char *names[] = {"out"};
  double tols[] = {TOL_ACT};
  int pois[] = {1};
  run_case(L, "matmul", SHAPE("N%d I%d O%d%s", N, I, O, bias ? " +bias" : ""), run_matmul, &a, outs,
           names, tols, pois, 1);
  release(L, &out), release(L, &x), release(L, &w), release(L, &b);
}

static void run_matmul_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->matmul_backward_input(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), a->i[0], a->i[1], a->i[2],
                                 a->i[3]);
}
static void case_matmul_bwd(lab *L, int N, int I, int O, int accumulate) {
  char shape[64];
  tensor dinp = make(L, 'a', (size_t)N * I, 1), dout = make(L, 'a', (size_t)N * O, 1),
         w = make(L, 'a', (size_t)O * I, 0.05f);
  args_t a = {{&dinp, &dout, &w}, {N, I, O, accumulate}, {0}};
  tensor *outs[] = {&dinp};
  const char *names[] = {"dinp"};
  double tols[] = {TOL_ACT};
  int pois[] = {!accumulate};
  /* accumulate: the timing repeats keep adding; only the first run is compared. */
  run_case(L, "matmul_backward_input", SHAPE("N%d I%d O%d %s", N, I, O, accumulate ? "+=" : "="),
           run_matmul_bwd, &a, outs, names, tols, pois, 1);
  release(L, &dinp), release(L, &dout), release(L, &w);
}

static void run_rope(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->rope(be, P(a->t[0]), PI(a->t[1]), PF(a->t[2]), a->i[0], a->i[1], a->i[2], a->i[3]);
}
static void case_rope(lab *L, int N, int H, int D, int direction) {
  char shape[64];
  tensor x = make(L, 'a', (size_t)N * H * D, 1), pos = make_ids(L, N, 0, 8191),
         inv = make(L, 'f', D / 2, 0);
  for (int j = 0; j < D / 2; j++) inv.host[j] = powf(500000.0f, -2.0f * j / D);
  upload(L, &inv);
  args_t a = {{&x, &pos, &inv}, {N, H, D, direction}, {0}};
  tensor *outs[] = {&x};
  const char *names[] = {"x"};
  double tols[] = {TOL_ACT};
  int pois[] = {0};
  run_case(L, "rope", SHAPE("N%d H%d D%d dir%+d", N, H, D, direction), run_rope, &a, outs, names,
           tols, pois, 1);
  release(L, &x), release(L, &pos), release(L, &inv);
}

static void run_kv_write(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->kv_write(be, P(a->t[0]), P(a->t[1]), PI(a->t[2]), a->i[0], a->i[1], a->i[2], a->i[3]);
}
static void case_kv_write(lab *L, int B, int Tq, int Tmax, int W) {
  char shape[64];
  tensor cache = make(L, 'a', (size_t)B * Tmax * W, 1), src = make(L, 'a', (size_t)B * Tq * W, 1),
         qpos = make_ids(L, B, 0, Tmax - Tq);
  args_t a = {{&cache, &src, &qpos}, {B, Tq, Tmax, W}, {0}};
  tensor *outs[] = {&cache};
  const char *names[] = {"cache"};
  double tols[] = {0};
  int pois[] = {0};
  run_case(L, "kv_write", SHAPE("B%d Tq%d Tmax%d W%d", B, Tq, Tmax, W), run_kv_write, &a, outs,
           names, tols, pois, 1);
  release(L, &cache), release(L, &src), release(L, &qpos);
}

/* i[6] set: inference form, no lse */
static void run_attention(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->attention(be, P(a->t[0]), a->i[6] ? NULL : PF(a->t[1]), P(a->t[2]), P(a->t[3]),
                     P(a->t[4]), PI(a->t[5]), a->i[0], a->i[1], a->i[2], a->i[3], a->i[4], a->i[5]);
}
/* case_attention without lse when set (the inference form) */
static int attention_no_lse;
/* q_pos[b] random in [0, Tk - Tq] unless training (all 0). */
static void case_attention(lab *L, int B, int Tq, int Tk, int Hq, int Hkv, int D, int training) {
  char shape[64];
  tensor out = make(L, 'a', (size_t)B * Tq * Hq * D, 1), lse = make(L, 'f', (size_t)B * Hq * Tq, 1),
         q = make(L, 'a', (size_t)B * Tq * Hq * D, 1),
         k = make(L, 'a', (size_t)B * Tk * Hkv * D, 1),
         v = make(L, 'a', (size_t)B * Tk * Hkv * D, 1),
         qpos = make_ids(L, B, training ? 0 : 0, training ? 0 : Tk - Tq);
  args_t a = {{&out, &lse, &q, &k, &v, &qpos}, {B, Tq, Tk, Hq, Hkv, D, attention_no_lse}, {0}};
  tensor *outs[] = {&out, &lse};
  const char *names[] = {"out", "lse"};
  double tols[] = {TOL_ACT, TOL_F32};
  int pois[] = {1, 1};
  run_case(
      L, "attention",
      SHAPE("B%d Tq%d Tk%d H%d/%d D%d%s", B, Tq, Tk, Hq, Hkv, D, attention_no_lse ? " no lse" : ""),
      run_attention, &a, outs, names, tols, pois, attention_no_lse ? 1 : 2);
  release(L, &out), release(L, &lse), release(L, &q), release(L, &k), release(L, &v),
      release(L, &qpos);
}

/* Each backend's own forward provides out and lse (as in training), then the
 * backward runs; t[]: dq dk dv dout out lse q k v qpos. */
static void run_attention_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  int B = a->i[0], T = a->i[1], Hq = a->i[2], Hkv = a->i[3], D = a->i[4];
  be->ops->attention_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), P(a->t[4]),
                              PF(a->t[5]), P(a->t[6]), P(a->t[7]), P(a->t[8]), B, T, Hq, Hkv, D);
}
static void case_attention_bwd(lab *L, int B, int T, int Hq, int Hkv, int D) {
  char shape[64];
  size_t nq = (size_t)B * T * Hq * D, nk = (size_t)B * T * Hkv * D;
  tensor dq = make(L, 'a', nq, 1), dk = make(L, 'a', nk, 1), dv = make(L, 'a', nk, 1),
         dout = make(L, 'a', nq, 1), out = make(L, 'a', nq, 1),
         lse = make(L, 'f', (size_t)B * Hq * T, 1), q = make(L, 'a', nq, 1),
         k = make(L, 'a', nk, 1), v = make(L, 'a', nk, 1), qpos = make_ids(L, B, 0, 0);
  for (int g = 0; g < 2; g++) {
    seal_backend *be = g ? L->gpu : L->cpu;
    int gpu = g;
    be->ops->attention(be, P(&out), PF(&lse), P(&q), P(&k), P(&v), PI(&qpos), B, T, T, Hq, Hkv, D);
  }
  args_t a = {{&dq, &dk, &dv, &dout, &out, &lse, &q, &k, &v, &qpos}, {B, T, Hq, Hkv, D}, {0}};
  tensor *outs[] = {&dq, &dk, &dv};
  const char *names[] = {"dq", "dk", "dv"};
  /* out and D_i = do.o carry the forward's bf16 rounding into dS: looser */
  double tols[] = {2e-2, 2e-2, 2e-2};
  int pois[] = {1, 1, 1};
  run_case(L, "attention_backward", SHAPE("B%d T%d H%d/%d D%d", B, T, Hq, Hkv, D),
           run_attention_bwd, &a, outs, names, tols, pois, 3);
  tensor *all[] = {&dq, &dk, &dv, &dout, &out, &lse, &q, &k, &v, &qpos};
  for (int i = 0; i < 10; i++) release(L, all[i]);
}

static void run_swiglu(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->swiglu(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), (size_t)a->i[0]);
}
static void run_swiglu_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->swiglu_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), P(a->t[4]),
                           (size_t)a->i[0]);
}
static void case_swiglu(lab *L, int n) {
  char shape[64];
  tensor out = make(L, 'a', n, 1), dup = make(L, 'a', n, 1), dout = make(L, 'a', n, 1),
         gate = make(L, 'a', n, 2), up = make(L, 'a', n, 1);
  args_t a = {{&out, &gate, &up}, {n}, {0}};
  tensor *o1[] = {&out};
  const char *n1[] = {"out"};
  double tols[] = {TOL_ACT, TOL_ACT};
  int pois[] = {1, 1};
  run_case(L, "swiglu", SHAPE("n%d", n), run_swiglu, &a, o1, n1, tols, pois, 1);
  args_t b = {{&out, &dup, &dout, &gate, &up}, {n}, {0}};
  tensor *o2[] = {&out, &dup};
  const char *n2[] = {"dgate", "dup"};
  run_case(L, "swiglu_backward", SHAPE("n%d", n), run_swiglu_bwd, &b, o2, n2, tols, pois, 2);
  release(L, &out), release(L, &dup), release(L, &dout), release(L, &gate), release(L, &up);
}

/* t[]: losses dlogits(or NULL) logits targets weights; i[3] = alias. */
static void run_ce(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  void *dl = a->i[2] ? P(a->t[2]) : a->t[1] ? P(a->t[1]) : NULL;
  be->ops->cross_entropy(be, PF(a->t[0]), dl, P(a->t[2]), PI(a->t[3]), PF(a->t[4]), a->i[0],
                         a->i[1], a->f[0]);
}
static void case_cross_entropy(lab *L, int N, int V, int mode) {
  char shape[64];
  tensor losses = make(L, 'f', N, 1), dlogits = make(L, 'a', (size_t)N * V, 1),
         logits = make(L, 'a', (size_t)N * V, 3), targets = make_ids(L, N, 0, V - 1),
         weights = make(L, 'f', N, 1);
  for (int n = 0; n < N; n++) weights.host[n] = n % 4 == 1 ? 0.0f : 1.0f; /* some rows ignored */
  upload(L, &weights);
  /* mode 0: losses only, 1: separate dlogits, 2: dlogits aliasing logits */
  args_t a = {{&losses, mode == 1 ? &dlogits : NULL, &logits, &targets, &weights},
              {N, V, mode == 2},
              {1.0f / N}};
  tensor *outs[] = {&losses, mode == 2 ? &logits : &dlogits};
  const char *names[] = {"losses", "dlogits"};
  double tols[] = {TOL_F32, TOL_ACT};
  int pois[] = {1, mode == 1};
  static const char *mode_name[] = {"loss only", "dlogits", "dlogits=logits"};
  /* In place, a second run would see gradients as logits: compare the first
   * run only (run_case does), and time on whatever is there. */
  run_case(L, "cross_entropy", SHAPE("N%d V%d %s", N, V, mode_name[mode]), run_ce, &a, outs, names,
           tols, pois, mode == 0 ? 1 : 2);
  release(L, &losses), release(L, &dlogits), release(L, &logits), release(L, &targets),
      release(L, &weights);
}

static void run_rmsnorm_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->rmsnorm_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), PF(a->t[4]),
                            a->i[0], a->i[1]);
}
static void case_rmsnorm_bwd(lab *L, int N, int C) {
  char shape[64];
  tensor dinp = make(L, 'a', (size_t)N * C, 1), dout = make(L, 'a', (size_t)N * C, 1),
         inp = make(L, 'a', (size_t)N * C, 2), w = make(L, 'a', C, 1), rstd = make(L, 'f', N, 1);
  /* rstd as the forward would give it, computed here once for both backends */
  for (int n = 0; n < N; n++) {
    double ss = 0;
    for (int c = 0; c < C; c++)
      ss += (double)inp.host[(size_t)n * C + c] * inp.host[(size_t)n * C + c];
    rstd.host[n] = (float)(1.0 / sqrt(ss / C + 1e-5));
  }
  upload(L, &rstd);
  args_t a = {{&dinp, &dout, &inp, &w, &rstd}, {N, C}, {0}};
  tensor *outs[] = {&dinp};
  const char *names[] = {"dinp"};
  double tols[] = {TOL_ACT};
  int pois[] = {0};
  run_case(L, "rmsnorm_backward", SHAPE("N%d C%d +=", N, C), run_rmsnorm_bwd, &a, outs, names, tols,
           pois, 1);
  release(L, &dinp), release(L, &dout), release(L, &inp), release(L, &w), release(L, &rstd);
}

/* t[]: out h x A B */
static void run_lora_fwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_forward(be, P(a->t[0]), PF(a->t[1]), P(a->t[2]), PF(a->t[3]), PF(a->t[4]), a->i[0],
                        a->i[1], a->i[2], a->i[3], a->f[0]);
}
/* t[]: dx dA dB dh dout x A B h */
static void run_lora_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_backward(be, P(a->t[0]), PF(a->t[1]), PF(a->t[2]), PF(a->t[3]), P(a->t[4]),
                         P(a->t[5]), PF(a->t[6]), PF(a->t[7]), PF(a->t[8]), a->i[0], a->i[1],
                         a->i[2], a->i[3], a->f[0]);
}
/* t[]: W A B */
static void run_lora_merge(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_merge(be, P(a->t[0]), PF(a->t[1]), PF(a->t[2]), a->i[0], a->i[1], a->i[2], a->f[0]);
}
static void case_lora(lab *L, int N, int I, int O, int r) {
  char shape[64];
  float scale = 2.0f;
  tensor out = make(L, 'a', (size_t)N * O, 1), h = make(L, 'f', (size_t)N * r, 1),
         x = make(L, 'a', (size_t)N * I, 1), A = make(L, 'f', (size_t)r * I, 0.02f),
         B = make(L, 'f', (size_t)O * r, 0.02f), dx = make(L, 'a', (size_t)N * I, 1),
         dA = make(L, 'f', (size_t)r * I, 0.01f), dB = make(L, 'f', (size_t)O * r, 0.01f),
         dh = make(L, 'f', (size_t)N * r, 1), dout = make(L, 'a', (size_t)N * O, 1),
         W = make(L, 'a', (size_t)O * I, 0.05f);
  args_t f = {{&out, &h, &x, &A, &B}, {N, I, O, r}, {scale}};
  tensor *of[] = {&out, &h};
  const char *nf[] = {"out", "h"};
  /* h, dA, dB, dh: bf16 operands on cuBLASLt (f32 parameters rounded per
   * call, as torch.autocast does), so bf16's tolerance; N <= 16 runs the
   * exact f32 few-rows kernels */
  double tf[] = {TOL_ACT, N <= 16 ? TOL_F32 : TOL_ACT};
  int pf[] = {0, 1};
  run_case(L, "lora_forward", SHAPE("N%d I%d O%d r%d", N, I, O, r), run_lora_fwd, &f, of, nf, tf,
           pf, 2);
  /* h as the forward left it on each backend */
  args_t b = {{&dx, &dA, &dB, &dh, &dout, &x, &A, &B, &h}, {N, I, O, r}, {scale}};
  tensor *ob[] = {&dx, &dA, &dB, &dh};
  const char *nb[] = {"dx", "dA", "dB", "dh"};
  double tb[] = {TOL_ACT, TOL_ACT, TOL_ACT, TOL_ACT};
  int pb[] = {0, 0, 0, 1};
  run_case(L, "lora_backward", SHAPE("N%d I%d O%d r%d", N, I, O, r), run_lora_bwd, &b, ob, nb, tb,
           pb, 4);
  args_t m = {{&W, &A, &B}, {O, I, r}, {scale}};
  tensor *om[] = {&W};
  const char *nm[] = {"W"};
  double tm[] = {TOL_ACT};
  int pm[] = {0};
  run_case(L, "lora_merge", SHAPE("O%d I%d r%d", O, I, r), run_lora_merge, &m, om, nm, tm, pm, 1);
  tensor *all[] = {&out, &h, &x, &A, &B, &dx, &dA, &dB, &dh, &dout, &W};
  for (int i = 0; i < 11; i++) release(L, all[i]);
}

/* sum_squares returns to the host: compared directly, timed like the rest. */
static double ss_result[2];
static void run_sum_squares(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  ss_result[gpu] = be->ops->sum_squares(be, PF(a->t[0]), (size_t)a->i[0]);
}
static void case_sum_squares(lab *L, int n) {
  char shape[64];
  tensor x = make(L, 'f', n, 1);
  args_t a = {{&x}, {n}, {0}};
  run_sum_squares(L->cpu, 0, &a);
  run_sum_squares(L->gpu, 1, &a);
  double err = fabs(ss_result[1] - ss_result[0]) / fabs(ss_result[0]);
  if (!isfinite(ss_result[1])) err = INFINITY;
  report(L, "sum_squares", SHAPE("n%d", n), "sum", err, 1e-10, time_gpu(L, run_sum_squares, &a));
  release(L, &x);
}

static void run_adamw(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->adamw(be, PF(a->t[0]), PF(a->t[1]), PF(a->t[2]), PF(a->t[3]), (size_t)a->i[0], a->f[0],
                 a->f[1], a->f[2], a->f[3], a->f[4], a->i[1], a->f[5]);
}
static void case_adamw(lab *L, int n) {
  char shape[64];
  tensor param = make(L, 'f', n, 1), grad = make(L, 'f', n, 1), m = make(L, 'f', n, 0.1f),
         v = make(L, 'f', n, 0);
  for (int i = 0; i < n; i++) v.host[i] = 0.01f * (float)seal_rng_uniform(&L->rng);
  upload(L, &v);
  args_t a = {{&param, &grad, &m, &v}, {n, 3}, {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.5f}};
  tensor *outs[] = {&param, &m, &v};
  const char *names[] = {"param", "m", "v"};
  double tols[] = {1e-6, 1e-6, 1e-6};
  int pois[] = {0, 0, 0};
  run_case(L, "adamw", SHAPE("n%d step3", n), run_adamw, &a, outs, names, tols, pois, 3);
  release(L, &param), release(L, &grad), release(L, &m), release(L, &v);
}

/* Sampling: ids must agree exactly, except where the uniform lands within
 * rounding of a boundary between two tokens (sums are in a different order):
 * a handful of rows in a thousand at most. */
static int32_t *sample_ids[2];
static float *sample_u;
static void run_sample(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->sample(be, sample_ids[gpu], P(a->t[0]), a->i[0], a->i[1], a->f[0], a->f[1], sample_u);
}
/* levels > 0: logits drawn from that many distinct values (many exact ties). */
static void case_sample(lab *L, int B, int V, float temperature, float top_p, int levels) {
  char shape[80];
  tensor logits = make(L, 'a', (size_t)B * V, 2);
  if (levels > 0) {
    for (size_t i = 0; i < logits.n; i++)
      logits.host[i] = round_bf16((float)(int)(seal_rng_uniform(&L->rng) * levels) * 0.5f);
    upload(L, &logits);
  }
  sample_ids[0] = seal_calloc((size_t)B, sizeof(int32_t));
  sample_ids[1] = seal_calloc((size_t)B, sizeof(int32_t));
  sample_u = seal_calloc((size_t)B, sizeof(float));
  for (int b = 0; b < B; b++) sample_u[b] = (float)seal_rng_uniform(&L->rng);
  args_t a = {{&logits}, {B, V}, {temperature, top_p}};
  run_sample(L->cpu, 0, &a);
  for (int b = 0; b < B; b++) sample_ids[1][b] = -7;
  run_sample(L->gpu, 1, &a);
  int differ = 0;
  for (int b = 0; b < B; b++) differ += sample_ids[0][b] != sample_ids[1][b];
  double frac = (double)differ / B;
  double tol = temperature <= 0 ? 0 : 0.01;
  report(L, "sample",
         SHAPE("B%d V%d T%.1f p%.2f%s", B, V, temperature, top_p, levels ? " ties" : ""), "ids",
         frac, tol, time_gpu(L, run_sample, &a));
  free(sample_ids[0]), free(sample_ids[1]), free(sample_u);
  release(L, &logits);
}

/* ---- main ------------------------------------------------------------------- */

int main(int argc, char **argv) {
  lab L;
  memset(&L, 0, sizeof L);
  L.reps = 20;
  uint64_t seed = 1234;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--small"))
      L.small = 1;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      L.reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: %s [--small] [--reps N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  if (L.reps < 1) L.reps = 1;
  seal_rng_seed(&L.rng, seed);
  seal_error e;
  L.cpu = seal_cpu_backend_create(&e);
  if (!L.cpu) SEAL_DIE_ERR(&e);
  L.gpu = seal_cuda_backend_create(0, &e);
  if (!L.gpu) SEAL_DIE_ERR(&e);
  L.stream = seal_cuda_stream(L.gpu);
  CU(cudaEventCreate(&L.start));
  CU(cudaEventCreate(&L.stop));
  const seal_ops *o = L.cpu->ops;
  if (!o->embedding || !o->attention || !o->sample || !o->lora_backward || !o->adamw)
    SEAL_DIE("the CPU backend's compute ops are not all there yet");

  int s = L.small;
  printf("%-22s %-30s %-8s %10s %8s  %-4s %s\n", "op", "shape", "output", "rel err", "tol", "ok",
         "median");
  case_embedding(&L, s ? 37 : 1024, s ? 72 : 2048, s ? 300 : 32000);
  case_rmsnorm(&L, s ? 37 : 1024, s ? 72 : 2048);
  case_rmsnorm(&L, s ? 5 : 512, s ? 1000 : 3584);
  case_residual_rmsnorm(&L, s ? 37 : 1024, s ? 72 : 2048);
  case_add(&L, s ? 1001 : 1 << 22);
  case_matmul(&L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 2048, 1);
  case_matmul(&L, s ? 16 : 4096, s ? 64 : 2048, s ? 128 : 8192, 0);
  case_matmul(&L, 37, 67, 101, 1); /* odd leading dimensions */
  case_matmul(&L, 3, 64, 50, 0);
  case_matmul_bwd(&L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 8192, 0);
  case_matmul_bwd(&L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 8192, 1);
  case_matmul_bwd(&L, 37, 67, 101, 1);
  case_rope(&L, s ? 7 : 512, s ? 3 : 32, 64, 1);
  case_rope(&L, s ? 7 : 512, s ? 2 : 8, s ? 10 : 128, -1);
  case_kv_write(&L, s ? 2 : 8, s ? 3 : 16, s ? 20 : 512, s ? 48 : 1024);
  case_attention(&L, s ? 2 : 4, s ? 37 : 512, s ? 37 : 512, s ? 4 : 32, s ? 2 : 8, 64, 1);
  case_attention(&L, s ? 1 : 2, s ? 33 : 256, s ? 33 : 256, s ? 2 : 28, s ? 1 : 4, 128, 1);
  case_attention(&L, s ? 3 : 16, 1, s ? 50 : 1024, s ? 4 : 32, s ? 2 : 8, 64, 0); /* decode */
  case_attention(&L, s ? 2 : 4, s ? 5 : 64, s ? 40 : 700, s ? 4 : 16, s ? 4 : 4, s ? 80 : 96, 0);
  case_attention(&L, 1, s ? 9 : 40, s ? 9 : 40, 2, 1, 256, 1);
  case_attention_bwd(&L, s ? 1 : 2, s ? 37 : 256, s ? 4 : 32, s ? 2 : 8, 64);
  case_attention_bwd(&L, 1, s ? 33 : 128, s ? 2 : 28, s ? 1 : 4, s ? 80 : 128);
  case_swiglu(&L, s ? 1001 : 1 << 22);
  case_cross_entropy(&L, s ? 6 : 64, s ? 1000 : 32000, 0);
  case_cross_entropy(&L, s ? 6 : 64, s ? 1000 : 151936, 1);
  case_cross_entropy(&L, s ? 6 : 64, s ? 1000 : 32000, 2);
  case_rmsnorm_bwd(&L, s ? 37 : 1024, s ? 72 : 2048);
  case_lora(&L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 2048, s ? 5 : 32);
  case_lora(&L, 37, 67, 101, 8);
  case_sum_squares(&L, s ? 1001 : 10000007);
  case_adamw(&L, s ? 1001 : 1000003);
  /* issue 14's cases for the tensor-core, decoding and few-rows kernels: odd T
   * (no tile multiple), head_dim 48, 64, 128, GQA ratios 1, 3, 7, decode rows
   * (matmul and LoRA with N = 1 and 4), attention without lse, I = 0 matmul */
  case_attention(&L, s ? 1 : 2, s ? 45 : 301, s ? 45 : 301, s ? 6 : 12, s ? 2 : 4, 48, 1);
  case_attention(&L, 1, s ? 70 : 203, s ? 70 : 203, s ? 14 : 28, s ? 2 : 4, 128, 1);
  case_attention(&L, s ? 1 : 2, s ? 67 : 130, s ? 67 : 130, s ? 3 : 8, s ? 3 : 8, 64, 1);
  case_attention(&L, s ? 2 : 8, 1, s ? 150 : 777, s ? 14 : 28, s ? 2 : 4, 128, 0);
  case_attention(&L, s ? 2 : 4, 1, s ? 70 : 300, s ? 4 : 16, s ? 4 : 16, 64, 0);
  case_attention(&L, 3, 1, s ? 65 : 100, s ? 6 : 12, s ? 2 : 4, 48, 0);
  case_attention(&L, s ? 1 : 2, s ? 9 : 77, s ? 40 : 333, s ? 7 : 28, 1, 128, 0);
  attention_no_lse = 1;
  case_attention(&L, s ? 2 : 4, s ? 37 : 129, s ? 37 : 129, s ? 4 : 32, s ? 2 : 8, 64, 1);
  case_attention(&L, s ? 2 : 8, 1, s ? 50 : 500, s ? 4 : 32, s ? 2 : 8, 64, 0);
  attention_no_lse = 0;
  case_attention_bwd(&L, 1, s ? 45 : 301, s ? 6 : 12, s ? 2 : 4, 48);
  case_attention_bwd(&L, 1, s ? 70 : 203, s ? 14 : 28, s ? 2 : 4, 128);
  case_attention_bwd(&L, s ? 1 : 2, s ? 67 : 130, s ? 3 : 8, s ? 3 : 8, 64);
  case_matmul(&L, 1, s ? 64 : 2048, s ? 100 : 8192, 0);
  case_matmul(&L, 1, s ? 72 : 3584, s ? 40 : 512, 1);
  case_matmul(&L, 5, 0, 17, 1); /* I = 0: every row is the bias */
  case_lora(&L, 1, s ? 72 : 2048, s ? 100 : 2048, s ? 8 : 32);
  case_lora(&L, 4, s ? 72 : 3584, s ? 40 : 512, s ? 8 : 32);
  case_sample(&L, s ? 4 : 16, s ? 1000 : 128256, 0.0f, 1.0f, 0);
  case_sample(&L, s ? 4 : 16, s ? 1000 : 128256, 0.0f, 1.0f, 6); /* argmax ties: lowest id */
  case_sample(&L, s ? 8 : 256, s ? 1000 : 32000, 0.8f, 0.9f, 0);
  case_sample(&L, s ? 8 : 256, s ? 1000 : 32000, 1.0f, 1.0f, 0);
  case_sample(&L, s ? 8 : 512, s ? 500 : 4000, 1.0f, 0.7f, 8);

  printf("\n%d checks, %d failed\n", L.cases, L.failures);
  CU(cudaEventDestroy(L.start));
  CU(cudaEventDestroy(L.stop));
  seal_backend_destroy(L.gpu);
  seal_backend_destroy(L.cpu);
  return L.failures ? 1 : 0;
}
