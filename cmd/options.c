/* cmd/options.c — long-option parsing shared by every subcommand. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "util/util.h"

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
  if (!strcmp(value, "cpu") || !strcmp(value, "cpu:bf16") || !strcmp(value, "cpu:q8") ||
      !strcmp(value, "cpu:q4") || !strcmp(value, "cuda") || !strcmp(value, "auto"))
    return value;
  if (gpu_index && !strncmp(value, "cuda:", 5)) {
    const char *n = value + 5;
    if (*n && strspn(n, "0123456789") == strlen(n)) return value;
  }
  cmd_usage_error("--device: expected cpu, cpu:bf16, cpu:q8, cpu:q4, cuda%s or auto, got '%s'",
                  gpu_index ? ", cuda:N" : "", value);
}

enum { CMD_MAX_OPTIONS = 40, CMD_OPTION_BASE = 256 };

/* The next option by getopt_long; on an unknown option or a missing value
 * prints the usage to stderr and returns -1. Returns the option's value (>= 0)
 * or -2 at the end. positional: where one positional argument goes (NULL: none
 * allowed). */
static int next_option(int argc, char **argv, const struct option *opts, const char *usage,
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

/* One table entry's value into its field. Returns 0 or -1 (message printed). */
static int set_option(const cmd_option *o, const char *value, char *opts) {
  void *field = opts + o->offset;
  switch (o->kind) {
    case CMD_TEXT:
      *(const char **)field = value;
      return 0;
    case CMD_FLAG:
      *(int *)field = 1;
      return 0;
    case CMD_INT:
      *(int *)field = (int)cmd_parse_long(o->name, value, (long)o->min, (long)o->max);
      return 0;
    case CMD_LONG:
      *(long *)field = cmd_parse_long(o->name, value, (long)o->min, (long)o->max);
      return 0;
    case CMD_FLOAT:
      *(float *)field = (float)cmd_parse_double(o->name, value, o->min, o->max);
      return 0;
    case CMD_DEVICE:
      *(const char **)field = cmd_parse_device(value, o->min != 0);
      return 0;
    case CMD_CUSTOM:
      return o->parse(value, field);
  }
  return -1;
}

int cmd_parse_options(int argc, char **argv, const cmd_option *table, void *opts, const char *usage,
                      const char **positional) {
  struct option longs[CMD_MAX_OPTIONS + 2];
  int n = 0;
  for (; table[n].name; n++) {
    SEAL_CHECK(n < CMD_MAX_OPTIONS, "seal %s: more than %d options", argv[0], CMD_MAX_OPTIONS);
    longs[n] =
        (struct option){table[n].name, table[n].kind == CMD_FLAG ? no_argument : required_argument,
                        0, CMD_OPTION_BASE + n};
  }
  longs[n] = (struct option){"help", no_argument, 0, 'h'};
  longs[n + 1] = (struct option){0, 0, 0, 0};
  for (int c; (c = next_option(argc, argv, longs, usage, positional)) != -2;) {
    if (c == 'h') {
      fputs(usage, stdout);
      return 1;
    }
    if (c < CMD_OPTION_BASE || c >= CMD_OPTION_BASE + n) return -1;
    if (set_option(&table[c - CMD_OPTION_BASE], optarg, opts)) {
      fprintf(stderr, "\n%s", usage);
      return -1;
    }
  }
  return 0;
}
