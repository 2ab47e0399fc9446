/* bench/gemm_libs.c — sgemm from OpenBLAS, BLIS and oneDNN (and seal's own
 * few-rows kernel) at exactly the products seal's CPU backend computes for
 * SmolLM2-135M (hidden 576, MLP 1536, kv width 192, vocabulary 49152, LoRA
 * rank 32), to decide the GEMM path by measurement (issue 15, docs/perf.md).
 *
 *   build/gemm_libs [--threads 1,2] [--repeats 7] [--rows 40,64,256] [--quick]
 *   bash bench/gemm-libs.sh          installs BLIS and oneDNN, builds, runs
 *
 * OpenBLAS is the one seal links. BLIS (libblis-openmp-dev: bli_sgemm, its
 * native API) and oneDNN (libdnnl-dev: dnnl_sgemm) are opened with dlopen at
 * run time, each in its own symbol scope, so that BLIS's own cblas_sgemm cannot
 * shadow OpenBLAS's and so that this program builds and runs without them (a
 * missing library is reported and skipped). Every call's result is checked
 * against a double-precision reference before it is timed, so a wrong call (a
 * swapped transpose, a bad stride) prints a large error and cannot win.
 *
 * Each shape is timed in rounds; in each round every library runs one sample
 * (enough back-to-back calls for at least 5 ms), in an order that rotates from
 * round to round. Reported per shape and library: the median over the rounds of
 * GFLOP/s by wall time and of GFLOP/s per CPU-second of the whole process
 * (CLOCK_PROCESS_CPUTIME_ID, all threads). On a shared machine the CPU figure
 * is the one that does not move with the neighbours' load at 1 thread; at 2
 * threads an OpenMP thread that spins while waiting for its partner counts as
 * busy, so the wall figure at low load is the one to quote there.
 *
 * Output: one line per (shape, threads, library), `gemm key=value ...`, then a
 * Markdown table per thread count. */
#include <dlfcn.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"

/* After the project headers: cblas.h pulls in <complex.h>, whose macro I
 * would clash with the names used in them. */
#include <cblas.h>
#undef I

void openblas_set_num_threads(int);

/* ---- the libraries ------------------------------------------------------------ */

/* C[M,N] = alpha op(A) op(B) + beta C, row-major, as kernels/cpu/matmul.c calls it. */
typedef void gemm_fn(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

typedef struct {
  const char *name;
  gemm_fn *gemm;
  void (*set_threads)(int n);
  bool few_rows_only; /* seal's own kernel: only the forward x W^T with N <= 8 */
} gemm_lib;

static void openblas_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void openblas_threads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

/* BLIS's typed API (blis.h): trans_t is BLIS_NO_TRANSPOSE 0 or BLIS_TRANSPOSE
 * 0x08, dim_t and inc_t are int64_t; any matrix takes a row and a column stride. */
typedef void bli_sgemm_fn(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *alpha,
                          const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb,
                          int64_t csb, const float *beta, float *c, int64_t rsc, int64_t csc);
static bli_sgemm_fn *bli_sgemm_p;
static void (*bli_thread_set_num_threads_p)(int64_t);

static void blis_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
  bli_sgemm_p(ta ? 0x08 : 0, tb ? 0x08 : 0, M, N, K, &alpha, A, lda, 1, B, ldb, 1, &beta, C, ldc,
              1);
}

static void blis_threads(int n) {
  omp_set_num_threads(n);
  bli_thread_set_num_threads_p(n);
}

/* oneDNN's dnnl_sgemm (dnnl.h): row-major, 'N' or 'T', int64_t sizes. */
typedef int dnnl_sgemm_fn(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                          float *C, int64_t ldc);
static dnnl_sgemm_fn *dnnl_sgemm_p;

