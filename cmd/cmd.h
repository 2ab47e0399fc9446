/* cmd/cmd.h — the seal binary's subcommands, one file each. */
#ifndef SEAL_CMD_H
#define SEAL_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/engine.h"
#include "util/util.h"

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} seal_command;

/* The table of subcommands, in the order `seal --help` lists them. */
extern const seal_command seal_commands[];
extern const int seal_n_commands;

/* Options as data: each subcommand describes its options in one table of what
 * each one sets in the subcommand's options struct, and cmd_parse_options
 * reads the command line into that struct, so no subcommand writes its own
 * getopt loop. */
typedef enum {
  CMD_TEXT,   /* const char *: the value as given */
  CMD_FLAG,   /* int: set to 1, no value */
  CMD_INT,    /* int in [min, max] */
  CMD_LONG,   /* long in [min, max] */
  CMD_FLOAT,  /* float in [min, max], finite */
  CMD_DEVICE, /* const char *: cpu, cpu:bf16, cpu:q8, cpu:q4, cuda, auto, and cuda:N when min is 1 */
  CMD_CUSTOM, /* parse(value, field) */
} cmd_option_kind;

typedef struct {
  const char *name; /* the long option without its dashes */
  cmd_option_kind kind;
  size_t offset;   /* of the field it sets, in the options struct */
  double min, max; /* CMD_INT, CMD_LONG, CMD_FLOAT; CMD_DEVICE: min 1 allows cuda:N */
  /* CMD_CUSTOM: stores value into field; returns 0, or -1 after printing why to
   * stderr (or exits through cmd_usage_error). */
  int (*parse)(const char *value, void *field);
} cmd_option;

#define CMD_OPT_TEXT(T, f, name) \
  { name, CMD_TEXT, offsetof(T, f), 0, 0, NULL }
#define CMD_OPT_FLAG(T, f, name) \
  { name, CMD_FLAG, offsetof(T, f), 0, 0, NULL }
#define CMD_OPT_INT(T, f, name, lo, hi) \
  { name, CMD_INT, offsetof(T, f), lo, hi, NULL }
#define CMD_OPT_LONG(T, f, name, lo, hi) \
  { name, CMD_LONG, offsetof(T, f), lo, hi, NULL }
#define CMD_OPT_FLOAT(T, f, name, lo, hi) \
  { name, CMD_FLOAT, offsetof(T, f), lo, hi, NULL }
#define CMD_OPT_DEVICE(T, f, gpu_index) \
  { "device", CMD_DEVICE, offsetof(T, f), gpu_index, 0, NULL }
#define CMD_OPT_CUSTOM(T, f, name, fn) \
  { name, CMD_CUSTOM, offsetof(T, f), 0, 0, fn }
/* Ends a table. */
#define CMD_OPT_END \
  { NULL, CMD_TEXT, 0, 0, 0, NULL }

/* Reads argv (argv[0] the subcommand) into opts as table says; --help and -h
 * print usage to stdout. positional: where one positional argument goes, or
 * NULL when the subcommand takes none. Returns 0 to run, 1 when the help was
 * printed, -1 when the command line is bad (usage printed to stderr). */
int cmd_parse_options(int argc, char **argv, const cmd_option *table, void *opts, const char *usage,
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

/* `seal score`'s arithmetic, shared with `seal learn` so that both report the
 * same numbers: scores ids[0..n) under (eng, lora) in windows of `window`
 * tokens, adding each predicted token's loss to *sum and its count to *count;
 * prints each token's loss unless quiet. */
void cmd_score_windows(seal_engine *eng, const seal_lora *lora, const int32_t *ids, int n,
                       int window, int quiet, double *sum, long *count);

/* `seal bench --unit-of-work FILE` (cmd/bench_unit.c): one knowledge self-edit
 * evaluation from the fixture FILE on eng, timed, run `repeats` times (no
 * warm-up); epochs > 0 replaces the fixture's inner-loop epochs. Prints one
 * JSON record (json) or a few lines; dies naming FILE and the field on a bad
 * fixture. Returns 0. */
int cmd_bench_unit_of_work(seal_engine *eng, const char *path, int epochs, int repeats, int json);

#endif
