/* tests/cuda/kernel_lab.c — every op of the CUDA backend against the CPU
 * reference backend, on fresh random inputs, with timings.
 *
 *   cuda_kernel_lab [--small] [--reps N] [--seed S] [--op NAME]
 *
 * The op list is SEAL_OPS (kernels/ops.h): the lab has one case function
 * lab_NAME per op, and its table is generated from the list, so an op without
 * a case fails to compile; a case that checks nothing fails at run time.
 * --op NAME runs one op's case alone.
 *
 * For each check: random inputs are drawn on the host (act tensors rounded to
 * bf16 first, so both backends see the same numbers), uploaded to both
 * backends, the op runs on the CPU and on the GPU, the GPU's '=' outputs having
 * been poisoned with NaN first (an element the kernel forgets stays NaN and
 * fails). Each output is compared by its relative L2 error ||gpu - cpu|| /
 * ||cpu|| and by its worst row's (a tensor's L2 hides an error confined to a
 * few rows): the tensor must be within the tolerance, every row within
 * ROW_TOL_FACTOR times it. Then the GPU op is timed with CUDA events on the
 * backend's stream (3 warm-ups, median of --reps). One line per output: op,
 * shape, output, rel err, worst row err (and its row), tolerance, pass/FAIL,
 * median time. Exit status 1 when anything failed, 2 on a bad command line.
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

/* A row's error may be this many times the tensor's tolerance: a row's L2 is
 * noisier than the tensor's, but an error confined to some rows (a bad tile,
 * a wrong batch offset) is of order 1 there. */
#define ROW_TOL_FACTOR 4.0

/* The GPU's result against the CPU's: the relative L2 error of the whole
 * tensor, and the largest of its rows' (rows of cols elements; cols 0: one
 * row). Absolute where the reference is all zeros; NaN or inf where the
 * reference is finite gives +inf. */
typedef struct {
  double tensor, worst_row;
  size_t row; /* which row is worst */
} lab_err;

static double rel_l2(double num, double den, int bad) {
  if (bad || isnan(num)) return INFINITY;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static lab_err compare(lab *L, const tensor *t, size_t cols) {
  float *c = seal_malloc((t->n ? t->n : 1) * sizeof(float));
  float *g = seal_malloc((t->n ? t->n : 1) * sizeof(float));
  L->cpu->ops->to_host(L->cpu, c, t->c, SEAL_F32, t->n);
  L->gpu->ops->to_host(L->gpu, g, t->g, gpu_type(t->kind), t->n);
  if (cols == 0 || cols > t->n) cols = t->n ? t->n : 1;
  lab_err r = {0, 0, 0};
  double num = 0, den = 0;
  int bad = 0;
  for (size_t row0 = 0; row0 < t->n; row0 += cols) {
    double rnum = 0, rden = 0;
    int rbad = 0;
    for (size_t i = row0; i < row0 + cols && i < t->n; i++) {
      if (!isfinite(g[i]) && isfinite(c[i])) rbad = 1;
      double d = (double)g[i] - c[i];
      rnum += d * d;
      rden += (double)c[i] * c[i];
    }
    double e = rel_l2(rnum, rden, rbad);
    if (!(e <= r.worst_row)) r.worst_row = e, r.row = row0 / cols;
    num += rnum, den += rden, bad |= rbad;
  }
  r.tensor = rel_l2(num, den, bad);
  free(c);
  free(g);
  return r;
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
    CUDA_CHECK(cudaEventRecord(L->start, L->stream));
    run(L->gpu, 1, args);
    CUDA_CHECK(cudaEventRecord(L->stop, L->stream));
    CUDA_CHECK(cudaEventSynchronize(L->stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms[i], L->start, L->stop));
  }
  qsort(ms, (size_t)L->reps, sizeof(float), cmp_float);
  float med = ms[L->reps / 2];
  free(ms);
  return med;
}

/* One result line. A negative worst-row error means the check has no rows (a
 * scalar, a count); a negative ms, no timing. */
static void report(lab *L, const char *op, const char *shape, const char *out, lab_err err,
                   double tol, float ms) {
  int ok = err.tensor <= tol && (err.worst_row < 0 || err.worst_row <= ROW_TOL_FACTOR * tol);
  L->cases++;
  if (!ok) L->failures++;
  char t[32] = "", row[40] = "-";
  if (ms >= 0) snprintf(t, sizeof t, "%10.4f ms", ms);
  if (err.worst_row >= 0) snprintf(row, sizeof row, "%.3e @%zu", err.worst_row, err.row);
  printf("%-22s %-30s %-8s %10.3e %-18s %8.0e  %-4s %s\n", op, shape, out, err.tensor, row, tol,
         ok ? "pass" : "FAIL", t);
  fflush(stdout);
}

/* A scalar or whole-result check (no rows). */
static void report_value(lab *L, const char *op, const char *shape, const char *out, double err,
                         double tol, float ms) {
  report(L, op, shape, out, (lab_err){err, -1, 0}, tol, ms);
}

/* An output of a case: compared with tol; rows of cols elements (0: the
 * whole tensor); poison: an '=' output, filled with NaN on the GPU first. */
typedef struct {
  tensor *t;
  const char *name;
  double tol;
  int poison;
  size_t cols;
} lab_out;

/* Runs one check: cpu, poison the '=' outputs, gpu, compare every output,
 * time. */
static void run_case(lab *L, const char *op, const char *shape, run_fn run, void *args,
                     const lab_out *outs, int nouts) {
  run(L->cpu, 0, args);
  for (int i = 0; i < nouts; i++)
    if (outs[i].poison) poison(L, outs[i].t);
  run(L->gpu, 1, args);
  L->gpu->ops->synchronize(L->gpu);
  lab_err errs[8];
  for (int i = 0; i < nouts; i++) errs[i] = compare(L, outs[i].t, outs[i].cols);
  float ms = time_gpu(L, run, args);
  for (int i = 0; i < nouts; i++)
    report(L, op, shape, outs[i].name, errs[i], outs[i].tol, i == 0 ? ms : -1);
}

#define P(t) (gpu ? (t)->g : (t)->c)
#define PF(t) ((float *)P(t))
#define PI(t) ((int32_t *)P(t))
#define SHAPE(...) (snprintf(shape, sizeof shape, __VA_ARGS__), shape)
#define N_OUTS(outs) ((int)(sizeof(outs) / sizeof(outs)[0]))

/* Tolerances (docs/cuda-backend.md, "Checks"): bf16 outputs and bf16 operands
 * 1e-2; float results from identical bf16 inputs (statistics, LoRA's float
 * side) much tighter. */
#define TOL_ACT 1e-2
#define TOL_F32 1e-4

/* ---- memory ops -------------------------------------------------------------- */

/* The GPU's copy of an 'a' or 'f' tensor against exactly expected host values. */
static double mismatch_fraction(lab *L, const tensor *t, const float *want) {
  float *g = seal_malloc((t->n ? t->n : 1) * sizeof(float));
  L->gpu->ops->to_host(L->gpu, g, t->g, gpu_type(t->kind), t->n);
  size_t wrong = 0;
  for (size_t i = 0; i < t->n; i++) wrong += memcmp(&g[i], &want[i], sizeof(float)) != 0;
  free(g);
  return t->n ? (double)wrong / (double)t->n : 0;
}

