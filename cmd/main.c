/* cmd/main.c — `seal COMMAND [OPTIONS]`: dispatch to a subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kernels/cpu/threads.h"
#include "util/util.h"

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: seal COMMAND [OPTIONS]\n"
          "       seal --help | --version\n"
          "\n"
          "Self-adapting language models (SEAL): a model writes its own fine-tuning\n"
          "data, fine-tunes LoRA adapters on it, and learns by ReST-EM to write better.\n"
          "\n"
          "Commands:\n");
  for (int i = 0; i < seal_n_commands; i++)
    fprintf(f, "  %-10s %s\n", seal_commands[i].name, seal_commands[i].summary);
  fprintf(f,
          "\n"
          "Run `seal COMMAND --help` for a command's options. generate, score, train,\n"
          "eval and bench take --profile: every backend op timed, a per-op table at the end.\n"
          "\n"
          "Exit status:\n"
          "  0  done\n"
          "  1  error: the message says what and where (\"seal: error: [rank R] ...\");\n"
          "     in an MPI job an error on any rank ends every rank, and mpirun exits 1\n"
          "  2  bad command line (unknown command or option, a bad option value)\n"
          "  3  preempted: train, eval or learn stopped by SIGTERM or SIGUSR1 after writing\n"
          "     its checkpoint; `seal train --resume` (`seal learn --resume`) continues\n"
          "\n"
          "Environment: SEAL_LOG=debug|info|warn|error sets the log level (default info);\n"
          "debug also names the source file and line where a fatal error was raised.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return SEAL_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    print_usage(stdout);
    return 0;
  }
  if (!strcmp(name, "--version")) {
    printf("seal %s\n", SEAL_VERSION);
    return 0;
  }
  for (int i = 0; i < seal_n_commands; i++)
    if (!strcmp(name, seal_commands[i].name)) {
      /* Before any OpenMP region or GEMM; train and eval share the cores again once MPI
       * has counted the ranks on the node (cmd_share_cores). */
      char threads[320];
      seal_cpu_threads_setup(0, threads, sizeof threads);
      seal_debug("%s", threads);
      return seal_commands[i].run(argc - 1, argv + 1);
    }
  fprintf(stderr, "seal: unknown command '%s'\n\n", name);
  print_usage(stderr);
  return SEAL_EXIT_USAGE;
}
