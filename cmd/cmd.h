/* cmd/cmd.h — the seal binary's subcommands, one file each. */
#ifndef SEAL_CMD_H
#define SEAL_CMD_H

#include <getopt.h>

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

/* Parses an integer/float option value, dying with a message naming the option. */
long cmd_parse_long(const char *opt, const char *value, long min, long max);
double cmd_parse_double(const char *opt, const char *value, double min, double max);

#endif