static void dnnl_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc) {
  if (dnnl_sgemm_p(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) {
    fprintf(stderr, "gemm_libs: dnnl_sgemm failed at M=%d N=%d K=%d\n", M, N, K);
    exit(1);
  }
}

static void omp_threads(int n) { omp_set_num_threads(n); }

/* seal_cpu_matmul sends N <= 8 rows to few_rows_matmul (kernels/cpu/matmul.c):
 * out[N, O] = inp[N, I] weight[O, I]^T, i.e. (0, 1, M = N, N = O, K = I). */
static seal_backend *cpu_backend; /* float32 "cpu": what seal_cpu_matmul dispatches on */

static void seal_few_rows_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)ta, (void)tb, (void)alpha, (void)lda, (void)ldb, (void)beta, (void)ldc;
  seal_cpu_matmul(cpu_backend, C, A, B, NULL, M, K, N);
}

/* Opens LIB in a scope of its own and finds SYM in it; NULL (with a line saying
 * why) when either is missing. */
static void *open_symbol(const char *lib, const char *sym, void **handle) {
  if (!*handle) *handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!*handle) {
    fprintf(stderr, "gemm_libs: %s not loaded (%s); skipped\n", lib, dlerror());
    return NULL;
  }
  void *p = dlsym(*handle, sym);
  if (!p) fprintf(stderr, "gemm_libs: no %s in %s; skipped\n", sym, lib);
  return p;
}

static int find_libs(gemm_lib *libs) {
  int n = 0;
  libs[n++] = (gemm_lib){"openblas", openblas_gemm, openblas_threads, false};
  void *blis = NULL, *dnnl = NULL;
  bli_sgemm_p = open_symbol(SEAL_BENCH_BLIS, "bli_sgemm", &blis);
  if (bli_sgemm_p)
    bli_thread_set_num_threads_p =
        open_symbol(SEAL_BENCH_BLIS, "bli_thread_set_num_threads", &blis);
  if (bli_sgemm_p && bli_thread_set_num_threads_p)
    libs[n++] = (gemm_lib){"blis", blis_gemm, blis_threads, false};
  dnnl_sgemm_p = open_symbol(SEAL_BENCH_DNNL, "dnnl_sgemm", &dnnl);
  if (dnnl_sgemm_p) libs[n++] = (gemm_lib){"onednn", dnnl_gemm, omp_threads, false};
  libs[n++] = (gemm_lib){"seal_few_rows", seal_few_rows_gemm, omp_threads, true};
  return n;
}

/* ---- the shapes --------------------------------------------------------------- */

typedef struct {
  const char *op; /* which call of kernels/cpu/matmul.c */
  int ta, tb, M, N, K;
  float alpha, beta;
} gemm_shape;

enum { HIDDEN = 576, MLP = 1536, KV = 192, VOCAB = 49152, RANK = 32 };

/* The projections of a layer and the LM head: weight[O, I]. */
static const struct {
  const char *name;
  int I, O;
} projections[] = {
    {"q/o", HIDDEN, HIDDEN}, {"k/v", HIDDEN, KV},        {"gate/up", HIDDEN, MLP},
    {"down", MLP, HIDDEN},   {"lm_head", HIDDEN, VOCAB},
};
enum { N_PROJ = sizeof projections / sizeof *projections };

static int add(gemm_shape *s, int n, const char *op, int ta, int tb, int M, int N, int K,
               float alpha, float beta) {
  s[n] = (gemm_shape){op, ta, tb, M, N, K, alpha, beta};
  return n + 1;
}

/* Every product matmul.c computes at N rows for the projections above; LoRA's
 * on q/o (576 -> 576) and gate/up (576 -> 1536). */
