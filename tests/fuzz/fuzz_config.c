/* tests/fuzz/fuzz_config.c — config.json: architecture, sizes, defaults, rope
 * parameters in both spellings, token ids, the consistency checks, and RoPE
 * frequencies for what passes. */
#include <stdlib.h>

#include "harness.h"
#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const char *path = fuzz_put("config.json", data, size);
  seal_model_config c;
  seal_error e;
  if (seal_config_load_hf(path, &c, &e) == 0 && c.head_dim <= 1 << 16) {
    float *inv = malloc((size_t)c.head_dim / 2 * sizeof *inv + 1);
    if (!inv) abort();
    seal_rope_inv_freq(&c, inv);
    free(inv);
  }
  return 0;
}