/* Allocations of awkward sizes are usable: a fill of each reads back. */
static void lab_alloc(lab *L) {
  char shape[64];
  size_t sizes[] = {1, 1000, L->small ? 4096 : (size_t)1 << 24};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    tensor t = make(L, 'f', sizes[k], 1);
    L->gpu->ops->fill(L->gpu, t.g, SEAL_F32, 3.0f, t.n);
    for (size_t i = 0; i < t.n; i++) t.host[i] = 3.0f;
    report_value(L, "alloc", SHAPE("%zu floats", sizes[k]), "fill",
                 mismatch_fraction(L, &t, t.host), 0, -1);
    release(L, &t);
  }
}

/* What is freed is given back: device memory after many alloc/free pairs is
 * what it was before (within 1 MiB of other users' noise). */
static void lab_free(lab *L) {
  size_t before, after, total;
  L->gpu->ops->synchronize(L->gpu);
  CUDA_CHECK(cudaMemGetInfo(&before, &total));
  for (int i = 0; i < 64; i++) {
    void *p = L->gpu->ops->alloc(L->gpu, (size_t)(i + 1) << 20);
    L->gpu->ops->free(L->gpu, p);
  }
  CUDA_CHECK(cudaMemGetInfo(&after, &total));
  double lost = before > after ? (double)(before - after) : 0;
  report_value(L, "free", "64 allocs of 1..64 MiB", "MiB lost", lost / (1 << 20), 1, -1);
}

/* f32 uploads are exact; bf16 uploads round to nearest even (round_bf16),
 * including a size over the 8 Mi-element staging chunk. */
static void lab_to_device(lab *L) {
  char shape[64];
  size_t n = L->small ? 1001 : ((size_t)9 << 20);
  tensor f = make(L, 'f', n, 3), a = make(L, 'a', n, 3);
  float *raw = seal_malloc(n * sizeof(float)), *want = seal_malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    raw[i] = (float)seal_rng_normal(&L->rng), want[i] = round_bf16(raw[i]);
  L->gpu->ops->to_device(L->gpu, a.g, SEAL_BF16, raw, n);
  report_value(L, "to_device", SHAPE("n%zu", n), "f32", mismatch_fraction(L, &f, f.host), 0, -1);
  report_value(L, "to_device", SHAPE("n%zu", n), "bf16", mismatch_fraction(L, &a, want), 0, -1);
  free(raw), free(want);
  release(L, &f), release(L, &a);
}

/* Downloads: the CPU and the GPU hold the same values after the same upload. */
static void lab_to_host(lab *L) {
  char shape[64];
  size_t n = L->small ? 1001 : ((size_t)9 << 20);
  tensor f = make(L, 'f', n, 3), a = make(L, 'a', n, 3);
  report(L, "to_host", SHAPE("n%zu", n), "f32", compare(L, &f, 0), 0, -1);
  report(L, "to_host", SHAPE("n%zu", n), "bf16", compare(L, &a, 0), 0, -1);
  release(L, &f), release(L, &a);
}

static double ids_round_trip(lab *L, size_t n) {
  tensor t = make_ids(L, n, -1000000, 1000000);
  int32_t *back = seal_calloc(n, sizeof(int32_t));
  L->gpu->ops->to_host_i32(L->gpu, back, t.g, n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) wrong += back[i] != t.ids[i];
  free(back);
  release(L, &t);
  return (double)wrong / (double)n;
}

static void lab_to_device_i32(lab *L) {
  report_value(L, "to_device_i32", "n4097", "ids", ids_round_trip(L, 4097), 0, -1);
}

static void lab_to_host_i32(lab *L) {
  report_value(L, "to_host_i32", "n1", "ids", ids_round_trip(L, 1), 0, -1);
}

static void run_copy(seal_backend *be, int gpu, void *p) {
  tensor **t = p;
  size_t bytes = t[0]->n * (gpu ? 2 : 4) / 2;
  be->ops->copy(be, P(t[0]), P(t[1]), bytes); /* the first half of src */
}
static void lab_copy(lab *L) {
  char shape[64];
  size_t n = L->small ? 1000 : (size_t)1 << 22;
  tensor dst = make(L, 'a', n, 1), src = make(L, 'a', n, 1);
  tensor *args[] = {&dst, &src};
  lab_out outs[] = {{&dst, "dst", 0, 0, 0}};
  run_case(L, "copy", SHAPE("n%zu (half)", n), run_copy, args, outs, N_OUTS(outs));
  release(L, &dst), release(L, &src);
}

static void lab_fill(lab *L) {
  char shape[64];
  size_t n = L->small ? 1001 : (size_t)1 << 22;
  tensor f = make(L, 'f', n, 1), a = make(L, 'a', n, 1), ids = make_ids(L, n, 0, 9);
  float v = 1.0f / 3.0f;
  L->gpu->ops->fill(L->gpu, f.g, SEAL_F32, v, n);
  L->gpu->ops->fill(L->gpu, a.g, SEAL_BF16, v, n);
  L->gpu->ops->fill(L->gpu, ids.g, SEAL_I32, 42, n);
  for (size_t i = 0; i < n; i++) f.host[i] = v, a.host[i] = round_bf16(v);
  report_value(L, "fill", SHAPE("n%zu", n), "f32", mismatch_fraction(L, &f, f.host), 0, -1);
  report_value(L, "fill", SHAPE("n%zu", n), "bf16", mismatch_fraction(L, &a, a.host), 0, -1);
  int32_t *back = seal_calloc(n, sizeof(int32_t));
  L->gpu->ops->to_host_i32(L->gpu, back, ids.g, n);
  size_t wrong = 0;
  for (size_t i = 0; i < n; i++) wrong += back[i] != 42;
  report_value(L, "fill", SHAPE("n%zu", n), "i32", (double)wrong / (double)n, 0, -1);
  free(back);
  release(L, &f), release(L, &a), release(L, &ids);
}

/* After synchronize the stream has nothing left to do. */
static void lab_synchronize(lab *L) {
  size_t n = L->small ? 1001 : (size_t)1 << 26;
  void *p = L->gpu->ops->alloc(L->gpu, n * 4);
  for (int i = 0; i < 8; i++) L->gpu->ops->fill(L->gpu, p, SEAL_F32, (float)i, n);
  L->gpu->ops->synchronize(L->gpu);
  cudaError_t q = cudaStreamQuery(L->stream);
  report_value(L, "synchronize", "8 fills queued", "idle", q == cudaSuccess ? 0 : 1, 0, -1);
  L->gpu->ops->free(L->gpu, p);
}

/* A second backend on the same GPU is created, used and destroyed, and gives
 * its memory back. */
static void lab_destroy(lab *L) {
  size_t before, after, total;
  L->gpu->ops->synchronize(L->gpu);
  CUDA_CHECK(cudaMemGetInfo(&before, &total));
  seal_error e;
  seal_backend *be = seal_cuda_backend_create(0, &e);
  if (!be) SEAL_DIE_ERR(&e);
  void *p = be->ops->alloc(be, (size_t)64 << 20);
  be->ops->fill(be, p, SEAL_F32, 1.0f, (size_t)16 << 20);
  be->ops->free(be, p);
  seal_backend_destroy(be);
  CUDA_CHECK(cudaMemGetInfo(&after, &total));
  double lost = before > after ? (double)(before - after) : 0;
  report_value(L, "destroy", "a second backend", "MiB lost", lost / (1 << 20), 4, -1);
}

