/* tests/fuzz/fuzz_squad.c — SQuAD data in either form (evaluator/squad.c). */
#include "evaluator/squad.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  seal_squad s;
  seal_error e;
  if (seal_squad_parse((const char *)data, size, "data.json", &s, &e) == 0) {
    seal_squad_n_questions(&s);
    seal_squad_free(&s);
  }
  return 0;
}
