/* cmd/backends.c — `seal backends`: which compute backends this build has. */
#include <stdio.h>

#include "cmd/cmd.h"
#include "kernels/cpu/blas_info.h"
#include "kernels/ops.h"

static const char usage[] =
    "usage: seal backends\n"
    "\n"
    "Lists the compute backends (cpu, cuda) this build of seal has, whether each\n"
    "can be used on this machine, and the default that `--device auto` picks.\n";

int cmd_backends(int argc, char **argv) {
  static const cmd_option none[] = {CMD_OPT_END};
  int parsed = cmd_parse_options(argc, argv, none, NULL, usage, NULL);
  if (parsed) return parsed > 0 ? SEAL_EXIT_OK : SEAL_EXIT_USAGE;
  const char *names[] = {"cpu", "cuda"};
  for (int i = 0; i < 2; i++) {
    seal_error err = {{0}};
    seal_backend *be = seal_backend_create(names[i], &err);
    if (be) {
      printf("%-5s available (weights and activations in %s)\n", names[i],
             be->act == SEAL_BF16 ? "bf16" : "float32");
      seal_backend_destroy(be);
    } else {
      printf("%-5s unavailable: %s\n", names[i], err.msg);
    }
  }
  printf("cpu BLAS: %s (kernels: %s)\n", seal_cpu_blas_config(), seal_cpu_blas_core());
  char advice[320];
  if (seal_cpu_blas_runs_generic(advice, sizeof advice)) printf("warning: %s\n", advice);
  printf("default: %s\n", seal_backend_default_name());
  return 0;
}
