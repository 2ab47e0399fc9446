/* kernels/cpu/sgemm.c — the one float32 GEMM of the CPU backend, and which
 * library computes it: oneDNN's dnnl_sgemm when seal is built with oneDNN
 * (Debian's libdnnl-dev; CMakeLists.txt finds it), else OpenBLAS's
 * cblas_sgemm. SEAL_CPU_GEMM=openblas or =onednn chooses at run time (read
 * once per process), for A/B measurements on one binary.
 *
 * Why oneDNN first (docs/perf.md, "which GEMM", 2026-12-02): measured idle on
 * the project's AMD Zen 3 machine at exactly the products of SmolLM2-135M's
 * inner loop (83 rows), one thread, it ran 1.1x to 1.3x OpenBLAS 0.3.21's
 * speed on nearly every product, and at two threads up to 512 rows it ties or
 * wins on all but two; in the model, the demo's LoRA step at one thread took
 * 803 ms against 870 and `make demo` 315 s against 343. oneDNN picks its
 * kernels by its own cpuid (JIT for AVX2, AVX-512, AMX), so its speed does not
 * depend on OpenBLAS recognising the processor (issue 15 item 1).
 *
 * Both run on the OpenMP threads seal sets (Debian builds both on OpenMP), and
 * inside an OpenMP parallel region both compute on the calling thread alone. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_info.h"
#include "kernels/cpu/cpu.h"

#ifdef SEAL_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif
/* After the project headers: OpenBLAS's cblas.h pulls in <complex.h>, whose
 * macro I would clash with the dimension names used throughout. */
#include <cblas.h>
#undef I

typedef enum { GEMM_OPENBLAS, GEMM_ONEDNN } gemm_library;

static gemm_library chosen = GEMM_OPENBLAS;
static char chosen_name[96];
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static bool built_with_onednn(void) {
#ifdef SEAL_HAVE_ONEDNN
  return true;
#else
  return false;
#endif
}

static void name_choice(void) {
#ifdef SEAL_HAVE_ONEDNN
  if (chosen == GEMM_ONEDNN) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(chosen_name, sizeof chosen_name, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    return;
  }
#endif
  snprintf(chosen_name, sizeof chosen_name, "OpenBLAS (%s kernels)", seal_cpu_blas_core());
}

/* SEAL_CPU_GEMM unset or empty: oneDNN when built with it. A value that names
 * no library this build has is refused, not ignored: an A/B measurement that
 * silently ran the same library twice would be worse than none. */
static void choose(void) {
  const char *want = getenv("SEAL_CPU_GEMM");
  chosen = built_with_onednn() ? GEMM_ONEDNN : GEMM_OPENBLAS;
  if (want && *want) {
    if (!strcmp(want, "openblas"))
      chosen = GEMM_OPENBLAS;
    else if (!strcmp(want, "onednn") && built_with_onednn())
      chosen = GEMM_ONEDNN;
    else
      SEAL_DIE("SEAL_CPU_GEMM=%s: expected %s", want,
               built_with_onednn() ? "openblas or onednn"
                                   : "openblas (this build has no oneDNN: install libdnnl-dev "
                                     "and rebuild for onednn)");
  }
  name_choice();
}

const char *seal_cpu_gemm_library(void) {
  pthread_once(&choose_once, choose);
  return chosen_name;
}

#ifdef SEAL_HAVE_ONEDNN
static void onednn_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B,
                                ldb, beta, C, ldc);
  SEAL_CHECK(st == dnnl_success,
             "dnnl_sgemm(%c, %c, M %d, N %d, K %d, lda %d, ldb %d, ldc %d) failed: status %d",
             trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, lda, ldb, ldc, (int)st);
}
#endif

/* A product with K == 0 is a plain scaling of C, done here: OpenBLAS rejects
 * the zero leading dimension such a call would pass. */
void seal_cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                    int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
    return;
  }
  pthread_once(&choose_once, choose);
#ifdef SEAL_HAVE_ONEDNN
  if (chosen == GEMM_ONEDNN) {
    onednn_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