/* The calling thread ends up on the backend's device. */
static void lab_bind_thread(lab *L) {
  CUDA_CHECK(cudaSetDevice(0));
  L->gpu->ops->bind_thread(L->gpu);
  int device = -1;
  CUDA_CHECK(cudaGetDevice(&device));
  report_value(L, "bind_thread", "main thread", "device", device == 0 ? 0 : 1, 0, -1);
}

/* ---- transformer forward ------------------------------------------------------ */

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
  lab_out outs[] = {{&out, "out", 0, 1, (size_t)C}};
  run_case(L, "embedding", SHAPE("N%d C%d V%d", N, C, V), run_embedding, &a, outs, N_OUTS(outs));
  release(L, &out), release(L, &ids), release(L, &table);
}
static void lab_embedding(lab *L) {
  int s = L->small;
  case_embedding(L, s ? 37 : 1024, s ? 72 : 2048, s ? 300 : 32000);
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
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, (size_t)C}, {&rstd, "rstd", 1e-5, 1, 1}};
  run_case(L, "rmsnorm", SHAPE("N%d C%d", N, C), run_rmsnorm, &a, outs, N_OUTS(outs));
  release(L, &out), release(L, &rstd), release(L, &inp), release(L, &w);
}
static void lab_rmsnorm(lab *L) {
  int s = L->small;
  case_rmsnorm(L, s ? 37 : 1024, s ? 72 : 2048);
  case_rmsnorm(L, s ? 5 : 512, s ? 1000 : 3584);
}

/* residual aliases a, as the model uses it; the GPU's residual starts from the
 * same values as the CPU's (it is not poisoned). */
static void run_residual_rmsnorm(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->residual_rmsnorm(be, P(a->t[0]), P(a->t[1]), PF(a->t[2]), P(a->t[0]), P(a->t[3]),
                            P(a->t[4]), a->i[0], a->i[1], a->f[0]);
}
static void lab_residual_rmsnorm(lab *L) {
  char shape[64];
  int N = L->small ? 37 : 1024, C = L->small ? 72 : 2048;
  tensor res = make(L, 'a', (size_t)N * C, 1), out = make(L, 'a', (size_t)N * C, 1),
         rstd = make(L, 'f', N, 1), b = make(L, 'a', (size_t)N * C, 1), w = make(L, 'a', C, 1);
  args_t a = {{&res, &out, &rstd, &b, &w}, {N, C}, {1e-6f}};
  /* rstd: the GPU normalises the bf16-rounded residual */
  lab_out outs[] = {{&res, "residual", TOL_ACT, 0, (size_t)C},
                    {&out, "out", TOL_ACT, 1, (size_t)C},
                    {&rstd, "rstd", 1e-3, 1, 1}};
  run_case(L, "residual_rmsnorm", SHAPE("N%d C%d (res=a)", N, C), run_residual_rmsnorm, &a, outs,
           N_OUTS(outs));
  release(L, &res), release(L, &out), release(L, &rstd), release(L, &b), release(L, &w);
}

static void run_add(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->add(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), (size_t)a->i[0]);
}
static void lab_add(lab *L) {
  char shape[64];
  int n = L->small ? 1001 : 1 << 22;
  tensor out = make(L, 'a', n, 1), x = make(L, 'a', n, 1), y = make(L, 'a', n, 1);
  args_t a = {{&out, &x, &y}, {n}, {0}};
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, 1024}};
  run_case(L, "add", SHAPE("n%d", n), run_add, &a, outs, N_OUTS(outs));
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
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, (size_t)O}};
  run_case(L, "matmul", SHAPE("N%d I%d O%d%s", N, I, O, bias ? " +bias" : ""), run_matmul, &a, outs,
           N_OUTS(outs));
  release(L, &out), release(L, &x), release(L, &w), release(L, &b);
}
static void lab_matmul(lab *L) {
  int s = L->small;
  case_matmul(L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 2048, 1);
  case_matmul(L, s ? 16 : 4096, s ? 64 : 2048, s ? 128 : 8192, 0);
  case_matmul(L, 37, 67, 101, 1); /* odd leading dimensions */
  case_matmul(L, 3, 64, 50, 0);
  case_matmul(L, 1, s ? 64 : 2048, s ? 100 : 8192, 0); /* decode rows (issue 14) */
  case_matmul(L, 1, s ? 72 : 3584, s ? 40 : 512, 1);
  case_matmul(L, 5, 0, 17, 1); /* I = 0: every row is the bias */
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
  lab_out outs[] = {{&x, "x", TOL_ACT, 0, (size_t)H * D}};
  run_case(L, "rope", SHAPE("N%d H%d D%d dir%+d", N, H, D, direction), run_rope, &a, outs,
           N_OUTS(outs));
  release(L, &x), release(L, &pos), release(L, &inv);
}
static void lab_rope(lab *L) {
  int s = L->small;
  case_rope(L, s ? 7 : 512, s ? 3 : 32, 64, 1);
  case_rope(L, s ? 7 : 512, s ? 2 : 8, s ? 10 : 128, -1);
}

static void run_kv_write(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->kv_write(be, P(a->t[0]), P(a->t[1]), PI(a->t[2]), a->i[0], a->i[1], a->i[2], a->i[3]);
}
static void lab_kv_write(lab *L) {
  char shape[64];
  int s = L->small, B = s ? 2 : 8, Tq = s ? 3 : 16, Tmax = s ? 20 : 512, W = s ? 48 : 1024;
  tensor cache = make(L, 'a', (size_t)B * Tmax * W, 1), src = make(L, 'a', (size_t)B * Tq * W, 1),
         qpos = make_ids(L, B, 0, Tmax - Tq);
  args_t a = {{&cache, &src, &qpos}, {B, Tq, Tmax, W}, {0}};
  lab_out outs[] = {{&cache, "cache", 0, 0, (size_t)W}};
  run_case(L, "kv_write", SHAPE("B%d Tq%d Tmax%d W%d", B, Tq, Tmax, W), run_kv_write, &a, outs,
           N_OUTS(outs));
  release(L, &cache), release(L, &src), release(L, &qpos);
}

/* i[6] set: the inference form, no lse */
static void run_attention(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->attention(be, P(a->t[0]), a->i[6] ? NULL : PF(a->t[1]), P(a->t[2]), P(a->t[3]),
                     P(a->t[4]), PI(a->t[5]), a->i[0], a->i[1], a->i[2], a->i[3], a->i[4], a->i[5]);
}
/* q_pos[b] random in [0, Tk - Tq] unless training (all 0); no_lse: the
 * inference form. */
