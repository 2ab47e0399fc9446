/* tests/fuzz/fuzz_checkpoint.c — the checkpoint reader (trainer/checkpoint_read.c,
 * checkpoint_sum.c, checkpoint_h5.c) fed a file as `seal inspect` and
 * `seal train --resume` meet it.
 *
 * Two harnesses share this file (docs/testing.md, "The checkpoint harnesses"):
 * - `checkpoint` takes the bytes as they are. The checksum in the user block
 *   must refuse every mutation before HDF5 sees a byte, so what is fuzzed is
 *   seal's own reading of the file and of its header; a mutation that reached
 *   libhdf5 and crashed it would be a hole in that guard, and a finding.
 * - `checkpoint_h5` (tests/fuzz/fuzz_checkpoint_h5.c, FUZZ_RESEAL) writes a
 *   fresh, matching checksum over the mutated bytes first, as someone who
 *   changes a file on purpose can, so libhdf5 parses them and seal's reading of
 *   the structure (groups, attributes, tables, tensor dims, validate_state) is
 *   what is fuzzed. libhdf5 itself does not survive hostile metadata; crashes
 *   inside it are documented rather than fixed here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "trainer/checkpoint.h"
#include "trainer/checkpoint_sum.h"

#ifndef FUZZ_RESEAL
#define FUZZ_RESEAL 0
#endif

/* The input with its first SEAL_CKPT_HEADER_SIZE bytes replaced by a checksum
 * header matching the rest (an input shorter than that becomes the body).
 * Shape: [size] bytes, returned malloc'd. */
static unsigned char *resealed(const uint8_t *data, size_t size, size_t *out_size) {
  size_t skip = size >= SEAL_CKPT_HEADER_SIZE ? SEAL_CKPT_HEADER_SIZE : 0;
  size_t n = SEAL_CKPT_HEADER_SIZE + size - skip;
  unsigned char *image = seal_calloc(n, 1);
  memcpy(image + SEAL_CKPT_HEADER_SIZE, data + skip, size - skip);
  seal_ckpt_sum_fill(image, n);
  *out_size = n;
  return image;
}

static FILE *devnull(void) {
  static FILE *f;
  if (!f && !(f = fopen("/dev/null", "w"))) abort();
  return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const char *path;
  if (FUZZ_RESEAL) {
    size_t n;
    unsigned char *image = resealed(data, size, &n);
    path = fuzz_put("checkpoint.h5", image, n);
    free(image);
  } else {
    path = fuzz_put("checkpoint.h5", data, size);
  }
  seal_error e;
  seal_run_state s;
  seal_checkpoint_read(path, &s, &e); /* tensors with their data, as --resume */
  seal_run_state_free(&s);
  /* shapes only, as `seal inspect` reads them (another path through the
   * tensors), then a round's self-edits */
  if (seal_checkpoint_summary(path, devnull(), &e) == 0)
    seal_checkpoint_print_selfedits(path, 0, devnull(), &e);
  return 0;
}
