/* tests/fuzz/fuzz_safetensors.c — a .safetensors file: header length, JSON
 * header, dtypes, shapes, offsets, and the F16/BF16 conversion. */
#include "harness.h"
#include "model/tensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const char *path = fuzz_put("model.safetensors", data, size);
  seal_tensor_set s = {0};
  seal_error e;
  if (seal_safetensors_read(path, &s, &e) == 0) seal_tensors_check_finite(&s, path, &e);
  seal_tensors_free(&s);
  return 0;
}