static void case_attention_lse(lab *L, int B, int Tq, int Tk, int Hq, int Hkv, int D, int training,
                               int no_lse) {
  char shape[64];
  tensor out = make(L, 'a', (size_t)B * Tq * Hq * D, 1), lse = make(L, 'f', (size_t)B * Hq * Tq, 1),
         q = make(L, 'a', (size_t)B * Tq * Hq * D, 1),
         k = make(L, 'a', (size_t)B * Tk * Hkv * D, 1),
         v = make(L, 'a', (size_t)B * Tk * Hkv * D, 1),
         qpos = make_ids(L, B, 0, training ? 0 : Tk - Tq);
  args_t a = {{&out, &lse, &q, &k, &v, &qpos}, {B, Tq, Tk, Hq, Hkv, D, no_lse}, {0}};
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, (size_t)Hq * D},
                    {&lse, "lse", TOL_F32, 1, (size_t)Hq}};
  run_case(L, "attention",
           SHAPE("B%d Tq%d Tk%d H%d/%d D%d%s", B, Tq, Tk, Hq, Hkv, D, no_lse ? " no lse" : ""),
           run_attention, &a, outs, no_lse ? 1 : 2);
  release(L, &out), release(L, &lse), release(L, &q), release(L, &k), release(L, &v),
      release(L, &qpos);
}
static void case_attention(lab *L, int B, int Tq, int Tk, int Hq, int Hkv, int D, int training) {
  case_attention_lse(L, B, Tq, Tk, Hq, Hkv, D, training, 0);
}
static void lab_attention(lab *L) {
  int s = L->small;
  case_attention(L, s ? 2 : 4, s ? 37 : 512, s ? 37 : 512, s ? 4 : 32, s ? 2 : 8, 64, 1);
  case_attention(L, s ? 1 : 2, s ? 33 : 256, s ? 33 : 256, s ? 2 : 28, s ? 1 : 4, 128, 1);
  case_attention(L, s ? 3 : 16, 1, s ? 50 : 1024, s ? 4 : 32, s ? 2 : 8, 64, 0); /* decode */
  case_attention(L, s ? 2 : 4, s ? 5 : 64, s ? 40 : 700, s ? 4 : 16, s ? 4 : 4, s ? 80 : 96, 0);
  case_attention(L, 1, s ? 9 : 40, s ? 9 : 40, 2, 1, 256, 1);
  /* issue 14's cases for the tensor-core and decoding kernels: odd T (no tile
   * multiple), head_dim 48, 64, 128, GQA ratios 1, 3, 7, decode rows, no lse */
  case_attention(L, s ? 1 : 2, s ? 45 : 301, s ? 45 : 301, s ? 6 : 12, s ? 2 : 4, 48, 1);
  case_attention(L, 1, s ? 70 : 203, s ? 70 : 203, s ? 14 : 28, s ? 2 : 4, 128, 1);
  case_attention(L, s ? 1 : 2, s ? 67 : 130, s ? 67 : 130, s ? 3 : 8, s ? 3 : 8, 64, 1);
  case_attention(L, s ? 2 : 8, 1, s ? 150 : 777, s ? 14 : 28, s ? 2 : 4, 128, 0);
  case_attention(L, s ? 2 : 4, 1, s ? 70 : 300, s ? 4 : 16, s ? 4 : 16, 64, 0);
  case_attention(L, 3, 1, s ? 65 : 100, s ? 6 : 12, s ? 2 : 4, 48, 0);
  case_attention(L, s ? 1 : 2, s ? 9 : 77, s ? 40 : 333, s ? 7 : 28, 1, 128, 0);
  case_attention_lse(L, s ? 2 : 4, s ? 37 : 129, s ? 37 : 129, s ? 4 : 32, s ? 2 : 8, 64, 1, 1);
  case_attention_lse(L, s ? 2 : 8, 1, s ? 50 : 500, s ? 4 : 32, s ? 2 : 8, 64, 0, 1);
}

/* n_seq packed sequences of the lengths len[] (i32 seq_start [n_seq + 1] on
 * both backends); their rows and the longest. */
static tensor make_seq_start(lab *L, const int *len, int n_seq, int *N, int *max_len) {
  tensor t = make(L, 'i', (size_t)n_seq + 1, 0);
  *N = 0, *max_len = 0;
  for (int s = 0; s < n_seq; s++) {
    t.ids[s] = *N;
    *N += len[s];
    if (len[s] > *max_len) *max_len = len[s];
  }
  t.ids[n_seq] = *N;
  upload(L, &t);
  return t;
}

/* t[]: out lse q k v seq_start; i[]: n_seq max_len Hq Hkv D no_lse */
static void run_attention_varlen(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->attention_varlen(be, P(a->t[0]), a->i[5] ? NULL : PF(a->t[1]), P(a->t[2]), P(a->t[3]),
                            P(a->t[4]), PI(a->t[5]), a->i[0], a->i[1], a->i[2], a->i[3], a->i[4]);
}
static void case_attention_varlen(lab *L, const int *len, int n_seq, int Hq, int Hkv, int D,
                                  int no_lse) {
  char shape[64];
  int N, max_len;
  tensor seq = make_seq_start(L, len, n_seq, &N, &max_len);
  tensor out = make(L, 'a', (size_t)N * Hq * D, 1), lse = make(L, 'f', (size_t)N * Hq, 1),
         q = make(L, 'a', (size_t)N * Hq * D, 1), k = make(L, 'a', (size_t)N * Hkv * D, 1),
         v = make(L, 'a', (size_t)N * Hkv * D, 1);
  args_t a = {{&out, &lse, &q, &k, &v, &seq}, {n_seq, max_len, Hq, Hkv, D, no_lse}, {0}};
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, (size_t)Hq * D},
                    {&lse, "lse", TOL_F32, 1, (size_t)Hq}};
  run_case(
      L, "attention_varlen",
      SHAPE("S%d N%d max%d H%d/%d D%d%s", n_seq, N, max_len, Hq, Hkv, D, no_lse ? " no lse" : ""),
      run_attention_varlen, &a, outs, no_lse ? 1 : 2);
  release(L, &out), release(L, &lse), release(L, &q), release(L, &k), release(L, &v),
      release(L, &seq);
}
/* Mixed lengths (1, 2, 17, 64 and ones across the 64-row tiles) on the
 * tensor-core head sizes and one the reference kernel runs (256), GQA. */
static void lab_attention_varlen(lab *L) {
  int s = L->small;
  static const int mixed[4] = {1, 2, 17, 64}, demo[6] = {38, 23, 41, 17, 30, 9};
  static const int wide[5] = {301, 1, 130, 2, 203}, small_wide[5] = {70, 1, 33, 2, 45};
  case_attention_varlen(L, mixed, 4, s ? 4 : 9, s ? 2 : 3, 64, 0);
  case_attention_varlen(L, s ? small_wide : wide, 5, s ? 6 : 12, s ? 2 : 4, 48, 0);
  case_attention_varlen(L, s ? small_wide : wide, 5, s ? 14 : 28, s ? 2 : 4, 128, 0);
  case_attention_varlen(L, demo, 6, 9, 3, 64, 0); /* SmolLM2-135M, an inner loop's lines */
  case_attention_varlen(L, mixed, 4, 3, 3, 80, 1);
  case_attention_varlen(L, mixed, 4, 2, 1, 256, 0);
}

static void run_swiglu(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->swiglu(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), (size_t)a->i[0]);
}
static void lab_swiglu(lab *L) {
  char shape[64];
  int n = L->small ? 1001 : 1 << 22;
  tensor out = make(L, 'a', n, 1), gate = make(L, 'a', n, 2), up = make(L, 'a', n, 1);
  args_t a = {{&out, &gate, &up}, {n}, {0}};
  lab_out outs[] = {{&out, "out", TOL_ACT, 1, 1024}};
  run_case(L, "swiglu", SHAPE("n%d", n), run_swiglu, &a, outs, N_OUTS(outs));
  release(L, &out), release(L, &gate), release(L, &up);
}

