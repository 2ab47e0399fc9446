/* cmd/backends.c — `seal backends`: which compute backends this build has. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "kernels/cpu/blas_info.h"
#include "kernels/ops.h"

static const char usage[] =
    "usage: seal backends\n"
    "\n"
    "Lists the compute backends (cpu, cpu:bf16, cpu:q8, cpu:q4, cuda) this build of seal\n"
    "has, whether each can be used on this machine, and the default that\n"
    "`--device auto` picks. cpu:bf16 is the CPU with the base model's matrices\n"
    "stored in bfloat16 (half the memory); cpu:q8 in int8 blocks of 32 with a\n"
    "scale each (GGUF's Q8_0: 27% of float32's bytes), for inference; cpu:q4 in\n"
    "4-bit blocks of 32 with a scale and a minimum each (GGUF's Q4_1: 16%), for\n"
    "inference on the least memory.\n";

static const char *dtype_name(seal_dtype t) {
  return t == SEAL_BF16 ? "bf16"
         : t == SEAL_Q8 ? "q8 (int8 blocks)"
         : t == SEAL_Q4 ? "q4 (4-bit blocks)"
                        : "float32";
}

int cmd_backends(int argc, char **argv) {
  static const cmd_option none[] = {CMD_OPT_END};
  int parsed = cmd_parse_options(argc, argv, none, NULL, usage, NULL);
  if (parsed) return parsed > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  const char *names[] = {"cpu", "cpu:bf16", "cpu:q8", "cpu:q4", "cuda"};
  for (int i = 0; i < (int)(sizeof names / sizeof *names); i++) {
    seal_error err = {{0}};
    seal_backend *be = seal_backend_create(names[i], &err);
    if (be) {
      printf("%-8s available (base matrices in %s, activations in %s)\n", names[i],
             dtype_name(be->weight), dtype_name(be->act));
      seal_backend_destroy(be);
    } else {
      printf("%-8s unavailable: %s\n", names[i], err.msg);
    }
  }
  printf("cpu GEMM: %s (more than 8 rows; SEAL_CPU_GEMM=openblas|onednn chooses)\n",
         seal_cpu_gemm_library());
  printf("cpu BLAS: %s (kernels: %s)\n", seal_cpu_blas_config(), seal_cpu_blas_core());
  char advice[320];
  if (seal_cpu_blas_runs_generic(advice, sizeof advice)) printf("warning: %s\n", advice);
  printf("default: %s\n", seal_backend_default_name());
  return 0;
}
