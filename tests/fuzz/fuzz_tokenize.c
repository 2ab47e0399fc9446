/* tests/fuzz/fuzz_tokenize.c — text through real tokenizers: Llama-3's (no
 * normalizer: decoding what it encoded must give the text back, byte for byte,
 * whenever the text is valid UTF-8) and Qwen2's (NFC first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/tokenizer.h"

static seal_tokenizer *load(const char *rel) {
  seal_error e;
  seal_tokenizer *t = seal_tokenizer_load_json(fuzz_source(rel), &e);
  if (!t) {
    fprintf(stderr, "fuzz_tokenize: %s\n", e.msg);
    abort();
  }
  return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static seal_tokenizer *llama3, *qwen2;
  if (!llama3) {
    fuzz_quiet();
    llama3 = load("tests/fixtures/tokenizer/llama3/tokenizer.json");
    qwen2 = load("tests/fixtures/tokenizer/qwen2.json");
  }
  char *text = fuzz_text(data, size);
  int32_t *ids;
  int n = seal_tokenizer_encode(llama3, text, &ids);
  if (n < 0) abort(); /* well-formed patterns never fail */
  char *back = seal_tokenizer_decode(llama3, ids, n, 0);
  char *clean = seal_utf8_sanitize(text);
  /* Only for valid UTF-8 without NUL is the text exactly what was encoded. */
  if (strlen(text) == size && strcmp(clean, text) == 0 && strcmp(back, text) != 0) {
    fprintf(stderr, "fuzz_tokenize: llama3 round trip changed the text\n");
    abort();
  }
  free(back);
  free(ids);
  n = seal_tokenizer_encode(qwen2, text, &ids);
  if (n < 0) abort();
  free(seal_tokenizer_decode(qwen2, ids, n, 1));
  free(ids);
  free(clean);
  free(text);
  return 0;
}
