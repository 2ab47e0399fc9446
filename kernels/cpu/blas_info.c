/* kernels/cpu/blas_info.c — OpenBLAS's kernel choice against cpuid. */
#include "kernels/cpu/blas_info.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own introspection (cblas.h declares them only in newer versions). */
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_parallel(void); /* 0 sequential, 1 pthreads, 2 OpenMP */

const char *seal_cpu_blas_core(void) { return openblas_get_corename(); }
const char *seal_cpu_blas_config(void) { return openblas_get_config(); }
bool seal_cpu_blas_uses_openmp(void) { return openblas_get_parallel() == 2; }

/* OpenBLAS x86-64 kernel families without AVX2 FMA GEMM kernels. */
static const char *const pre_avx2_cores[] = {
    "Prescott",  "Core2",       "Penryn", "Dunnington", "Nehalem",    "Atom",
    "Opteron",   "Barcelona",   "Bobcat", "Bulldozer",  "Piledriver", "Steamroller",
    "Excavator", "Sandybridge", "Katmai", "Coppermine", "Northwood",  "Banias",
};

static bool is_pre_avx2(const char *core) {
  for (size_t i = 0; i < sizeof pre_avx2_cores / sizeof *pre_avx2_cores; i++)
    if (strcasecmp(core, pre_avx2_cores[i]) == 0) return true;
  return false;
}

/* The kernel family OpenBLAS should run instead of `core` on a processor with
 * these features, or NULL when `core` is already the right one. */
static const char *better_core(const char *core, bool has_avx2, bool has_avx512f) {
  if (has_avx512f && (is_pre_avx2(core) || !strcasecmp(core, "Haswell"))) return "SkylakeX";
  if (has_avx2 && is_pre_avx2(core)) return "Haswell";
  return NULL;
}

bool seal_cpu_blas_core_is_generic(const char *core, bool has_avx2, bool has_avx512f, char *advice,
                                   size_t advice_size) {
  const char *better = better_core(core, has_avx2, has_avx512f);
  if (!better) return false;
  if (advice)
    snprintf(advice, advice_size,
             "OpenBLAS runs its %s kernels on a processor with %s; matrix products may be "
             "several times slower than they can be (set OPENBLAS_CORETYPE=%s to pick the "
             "right ones)",
             core, has_avx512f ? "AVX-512" : "AVX2", better);
  return true;
}

bool seal_cpu_blas_runs_generic(char *advice, size_t advice_size) {
  __builtin_cpu_init();
  return seal_cpu_blas_core_is_generic(seal_cpu_blas_core(), __builtin_cpu_supports("avx2"),
                                       __builtin_cpu_supports("avx512f"), advice, advice_size);
}

/* What the one switch of seal_cpu_blas_use_best_core did, for every caller. */
static struct {
  pthread_once_t once;
  bool switched, reported;
  char note[320];
} best_core = {.once = PTHREAD_ONCE_INIT};

/* OpenBLAS built with DYNAMIC_ARCH (Debian's is) holds every kernel family and
 * picks one in gotoblas_dynamic_init, run when the library loads, from
 * OPENBLAS_CORETYPE or else its own cpuid table, which is older than the
 * processor on new CPUs. gotoblas_dynamic_quit forgets the choice, and a second
 * gotoblas_dynamic_init with the variable set makes it again, as if it had been
 * set before the process started. Both are exported but not in cblas.h, so
 * they are looked up at run time: a single-target OpenBLAS has neither. */
static void switch_to_best_core(void) {
  if (getenv("OPENBLAS_CORETYPE")) return; /* the user chose */
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2"), avx512f = __builtin_cpu_supports("avx512f");
  char was[32];
  snprintf(was, sizeof was, "%s", seal_cpu_blas_core());
  const char *better = better_core(was, avx2, avx512f);
  if (!better) return;
  void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
  void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
  if (!quit || !init) return;
  setenv("OPENBLAS_CORETYPE", better, 1);
  quit();
  init();
  unsetenv("OPENBLAS_CORETYPE"); /* the environment stays as the user left it */
  best_core.switched = !strcasecmp(seal_cpu_blas_core(), better);
  snprintf(best_core.note, sizeof best_core.note,
           "OpenBLAS chose its %s kernels on a processor with %s; %s %s", was,
           avx512f ? "AVX-512" : "AVX2", best_core.switched ? "switched to" : "could not switch to",
           better);
}

bool seal_cpu_blas_use_best_core(char *note, size_t note_size) {
  pthread_once(&best_core.once, switch_to_best_core);
  if (!best_core.switched || __atomic_exchange_n(&best_core.reported, true, __ATOMIC_ACQ_REL))
    return false;
  if (note) snprintf(note, note_size, "%s", best_core.note);
  return true;
}
