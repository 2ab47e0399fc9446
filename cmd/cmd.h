/* cmd/cmd.h — the seal binary's subcommands, one file each. */
#ifndef SEAL_CMD_H
#define SEAL_CMD_H

#include <getopt.h>
#include <stdbool.h>

#include "util/util.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} seal_command;

/* The table of subcommands, in the order `seal --help` lists them. */
extern const seal_command seal_commands[];
extern const int seal_n_commands;

/* Shared option handling: parses long options with getopt_long; on an unknown
 * option or missing argument prints the subcommand's usage to stderr and
 * returns -1. Returns the option's value char (>= 0) or -2 at the end. */
int cmd_next_option(int argc, char **argv, const struct option *opts, const char *usage);
/* The same, allowing one positional argument (stored in *positional). */
int cmd_next_option_arg(int argc, char **argv, const struct option *opts, const char *usage,
                        const char **positional);

/* A bad command line: prints "seal: error: MESSAGE" and exits with
 * SEAL_EXIT_USAGE (2). Only before MPI or a model is opened, which is where
 * the command line is read. */
SEAL_NORETURN void cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses an integer/float option value in [min, max] (never NaN); a bad one is
 * a usage error naming the option. */
long cmd_parse_long(const char *opt, const char *value, long min, long max);
double cmd_parse_double(const char *opt, const char *value, double min, double max);
/* A --device value: cpu, cuda or auto, and cuda:N when gpu_index is true; a
 * usage error otherwise. Returns value. */
const char *cmd_parse_device(const char *value, bool gpu_index);

#endif