/* ---- loss ------------------------------------------------------------------- */

/* t[]: losses dlogits(or NULL) logits targets weights; i[2] = dlogits aliases logits. */
static void run_ce(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  void *dl = a->i[2] ? P(a->t[2]) : a->t[1] ? P(a->t[1]) : NULL;
  be->ops->cross_entropy(be, PF(a->t[0]), dl, P(a->t[2]), PI(a->t[3]), PF(a->t[4]), a->i[0],
                         a->i[1], a->f[0]);
}
/* mode 0: losses only, 1: separate dlogits, 2: dlogits aliasing logits. In
 * place, a second run would see gradients as logits: run_case compares the
 * first run only, and times on whatever is there. */
static void case_cross_entropy(lab *L, int N, int V, int mode) {
  char shape[64];
  tensor losses = make(L, 'f', N, 1), dlogits = make(L, 'a', (size_t)N * V, 1),
         logits = make(L, 'a', (size_t)N * V, 3), targets = make_ids(L, N, 0, V - 1),
         weights = make(L, 'f', N, 1);
  for (int n = 0; n < N; n++) weights.host[n] = n % 4 == 1 ? 0.0f : 1.0f; /* some rows ignored */
  upload(L, &weights);
  args_t a = {{&losses, mode == 1 ? &dlogits : NULL, &logits, &targets, &weights},
              {N, V, mode == 2},
              {1.0f / N}};
  lab_out outs[] = {{&losses, "losses", TOL_F32, 1, 1},
                    {mode == 2 ? &logits : &dlogits, "dlogits", TOL_ACT, mode == 1, (size_t)V}};
  static const char *mode_name[] = {"loss only", "dlogits", "dlogits=logits"};
  run_case(L, "cross_entropy", SHAPE("N%d V%d %s", N, V, mode_name[mode]), run_ce, &a, outs,
           mode == 0 ? 1 : 2);
  release(L, &losses), release(L, &dlogits), release(L, &logits), release(L, &targets),
      release(L, &weights);
}
static void lab_cross_entropy(lab *L) {
  int s = L->small;
  case_cross_entropy(L, s ? 6 : 64, s ? 1000 : 32000, 0);
  case_cross_entropy(L, s ? 6 : 64, s ? 1000 : 151936, 1);
  case_cross_entropy(L, s ? 6 : 64, s ? 1000 : 32000, 2);
}

/* ---- transformer backward ----------------------------------------------------- */

static void run_matmul_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->matmul_backward_input(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), a->i[0], a->i[1], a->i[2],
                                 a->i[3]);
}
/* accumulate: the timing repeats keep adding; only the first run is compared. */
static void case_matmul_bwd(lab *L, int N, int I, int O, int accumulate) {
  char shape[64];
  tensor dinp = make(L, 'a', (size_t)N * I, 1), dout = make(L, 'a', (size_t)N * O, 1),
         w = make(L, 'a', (size_t)O * I, 0.05f);
  args_t a = {{&dinp, &dout, &w}, {N, I, O, accumulate}, {0}};
  lab_out outs[] = {{&dinp, "dinp", TOL_ACT, !accumulate, (size_t)I}};
  run_case(L, "matmul_backward_input", SHAPE("N%d I%d O%d %s", N, I, O, accumulate ? "+=" : "="),
           run_matmul_bwd, &a, outs, N_OUTS(outs));
  release(L, &dinp), release(L, &dout), release(L, &w);
}
static void lab_matmul_backward_input(lab *L) {
  int s = L->small;
  case_matmul_bwd(L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 8192, 0);
  case_matmul_bwd(L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 8192, 1);
  case_matmul_bwd(L, 37, 67, 101, 1);
}

static void run_rmsnorm_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->rmsnorm_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), PF(a->t[4]),
                            a->i[0], a->i[1]);
}
static void lab_rmsnorm_backward(lab *L) {
  char shape[64];
  int N = L->small ? 37 : 1024, C = L->small ? 72 : 2048;
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
  lab_out outs[] = {{&dinp, "dinp", TOL_ACT, 0, (size_t)C}};
  run_case(L, "rmsnorm_backward", SHAPE("N%d C%d +=", N, C), run_rmsnorm_bwd, &a, outs,
           N_OUTS(outs));
  release(L, &dinp), release(L, &dout), release(L, &inp), release(L, &w), release(L, &rstd);
}

/* Each backend's own forward provides out and lse (as in training), then the
 * backward runs; t[]: dq dk dv dout out lse q k v seq_start; i[]: n_seq max_len
 * Hq Hkv D. */
static void run_attention_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->attention_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), P(a->t[4]),
                              PF(a->t[5]), P(a->t[6]), P(a->t[7]), P(a->t[8]), PI(a->t[9]), a->i[0],
                              a->i[1], a->i[2], a->i[3], a->i[4]);
}
static void case_attention_bwd(lab *L, const int *len, int n_seq, int Hq, int Hkv, int D) {
  char shape[64];
  int N, max_len;
  tensor seq = make_seq_start(L, len, n_seq, &N, &max_len);
  size_t nq = (size_t)N * Hq * D, nk = (size_t)N * Hkv * D;
  tensor dq = make(L, 'a', nq, 1), dk = make(L, 'a', nk, 1), dv = make(L, 'a', nk, 1),
         dout = make(L, 'a', nq, 1), out = make(L, 'a', nq, 1),
         lse = make(L, 'f', (size_t)N * Hq, 1), q = make(L, 'a', nq, 1), k = make(L, 'a', nk, 1),
         v = make(L, 'a', nk, 1);
  for (int g = 0; g < 2; g++) {
    seal_backend *be = g ? L->gpu : L->cpu;
    int gpu = g;
    be->ops->attention_varlen(be, P(&out), PF(&lse), P(&q), P(&k), P(&v), PI(&seq), n_seq, max_len,
                              Hq, Hkv, D);
  }
  args_t a = {
      {&dq, &dk, &dv, &dout, &out, &lse, &q, &k, &v, &seq}, {n_seq, max_len, Hq, Hkv, D}, {0}};
  /* out and D_i = do.o carry the forward's bf16 rounding into dS: looser */
  lab_out outs[] = {{&dq, "dq", 2e-2, 1, (size_t)Hq * D},
                    {&dk, "dk", 2e-2, 1, (size_t)Hkv * D},
                    {&dv, "dv", 2e-2, 1, (size_t)Hkv * D}};
  run_case(L, "attention_backward",
           SHAPE("S%d N%d max%d H%d/%d D%d", n_seq, N, max_len, Hq, Hkv, D), run_attention_bwd, &a,
           outs, N_OUTS(outs));
  tensor *all[] = {&dq, &dk, &dv, &dout, &out, &lse, &q, &k, &v, &seq};
  for (int i = 0; i < 10; i++) release(L, all[i]);
}
/* One sequence (the padded form's shapes), B of equal length, and packed
 * mixed lengths. */
