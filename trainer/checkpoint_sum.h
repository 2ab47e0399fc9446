/* trainer/checkpoint_sum.h — the checksum that guards a checkpoint file, checked
 * before HDF5 parses a single byte of it (docs/checkpoint.md, "Integrity").
 *
 * A checkpoint begins with a 512-byte HDF5 user block, which HDF5 itself skips.
 * seal keeps a short text header there:
 *
 *   seal-checkpoint-sum 1\n
 *   fnv1a64 0123456789abcdef\n
 *   bytes 90112\n
 *   (zero bytes up to offset 512)
 *
 * `bytes` counts the file after the user block, `fnv1a64` is FNV-1a (64 bits)
 * of exactly those bytes. Data and sum live in one file, so one rename publishes
 * both and the .prev hard link keeps them paired. FNV-1a-64 detects accidental
 * damage (a flipped bit, a torn or truncated write, a block of zeros) with
 * overwhelming probability; it is not a signature: whoever can write the file
 * can also write a matching sum, which is why the reader validates every value
 * as well. Private to the checkpoint files and their tests. */
#ifndef SEAL_TRAINER_CHECKPOINT_SUM_H
#define SEAL_TRAINER_CHECKPOINT_SUM_H

#include <stddef.h>

#include "util/util.h"

/* The user block's size: HDF5 accepts powers of two from 512. */
#define SEAL_CKPT_HEADER_SIZE 512

/* Fills the first SEAL_CKPT_HEADER_SIZE bytes of a complete file image (HDF5
 * wrote them as zeros) with the header for the bytes after them. */
void seal_ckpt_sum_fill(unsigned char *image, size_t size);

/* Reads path whole into *image (*size bytes; free() it) after checking that it
 * is a regular file, and verifies the header: a wrong magic, a size that does
 * not match (a truncated or extended file) or a sum that does not match is
 * refused, naming the file. So is a file that starts with HDF5's signature (a
 * checkpoint of a seal from before the sum, whose version 1 this seal does not
 * read, or another program's HDF5 file): libhdf5 never parses unverified bytes. */
int seal_ckpt_load(const char *path, unsigned char **image, size_t *size, seal_error *e);

/* seal_ckpt_load without keeping the bytes. */
int seal_ckpt_verify_file(const char *path, seal_error *e);

/* Recomputes the header of a summed checkpoint in place, for a file changed
 * on purpose with HDF5 tools (the tests' crafted checkpoints). */
int seal_ckpt_reseal(const char *path, seal_error *e);

#endif
