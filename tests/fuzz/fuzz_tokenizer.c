/* tests/fuzz/fuzz_tokenizer.c — tokenizer.json: the BPE model, vocabulary and
 * merges, added tokens, normalizer, pre-tokenizer regexes, decoder and
 * post-processor; what loads encodes and decodes a fixed text. */
#include <stdlib.h>

#include "harness.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_quiet();
  const char *path = fuzz_put("tokenizer.json", data, size);
  seal_error e;
  seal_tokenizer *t = seal_tokenizer_load_json(path, &e);
  if (!t) return 0;
  int32_t *ids;
  int n = seal_tokenizer_encode(t, "Hello, world! 12345 <|endoftext|> caf\xc3\xa9\n\n  x", &ids);
  if (n >= 0) {
    free(seal_tokenizer_decode(t, ids, n, 0));
    free(seal_tokenizer_decode(t, ids, n, 1));
    free(ids);
  }
  seal_tokenizer_free(t);
  return 0;
}
