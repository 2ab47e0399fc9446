/* util/schema.h — job keys as data: a table of keys, each a name, a kind, the
 * offset of its field in a settings struct and its range, drives parsing,
 * validation and the dump back to YAML (the parser is trainer/job.c; the
 * types live here so that a task domain in evaluator/ can declare its own
 * keys over its own settings struct).
 *
 * A table is an array of seal_schema_key ending with SEAL_SCHEMA_END; a
 * mapping's children are another such table. Offsets are into the struct the
 * table describes: seal_job for the trainer's keys, the domain's settings
 * struct for a domain's (evaluator/domain.h). Types only: nothing here parses. */
#ifndef SEAL_UTIL_SCHEMA_H
#define SEAL_UTIL_SCHEMA_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
  SEAL_SCHEMA_MAP,       /* a nested mapping: children */
  SEAL_SCHEMA_INT,       /* int in [lo, hi] */
  SEAL_SCHEMA_U64,       /* uint64_t */
  SEAL_SCHEMA_FLOAT,     /* double in [lo, hi] (lo exclusive when lo_open) */
  SEAL_SCHEMA_PATH,      /* char *, ~ and ${ENV} expanded; NULL when unset */
  SEAL_SCHEMA_ENUM,      /* int: the index of a name of name_of */
  SEAL_SCHEMA_TARGETS,   /* unsigned bit set of LoRA targets (bit t: seal_lora_target t) */
  SEAL_SCHEMA_PROTOCOLS, /* unsigned bit set of evaluation protocols, named by the task */
  SEAL_SCHEMA_TASK,      /* the task domain (the job's `task:`) */
  SEAL_SCHEMA_TASK_KEYS, /* in the trainer's tables only: the selected task's keys of this
                            mapping are listed here (see trainer/job.c) */
} seal_schema_kind;

typedef struct seal_schema_key seal_schema_key;
struct seal_schema_key {
  const char *name; /* NULL ends a table */
  seal_schema_kind kind;
  size_t off; /* of the field in the struct the table describes */
  double lo, hi;
  bool lo_open;
  bool required;                   /* PATH: the job must set it */
  const char *(*name_of)(int);     /* ENUM: the name of value i; NULL past the last */
  const seal_schema_key *children; /* MAP */
  /* ENUM: when the value is needs_value, the sibling PATH key needs_key must be
   * set, or the job is refused with needs_why at this key's value. */
  int needs_value;
  const char *needs_key, *needs_why;
};

/* Guards int fields against overflow; not shown in range messages. */
#define SEAL_SCHEMA_BIG 1e9

/* The table constructors; T is the struct the table describes. */
#define SEAL_SCHEMA_INT_KEY(n, T, f, a, b) \
  { .name = n, .kind = SEAL_SCHEMA_INT, .off = offsetof(T, f), .lo = a, .hi = b }
#define SEAL_SCHEMA_FLOAT_KEY(n, T, f, a, b) \
  { .name = n, .kind = SEAL_SCHEMA_FLOAT, .off = offsetof(T, f), .lo = a, .hi = b }
/* A number > 0. */
#define SEAL_SCHEMA_POSITIVE_KEY(n, T, f)                                                 \
  {                                                                                       \
    .name = n, .kind = SEAL_SCHEMA_FLOAT, .off = offsetof(T, f), .lo = 0, .hi = INFINITY, \
    .lo_open = true                                                                       \
  }
#define SEAL_SCHEMA_PATH_KEY(n, T, f, req) \
  { .name = n, .kind = SEAL_SCHEMA_PATH, .off = offsetof(T, f), .required = req }
#define SEAL_SCHEMA_ENUM_KEY(n, T, f, fn) \
  { .name = n, .kind = SEAL_SCHEMA_ENUM, .off = offsetof(T, f), .name_of = fn }
#define SEAL_SCHEMA_TARGETS_KEY(n, T, f) \
  { .name = n, .kind = SEAL_SCHEMA_TARGETS, .off = offsetof(T, f) }
#define SEAL_SCHEMA_MAP_KEY(n, kids) \
  { .name = n, .kind = SEAL_SCHEMA_MAP, .children = kids }
#define SEAL_SCHEMA_END \
  { .name = NULL }

#endif