static int training_shapes(gemm_shape *s, int n, int N) {
  for (int p = 0; p < N_PROJ; p++) {
    int I = projections[p].I, O = projections[p].O;
    n = add(s, n, "fwd x W^T", 0, 1, N, O, I, 1, 0);   /* seal_cpu_matmul */
    n = add(s, n, "dx = dout W", 0, 0, N, I, O, 1, 0); /* matmul_backward_input */
  }
  for (int p = 0; p < 3; p += 2) {
    int I = projections[p].I, O = projections[p].O;
    n = add(s, n, "lora h = x A^T", 0, 1, N, RANK, I, 1, 0); /* lora_forward */
    n = add(s, n, "lora out += h B^T", 0, 1, N, O, RANK, 2, 1);
    n = add(s, n, "lora dB += dout^T h", 1, 0, O, RANK, N, 2, 1); /* lora_backward */
    n = add(s, n, "lora dh = dout B", 0, 0, N, RANK, O, 2, 0);
    n = add(s, n, "lora dA += dh^T x", 1, 0, RANK, I, N, 1, 1);
    n = add(s, n, "lora dx += dh A", 0, 0, N, I, RANK, 1, 1);
  }
  return n;
}

/* Decode and short batches: the forward products at N <= 8. */
static int decode_shapes(gemm_shape *s, int n, int N) {
  for (int p = 0; p < N_PROJ; p++)
    n = add(s, n, "fwd x W^T", 0, 1, N, projections[p].O, projections[p].I, 1, 0);
  return n;
}

/* ---- checking and timing ------------------------------------------------------ */

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *x, size_t n, unsigned *seed) {
  for (size_t i = 0; i < n; i++) x[i] = (float)rand_r(seed) / (float)RAND_MAX * 2 - 1;
}

/* The operands of one shape, row-major: op(A) is M x K, op(B) K x N. */
typedef struct {
  float *A, *B, *C, *C0;
  int lda, ldb, ldc;
  size_t a_len, b_len, c_len;
} operands;

static void operands_init(operands *o, const gemm_shape *s) {
  unsigned seed = 12345;
  o->lda = s->ta ? s->M : s->K; /* A stored [M, K] or, transposed, [K, M] */
  o->ldb = s->tb ? s->K : s->N; /* B stored [K, N] or, transposed, [N, K] */
  o->ldc = s->N;
  o->a_len = (size_t)s->M * s->K, o->b_len = (size_t)s->K * s->N, o->c_len = (size_t)s->M * s->N;
  o->A = malloc(o->a_len * sizeof(float)), o->B = malloc(o->b_len * sizeof(float));
  o->C = malloc(o->c_len * sizeof(float)), o->C0 = malloc(o->c_len * sizeof(float));
  if (!o->A || !o->B || !o->C || !o->C0) {
    fprintf(stderr, "gemm_libs: out of memory\n");
    exit(1);
  }
  fill(o->A, o->a_len, &seed), fill(o->B, o->b_len, &seed), fill(o->C0, o->c_len, &seed);
}

static void operands_free(operands *o) { free(o->A), free(o->B), free(o->C), free(o->C0); }

/* The largest error over up to checked_entries entries of C (all of them when C is smaller),
 * each against a double-precision dot product, relative to the sum of the
 * magnitudes of its terms (what float rounding scales with). */
static size_t checked_entries = 4096; /* --quick: 256 */

static double max_rel_error(const gemm_shape *s, const operands *o) {
  size_t entries = o->c_len, step = entries > checked_entries ? entries / checked_entries : 1;
  double worst = 0;
  for (size_t e = 0; e < entries; e += step) {
    int i = (int)(e / (size_t)s->N), j = (int)(e % (size_t)s->N);
    double dot = 0, mag = 0;
    for (int k = 0; k < s->K; k++) {
      double a = s->ta ? o->A[(size_t)k * o->lda + i] : o->A[(size_t)i * o->lda + k];
      double b = s->tb ? o->B[(size_t)j * o->ldb + k] : o->B[(size_t)k * o->ldb + j];
      dot += a * b, mag += fabs(a * b);
    }
    double c0 = s->beta == 0 ? 0 : s->beta * (double)o->C0[e];
    double ref = s->alpha * dot + c0, scale = fabs(s->alpha) * mag + fabs(c0);
    double err = fabs((double)o->C[e] - ref) / (scale > 0 ? scale : 1);
    if (err > worst) worst = err;
  }
  return worst;
}