static void case_attention_bwd_equal(lab *L, int B, int T, int Hq, int Hkv, int D) {
  int len[8];
  for (int b = 0; b < B && b < 8; b++) len[b] = T;
  case_attention_bwd(L, len, B < 8 ? B : 8, Hq, Hkv, D);
}
static void lab_attention_backward(lab *L) {
  int s = L->small;
  case_attention_bwd_equal(L, s ? 1 : 2, s ? 37 : 256, s ? 4 : 32, s ? 2 : 8, 64);
  case_attention_bwd_equal(L, 1, s ? 33 : 128, s ? 2 : 28, s ? 1 : 4, s ? 80 : 128);
  case_attention_bwd_equal(L, 1, s ? 45 : 301, s ? 6 : 12, s ? 2 : 4, 48); /* issue 14's */
  case_attention_bwd_equal(L, 1, s ? 70 : 203, s ? 14 : 28, s ? 2 : 4, 128);
  case_attention_bwd_equal(L, s ? 1 : 2, s ? 67 : 130, s ? 3 : 8, s ? 3 : 8, 64);
  static const int mixed[4] = {1, 2, 17, 64}, demo[6] = {38, 23, 41, 17, 30, 9};
  static const int wide[5] = {301, 1, 130, 2, 203}, small_wide[5] = {70, 1, 33, 2, 45};
  case_attention_bwd(L, mixed, 4, s ? 4 : 9, s ? 2 : 3, 64);
  case_attention_bwd(L, s ? small_wide : wide, 5, s ? 14 : 28, s ? 2 : 4, 128);
  case_attention_bwd(L, demo, 6, 9, 3, 64);
  case_attention_bwd(L, mixed, 4, 2, 1, 256); /* the CUDA-core kernels */
}

static void run_swiglu_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->swiglu_backward(be, P(a->t[0]), P(a->t[1]), P(a->t[2]), P(a->t[3]), P(a->t[4]),
                           (size_t)a->i[0]);
}
static void lab_swiglu_backward(lab *L) {
  char shape[64];
  int n = L->small ? 1001 : 1 << 22;
  tensor dgate = make(L, 'a', n, 1), dup = make(L, 'a', n, 1), dout = make(L, 'a', n, 1),
         gate = make(L, 'a', n, 2), up = make(L, 'a', n, 1);
  args_t a = {{&dgate, &dup, &dout, &gate, &up}, {n}, {0}};
  lab_out outs[] = {{&dgate, "dgate", TOL_ACT, 1, 1024}, {&dup, "dup", TOL_ACT, 1, 1024}};
  run_case(L, "swiglu_backward", SHAPE("n%d", n), run_swiglu_bwd, &a, outs, N_OUTS(outs));
  release(L, &dgate), release(L, &dup), release(L, &dout), release(L, &gate), release(L, &up);
}

/* ---- LoRA ------------------------------------------------------------------- */

/* The tensors of one LoRA shape, shared by its three ops. */
typedef struct {
  int N, I, O, r;
  float scale;
  tensor out, h, x, A, B, dx, dA, dB, dh, dout, W;
} lora_set;

static void lora_make(lab *L, lora_set *ls, int N, int I, int O, int r) {
  *ls = (lora_set){.N = N, .I = I, .O = O, .r = r, .scale = 2.0f};
  ls->out = make(L, 'a', (size_t)N * O, 1), ls->h = make(L, 'f', (size_t)N * r, 1);
  ls->x = make(L, 'a', (size_t)N * I, 1), ls->A = make(L, 'f', (size_t)r * I, 0.02f);
  ls->B = make(L, 'f', (size_t)O * r, 0.02f), ls->dx = make(L, 'a', (size_t)N * I, 1);
  ls->dA = make(L, 'f', (size_t)r * I, 0.01f), ls->dB = make(L, 'f', (size_t)O * r, 0.01f);
  ls->dh = make(L, 'f', (size_t)N * r, 1), ls->dout = make(L, 'a', (size_t)N * O, 1);
  ls->W = make(L, 'a', (size_t)O * I, 0.05f);
}

/* Every LoRA op is checked at the same shapes: a model's, odd sizes, and
 * decode rows (N = 1 and 4: the few-rows kernels, issue 14). */
static void lora_shapes(lab *L, void (*check)(lab *L, int N, int I, int O, int r)) {
  int s = L->small;
  check(L, s ? 37 : 512, s ? 72 : 2048, s ? 100 : 2048, s ? 5 : 32);
  check(L, 37, 67, 101, 8);
  check(L, 1, s ? 72 : 2048, s ? 100 : 2048, s ? 8 : 32);
  check(L, 4, s ? 72 : 3584, s ? 40 : 512, s ? 8 : 32);
}

static void lora_release(lab *L, lora_set *ls) {
  tensor *all[] = {&ls->out, &ls->h,  &ls->x,  &ls->A,    &ls->B, &ls->dx,
                   &ls->dA,  &ls->dB, &ls->dh, &ls->dout, &ls->W};
  for (int i = 0; i < 11; i++) release(L, all[i]);
}

/* t[]: out h x A B */
static void run_lora_fwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_forward(be, P(a->t[0]), PF(a->t[1]), P(a->t[2]), PF(a->t[3]), PF(a->t[4]), a->i[0],
                        a->i[1], a->i[2], a->i[3], a->f[0]);
}
static void case_lora_forward(lab *L, int N, int I, int O, int r) {
  char shape[64];
  lora_set ls;
  lora_make(L, &ls, N, I, O, r);
  args_t f = {{&ls.out, &ls.h, &ls.x, &ls.A, &ls.B}, {N, I, O, r}, {ls.scale}};
  /* h, dA, dB, dh: bf16 operands on cuBLASLt (f32 parameters rounded per
   * call, as torch.autocast does), so bf16's tolerance; N <= 16 runs the
   * exact f32 few-rows kernels */
  lab_out outs[] = {{&ls.out, "out", TOL_ACT, 0, (size_t)O},
                    {&ls.h, "h", N <= 16 ? TOL_F32 : TOL_ACT, 1, (size_t)r}};
  run_case(L, "lora_forward", SHAPE("N%d I%d O%d r%d", N, I, O, r), run_lora_fwd, &f, outs,
           N_OUTS(outs));
  lora_release(L, &ls);
}
static void lab_lora_forward(lab *L) { lora_shapes(L, case_lora_forward); }

/* t[]: dx dA dB dh dout x A B h */
static void run_lora_bwd(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_backward(be, P(a->t[0]), PF(a->t[1]), PF(a->t[2]), PF(a->t[3]), P(a->t[4]),
                         P(a->t[5]), PF(a->t[6]), PF(a->t[7]), PF(a->t[8]), a->i[0], a->i[1],
                         a->i[2], a->i[3], a->f[0]);
}
/* h as each backend's own forward leaves it. */
static void case_lora_backward(lab *L, int N, int I, int O, int r) {
  char shape[64];
  lora_set ls;
  lora_make(L, &ls, N, I, O, r);
  args_t f = {{&ls.out, &ls.h, &ls.x, &ls.A, &ls.B}, {N, I, O, r}, {ls.scale}};
  run_lora_fwd(L->cpu, 0, &f);
  run_lora_fwd(L->gpu, 1, &f);
  args_t b = {{&ls.dx, &ls.dA, &ls.dB, &ls.dh, &ls.dout, &ls.x, &ls.A, &ls.B, &ls.h},
              {N, I, O, r},
              {ls.scale}};
  lab_out outs[] = {{&ls.dx, "dx", TOL_ACT, 0, (size_t)I},
                    {&ls.dA, "dA", TOL_ACT, 0, (size_t)I},
                    {&ls.dB, "dB", TOL_ACT, 0, (size_t)r},
                    {&ls.dh, "dh", TOL_ACT, 1, (size_t)r}};
  run_case(L, "lora_backward", SHAPE("N%d I%d O%d r%d", N, I, O, r), run_lora_bwd, &b, outs,
           N_OUTS(outs));
  lora_release(L, &ls);
}
static void lab_lora_backward(lab *L) { lora_shapes(L, case_lora_backward); }

