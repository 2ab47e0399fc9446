/* cmd/options.c — long-option parsing shared by every subcommand. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

int cmd_next_option(int argc, char **argv, const struct option *opts, const char *usage) {
  return cmd_next_option_arg(argc, argv, opts, usage, NULL);
}

int cmd_next_option_arg(int argc, char **argv, const struct option *opts, const char *usage,
                        const char **positional) {
  opterr = 0;
  int idx = 0;
  int c = getopt_long(argc, argv, "+h", opts, &idx);
  /* "+": stop at the first non-option; take it as the positional argument when
   * one is allowed and not yet seen, then go on with the options after it. */
  while (c == -1 && positional && !*positional && optind < argc && strcmp(argv[optind], "--")) {
    *positional = argv[optind++];
    c = getopt_long(argc, argv, "+h", opts, &idx);
  }
  if (c == -1) {
    if (optind < argc) {
      fprintf(stderr, "seal %s: unexpected argument '%s'\n\n%s", argv[0], argv[optind], usage);
      return -1;
    }
    return -2;
  }
  if (c == '?' || c == ':') {
    const char *bad = argv[optind - 1];
    if (optopt && optopt != '?')
      fprintf(stderr, "seal %s: option '%s' needs a value\n\n%s", argv[0], bad, usage);
    else
      fprintf(stderr, "seal %s: unknown option '%s'\n\n%s", argv[0], bad, usage);
    return -1;
  }
  return c;
}

void cmd_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("seal: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(SEAL_EXIT_USAGE);
}

long cmd_parse_long(const char *opt, const char *value, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || *end || end == value || v < min || v > max)
    cmd_usage_error("--%s: expected an integer in [%ld, %ld], got '%s'", opt, min, max, value);
  return v;
}

double cmd_parse_double(const char *opt, const char *value, double min, double max) {
  char *end;
  errno = 0;
  double v = strtod(value, &end);
  /* NaN compares false with both bounds: test finiteness first. */
  if (errno || *end || end == value || !isfinite(v) || v < min || v > max)
    cmd_usage_error("--%s: expected a finite number in [%g, %g], got '%s'", opt, min, max, value);
  return v;
}

const char *cmd_parse_device(const char *value, bool gpu_index) {
  if (!strcmp(value, "cpu") || !strcmp(value, "cuda") || !strcmp(value, "auto")) return value;
  if (gpu_index && !strncmp(value, "cuda:", 5)) {
    const char *n = value + 5;
    if (*n && strspn(n, "0123456789") == strlen(n)) return value;
  }
  cmd_usage_error("--device: expected cpu, cuda%s or auto, got '%s'", gpu_index ? ", cuda:N" : "",
                  value);
}
