/* tests/fuzz/fuzz_peft.c — a PEFT adapter_config.json (model/peft.c). */
#include "harness.h"
#include "model/peft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  seal_peft_config pc;
  seal_error e;
  seal_peft_config_parse((const char *)data, size, "adapter_config.json", &pc, &e);
  return 0;
}
