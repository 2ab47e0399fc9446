/* kernels/cpu/blas_info.h — which GEMM kernels the CPU backend's BLAS runs, and
 * whether they are the processor's best (issue 15: Debian's OpenBLAS 0.3.21
 * does not recognise newer processors and falls back to its Prescott/SSE3
 * kernels, several times slower, without a word). */
#ifndef SEAL_KERNELS_CPU_BLAS_INFO_H
#define SEAL_KERNELS_CPU_BLAS_INFO_H

#include <stdbool.h>
#include <stddef.h>

/* The library that computes seal_cpu_sgemm in this process, with its version
 * ("oneDNN 2.6.3", "OpenBLAS (Zen kernels)"): oneDNN when built with it,
 * unless SEAL_CPU_GEMM=openblas (kernels/cpu/sgemm.c). Dies on a
 * SEAL_CPU_GEMM that names no library of this build. */
const char *seal_cpu_gemm_library(void);

/* OpenBLAS's kernel family for this processor ("Zen", "Haswell", "SkylakeX",
 * "Prescott", ...) and its build line. */
const char *seal_cpu_blas_core(void);
const char *seal_cpu_blas_config(void);

/* Whether the BLAS threads through OpenMP (the OpenBLAS that CMakeLists.txt
 * prefers). Then a GEMM called inside an OpenMP parallel region runs on the
 * calling thread alone; a pthreads build would start its own threads from
 * every one of ours (kernels/cpu/attention.c measured 10x to 50x slower that
 * way on a loaded machine). */
bool seal_cpu_blas_uses_openmp(void);

/* Whether `core` is a kernel family older than what the processor supports
 * (has_avx2, has_avx512f as cpuid reports them); when it is, advice gets the
 * OPENBLAS_CORETYPE setting that selects the right ones. Pure: testable with
 * any names. */
bool seal_cpu_blas_core_is_generic(const char *core, bool has_avx2, bool has_avx512f, char *advice,
                                   size_t advice_size);

/* The same for this process's BLAS and processor. */
bool seal_cpu_blas_runs_generic(char *advice, size_t advice_size);

/* Makes OpenBLAS run the kernels this processor should run when it picked
 * older ones by itself (OPENBLAS_CORETYPE unset: a value the user set is kept,
 * whatever it is), so that seal's speed does not depend on OpenBLAS knowing the
 * CPU. Done once per process, before the first GEMM (seal_cpu_backend_create
 * calls it). Returns true, with a line for the log in note, to the one call
 * that switched; false to every other. Needs an OpenBLAS built with DYNAMIC_ARCH (Debian's); a
 * single-target one is left as it is, and seal_cpu_blas_runs_generic still
 * warns. */
bool seal_cpu_blas_use_best_core(char *note, size_t note_size);

#endif