static double flops(const gemm_shape *s) { return 2.0 * s->M * s->N * s->K; }

static void call(const gemm_lib *lib, const gemm_shape *s, operands *o) {
  lib->gemm(s->ta, s->tb, s->M, s->N, s->K, s->alpha, o->A, o->lda, o->B, o->ldb, s->beta, o->C,
            o->ldc);
}

typedef struct {
  double wall_gflops[64], cpu_gflops[64]; /* per round */
  double wall_median, cpu_median;
  int calls; /* per sample */
  double err;
} lib_result;

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, by_value);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* One sample: `calls` back-to-back calls, GFLOP/s by wall and by process CPU time. */
static void sample(const gemm_lib *lib, const gemm_shape *s, operands *o, int calls, double *wall,
                   double *cpu) {
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  for (int c = 0; c < calls; c++) call(lib, s, o);
  double w = now(CLOCK_MONOTONIC) - w0, c = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
  *wall = flops(s) * calls / w * 1e-9;
  *cpu = flops(s) * calls / (c > 0 ? c : 1e-9) * 1e-9;
}

static bool applies(const gemm_lib *lib, const gemm_shape *s) {
  return !lib->few_rows_only ||
         (s->ta == 0 && s->tb == 1 && s->M <= 8 && s->alpha == 1 && s->beta == 0);
}

/* Checks every library on the shape, then times them in `rounds` interleaved rounds. */
static void measure(const gemm_lib *libs, int n_libs, const gemm_shape *s, int threads, int rounds,
                    double min_sample_s, lib_result *res) {
  operands o;
  operands_init(&o, s);
  for (int l = 0; l < n_libs; l++) {
    if (!applies(&libs[l], s)) continue;
    libs[l].set_threads(threads);
    memcpy(o.C, o.C0, o.c_len * sizeof(float));
    call(&libs[l], s, &o);
    res[l].err = max_rel_error(s, &o);
    double t = 1e30; /* warm-up (the first call at a new thread count starts threads), and
                        how many calls fill a sample: from the fastest of three */
    for (int w = 0; w < 3; w++) {
      double t0 = now(CLOCK_MONOTONIC);
      call(&libs[l], s, &o);
      double dt = now(CLOCK_MONOTONIC) - t0;
      if (dt < t) t = dt;
    }
    res[l].calls = t >= min_sample_s ? 1 : (int)(min_sample_s / (t > 1e-7 ? t : 1e-7)) + 1;
  }
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < n_libs; i++) {
      int l = (i + r) % n_libs;
      if (!applies(&libs[l], s)) continue;
      libs[l].set_threads(threads);
      sample(&libs[l], s, &o, res[l].calls, &res[l].wall_gflops[r], &res[l].cpu_gflops[r]);
    }
  operands_free(&o);
}

/* ---- main ------------------------------------------------------------------------ */

static int parse_list(const char *arg, int *out, int max) {
  int n = 0;
  for (const char *p = arg; *p && n < max;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v <= 0) {
      fprintf(stderr, "gemm_libs: bad list '%s' (expected positive integers, e.g. 1,2)\n", arg);
      exit(2);
    }
    out[n++] = (int)v;
    p = *end == ',' ? end + 1 : end;
  }
  return n;
}