/* t[]: W A B */
static void run_lora_merge(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->lora_merge(be, P(a->t[0]), PF(a->t[1]), PF(a->t[2]), a->i[0], a->i[1], a->i[2], a->f[0]);
}
static void case_lora_merge(lab *L, int N, int I, int O, int r) {
  char shape[64];
  lora_set ls;
  lora_make(L, &ls, N, I, O, r); /* N unused: merge has no rows */
  args_t m = {{&ls.W, &ls.A, &ls.B}, {O, I, r}, {ls.scale}};
  lab_out outs[] = {{&ls.W, "W", TOL_ACT, 0, (size_t)I}};
  run_case(L, "lora_merge", SHAPE("O%d I%d r%d", O, I, r), run_lora_merge, &m, outs, N_OUTS(outs));
  lora_release(L, &ls);
}
static void lab_lora_merge(lab *L) { lora_shapes(L, case_lora_merge); }

/* ---- LoRA, several adapters in one batch ------------------------------------ */

/* GROUPS adapters in one buffer (A then B per adapter, group_stride apart);
 * sequence s uses lab_seq_group[s], a pattern that spreads adapter 2 over the
 * batch, keeps adapter 0's sequences together, gives adapter 1 one sequence
 * (per 8) and one sequence no adapter: both the in-place and the gathered
 * paths, and the rows left alone. */
#define GROUPS 3
static int lab_seq_group[64];
static int lab_seq_start[65]; /* host: packed rows of mixed lengths around T */

static void fill_seq_groups(int n_seq) {
  static const int pattern[8] = {2, 0, -1, 2, 1, 1, 0, 2};
  for (int s = 0; s < n_seq && s < 64; s++) lab_seq_group[s] = pattern[(s * 5) % 8];
}

typedef struct {
  int S, T, I, O, r;
  size_t stride;
  tensor out, h, x, P, dx, dP, dh, dout;
} grouped_set;

/* Sequence s of a grouped set: T rows at T = 1 (decoding), else 1 .. 2T-1
 * rows (packed training rows of mixed lengths). */
static size_t fill_seq_starts(int S, int T) {
  lab_seq_start[0] = 0;
  for (int s = 0; s < S && s < 64; s++)
    lab_seq_start[s + 1] = lab_seq_start[s] + (T == 1 ? 1 : 1 + (s * 13 + 5) % (2 * T - 1));
  return (size_t)lab_seq_start[S < 64 ? S : 64];
}

static void grouped_make(lab *L, grouped_set *gs, int S, int T, int I, int O, int r) {
  size_t N = fill_seq_starts(S, T);
  *gs = (grouped_set){.S = S, .T = T, .I = I, .O = O, .r = r, .stride = (size_t)r * (I + O)};
  gs->out = make(L, 'a', N * O, 1), gs->h = make(L, 'f', N * r, 1);
  gs->x = make(L, 'a', N * I, 1), gs->P = make(L, 'f', GROUPS * gs->stride, 0.02f);
  gs->dx = make(L, 'a', N * I, 1), gs->dP = make(L, 'f', GROUPS * gs->stride, 0.01f);
  gs->dh = make(L, 'f', N * r, 1), gs->dout = make(L, 'a', N * O, 1);
  fill_seq_groups(S);
}

static void grouped_release(lab *L, grouped_set *gs) {
  tensor *all[] = {&gs->out, &gs->h, &gs->x, &gs->P, &gs->dx, &gs->dP, &gs->dh, &gs->dout};
  for (int i = 0; i < 8; i++) release(L, all[i]);
}

/* Sequences x rows: decoding (one row each, the few-rows kernels per adapter),
 * odd sizes, a model's prefill. */
static void grouped_shapes(lab *L, void (*check)(lab *L, int S, int T, int I, int O, int r)) {
  int s = L->small;
  check(L, 16, 1, s ? 72 : 2048, s ? 100 : 2048, s ? 8 : 32);
  check(L, 7, 37, 67, 101, 8);
  check(L, 8, s ? 9 : 256, s ? 72 : 2048, s ? 100 : 2048, s ? 5 : 32);
}

/* t[]: out h x P; i[]: S T I O r stride */
static void run_lora_fwd_grouped(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  const float *A = PF(a->t[3]), *B = A + (size_t)a->i[4] * a->i[2];
  be->ops->lora_forward_grouped(be, P(a->t[0]), PF(a->t[1]), P(a->t[2]), A, B, (size_t)a->i[5],
                                lab_seq_group, lab_seq_start, a->i[0], a->i[2], a->i[3], a->i[4],
                                a->f[0]);
}
static void case_lora_forward_grouped(lab *L, int S, int T, int I, int O, int r) {
  char shape[64];
  grouped_set gs;
  grouped_make(L, &gs, S, T, I, O, r);
  args_t f = {{&gs.out, &gs.h, &gs.x, &gs.P}, {S, T, I, O, r, (int)gs.stride}, {2.0f}};
  /* h is not poisoned: the rows of the adapter-less sequence stay as uploaded;
   * one row per sequence runs each adapter's few rows on the f32 kernels */
  lab_out outs[] = {{&gs.out, "out", TOL_ACT, 0, (size_t)O},
                    {&gs.h, "h", T == 1 ? TOL_F32 : TOL_ACT, 0, (size_t)r}};
  run_case(L, "lora_forward_grouped", SHAPE("S%d T~%d I%d O%d r%d", S, T, I, O, r),
           run_lora_fwd_grouped, &f, outs, N_OUTS(outs));
  grouped_release(L, &gs);
}
static void lab_lora_forward_grouped(lab *L) { grouped_shapes(L, case_lora_forward_grouped); }

/* t[]: dx dP dh dout x P h; i[]: S T I O r stride */
static void run_lora_bwd_grouped(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  size_t b_off = (size_t)a->i[4] * a->i[2];
  float *dA = PF(a->t[1]);
  const float *A = PF(a->t[5]);
  be->ops->lora_backward_grouped(be, P(a->t[0]), dA, dA + b_off, PF(a->t[2]), P(a->t[3]),
                                 P(a->t[4]), A, A + b_off, PF(a->t[6]), (size_t)a->i[5],
                                 lab_seq_group, lab_seq_start, a->i[0], a->i[2], a->i[3], a->i[4],
                                 a->f[0]);
}
/* h as each backend's own grouped forward leaves it. */
static void case_lora_backward_grouped(lab *L, int S, int T, int I, int O, int r) {
  char shape[64];
  grouped_set gs;
  grouped_make(L, &gs, S, T, I, O, r);
  args_t f = {{&gs.out, &gs.h, &gs.x, &gs.P}, {S, T, I, O, r, (int)gs.stride}, {2.0f}};
  run_lora_fwd_grouped(L->cpu, 0, &f);
  run_lora_fwd_grouped(L->gpu, 1, &f);
  args_t b = {{&gs.dx, &gs.dP, &gs.dh, &gs.dout, &gs.x, &gs.P, &gs.h},
              {S, T, I, O, r, (int)gs.stride},
              {2.0f}};
  lab_out outs[] = {{&gs.dx, "dx", TOL_ACT, 0, (size_t)I},
                    {&gs.dP, "dA dB", TOL_ACT, 0, (size_t)I},
                    {&gs.dh, "dh", TOL_ACT, 0, (size_t)r}};
  run_case(L, "lora_backward_grouped", SHAPE("S%d T~%d I%d O%d r%d", S, T, I, O, r),
           run_lora_bwd_grouped, &b, outs, N_OUTS(outs));
  grouped_release(L, &gs);
}
static void lab_lora_backward_grouped(lab *L) { grouped_shapes(L, case_lora_backward_grouped); }

