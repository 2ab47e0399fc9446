/* kernels/cpu/blas_info.c — OpenBLAS's kernel choice against cpuid. */
#include "kernels/cpu/blas_info.h"

#include <stdio.h>
#include <string.h>

/* OpenBLAS's own introspection (cblas.h declares them only in newer versions). */
char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *seal_cpu_blas_core(void) { return openblas_get_corename(); }
const char *seal_cpu_blas_config(void) { return openblas_get_config(); }

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

bool seal_cpu_blas_core_is_generic(const char *core, bool has_avx2, bool has_avx512f, char *advice,
                                   size_t advice_size) {
  const char *better = NULL;
  if (has_avx512f && (is_pre_avx2(core) || !strcasecmp(core, "Haswell")))
    better = "SkylakeX";
  else if (has_avx2 && is_pre_avx2(core))
    better = "Haswell";
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
