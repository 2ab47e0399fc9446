/* trainer/checkpoint.h — the run state in one HDF5 file (layout:
 * docs/checkpoint.md). Writes are atomic: a crash at any moment leaves a readable
 * checkpoint. Reads refuse anything that is not a complete seal checkpoint, with
 * a message naming the file and what is wrong. HDF5's own error printing is
 * silenced during these calls; its innermost message goes into the seal_error. */
#ifndef SEAL_TRAINER_CHECKPOINT_H
#define SEAL_TRAINER_CHECKPOINT_H

#include <stdio.h>

#include "trainer/run_state.h"
#include "util/util.h"

#define SEAL_CHECKPOINT_FORMAT "seal-checkpoint"
/* Bumped whenever the layout changes so that an older seal cannot misread it.
 * 3 adds the /teacher group; a run without a teacher still writes version 2,
 * which an older seal reads unchanged. */
#define SEAL_CHECKPOINT_VERSION 3
/* The oldest version this seal reads. */
#define SEAL_CHECKPOINT_MIN_VERSION 2
/* What a run of this state writes: 3 with a teacher, else 2. */
int seal_checkpoint_version_of(const seal_run_state *s);

/* Builds the file in memory (HDF5's core driver) with the checksum header in
 * its user block (trainer/checkpoint_sum.h), writes it as path.tmp and fsyncs
 * it, keeps the existing checkpoint as path.prev
 * (a hard link, so path never stops existing; a path whose checksum fails never
 * displaces a .prev), renames path.tmp into place and fsyncs the directory. A
 * stale path.tmp from an interrupted write is overwritten; a failed write (a
 * full disk) removes it and leaves no HDF5 object open. */
int seal_checkpoint_write(const char *path, const seal_run_state *s, seal_error *e);

/* Reads a checkpoint into s (initialised here; free with seal_run_state_free,
 * also after a failure). Verifies the checksum before HDF5 sees a byte, then
 * refuses, naming the file: a missing or irregular file, a damaged, truncated
 * or extended one, one without the root 'format' attribute or with another
 * format name, a newer version, missing groups, attributes or table fields,
 * tensors that are not float, have more than SEAL_MAX_DIMS dims, overflowing
 * dims or dims the stored bytes do not match, and values out of range (round,
 * world size, phase, policy rounds, self-edit ids; docs/checkpoint.md), and an older version (its
 * layout is not this one's). */
int seal_checkpoint_read(const char *path, seal_run_state *s, seal_error *e);

/* Prints what `seal inspect` shows: format, version, seal version, created,
 * written, round, phase, world size, model, the per-round table, the policy
 * adapters with their parameter counts, the optimizer, and the self-edit records
 * per round with their mean reward and how many were unusable. Reads shapes
 * only, not tensor data. */
int seal_checkpoint_summary(const char *path, FILE *out, seal_error *e);

/* Prints round r's self-edit records, one block each: context, sample, repeat,
 * reward, metrics and why it was unusable, then the text indented. Round out
 * of range is an error. */
int seal_checkpoint_print_selfedits(const char *path, int round, FILE *out, seal_error *e);

#endif