/* ---- optimizer -------------------------------------------------------------- */

/* sum_squares returns to the host: compared directly, timed like the rest. */
static double ss_result[2];
static void run_sum_squares(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  ss_result[gpu] = be->ops->sum_squares(be, PF(a->t[0]), (size_t)a->i[0]);
}
static void lab_sum_squares(lab *L) {
  char shape[64];
  int n = L->small ? 1001 : 10000007;
  tensor x = make(L, 'f', n, 1);
  args_t a = {{&x}, {n}, {0}};
  run_sum_squares(L->cpu, 0, &a);
  run_sum_squares(L->gpu, 1, &a);
  double err = fabs(ss_result[1] - ss_result[0]) / fabs(ss_result[0]);
  if (!isfinite(ss_result[1])) err = INFINITY;
  report_value(L, "sum_squares", SHAPE("n%d", n), "sum", err, 1e-10,
               time_gpu(L, run_sum_squares, &a));
  release(L, &x);
}

static void run_adamw(seal_backend *be, int gpu, void *p) {
  args_t *a = p;
  be->ops->adamw(be, PF(a->t[0]), PF(a->t[1]), PF(a->t[2]), PF(a->t[3]), (size_t)a->i[0], a->f[0],
                 a->f[1], a->f[2], a->f[3], a->f[4], a->i[1], a->f[5]);
}
static void lab_adamw(lab *L) {
  char shape[64];
  int n = L->small ? 1001 : 1000003;
  tensor param = make(L, 'f', n, 1), grad = make(L, 'f', n, 1), m = make(L, 'f', n, 0.1f),
         v = make(L, 'f', n, 0);
  for (int i = 0; i < n; i++) v.host[i] = 0.01f * (float)seal_rng_uniform(&L->rng);
  upload(L, &v);
  args_t a = {{&param, &grad, &m, &v}, {n, 3}, {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.5f}};
  lab_out outs[] = {
      {&param, "param", 1e-6, 0, 1024}, {&m, "m", 1e-6, 0, 1024}, {&v, "v", 1e-6, 0, 1024}};
  run_case(L, "adamw", SHAPE("n%d step3", n), run_adamw, &a, outs, N_OUTS(outs));
  release(L, &param), release(L, &grad), release(L, &m), release(L, &v);
}

/* ---- sampling --------------------------------------------------------------- */

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
  report_value(L, "sample",
               SHAPE("B%d V%d T%.1f p%.2f%s", B, V, temperature, top_p, levels ? " ties" : ""),
               "ids", frac, tol, time_gpu(L, run_sample, &a));
  free(sample_ids[0]), free(sample_ids[1]), free(sample_u);
  release(L, &logits);
}
static void lab_sample(lab *L) {
  int s = L->small;
  case_sample(L, s ? 4 : 16, s ? 1000 : 128256, 0.0f, 1.0f, 0);
  case_sample(L, s ? 4 : 16, s ? 1000 : 128256, 0.0f, 1.0f, 6); /* argmax ties: lowest id */
  case_sample(L, s ? 8 : 256, s ? 1000 : 32000, 0.8f, 0.9f, 0);
  case_sample(L, s ? 8 : 256, s ? 1000 : 32000, 1.0f, 1.0f, 0);
  case_sample(L, s ? 8 : 512, s ? 500 : 4000, 1.0f, 0.7f, 8);
}

/* ---- the op list ------------------------------------------------------------ */

/* One case per op of SEAL_OPS, in its order: lab_NAME for op NAME (an op with
 * no case function fails to compile here). */
typedef void (*lab_case)(lab *L);
static const lab_case lab_cases[SEAL_OP_COUNT] = {
#define LAB_CASE(ret, name, params, args) lab_##name,
    SEAL_OPS(LAB_CASE)
#undef LAB_CASE
};

/* Runs op's case; a case that reports no check fails. */
static void run_op(lab *L, int op) {
  int before = L->cases;
  lab_cases[op](L);
  if (L->cases > before) return;
  printf("%-22s %s\n", seal_op_names[op], "FAIL: its case checked nothing");
  L->failures++;
}

/* ---- main ------------------------------------------------------------------- */

static void usage_exit(const char *argv0, const char *problem) {
  fprintf(stderr, "%s: %s\nusage: %s [--small] [--reps N] [--seed S] [--op NAME]\nops:", argv0,
          problem, argv0);
  for (int op = 0; op < SEAL_OP_COUNT; op++) fprintf(stderr, " %s", seal_op_names[op]);
  fputc('\n', stderr);
  exit(SEAL_EXIT_USAGE);
}

int main(int argc, char **argv) {
  lab L;
  memset(&L, 0, sizeof L);
  L.reps = 20;
  uint64_t seed = 1234;
  int only = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--small")) {
      L.small = 1;
    } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
      L.reps = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = strtoull(argv[++i], NULL, 10);
    } else if (!strcmp(argv[i], "--op") && i + 1 < argc) {
      only = seal_op_find(argv[++i]);
      if (only < 0) usage_exit(argv[0], "--op: no such op");
    } else {
      usage_exit(argv[0], "unknown argument");
    }
  }
  if (L.reps < 1) L.reps = 1;
  seal_rng_seed(&L.rng, seed);
  seal_error e;
  L.cpu = seal_cpu_backend_create(SEAL_F32, &e);
  if (!L.cpu) SEAL_DIE_ERR(&e);
  L.gpu = seal_cuda_backend_create(0, &e);
  if (!L.gpu) SEAL_DIE_ERR(&e);
  seal_op missing = seal_ops_missing(L.gpu->ops);
  if (missing != SEAL_OP_COUNT) SEAL_DIE("the CUDA table lacks %s", seal_op_names[missing]);
  L.stream = seal_cuda_stream(L.gpu);
  CUDA_CHECK(cudaEventCreate(&L.start));
  CUDA_CHECK(cudaEventCreate(&L.stop));

  printf("%-22s %-30s %-8s %10s %-18s %8s  %-4s %s\n", "op", "shape", "output", "rel err",
         "worst row @row", "tol", "ok", "median");
  for (int op = 0; op < SEAL_OP_COUNT; op++)
    if (only < 0 || op == only) run_op(&L, op);

  printf("\n%d checks, %d failed (%s)\n", L.cases, L.failures,
         only < 0 ? "every op" : seal_op_names[only]);
  CUDA_CHECK(cudaEventDestroy(L.start));
  CUDA_CHECK(cudaEventDestroy(L.stop));
  seal_backend_destroy(L.gpu);
  seal_backend_destroy(L.cpu);
  return L.failures ? SEAL_EXIT_ERROR : SEAL_EXIT_OK;
}