int main(int argc, char **argv) {
  int threads[4] = {1, 2}, n_threads = 2, rows[8] = {40, 64, 256}, n_rows = 3, rounds = 7;
  double min_sample_s = 0.005;
  bool quick = false;
  static const struct option opts[] = {{"threads", 1, 0, 't'},
                                       {"repeats", 1, 0, 'r'},
                                       {"rows", 1, 0, 'n'},
                                       {"quick", 0, 0, 'q'},
                                       {0, 0, 0, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    if (c == 't')
      n_threads = parse_list(optarg, threads, 4);
    else if (c == 'n')
      n_rows = parse_list(optarg, rows, 8);
    else if (c == 'r')
      rounds = atoi(optarg) > 0 && atoi(optarg) <= 64 ? atoi(optarg) : rounds;
    else if (c == 'q')
      quick = true, rounds = 1, min_sample_s = 0, n_rows = 1, rows[0] = 40, checked_entries = 256;
    else {
      fprintf(stderr,
              "usage: gemm_libs [--threads 1,2] [--repeats 7] [--rows 40,64,256] [--quick]\n");
      return 2;
    }
  }
  seal_error e;
  cpu_backend = seal_backend_create("cpu", &e);
  if (!cpu_backend) {
    fprintf(stderr, "gemm_libs: %s\n", e.msg);
    return 1;
  }
  gemm_lib libs[4];
  int n_libs = find_libs(libs);
  static gemm_shape shapes[256];
  /* First a large square product: what the library reaches when shape costs it
   * nothing, the ceiling to read seal's shapes against. */
  int n_shapes = quick ? 0 : add(shapes, 0, "square (the ceiling)", 0, 1, 1536, 1536, 1536, 1, 0);
  for (int i = 0; i < n_rows; i++) n_shapes = training_shapes(shapes, n_shapes, rows[i]);
  n_shapes = decode_shapes(shapes, n_shapes, 1);
  n_shapes = decode_shapes(shapes, n_shapes, 8);
  printf("# OpenBLAS core %s (%s); %d rounds per shape\n", seal_cpu_blas_core(),
         seal_cpu_blas_config(), rounds);

  static lib_result results[4][256][4]; /* [threads][shape][lib] */
  bool wrong = false;
  for (int t = 0; t < n_threads; t++)
    for (int s = 0; s < n_shapes; s++) {
      lib_result *res = results[t][s];
      measure(libs, n_libs, &shapes[s], threads[t], rounds, min_sample_s, res);
      for (int l = 0; l < n_libs; l++) {
        if (!applies(&libs[l], &shapes[s])) continue;
        const gemm_shape *g = &shapes[s];
        double w = res[l].wall_median = median(res[l].wall_gflops, rounds);
        double c = res[l].cpu_median = median(res[l].cpu_gflops, rounds);
        printf(
            "gemm op=\"%s\" ta=%d tb=%d M=%d N=%d K=%d threads=%d lib=%s calls=%d "
            "wall_gflops=%.2f cpu_gflops=%.2f max_rel_err=%.2e\n",
            g->op, g->ta, g->tb, g->M, g->N, g->K, threads[t], libs[l].name, res[l].calls, w, c,
            res[l].err);
        if (res[l].err > 1e-4) wrong = true;
      }
      fflush(stdout);
    }

  for (int t = 0; t < n_threads; t++) {
    printf(
        "\n%d thread(s): GFLOP/s, median of %d; wall / per CPU-second\n\n| product | M x N x K |",
        threads[t], rounds);
    for (int l = 0; l < n_libs; l++) printf(" %s |", libs[l].name);
    printf("\n|---|---|");
    for (int l = 0; l < n_libs; l++) printf("---:|");
    printf("\n");
    for (int s = 0; s < n_shapes; s++) {
      const gemm_shape *g = &shapes[s];
      printf("| %s | %dx%dx%d |", g->op, g->M, g->N, g->K);
      for (int l = 0; l < n_libs; l++) {
        const lib_result *r = &results[t][s][l];
        if (applies(&libs[l], g))
          printf(" %.1f / %.1f |", r->wall_median, r->cpu_median);
        else
          printf(" |");
      }
      printf("\n");
    }
  }
  if (wrong) fprintf(stderr, "gemm_libs: some library's result was wrong (max_rel_err > 1e-4)\n");
  seal_backend_destroy(cpu_backend);
  return wrong ? 1 : 0;
}
