/* cmd/inspect.c — `seal inspect CHECKPOINT`: what a run checkpoint holds. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "trainer/checkpoint.h"

static const char usage[] =
    "usage: seal inspect CHECKPOINT [--selfedits ROUND]\n"
    "\n"
    "Prints a summary of a run checkpoint (an HDF5 file written by `seal train`):\n"
    "format and version, when it was created and written, the round and phase the\n"
    "run is in, the world size, the model, one line per finished round (contexts,\n"
    "mean reward, self-edits kept, accuracy, seconds), the policy adapters with\n"
    "their parameter counts, the optimizer, and the self-edit records per round.\n"
    "A damaged or foreign file is refused with a message saying what is wrong.\n"
    "`h5dump -H CHECKPOINT` shows the whole HDF5 structure (docs/checkpoint.md).\n"
    "\n"
    "Options:\n"
    "  --selfedits ROUND  print every self-edit of ROUND (from 0) with its reward\n"
    "  -h, --help         show this help\n";

/* Options may come before or after the checkpoint path. */
int cmd_inspect(int argc, char **argv) {
  const char *path = NULL;
  long selfedit_round = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    }
    if (!strcmp(a, "--selfedits") || !strncmp(a, "--selfedits=", 12)) {
      const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) {
        fprintf(stderr, "seal inspect: option '--selfedits' needs a value\n\n%s", usage);
        return SEAL_EXIT_USAGE;
      }
      selfedit_round = cmd_parse_long("selfedits", v, 0, 1000000);
      continue;
    }
    if (a[0] == '-' && a[1]) {
      fprintf(stderr, "seal inspect: unknown option '%s'\n\n%s", a, usage);
      return SEAL_EXIT_USAGE;
    }
    if (path) {
      fprintf(stderr, "seal inspect: unexpected argument '%s' (one checkpoint at a time)\n\n%s", a,
              usage);
      return SEAL_EXIT_USAGE;
    }
    path = a;
  }
  if (!path) {
    fprintf(stderr, "seal inspect: which checkpoint? (no file given)\n\n%s", usage);
    return SEAL_EXIT_USAGE;
  }
  seal_error err = {{0}};
  int rc = selfedit_round >= 0
               ? seal_checkpoint_print_selfedits(path, (int)selfedit_round, stdout, &err)
               : seal_checkpoint_summary(path, stdout, &err);
  if (rc != 0) {
    fflush(stdout);
    fprintf(stderr, "seal inspect: %s\n", err.msg);
    return SEAL_EXIT_ERROR;
  }
  return 0;
}
